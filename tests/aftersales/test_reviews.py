"""Review rules (services.reviews): one review per purchased line of the customer's completed
order within REVIEW_DAYS, one follow-up within REVIEW_FOLLOWUP_DAYS, photos bounded and
re-encoded, default positive reviews (idempotent), the shop's reply (mailed), hiding and the
product's rating; the rating under concurrent reviews, with real threads on PostgreSQL."""

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.utils import timezone
from PIL import Image

from aftersales.exceptions import AfterSaleError, AfterSaleErrorCode
from aftersales.models import Review, ReviewPhoto
from aftersales.selectors.reviews import mask_name, order_review_states, product_review_page
from aftersales.services import reviews as services
from aftersales.tasks import default_reviews
from catalog.models import Product
from orders.models import Notification, Order, OrderLine
from orders.services import notification_deliver
from tests import factories
from tests.aftersales.reviews_support import completed_order, gps_exif, photo, variants_of_one_product
from tests.orders.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def rating_of(product_id: int) -> tuple[int, int, Decimal]:
    product = Product.objects.get(pk=product_id)
    return product.rating_count, product.rating_sum, product.rating


def review(line, **kwargs) -> Review:
    kwargs.setdefault("rating", 5)
    return services.review_create(order_line_id=line.pk, customer=line.order.customer, **kwargs)


def assert_refused(code, call, *args, **kwargs):
    with pytest.raises(AfterSaleError) as caught:
        call(*args, **kwargs)
    assert caught.value.code == code
    return caught.value


# -- reviewing a line ---------------------------------------------------------------------------


def test_a_review_is_written_and_counted_on_the_product():
    a, b = variants_of_one_product(2)
    order = completed_order([a, b])
    first, second = order.lines.all()
    r = review(first, rating=4, text="  不错，很合身  ")
    assert (r.rating, r.text, r.is_default, r.has_photos, r.product_id) == (
        4,
        "不错，很合身",
        False,
        False,
        a.product_id,
    )
    assert rating_of(a.product_id) == (1, 4, Decimal("4.00"))
    review(second, rating=1)
    assert rating_of(a.product_id) == (2, 5, Decimal("2.50"))


def test_the_average_is_rounded_to_two_places():
    variants = variants_of_one_product(3)
    order = completed_order(variants)
    for line, stars in zip(order.lines.all(), (5, 5, 4), strict=True):
        review(line, rating=stars)
    assert rating_of(variants[0].product_id) == (3, 14, Decimal("4.67"))


@pytest.mark.parametrize("rating", [0, 6, -1, "5", 4.5, True, None])
def test_a_rating_is_a_whole_number_of_stars_from_1_to_5(rating):
    order = completed_order([factories.VariantFactory()])
    assert_refused(AfterSaleErrorCode.BAD_RATING, review, order.lines.get(), rating=rating)
    assert not Review.objects.exists()


@pytest.mark.parametrize("status", [Order.Status.PAID, Order.Status.SHIPPED, Order.Status.CLOSED])
def test_only_a_completed_order_can_be_reviewed(status):
    order = completed_order([factories.VariantFactory()], status=status)
    assert_refused(AfterSaleErrorCode.ORDER_NOT_REVIEWABLE, review, order.lines.get())


def test_another_customers_line_is_not_found():
    order = completed_order([factories.VariantFactory()])
    stranger = factories.UserFactory()
    with pytest.raises(OrderLine.DoesNotExist):
        services.review_create(order_line_id=order.lines.get().pk, customer=stranger, rating=5)
    assert not Review.objects.exists()


def test_one_review_per_line():
    order = completed_order([factories.VariantFactory()])
    line = order.lines.get()
    review(line, rating=5)
    assert_refused(AfterSaleErrorCode.REVIEW_EXISTS, review, line, rating=1)
    assert rating_of(line.variant.product_id) == (1, 5, Decimal("5.00"))


def test_reviews_close_review_days_after_completion(settings):
    settings.REVIEW_DAYS = 15
    order = completed_order([factories.VariantFactory(), factories.VariantFactory()], completed_at=NOW)
    early, late = order.lines.all()
    with time_machine.travel(NOW + timedelta(days=15) - timedelta(minutes=1)):
        review(early)
    with time_machine.travel(NOW + timedelta(days=15, minutes=1)):
        error = assert_refused(AfterSaleErrorCode.REVIEW_LATE, review, late)
    assert "15" in error.message


# -- photos -------------------------------------------------------------------------------------


def test_up_to_six_photos_are_kept_re_encoded_without_their_metadata():
    order = completed_order([factories.VariantFactory()])
    r = review(order.lines.get(), photos=[photo(exif=gps_exif(), size=(3000, 2000))] + [photo() for _ in range(5)])
    assert r.has_photos
    stored = list(r.photos.all())
    assert len(stored) == 6 and not any(p.followup for p in stored)
    with Image.open(stored[0].image.path) as image:
        assert not image.getexif()  # no serial, no GPS position
        assert "exif" not in image.info
        assert max(image.size) <= 2000


def test_seven_photos_are_refused_and_nothing_is_written():
    order = completed_order([factories.VariantFactory()])
    assert_refused(AfterSaleErrorCode.TOO_MANY_PHOTOS, review, order.lines.get(), photos=[photo() for _ in range(7)])
    assert not Review.objects.exists() and not ReviewPhoto.objects.exists()


def test_a_file_that_is_not_an_image_is_refused_by_number():
    from django.core.files.uploadedfile import SimpleUploadedFile

    order = completed_order([factories.VariantFactory()])
    fake = SimpleUploadedFile("x.jpg", b"<?php echo 1; ?>", content_type="image/jpeg")
    error = assert_refused(AfterSaleErrorCode.BAD_PHOTO, review, order.lines.get(), photos=[photo(), fake])
    assert error.message.startswith("Photo 2") or "2" in error.message
    assert not Review.objects.exists()


# -- follow-up ----------------------------------------------------------------------------------


def test_one_follow_up_with_photos_which_does_not_change_the_rating():
    order = completed_order([factories.VariantFactory()])
    line = order.lines.get()
    r = review(line, rating=3)
    customer = order.customer
    r = services.review_followup(review_id=r.pk, customer=customer, text="用了一个月，还行", photos=[photo()])
    assert r.followup_text == "用了一个月，还行" and r.followup_at is not None and r.has_photos
    assert [p.followup for p in r.photos.all()] == [True]
    assert rating_of(line.variant.product_id) == (1, 3, Decimal("3.00"))
    assert_refused(AfterSaleErrorCode.FOLLOWUP_EXISTS, services.review_followup, review_id=r.pk, customer=customer,
                   text="again")  # fmt: skip


def test_a_follow_up_needs_text_and_is_only_for_the_reviewer():
    order = completed_order([factories.VariantFactory()])
    r = review(order.lines.get())
    assert_refused(AfterSaleErrorCode.MESSAGE_EMPTY, services.review_followup, review_id=r.pk,
                   customer=order.customer, text="   ")  # fmt: skip
    with pytest.raises(Review.DoesNotExist):
        services.review_followup(review_id=r.pk, customer=factories.UserFactory(), text="mine now")


def test_follow_ups_close_followup_days_after_completion(settings):
    settings.REVIEW_FOLLOWUP_DAYS = 180
    order = completed_order([factories.VariantFactory(), factories.VariantFactory()], completed_at=NOW)
    a, b = (review(line) for line in order.lines.all())
    with time_machine.travel(NOW + timedelta(days=180) - timedelta(minutes=1)):
        services.review_followup(review_id=a.pk, customer=order.customer, text="still fine")
    with time_machine.travel(NOW + timedelta(days=180, minutes=1)):
        assert_refused(AfterSaleErrorCode.FOLLOWUP_LATE, services.review_followup, review_id=b.pk,
                       customer=order.customer, text="too late")  # fmt: skip


# -- default reviews ----------------------------------------------------------------------------


def test_lines_not_reviewed_in_time_get_a_default_positive_review_once(settings):
    settings.REVIEW_DAYS = 15
    variants = variants_of_one_product(3)
    order = completed_order(variants, completed_at=NOW)
    reviewed, *silent = order.lines.all()
    review(reviewed, rating=2, text="meh")
    recent = completed_order([factories.VariantFactory()], completed_at=NOW + timedelta(days=10))
    unfinished = completed_order([factories.VariantFactory()], status=Order.Status.SHIPPED)

    with time_machine.travel(NOW + timedelta(days=14)):
        assert services.reviews_default() == 0
    with time_machine.travel(NOW + timedelta(days=15, hours=1)):
        assert services.reviews_default() == 2
        assert services.reviews_default() == 0  # idempotent
        assert default_reviews.delay().get() == 0  # the beat's task calls the same service
    defaults = Review.objects.filter(is_default=True)
    assert {r.order_line_id for r in defaults} == {line.pk for line in silent}
    assert all(r.rating == 5 and r.text == "" and not r.has_photos for r in defaults)
    assert all(r.created_at == NOW + timedelta(days=15) for r in defaults)  # when the window closed
    assert Review.objects.get(order_line=reviewed).rating == 2  # untouched
    assert not Review.objects.filter(order_line__order__in=[recent, unfinished]).exists()
    assert rating_of(variants[0].product_id) == (3, 12, Decimal("4.00"))


def test_a_line_reviewed_while_the_batch_runs_keeps_its_review(monkeypatch, settings):
    """The batch picked the line, then the customer reviewed it at the last second: the batch
    checks again under the line's lock and leaves it."""
    order = completed_order([factories.VariantFactory()], completed_at=NOW)
    line = order.lines.get()
    real = OrderLine.objects.select_for_update

    pending = [line]

    def review_first(*args, **kwargs):
        if pending:  # once, before the batch takes its lock (review_create locks through here too)
            with time_machine.travel(NOW + timedelta(days=1)):
                review(pending.pop(), rating=1)
        return real(*args, **kwargs)

    monkeypatch.setattr(OrderLine.objects, "select_for_update", review_first)
    with time_machine.travel(NOW + timedelta(days=settings.REVIEW_DAYS + 1)):
        assert services.reviews_default() == 0
    assert Review.objects.get().rating == 1


# -- staff: reply, hide, show -------------------------------------------------------------------


def test_a_reply_is_public_and_mailed_to_the_customer_in_their_language(admin_user):
    customer = factories.UserFactory(language="en")
    order = completed_order([factories.VariantFactory()], customer=customer)
    r = review(order.lines.get(), rating=2, text="Too small")
    r = services.review_reply(review_id=r.pk, actor=admin_user, text="Sorry! Please ask for an exchange.")
    assert (r.reply_text, r.replied_by) == ("Sorry! Please ask for an exchange.", admin_user)
    note = Notification.objects.get(kind=Notification.Kind.REVIEW_REPLY)
    assert (note.to, note.language, note.order) == (customer.email, "en", order)
    notification_deliver(notification_id=note.pk)
    sent = mail.outbox[-1]
    assert sent.to == [customer.email]
    assert "replied to your review" in sent.subject
    assert "Sorry! Please ask for an exchange." in sent.body and "Too small" in sent.body
    assert f"/aftersales/reviews/product/{r.product_id}/" in sent.body
    assert_refused(AfterSaleErrorCode.MESSAGE_EMPTY, services.review_reply, review_id=r.pk, actor=admin_user, text=" ")


def test_a_hidden_review_leaves_the_page_and_the_rating_and_comes_back(admin_user):
    variants = variants_of_one_product(2)
    order = completed_order(variants)
    good, bad = order.lines.all()
    review(good, rating=5)
    spam = review(bad, rating=1, text="spam link")
    product_id = variants[0].product_id
    assert_refused(AfterSaleErrorCode.REASON_REQUIRED, services.review_hide, review_id=spam.pk, actor=admin_user,
                   reason=" ")  # fmt: skip

    services.review_hide(review_id=spam.pk, actor=admin_user, reason="advertising")
    services.review_hide(review_id=spam.pk, actor=admin_user, reason="advertising, again")  # counted once
    assert rating_of(product_id) == (1, 5, Decimal("5.00"))
    page = product_review_page(product_id=product_id)
    assert page.count == 1 and [r.pk for r in page.reviews] != [spam.pk]
    assert Review.objects.get(pk=spam.pk).hidden_reason == "advertising, again"

    services.review_unhide(review_id=spam.pk, actor=admin_user)
    services.review_unhide(review_id=spam.pk, actor=admin_user)  # a no-op the second time
    assert rating_of(product_id) == (2, 6, Decimal("3.00"))
    assert product_review_page(product_id=product_id).count == 2


def test_hiding_the_only_review_leaves_no_rating(admin_user):
    order = completed_order([factories.VariantFactory()])
    r = review(order.lines.get(), rating=4)
    services.review_hide(review_id=r.pk, actor=admin_user, reason="abuse")
    assert rating_of(r.product_id) == (0, 0, Decimal("0.00"))


# -- reads: masked names, the order's review state ----------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "email", "masked"),
    [
        ("雷", "李", "li@example.com", "李***"),
        ("李雷", "", "x@example.com", "李***"),
        ("John", "Smith", "js@example.com", "J***"),
        ("", "", "alice@example.com", "a***"),
    ],
)
def test_reviewer_names_are_masked(first, last, email, masked):
    user = factories.UserFactory(first_name=first, last_name=last, email=email)
    assert mask_name(user) == masked


def test_the_order_page_state_of_each_line(settings):
    order = completed_order([factories.VariantFactory(), factories.VariantFactory()], completed_at=NOW)
    done, open_ = order.lines.all()
    review(done)
    order = Order.objects.prefetch_related("lines").get(pk=order.pk)
    states = {s.line.pk: s for s in order_review_states(order=order)}
    assert (states[done.pk].can_review, states[done.pk].can_follow_up) == (False, True)
    assert (states[open_.pk].can_review, states[open_.pk].can_follow_up) == (True, False)
    later = order_review_states(order=order, now=NOW + timedelta(days=settings.REVIEW_DAYS + 1))
    assert [(s.can_review, s.can_follow_up) for s in later] == [(False, True), (False, False)]
    assert order_review_states(order=completed_order([factories.VariantFactory()], status=Order.Status.PAID)) == []


# -- the rating under concurrent reviews --------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_reviews_of_one_product_all_count():
    """Twenty customers review the same product at the same moment. With a read-then-write of
    the product's counters most of them would be lost; one UPDATE with F() counts every one."""
    variants = variants_of_one_product(20)
    lines = [completed_order([v]).lines.get() for v in variants]
    ratings = [1 + i % 5 for i in range(20)]
    results = run_at_once(
        [lambda line=line, r=r: review(line, rating=r) for line, r in zip(lines, ratings, strict=True)]
    )
    assert [type(r).__name__ for r in results if not isinstance(r, Review)] == []
    expected = (Decimal(sum(ratings)) / 20).quantize(Decimal("0.01"))
    assert rating_of(variants[0].product_id) == (20, sum(ratings), expected)


@pytest.mark.django_db(transaction=True)
def test_concurrent_hides_and_reviews_keep_the_rating_right(admin_user):
    variants = variants_of_one_product(20)
    lines = [completed_order([v]).lines.get() for v in variants]
    old = [review(line, rating=1) for line in lines[:10]]
    jobs = [lambda r=r: services.review_hide(review_id=r.pk, actor=admin_user, reason="test") for r in old]
    jobs += [lambda line=line: review(line, rating=5) for line in lines[10:]]
    results = run_at_once(jobs)
    assert [type(r).__name__ for r in results if not isinstance(r, Review)] == []
    assert rating_of(variants[0].product_id) == (10, 50, Decimal("5.00"))
