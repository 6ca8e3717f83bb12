"""Periodic work of after-sales (Celery beat): deadlines, default reviews, the monthly settlement."""

from celery import shared_task

from aftersales.services import requests as request_services
from aftersales.services import reviews as review_services
from aftersales.services import settlement as settlement_services


@shared_task(acks_late=True)
def enforce_deadlines() -> dict[str, int]:
    """Approve what the shop left unanswered, close what the customer let lapse, refund returns
    the shop did not confirm, complete exchanges whose replacement left. Idempotent."""
    return request_services.aftersales_enforce_deadlines()


@shared_task(acks_late=True)
def default_reviews() -> int:
    """Default positive reviews for lines not reviewed within REVIEW_DAYS. Idempotent."""
    return review_services.reviews_default()


@shared_task(acks_late=True)
def settle_previous_month() -> str:
    """The previous month's settlement (beat, on the 15th). Running it again changes nothing;
    books that do not reconcile raise, and the failed run is on the statement list."""
    outcome = settlement_services.settle_month(month=settlement_services.month_previous())
    return outcome.report
