"""Reviews (评价 and 晒单): one per purchased line of a completed order, a follow-up (追评), the
shop's reply, moderation, and default positive reviews for lines nobody reviewed in time.

The product's rating_count, rating_sum and rating change with ONE UPDATE per review using F()
expressions: PostgreSQL evaluates them on the row as it is when the UPDATE takes the row lock, so
concurrent reviews of one product add up (a read-then-write would lose some of them).
"""

import datetime

from django.conf import settings
from django.core.cache import caches
from django.db import transaction
from django.db.models import F, FloatField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, NullIf
from django.urls import reverse
from django.utils import timezone, translation

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import RefundNoteLine, Review, ReviewPhoto
from aftersales.selectors.reviews import (
    followup_deadline,
    line_refunded_in_full,
    review_deadline,
    reviews_block_key,
)
from aftersales.services.photos import photos_clean
from catalog.models import Product
from orders.models import Notification, Order, OrderLine
from orders.services import notification_queue

TEXT_MAX = 1000
REASON_MAX = 200


def _forget_block(product_id: int) -> None:
    """Drop the product page's cached review block once the change commits, so the next visitor
    sees it (anonymous pages may still be served whole for PAGE_CACHE_SECONDS)."""
    keys = [reviews_block_key(product_id=product_id, language=code) for code, _name in settings.LANGUAGES]
    transaction.on_commit(lambda: caches["pages"].delete_many(keys))


def _rating_change(*, product_id: int, count: int, total: int) -> None:
    """Add `count` reviews worth `total` stars to the product (negative to take them away), in
    one UPDATE: every F() reads the row as locked by this very statement."""
    new_count = F("rating_count") + count
    new_sum = F("rating_sum") + total
    Product.objects.filter(pk=product_id).update(
        rating_count=new_count,
        rating_sum=new_sum,
        # Stored as numeric(3, 2): the database rounds the quotient on assignment.
        rating=Coalesce(Cast(new_sum, FloatField()) / NullIf(new_count, Value(0)), Value(0.0)),
    )


def _check_rating(rating: object) -> int:
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise AfterSaleError(AfterSaleErrorCode.BAD_RATING)
    return rating


def _photos_add(review: Review, photos: list, *, followup: bool) -> None:
    for photo in photos:
        ReviewPhoto.objects.create(review=review, image=photo, followup=followup)


def review_create(*, order_line_id: int, customer, rating: int, text: str = "", photos=()) -> Review:
    """Review one line of the customer's own completed order, within REVIEW_DAYS of completion:
    1–5 stars, optional text, up to AFTERSALES_MAX_PHOTOS photos (re-encoded, metadata gone).

    Raises OrderLine.DoesNotExist for a line that is not the customer's (a 404 to them), and
    AfterSaleError: BAD_RATING, TOO_MANY_PHOTOS / BAD_PHOTO, ORDER_NOT_REVIEWABLE, REVIEW_LATE,
    REVIEW_EXISTS, LINE_REFUNDED (every unit of the line was refunded)."""
    rating = _check_rating(rating)
    cleaned = photos_clean(photos)  # before the lock: re-encoding takes a while
    with transaction.atomic():
        # The line's lock makes two submissions of one review queue up; the second sees the first.
        # The order's too: a refund is written under it, so one being decided now is seen.
        line = (
            OrderLine.objects.select_for_update(of=("self", "order"))
            .select_related("order", "variant")
            .get(pk=order_line_id, order__customer=customer)
        )
        deadline = review_deadline(line.order)
        if deadline is None:
            raise AfterSaleError(AfterSaleErrorCode.ORDER_NOT_REVIEWABLE)
        if Review.objects.filter(order_line=line).exists():
            raise AfterSaleError(AfterSaleErrorCode.REVIEW_EXISTS)
        if timezone.now() > deadline:
            raise AfterSaleError(AfterSaleErrorCode.REVIEW_LATE, days=settings.REVIEW_DAYS)
        if line_refunded_in_full(line):
            raise AfterSaleError(AfterSaleErrorCode.LINE_REFUNDED)
        review = _review_add(line=line, rating=rating, text=text.strip()[:TEXT_MAX], photos=cleaned)
    return review


def _review_add(*, line: OrderLine, rating: int, text: str, photos: list, is_default: bool = False, at=None) -> Review:
    """Write the review and count it on the product. Call holding the line's row lock."""
    review = Review.objects.create(
        created_at=at or timezone.now(),
        order_line=line,
        product_id=line.variant.product_id,
        customer_id=line.order.customer_id,
        rating=rating,
        text=text,
        is_default=is_default,
        has_photos=bool(photos),
    )
    _photos_add(review, photos, followup=False)
    _rating_change(product_id=review.product_id, count=1, total=rating)
    _forget_block(review.product_id)
    return review


def review_followup(*, review_id: int, customer, text: str, photos=()) -> Review:
    """Add the one follow-up (追评) to the customer's own review: text and up to
    AFTERSALES_MAX_PHOTOS photos, within REVIEW_FOLLOWUP_DAYS of the order's completion. It does
    not change the rating.

    Raises Review.DoesNotExist for someone else's review, and AfterSaleError: MESSAGE_EMPTY,
    TOO_MANY_PHOTOS / BAD_PHOTO, FOLLOWUP_EXISTS, FOLLOWUP_LATE."""
    text = text.strip()[:TEXT_MAX]
    if not text:
        raise AfterSaleError(AfterSaleErrorCode.MESSAGE_EMPTY)
    cleaned = photos_clean(photos)
    with transaction.atomic():
        review = (
            Review.objects.select_for_update(of=("self",))
            .select_related("order_line__order")
            .get(pk=review_id, customer=customer)
        )
        if review.followup_at is not None:
            raise AfterSaleError(AfterSaleErrorCode.FOLLOWUP_EXISTS)
        if timezone.now() > followup_deadline(review.order_line.order):
            raise AfterSaleError(AfterSaleErrorCode.FOLLOWUP_LATE, days=settings.REVIEW_FOLLOWUP_DAYS)
        review.followup_text = text
        review.followup_at = timezone.now()
        review.has_photos = review.has_photos or bool(cleaned)
        review.save(update_fields=["followup_text", "followup_at", "has_photos"])
        _photos_add(review, cleaned, followup=True)
        _forget_block(review.product_id)
    return review


@transaction.atomic
def review_reply(*, review_id: int, actor, text: str) -> Review:
    """The shop's public reply to a review (staff with aftersales.moderate_review; the admin
    checks it). A new reply replaces the previous one; the customer is mailed each time.
    Raises Review.DoesNotExist, AfterSaleError(MESSAGE_EMPTY)."""
    text = text.strip()[:TEXT_MAX]
    if not text:
        raise AfterSaleError(AfterSaleErrorCode.MESSAGE_EMPTY)
    review = (
        Review.objects.select_for_update(of=("self",))
        .select_related("customer", "product", "order_line__order")
        .get(pk=review_id)
    )
    review.reply_text = text
    review.replied_at = timezone.now()
    review.replied_by = actor
    review.save(update_fields=["reply_text", "replied_at", "replied_by"])
    order = review.order_line.order
    customer = review.customer
    with translation.override(customer.language or settings.LANGUAGE_CODE):  # the mail's language
        product, options = review.order_line.display_name, review.order_line.display_options
    notification_queue(
        kind=Notification.Kind.REVIEW_REPLY,
        key=f"review_reply:{review.pk}:{review.replied_at.timestamp():.6f}",
        to=customer.email,
        language=customer.language,
        context={
            "product": product,
            "options": options,
            "rating": review.rating,
            "review": review.text,
            "reply": text,
            "url": reverse("aftersales:product_reviews", kwargs={"product_id": review.product_id}),
            "order": order.number,
        },
        order=order,
        user=customer,
    )
    _forget_block(review.product_id)
    return review


@transaction.atomic
def review_hide(*, review_id: int, actor, reason: str) -> Review:
    """Take a review off the product page and out of the product's rating (staff; the reason is
    kept). Hiding a hidden review only updates the reason. Raises Review.DoesNotExist,
    AfterSaleError(REASON_REQUIRED)."""
    reason = reason.strip()[:REASON_MAX]
    if not reason:
        raise AfterSaleError(AfterSaleErrorCode.REASON_REQUIRED)
    review = Review.objects.select_for_update().get(pk=review_id)
    if not review.is_hidden:
        _rating_change(product_id=review.product_id, count=-1, total=-review.rating)
        _forget_block(review.product_id)
    review.is_hidden = True
    review.hidden_reason = reason
    review.save(update_fields=["is_hidden", "hidden_reason"])
    return review


@transaction.atomic
def review_unhide(*, review_id: int, actor) -> Review:
    """Show a hidden review again and count it in the rating again; a no-op on a visible one.
    Raises Review.DoesNotExist."""
    review = Review.objects.select_for_update().get(pk=review_id)
    if review.is_hidden:
        review.is_hidden = False
        review.hidden_reason = ""
        review.save(update_fields=["is_hidden", "hidden_reason"])
        _rating_change(product_id=review.product_id, count=1, total=review.rating)
        _forget_block(review.product_id)
    return review


def reviews_default(*, now: datetime.datetime | None = None, limit: int = 1000) -> int:
    """Give a default positive review (REVIEW_DEFAULT_RATING stars, no text, is_default) to every
    line of a completed order whose REVIEW_DAYS have passed without a review (Taobao's 系统默认好评).
    Idempotent: a line has at most one review (OneToOne), and each line is checked again under its
    lock, so a customer reviewing at the last second or a second run changes nothing. At most
    `limit` lines per run (the beat comes back hourly). Returns how many reviews were written."""
    now = now or timezone.now()
    closed_before = now - datetime.timedelta(days=settings.REVIEW_DAYS)
    # Lines refunded in full are left out here, not only under the lock: each run would
    # otherwise read them again and again, and enough of them would fill every run's `limit`.
    refunded = (
        RefundNoteLine.objects.filter(order_line=OuterRef("pk"))
        .order_by()
        .values("order_line")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    due = list(
        OrderLine.objects.filter(
            order__status=Order.Status.COMPLETED, order__completed_at__lt=closed_before, review__isnull=True
        )
        .annotate(refunded=Coalesce(Subquery(refunded), 0))
        .exclude(refunded__gte=F("quantity"))
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    written = 0
    for line_id in due:
        with transaction.atomic():
            # The order's lock too, as review_create takes it: a refund being written waits or is seen.
            line = (
                OrderLine.objects.select_for_update(of=("self", "order"))
                .select_related("order", "variant")
                .get(pk=line_id)
            )
            if Review.objects.filter(order_line=line).exists():
                continue
            if line_refunded_in_full(line):
                continue  # nothing of it was kept: no review to give by default either
            # Dated when the window closed: that is when the customer "gave" it.
            _review_add(
                line=line,
                rating=settings.REVIEW_DEFAULT_RATING,
                text="",
                photos=[],
                is_default=True,
                at=review_deadline(line.order),
            )
            written += 1
    return written
