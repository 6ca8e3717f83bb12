"""Customer pages: review the items of a completed order, follow up; the product page's reviews."""

from dataclasses import dataclass

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import Review
from aftersales.selectors.reviews import (
    LineReviewState,
    followup_deadline,
    order_review_states,
    product_review_page,
    review_deadline,
    review_of,
)
from aftersales.services.reviews import TEXT_MAX, review_create, review_followup
from catalog.models import Product
from orders.models import Order
from orders.selectors import order_of
from shop.core.pagecache import cache_anonymous_page
from shop.core.text import parse_whole_number

RATING_CHOICES = [(n, "★" * n + "☆" * (5 - n)) for n in range(5, 0, -1)]


class ReviewForm(forms.Form):
    rating = forms.TypedChoiceField(
        label=gettext_lazy("Rating"), choices=RATING_CHOICES, coerce=int, initial=5, widget=forms.RadioSelect
    )
    text = forms.CharField(
        label=gettext_lazy("Your review"),
        required=False,
        max_length=TEXT_MAX,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": TEXT_MAX}),
    )


class FollowupForm(forms.Form):
    text = forms.CharField(
        label=gettext_lazy("Follow-up"), max_length=TEXT_MAX, widget=forms.Textarea(attrs={"rows": 4})
    )


@dataclass
class _Row:
    state: LineReviewState
    form: ReviewForm | None


def _prefix(line_id: int) -> str:
    return f"line-{line_id}"


def _own_order(request: HttpRequest, number: str) -> Order:
    try:
        return order_of(customer=request.user, number=number)
    except Order.DoesNotExist as exc:
        raise Http404(_("No such order.")) from exc


@login_required
def order_review(request: HttpRequest, number: str) -> HttpResponse:
    """A form per line still open for review, the reviews given for the others. POST: one line."""
    order = _own_order(request, number)
    states = order_review_states(order=order)
    if not states:
        messages.error(request, AfterSaleError(AfterSaleErrorCode.ORDER_NOT_REVIEWABLE).message)
        return redirect(order)
    forms_by_line = {s.line.pk: ReviewForm(prefix=_prefix(s.line.pk)) for s in states if s.can_review}
    status = 200
    if request.method == "POST":
        line_id = parse_whole_number(request.POST.get("line", ""))
        state = next((s for s in states if s.line.pk == line_id), None)
        if state is None:
            raise Http404(_("No such item."))
        if not state.can_review:
            code = AfterSaleErrorCode.REVIEW_EXISTS if state.review else AfterSaleErrorCode.REVIEW_LATE
            if state.refunded and not state.review:
                code = AfterSaleErrorCode.LINE_REFUNDED
            messages.error(request, AfterSaleError(code, days=settings.REVIEW_DAYS).message)
            return redirect("aftersales:review_order", number=number)
        form = forms_by_line[line_id] = ReviewForm(request.POST, prefix=_prefix(line_id))
        if form.is_valid():
            try:
                review_create(
                    order_line_id=line_id,
                    customer=request.user,
                    rating=form.cleaned_data["rating"],
                    text=form.cleaned_data["text"],
                    photos=request.FILES.getlist(f"{form.prefix}-photos"),
                )
            except AfterSaleError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Thank you for your review."))
                return redirect(reverse("aftersales:review_order", kwargs={"number": number}) + f"#line-{line_id}")
        status = 400
    return render(
        request,
        "aftersales/reviews/order.html",
        {
            "order": order,
            "rows": [_Row(state=s, form=forms_by_line.get(s.line.pk)) for s in states],
            "review_until": review_deadline(order),
            "max_photos": settings.AFTERSALES_MAX_PHOTOS,
        },
        status=status,
    )


@login_required
def review_followup_view(request: HttpRequest, review_id: int) -> HttpResponse:
    try:
        review = review_of(customer=request.user, review_id=review_id)
    except Review.DoesNotExist as exc:
        raise Http404(_("No such review.")) from exc
    order = review.order_line.order
    open_ = review.followup_at is None and timezone.now() <= followup_deadline(order)
    form = FollowupForm(request.POST or None) if open_ else None
    status = 200
    if request.method == "POST" and form is not None:
        if form.is_valid():
            try:
                review_followup(
                    review_id=review.pk,
                    customer=request.user,
                    text=form.cleaned_data["text"],
                    photos=request.FILES.getlist("photos"),
                )
            except AfterSaleError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, _("Your follow-up has been added."))
                return redirect(
                    reverse("aftersales:review_order", kwargs={"number": order.number})
                    + f"#line-{review.order_line_id}"
                )
        status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "aftersales/reviews/followup.html",
        {
            "review": review,
            "order": order,
            "form": form,
            "max_photos": settings.AFTERSALES_MAX_PHOTOS,
            "closed_reason": AfterSaleError(
                AfterSaleErrorCode.FOLLOWUP_LATE, days=settings.REVIEW_FOLLOWUP_DAYS
            ).message,
        },
        status=status,
    )


@cache_anonymous_page
def product_reviews(request: HttpRequest, product_id: int) -> HttpResponse:
    """The product's reviews, one filter and page at a time: a whole page, or with ?partial=1 the
    fragment the product page's script swaps in (a query parameter, not a header, so the
    anonymous page cache, keyed by the full path, keeps the two apart)."""
    product = get_object_or_404(
        Product.objects.filter(is_active=True).only("pk", "name", "name_en", "slug"), pk=product_id
    )
    data = product_review_page(
        product_id=product.pk, filter_name=request.GET.get("filter", "all"), page=request.GET.get("page", "1")
    )
    if request.GET.get("partial") == "1":
        return render(request, "aftersales/reviews/partials/product_reviews.html", {"data": data})
    return render(request, "aftersales/reviews/product.html", {"data": data, "product": product})
