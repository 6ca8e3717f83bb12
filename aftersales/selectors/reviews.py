"""Reads for reviews: the windows an order's lines may be reviewed and followed up in, the review
state of an order's lines (the order page), and a product's review page (summary, filters, one
page of reviews)."""

import datetime
from dataclasses import dataclass, field

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from aftersales.models import RefundNoteLine, Review, ReviewPhoto
from orders.models import Order, OrderLine
from shop.core.pagecache import product_fragment_key
from shop.core.text import parse_whole_number

PAGE_SIZE = 10

# The product page's filters: name → condition on visible reviews. Good, neutral and bad follow
# Taobao's 好评 (4–5 stars), 中评 (3) and 差评 (1–2).
FILTERS: dict[str, Q] = {
    "all": Q(),
    "photos": Q(has_photos=True),
    "good": Q(rating__gte=4),
    "neutral": Q(rating=3),
    "bad": Q(rating__lte=2),
    "followup": Q(followup_at__isnull=False),
}

FILTER_LABELS = {
    "all": _("All"),
    "photos": _("With photos"),
    "good": _("Positive"),
    "neutral": _("Neutral"),
    "bad": _("Negative"),
    "followup": _("Follow-ups"),
}


def review_deadline(order: Order) -> datetime.datetime | None:
    """Until when the order's lines may be reviewed (None: the order is not completed)."""
    if order.status != Order.Status.COMPLETED or order.completed_at is None:
        return None
    return order.completed_at + datetime.timedelta(days=settings.REVIEW_DAYS)


def followup_deadline(order: Order) -> datetime.datetime | None:
    """Until when a review of the order's lines may be followed up (None: not completed)."""
    if order.status != Order.Status.COMPLETED or order.completed_at is None:
        return None
    return order.completed_at + datetime.timedelta(days=settings.REVIEW_FOLLOWUP_DAYS)


def reviews_block_key(*, product_id: int, language: str) -> str:
    """The cache key of a product page's rendered review block (templatetags.aftersales_reviews);
    the product page prefetches it with its own parts (shop.core.pagecache.product_fragment_key)."""
    return product_fragment_key("reviews", product_id=product_id, language=language)


def mask_name(user) -> str:
    """李*** : the first character of the reviewer's name, or of their email's local part."""
    first, last = (user.first_name or "").strip(), (user.last_name or "").strip()
    # A Chinese name starts with the family name (kept in last_name); a Western one with the given name.
    chinese = any("\u4e00" <= ch <= "\u9fff" for ch in first + last)
    name = (last + first if chinese else first or last) or (user.email or "").partition("@")[0] or "?"
    return f"{name[0]}***"


@dataclass
class LineReviewState:
    line: OrderLine
    review: Review | None
    can_review: bool
    can_follow_up: bool
    refunded: bool = False  # every unit of the line was refunded: nothing bought is left to review


def refunded_units(*, line_ids: list[int]) -> dict[int, int]:
    """{order line id: units refunded} over the refund notes written so far (refund only, or a
    return refunded), for the lines that have any."""
    rows = (
        RefundNoteLine.objects.filter(order_line_id__in=line_ids)
        .order_by()
        .values("order_line_id")
        .annotate(units=Sum("quantity"))
        .values_list("order_line_id", "units")
    )
    return dict(rows)


def refunded_units_since(since) -> QuerySet:
    """Rows (order_line_id, units) of the units refunded by notes written since `since`, per
    order line: what orders' "bought together" leaves out (registered in AftersalesConfig.ready)."""
    return (
        RefundNoteLine.objects.filter(note__created_at__gte=since)
        .order_by()
        .values("order_line_id")
        .annotate(units=Sum("quantity"))
        .values_list("order_line_id", "units")
    )


def line_refunded_in_full(line: OrderLine) -> bool:
    """Whether every unit of the line went back with a refund (a partly refunded line keeps
    the units the customer has, and stays reviewable)."""
    return refunded_units(line_ids=[line.pk]).get(line.pk, 0) >= line.quantity


def order_review_states(*, order: Order, now: datetime.datetime | None = None) -> list[LineReviewState]:
    """What each line of the customer's order allows: review it, follow its review up, or
    nothing (not completed, too late, done, refunded in full). One query for the lines'
    reviews, one for their refunded units."""
    review_until, followup_until = review_deadline(order), followup_deadline(order)
    if review_until is None:
        return []
    now = now or timezone.now()
    lines = list(order.lines.all())
    line_ids = [line.pk for line in lines]
    reviews = {r.order_line_id: r for r in Review.objects.filter(order_line__in=line_ids)}
    refunded = refunded_units(line_ids=line_ids)
    states = []
    for line in lines:
        review = reviews.get(line.pk)
        gone = refunded.get(line.pk, 0) >= line.quantity
        states.append(
            LineReviewState(
                line=line,
                review=review,
                can_review=review is None and now <= review_until and not gone,
                can_follow_up=review is not None and review.followup_at is None and now <= followup_until,
                refunded=gone,
            )
        )
    return states


def review_of(*, customer, review_id: int) -> Review:
    """A customer's own review with its order line and order. Raises Review.DoesNotExist."""
    return Review.objects.select_related("order_line__order", "product").get(pk=review_id, customer=customer)


@dataclass
class ReviewPageData:
    product_id: int
    count: int
    average: float
    stars: list[dict]  # [{"stars": 5, "count": n, "percent": p}, …] from 5 down to 1
    filters: list[dict]  # [{"name": "all", "count": n}, …] in FILTERS order
    filter: str
    page: Page
    reviews: list[Review] = field(default_factory=list)


_PAGE_FIELDS = (
    *("pk", "rating", "text", "is_default", "has_photos", "created_at", "followup_text", "followup_at"),
    *("reply_text", "replied_at", "order_line__variant_label", "order_line__variant_label_en"),
    *("customer__first_name", "customer__last_name", "customer__email"),
)


class _CountedPaginator(Paginator):
    """The count is known from the summary query: no second COUNT(*)."""

    def __init__(self, object_list, per_page: int, *, count: int) -> None:
        super().__init__(object_list, per_page)
        self.count = count


def product_review_page(*, product_id: int, filter_name: str = "all", page: object = 1) -> ReviewPageData:
    """The product's visible (not hidden) reviews: average, count, star distribution, the count
    behind each filter, and one page (PAGE_SIZE, newest first) of the chosen filter, reviewer
    names masked. At most three queries whatever the number of reviews: the summary, the page
    (with reviewer and bought options), and the photos of the page's reviews that have any."""
    filter_name = filter_name if filter_name in FILTERS else "all"
    visible = Review.objects.filter(product_id=product_id, is_hidden=False)
    summary = visible.aggregate(
        total=Sum("rating"),
        **{f"stars{n}": Count("pk", filter=Q(rating=n)) for n in range(1, 6)},
        **{f"filter_{name}": Count("pk", filter=condition) for name, condition in FILTERS.items()},
    )
    count = summary["filter_all"]
    stars = [
        {
            "stars": n,
            "count": summary[f"stars{n}"],
            "percent": round(100 * summary[f"stars{n}"] / count) if count else 0,
        }
        for n in range(5, 0, -1)
    ]
    filters = [{"name": name, "label": FILTER_LABELS[name], "count": summary[f"filter_{name}"]} for name in FILTERS]

    matching = summary[f"filter_{filter_name}"]
    paginator = _CountedPaginator(
        visible.filter(FILTERS[filter_name])
        .select_related("customer", "order_line")
        .only(*_PAGE_FIELDS)
        .order_by("-created_at", "-pk"),
        PAGE_SIZE,
        count=matching,
    )
    number = parse_whole_number(page) if isinstance(page, str) else page
    current = paginator.get_page(number or 1)
    reviews = list(current.object_list) if matching else []
    with_photos = [r.pk for r in reviews if r.has_photos]
    photos: dict[int, list[ReviewPhoto]] = {}
    if with_photos:
        for photo in ReviewPhoto.objects.filter(review_id__in=with_photos).order_by("pk"):
            photos.setdefault(photo.review_id, []).append(photo)
    for review in reviews:
        review.masked_name = mask_name(review.customer)
        review.first_photos = [p for p in photos.get(review.pk, []) if not p.followup]
        review.followup_photos = [p for p in photos.get(review.pk, []) if p.followup]
    return ReviewPageData(
        product_id=product_id,
        count=count,
        average=round(summary["total"] / count, 1) if count else 0,
        stars=stars,
        filters=filters,
        filter=filter_name,
        page=current,
        reviews=reviews,
    )
