"""Review pages through the test client: the product's review list (filters, pages, masked
names, fragment), the product page's review block (query budget, a new review at once), the
customer's review and follow-up forms, the order page's actions, the rating sort, and the
moderation pages in the admin."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import caches
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from aftersales.models import Review, ReviewPhoto
from aftersales.selectors.reviews import reviews_block_key
from aftersales.services import reviews as services
from catalog.models import Product
from orders.models import Notification, Order
from tests import factories
from tests.aftersales.reviews_support import completed_order, photo
from tests.purchase import english, last_message

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def reviewed_product(ratings, *, photos_every: int = 0, followup_every: int = 0, names=()):
    """A product with one review per rating (oldest first), written straight to the table."""
    product = factories.ProductFactory()
    base = timezone.now() - timedelta(days=len(ratings))
    for i, stars in enumerate(ratings):
        customer = factories.UserFactory(**(names[i] if i < len(names) else {}))
        line = completed_order([factories.VariantFactory(product=product)], customer=customer).lines.get()
        review = Review.objects.create(
            order_line=line, product=product, customer=customer, rating=stars, text=f"review {i}",
            created_at=base + timedelta(hours=i), has_photos=bool(photos_every and i % photos_every == 0),
            followup_text="later" if followup_every and i % followup_every == 0 else "",
            followup_at=timezone.now() if followup_every and i % followup_every == 0 else None,
        )  # fmt: skip
        if review.has_photos:
            ReviewPhoto.objects.create(review=review, image=services.photos_clean([photo()])[0])
    Product.objects.filter(pk=product.pk).update(rating_count=len(ratings), rating_sum=sum(ratings))
    return product


def texts(response) -> list[str]:
    return [r.text for r in response.context["data"].reviews]


# -- the product's review list ------------------------------------------------------------------


def test_reviews_newest_first_ten_a_page_with_filters_and_counts(client):
    ratings = [5, 4, 3, 2, 1] * 5  # 25 reviews
    product = reviewed_product(ratings, photos_every=4, followup_every=6)
    url = f"/aftersales/reviews/product/{product.pk}/"
    response = english(client).get(url)
    assert response.status_code == 200
    data = response.context["data"]
    assert (data.count, data.average) == (25, 3.0)
    assert {f["name"]: f["count"] for f in data.filters} == {
        "all": 25, "photos": 7, "good": 10, "neutral": 5, "bad": 10, "followup": 5,
    }  # fmt: skip
    assert [s["count"] for s in data.stars] == [5, 5, 5, 5, 5]
    assert texts(response) == [f"review {i}" for i in range(24, 14, -1)]
    assert texts(client.get(url, {"page": "3"})) == [f"review {i}" for i in range(4, -1, -1)]
    assert {r.rating for r in client.get(url, {"filter": "bad"}).context["data"].reviews} == {1, 2}
    assert {r.rating for r in client.get(url, {"filter": "good"}).context["data"].reviews} == {4, 5}
    assert all(r.has_photos for r in client.get(url, {"filter": "photos"}).context["data"].reviews)
    assert all(r.followup_at for r in client.get(url, {"filter": "followup"}).context["data"].reviews)
    html = response.content.decode()
    assert f'href="{url}?filter=photos#reviews"' in html and "page=2" in html  # links work without JS


@pytest.mark.parametrize("page", ["abc", "0", "-1", "²", "999", "9" * 40])
def test_odd_page_numbers_give_a_page_not_an_error(client, page):
    product = reviewed_product([5] * 12)
    response = client.get(f"/aftersales/reviews/product/{product.pk}/", {"page": page, "filter": "nonsense"})
    assert response.status_code == 200
    assert response.context["data"].filter == "all"
    assert len(texts(response)) in (10, 2)


def test_the_fragment_is_the_block_alone_and_cached_apart_from_the_page(client):
    product = reviewed_product([4, 5])
    url = f"/aftersales/reviews/product/{product.pk}/"
    fragment = client.get(url, {"partial": "1"}).content.decode()
    assert fragment.lstrip().startswith("<section") and "<html" not in fragment and "data-reviews" in fragment
    assert "<html" in client.get(url).content.decode()


def test_names_are_masked_and_hidden_reviews_are_not_shown(client, admin_user):
    product = reviewed_product([5, 1], names=[{"last_name": "李", "first_name": "雷", "email": "lilei@example.com"}])
    spam = Review.objects.get(product=product, rating=1)
    services.review_hide(review_id=spam.pk, actor=admin_user, reason="spam")
    html = client.get(f"/aftersales/reviews/product/{product.pk}/").content.decode()
    assert "李***" in html and "lilei" not in html and "雷" not in html
    assert "review 1" not in html


def test_an_inactive_or_unknown_product_has_no_review_page(client):
    product = reviewed_product([5])
    Product.objects.filter(pk=product.pk).update(is_active=False)
    assert client.get(f"/aftersales/reviews/product/{product.pk}/").status_code == 404
    assert client.get("/aftersales/reviews/product/999999/").status_code == 404


def test_the_review_list_queries_do_not_grow_with_reviews(client, settings, django_assert_num_queries):
    settings.PAGE_CACHE_ENABLED = False
    few = reviewed_product([5, 4, 3], photos_every=2, followup_every=2)
    many = reviewed_product([5, 4, 3, 2, 1] * 8, photos_every=2, followup_every=2)
    client.get(f"/aftersales/reviews/product/{few.pk}/")
    with CaptureQueriesContext(connection) as small:
        client.get(f"/aftersales/reviews/product/{few.pk}/")
    with django_assert_num_queries(len(small)):
        response = client.get(f"/aftersales/reviews/product/{many.pk}/")
    assert len(response.context["data"].reviews) == 10
    assert len(small) <= 4  # product, summary, page, photos


# -- the product page's block -------------------------------------------------------------------


def test_the_product_page_shows_rating_distribution_filters_and_the_first_page(client):
    product = reviewed_product([5, 5, 4, 1] * 3, photos_every=3)
    html = english(client).get(product.get_absolute_url()).content.decode()
    assert 'id="reviews"' in html and "3.8" in html and "12 reviews" in html
    assert html.count('<li class="review"') == 10
    assert f"/aftersales/reviews/product/{product.pk}/?filter=bad#reviews" in html
    assert "/static/shop/reviews." in html and "<meter" in html


def test_the_product_page_query_count_does_not_grow_with_reviews(client, settings, django_assert_num_queries):
    settings.PAGE_CACHE_ENABLED = False
    plain = reviewed_product([])
    factories.VariantFactory(product=plain)
    busy = reviewed_product([5, 4, 3, 2, 1] * 6, photos_every=2, followup_every=3)  # 30 reviews
    factories.VariantFactory(product=busy)
    client.get(plain.get_absolute_url())  # per-process lookups warmed
    caches["pages"].clear()
    with CaptureQueriesContext(connection) as cold:
        client.get(busy.get_absolute_url())
    with CaptureQueriesContext(connection) as warm:
        client.get(busy.get_absolute_url())
    assert len(warm) == 1  # prices and stock, live; the reviews come from the cache
    assert len(cold) <= 11  # the catalogue's page (≤ 8) and the block: summary, page, photos
    caches["pages"].clear()
    other = reviewed_product([5, 4, 3, 2, 1] * 6, photos_every=2, followup_every=3)
    factories.VariantFactory(product=other)
    with django_assert_num_queries(len(cold)):
        client.get(other.get_absolute_url())


def test_a_warm_product_page_reads_its_review_block_in_its_own_cache_round_trip(client, settings):
    """The review block comes with the page's own parts (one read, with the view count), not a
    second trip."""
    from unittest import mock

    from shop.core import pagecache

    settings.PAGE_CACHE_ENABLED = False  # the view itself, as for a signed-in visitor
    busy = reviewed_product([5, 4, 3])
    url = busy.get_absolute_url()
    client.get(url)  # renders and caches the parts and the block
    pages = caches["pages"]
    with (
        mock.patch.object(pages, "get", wraps=pages.get) as get,
        mock.patch.object(pagecache, "counter_incr_get_many", wraps=pagecache.counter_incr_get_many) as read,
    ):
        assert "review-average" in client.get(url).content.decode()
    assert read.call_count == 1
    keys = read.call_args.kwargs["keys"]
    assert any(k.startswith("product-reviews:") for k in keys)
    assert not any(str(call.args[0]).startswith("product-reviews:") for call in get.call_args_list)


def test_a_new_review_shows_on_the_product_page_at_once(client, django_capture_on_commit_callbacks, settings):
    variant = factories.VariantFactory()
    order = completed_order([variant])
    client.force_login(order.customer)  # signed in: no whole-page cache
    assert "Fits perfectly" not in client.get(variant.product.get_absolute_url()).content.decode()
    key = reviews_block_key(product_id=variant.product_id, language=settings.LANGUAGE_CODE)
    assert caches["pages"].get(key) is not None  # the block is cached…
    with django_capture_on_commit_callbacks(execute=True):
        services.review_create(order_line_id=order.lines.get().pk, customer=order.customer, rating=5,
                               text="Fits perfectly")  # fmt: skip
    assert caches["pages"].get(key) is None  # …and dropped when a review commits
    assert "Fits perfectly" in client.get(variant.product.get_absolute_url()).content.decode()
    # Anonymous visitors may get the whole page from the page cache, which keeps it this long.
    assert settings.PAGE_CACHE_SECONDS <= 60


# -- the customer's forms -----------------------------------------------------------------------


def test_a_customer_reviews_a_line_with_a_photo_from_the_order_page(client):
    a, b = factories.VariantFactory(), factories.VariantFactory()
    order = completed_order([a, b])
    line = order.lines.get(variant=a)
    english(client).force_login(order.customer)
    detail = client.get(order.get_absolute_url()).content.decode()
    assert f"/aftersales/reviews/order/{order.number}/#line-{line.pk}" in detail  # "Review" per line
    page = client.get(f"/aftersales/reviews/order/{order.number}/")
    assert page.status_code == 200 and page.content.decode().count('class="review-form"') == 2
    response = client.post(
        f"/aftersales/reviews/order/{order.number}/",
        {"line": line.pk, f"line-{line.pk}-rating": "4", f"line-{line.pk}-text": "Good value",
         f"line-{line.pk}-photos": [photo(), photo(fmt="PNG", name="b.png")]},
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"].endswith(f"#line-{line.pk}")
    review = Review.objects.get(order_line=line)
    assert (review.rating, review.text, review.photos.count()) == (4, "Good value", 2)
    again = client.post(f"/aftersales/reviews/order/{order.number}/", {"line": line.pk, f"line-{line.pk}-rating": "1"})
    assert again.status_code == 302 and last_message(again) == "You have already reviewed this item."
    assert Review.objects.get(order_line=line).rating == 4
    detail = client.get(order.get_absolute_url()).content.decode()
    assert f"/aftersales/reviews/{review.pk}/followup/" in detail  # "Follow up" once reviewed


def test_a_bad_rating_or_too_many_photos_shows_the_form_again(client):
    order = completed_order([factories.VariantFactory()])
    line = order.lines.get()
    english(client).force_login(order.customer)
    url = f"/aftersales/reviews/order/{order.number}/"
    bad = client.post(url, {"line": line.pk, f"line-{line.pk}-rating": "9", f"line-{line.pk}-text": "kept"})
    assert bad.status_code == 400 and "kept" in bad.content.decode()
    many = client.post(url, {"line": line.pk, f"line-{line.pk}-rating": "5",
                             f"line-{line.pk}-photos": [photo() for _ in range(7)]})  # fmt: skip
    assert many.status_code == 400 and "At most 6 photos." in many.content.decode()
    assert not Review.objects.exists()


def test_another_customers_order_and_lines_answer_404(client):
    order = completed_order([factories.VariantFactory()])
    mine = completed_order([factories.VariantFactory()])
    client.force_login(mine.customer)
    assert client.get(f"/aftersales/reviews/order/{order.number}/").status_code == 404
    line = order.lines.get()
    stolen = {"line": line.pk, f"line-{line.pk}-rating": "1"}
    assert client.post(f"/aftersales/reviews/order/{order.number}/", stolen).status_code == 404
    assert client.post(f"/aftersales/reviews/order/{mine.number}/", stolen).status_code == 404
    review = services.review_create(order_line_id=line.pk, customer=order.customer, rating=5)
    assert client.get(f"/aftersales/reviews/{review.pk}/followup/").status_code == 404
    assert client.post(f"/aftersales/reviews/{review.pk}/followup/", {"text": "x"}).status_code == 404
    assert not Review.objects.filter(followup_at__isnull=False).exists()


def test_an_order_not_completed_cannot_be_reviewed(client):
    order = completed_order([factories.VariantFactory()], status=Order.Status.SHIPPED)
    english(client).force_login(order.customer)
    response = client.get(f"/aftersales/reviews/order/{order.number}/")
    assert response.status_code == 302 and "once the order is completed" in last_message(response)
    assert "/aftersales/reviews/" not in client.get(order.get_absolute_url()).content.decode()


def test_a_customer_follows_up_once(client):
    order = completed_order([factories.VariantFactory()])
    review = services.review_create(order_line_id=order.lines.get().pk, customer=order.customer, rating=3)
    english(client).force_login(order.customer)
    url = f"/aftersales/reviews/{review.pk}/followup/"
    assert 'name="text"' in client.get(url).content.decode()
    assert client.post(url, {"text": " "}).status_code == 400
    response = client.post(url, {"text": "Still good after a month", "photos": [photo()]})
    assert response.status_code == 302
    review.refresh_from_db()
    assert review.followup_text == "Still good after a month" and review.photos.get().followup
    assert client.post(url, {"text": "again"}).status_code == 400
    assert Review.objects.get().followup_text == "Still good after a month"


# -- listings -----------------------------------------------------------------------------------


def test_listings_sort_by_rating(client, make_product):
    low, high, unrated = make_product(name="low"), make_product(name="high"), make_product(name="none")
    Product.objects.filter(pk=low.pk).update(rating="3.50", rating_count=10)
    Product.objects.filter(pk=high.pk).update(rating="4.80", rating_count=3)
    names = [p.name for p in client.get("/products/", {"sort": "rating"}).context["products"]]
    assert names == ["high", "low", "none"]
    assert unrated.rating == 0


# -- staff --------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(admin_user) -> Client:
    staff = Client(HTTP_ACCEPT_LANGUAGE="en")
    staff.force_login(admin_user)
    return staff


def test_staff_list_reviews_and_reply_hide_and_show_them(staff_client, django_capture_on_commit_callbacks):
    product = reviewed_product([5, 1], photos_every=1)
    spam = Review.objects.get(product=product, rating=1)
    listing = staff_client.get("/admin/aftersales/review/", {"is_hidden__exact": "0", "followup": "no"})
    assert listing.status_code == 200 and "★☆☆☆☆" in listing.content.decode()
    change = staff_client.get(f"/admin/aftersales/review/{spam.pk}/change/").content.decode()
    assert f"/admin/aftersales/review/{spam.pk}/moderate/" in change and 'name="_save"' not in change
    url = f"/admin/aftersales/review/{spam.pk}/moderate/"
    assert staff_client.get(url).status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        assert staff_client.post(url, {"do": "reply", "reply": "Thank you"}).status_code == 302
    assert Notification.objects.filter(kind="review_reply", to=spam.customer.email).count() == 1
    assert staff_client.post(url, {"do": "hide", "reason": ""}).status_code == 200  # reason required
    assert staff_client.post(url, {"do": "hide", "reason": "spam"}).status_code == 302
    spam.refresh_from_db()
    assert (spam.reply_text, spam.is_hidden, spam.hidden_reason) == ("Thank you", True, "spam")
    assert Product.objects.get(pk=product.pk).rating_count == 1
    response = staff_client.post(
        "/admin/aftersales/review/", {"action": "show_again", "_selected_action": [spam.pk]}, follow=True
    )
    assert "1 review shown again." in response.content.decode()
    assert Product.objects.get(pk=product.pk).rating_count == 2
    assert staff_client.post(f"/admin/aftersales/review/{spam.pk}/delete/").status_code == 403


def test_staff_without_the_moderation_permission_only_look(client):
    product = reviewed_product([2])
    review = Review.objects.get(product=product)
    clerk = factories.UserFactory(is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_review"))
    client.force_login(clerk)
    listing = client.get("/admin/aftersales/review/")
    assert listing.status_code == 200 and "show_again" not in listing.content.decode()
    assert client.get(f"/admin/aftersales/review/{review.pk}/moderate/").status_code == 403
    assert (
        client.post(f"/admin/aftersales/review/{review.pk}/moderate/", {"do": "hide", "reason": "x"}).status_code == 403
    )
    assert not Review.objects.get(pk=review.pk).is_hidden
    clerk.user_permissions.add(Permission.objects.get(codename="moderate_review"))
    assert client.get(f"/admin/aftersales/review/{review.pk}/moderate/").status_code == 200


def test_bought_delivered_confirmed_reviewed_with_a_photo_and_shown(client, django_capture_on_commit_callbacks):
    """The whole path: an order paid at the gateway, shipped, delivered and confirmed through the
    services; the customer reviews it with a photo; the product page shows it under "with photos"."""
    from tests.aftersales.support import completed, shop

    _places, v = shop()
    order = completed([(v, 1)])
    assert order.status == Order.Status.COMPLETED
    line = order.lines.get()
    english(client).force_login(order.customer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/aftersales/reviews/order/{order.number}/",
            {"line": line.pk, f"line-{line.pk}-rating": "5", f"line-{line.pk}-text": "Arrived fast, as pictured",
             f"line-{line.pk}-photos": [photo()]},
        )  # fmt: skip
    assert response.status_code == 302
    html = client.get(v.product.get_absolute_url()).content.decode()
    assert "Arrived fast, as pictured" in html and "With photos (1)" in html and 'class="review-photos"' in html
    product = Product.objects.get(pk=v.product_id)
    assert (product.rating_count, product.rating) == (1, 5)
