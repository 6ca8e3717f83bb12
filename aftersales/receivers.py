"""Receivers of signals from lower apps: one line each, calling a service."""

from aftersales.services import requests as request_services


def refund_settled(sender, refund, **kwargs) -> None:
    request_services.refund_note_settled(refund=refund)
