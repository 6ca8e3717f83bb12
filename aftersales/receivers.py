"""Receivers of signals from lower apps: one line each, calling a service."""
