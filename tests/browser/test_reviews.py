"""Reviews in a real browser, and the demo's reviews.

A customer whose order was paid at the sandbox gateway, shipped, delivered and confirmed
(through the services, tests/aftersales/support.py) reviews its line in the browser: four
stars, a text and one photo sent through the file input. The review then shows on the product
page, to the customer at once and to an anonymous visitor once the page cache has let go (the
test clears the caches rather than waiting PAGE_CACHE_SECONDS), with its photo and the
reviewer's name masked. Eleven other reviews of the same product, written through the services
(good, neutral, bad, one with a follow-up, one with a photo, and six more good ones so the list
has two pages), let the filters and the pager be checked: with JavaScript the product page's
block is swapped in place (static/shop/reviews.js fetching ?partial=1), without it the same
links are plain links to the reviews page. At 390 px the review block does not scroll sideways.
Screenshots go to ARTIFACTS_DIR (reviews-block.png is the product page's review block).

Run: SKIP_LINT=1 bash bin/test tests/browser/test_reviews.py
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import caches
from django.urls import reverse
from playwright.sync_api import Page, expect

from aftersales.models import AfterSale, Review
from aftersales.selectors.reviews import order_review_states
from aftersales.services.reviews import review_create, review_followup
from catalog.models import Product
from orders.models import Order
from tests import factories
from tests.aftersales.reviews_support import completed_order, photo
from tests.aftersales.support import completed, line_of, shop
from tests.browser.conftest import DESKTOP, MOBILE, TIMEOUT_MS, _page
from tests.browser.test_aftersales import Journey, arrived, customer_page, jpeg

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REVIEW_IDS = """() => Array.from(document.querySelectorAll('#reviews .review-list li.review')).map(li => li.id)"""
BLOCK_IMAGES_LOADED = """() => Array.from(document.querySelectorAll('#reviews img'))
    .every(i => i.complete && i.naturalWidth > 0)"""
BLOCK_BOX = """() => { const r = document.querySelector('#reviews').getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, width: r.width, height: r.height,
            page: document.documentElement.clientWidth}; }"""


# -- helpers ----------------------------------------------------------------------------------
def others_reviews(variant) -> dict[str, list[int]]:
    """Eleven reviews of the product by other customers, oldest first, through the service; the
    pks of each kind."""
    made: dict[str, list[int]] = {"filler": []}

    def review(key: str, rating: int, text: str, *, last: str, first: str, photos=()) -> Review:
        customer = factories.UserFactory(first_name=first, last_name=last)
        line = completed_order([variant], customer=customer).lines.get()
        r = review_create(order_line_id=line.pk, customer=customer, rating=rating, text=text, photos=photos)
        made.setdefault(key, []).append(r.pk)
        return r

    for i in range(6):  # the oldest: the second page of "all"
        review("filler", 5, f"第{i + 1}次回购,一如既往。", last="周", first=f"{i}")
    review("photos", 5, "实物比图片还好看,附上照片。", last="王", first="芳", photos=[photo()])
    followed = review("followup", 4, "不错,包装略简陋。", last="张", first="伟")
    review_followup(review_id=followed.pk, customer=followed.customer, text="用了两周,依然很好。")
    review("neutral", 3, "一般般,和描述略有差别。", last="陈", first="静")
    review("bad", 2, "釉面有小瑕疵。", last="赵", first="磊")
    review("bad", 1, "收到就是坏的。", last="孙", first="丽")
    return made


def ids(pks) -> list[str]:
    return [f"review-{pk}" for pk in pks]


def newest_first(pks) -> list[str]:
    return ids(sorted(pks, reverse=True))


def shown(page: Page) -> list[str]:
    return page.evaluate(REVIEW_IDS)


def filter_link(page: Page, name: str):
    return page.locator(f"#reviews .review-filters a[href*='filter={name}#']")


def wait_for_block_images(page: Page) -> None:
    """The block's photos loaded (scrolled into view first: they are lazy). Polled with
    page.evaluate: wait_for_function is refused by the strict Content-Security-Policy."""
    page.locator("#reviews").scroll_into_view_if_needed()
    for _ in range(TIMEOUT_MS // 50):
        if page.evaluate(BLOCK_IMAGES_LOADED):
            return
        page.wait_for_timeout(50)
    raise AssertionError("the review block's photos did not load")


def block_shot(page: Page, path) -> None:
    """The review block alone, from the whole page scrolled to the top: an element screenshot
    would scroll it under the sticky header."""
    wait_for_block_images(page)
    page.evaluate("() => window.scrollTo(0, 0)")
    box = page.evaluate(BLOCK_BOX)
    pad = 12
    x, y = max(0, box["x"] - pad), max(0, box["y"] - pad)
    clip = {"x": x, "y": y, "width": min(box["width"] + 2 * pad, box["page"] - x), "height": box["height"] + 2 * pad}
    page.screenshot(path=path, full_page=True, clip=clip)


def filter_in_place(page: Page, name: str, url: str) -> None:
    """Click a filter with JavaScript on: the block is swapped, the page stays."""
    page.evaluate("() => { window.__samePage = true }")
    filter_link(page, name).click()
    expect(page.locator("#reviews .review-filters a.on")).to_have_attribute("href", re.compile(rf"filter={name}#"))
    assert page.evaluate("() => window.__samePage === true"), "the filter reloaded the page"
    assert page.url == url


# -- the test ---------------------------------------------------------------------------------
def test_a_review_with_a_photo_shows_on_the_product_page_and_the_filters_work(
    browser, live_server, artifacts_dir, tmp_path
):
    journey = Journey(artifacts_dir, "reviews")
    _places, teapot = shop(on_hand=40, price="128.00", name="青瓷茶壶")
    product = teapot.product
    product_url = live_server.url + product.get_absolute_url()
    order = completed([(teapot, 1)], email="review.buyer@example.com")
    customer = order.customer
    customer.first_name, customer.last_name = "梅梅", "韩"
    customer.save(update_fields=["first_name", "last_name"])
    line = line_of(order)
    others = others_reviews(teapot)

    # An anonymous visitor sees the product with the others' eleven reviews.
    visitor = journey.watch(_page(browser, viewport=DESKTOP, base_url=live_server.url))
    visitor.goto(product.get_absolute_url())
    expect(visitor.locator("#reviews .review-average .muted")).to_contain_text("11")

    # The customer: the order page offers "Review"; the form takes stars, text and a photo.
    page = customer_page(browser, live_server, journey, customer)
    page.goto(order.get_absolute_url())
    review_link = page.locator(f"#order-reviews a[href$='#line-{line.pk}']")
    expect(review_link).to_be_visible()
    review_link.click()
    arrived(page, re.escape(reverse("aftersales:review_order", kwargs={"number": order.number})))
    form = page.locator(f"#line-{line.pk} form.review-form")
    form.locator(f"input[name='line-{line.pk}-rating'][value='4']").check()
    form.locator(f"textarea[name='line-{line.pk}-text']").fill("釉色温润,出水顺畅,就是盖子有点紧。")
    form.locator(f"#line-{line.pk}-photos").set_input_files(jpeg(tmp_path / "teapot.jpg"))
    journey.shot(page, "form")
    form.locator("button[type=submit]").click()
    arrived(page, re.escape(reverse("aftersales:review_order", kwargs={"number": order.number})))
    mine = Review.objects.get(order_line=line)
    assert (mine.rating, mine.customer_id, mine.photos.count()) == (4, customer.pk, 1)
    expect(page.locator(f"#line-{line.pk} .stars")).to_have_text("★★★★☆")
    expect(page.locator(f"#line-{line.pk} form")).to_have_count(0)
    journey.shot(page, "reviewed")

    # The customer sees it on the product page at once (signed in: no page cache).
    page.goto(product.get_absolute_url())
    mine_shown = page.locator(f"#review-{mine.pk}")
    expect(mine_shown).to_contain_text("釉色温润")
    expect(mine_shown.locator(".review-head strong")).to_have_text("韩***")
    expect(mine_shown.locator(".review-photos img")).to_have_count(1)
    assert shown(page)[0] == f"review-{mine.pk}"  # newest first

    # The anonymous visitor, once the cached page has gone (cleared here rather than waited for).
    caches["pages"].clear()
    visitor.goto(product.get_absolute_url())
    expect(visitor.locator("#reviews .review-average .muted")).to_contain_text("12")
    mine_shown = visitor.locator(f"#review-{mine.pk}")
    expect(mine_shown.locator(".review-head strong")).to_have_text("韩***")
    block_text = visitor.locator("#reviews").inner_text()
    assert "韩梅梅" not in block_text and "梅梅" not in block_text and "review.buyer" not in block_text
    expect(mine_shown.locator(".review-photos img")).to_have_count(1)
    block_shot(visitor, artifacts_dir / "reviews-block.png")  # the photo is served and decodes
    journey.shot(visitor, "product-page")

    # The filters, swapped in place by reviews.js.
    good = [*others["filler"], *others["photos"], *others["followup"], mine.pk]
    expected = {
        "photos": newest_first([*others["photos"], mine.pk]),
        "good": newest_first(good)[:10],
        "neutral": newest_first(others["neutral"]),
        "bad": newest_first(others["bad"]),
        "followup": newest_first(others["followup"]),
    }
    counts = {"all": 12, "photos": 2, "good": 9, "neutral": 1, "bad": 2, "followup": 1}
    for name, n in counts.items():
        expect(filter_link(visitor, name)).to_contain_text(f"({n})")
    for name, want in expected.items():
        filter_in_place(visitor, name, product_url)
        assert shown(visitor) == want, name
    journey.shot(visitor, "filter-followup")
    expect(visitor.locator("#reviews .review-followup")).to_contain_text("用了两周")

    # Paging in place: "all" has 12, ten a page, newest first.
    everyone = newest_first([pk for pks in others.values() for pk in pks] + [mine.pk])
    filter_in_place(visitor, "all", product_url)
    assert shown(visitor) == everyone[:10]
    visitor.locator("#reviews .pager a[rel=next]").click()
    expect(visitor.locator("#reviews .pager a[rel=prev]")).to_be_visible()
    assert visitor.url == product_url
    assert shown(visitor) == everyone[10:]
    visitor.locator("#reviews .pager a[rel=prev]").click()
    expect(visitor.locator("#reviews .pager a[rel=next]")).to_be_visible()
    assert shown(visitor) == everyone[:10]

    # On a phone: the review block fits the screen.
    visitor.goto(product.get_absolute_url())
    visitor.set_viewport_size(MOBILE)
    visitor.locator("#reviews").scroll_into_view_if_needed()
    assert visitor.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert visitor.evaluate(
        "() => Array.from(document.querySelectorAll('#reviews, #reviews *'))"
        ".every(e => e.getBoundingClientRect().right <= window.innerWidth + 0.5)"
    ), "something in the review block is wider than the phone"
    block_shot(visitor, artifacts_dir / "reviews-block-phone.png")
    visitor.set_viewport_size(DESKTOP)

    # Without JavaScript the same links lead to the reviews page.
    plain = journey.watch(_page(browser, viewport=DESKTOP, base_url=live_server.url, java_script_enabled=False))
    reviews_url = reverse("aftersales:product_reviews", kwargs={"product_id": product.pk})
    plain.goto(product.get_absolute_url())
    for name, want in expected.items():
        filter_link(plain, name).click()
        arrived(plain, re.escape(f"{reviews_url}?filter={name}") + "#reviews$")
        assert shown(plain) == want, name
    filter_link(plain, "all").click()
    arrived(plain, re.escape(f"{reviews_url}?filter=all") + "#reviews$")
    plain.locator("#reviews .pager a[rel=next]").click()
    arrived(plain, re.escape(f"{reviews_url}?filter=all&page=2") + "#reviews$")
    assert shown(plain) == everyone[10:]
    journey.shot(plain, "no-js-page-2")

    for context_page in (page, visitor, plain):
        context_page.context.close()
    journey.assert_clean()


def test_the_demo_has_reviews_to_read_one_to_write_and_a_return_awaiting_the_shop(
    desktop_page: Page, demo_catalogue, settings, artifacts_dir
):
    """`make run`'s demo (shop/demo.py): the demo customer can write a review, read theirs and
    follow a return; two best sellers show other customers' reviews. Building it again adds none."""
    from shop.demo import DEMO_CUSTOMER, DemoBuilder

    customer = get_user_model().objects.get(email=DEMO_CUSTOMER)
    completed_orders = Order.objects.filter(customer=customer, status=Order.Status.COMPLETED).order_by("pk")
    assert completed_orders.count() == 2
    reviewed, returned = completed_orders
    states = {s.line.pk: s for s in order_review_states(order=reviewed)}
    assert sorted((s.review is not None, s.can_review) for s in states.values()) == [(False, True), (True, False)]
    assert all(s.review.text for s in states.values() if s.review)
    request = AfterSale.objects.get(customer=customer)
    assert (request.order_id, request.status, request.kind) == (returned.pk, AfterSale.Status.PENDING, "return")
    rated = list(Product.objects.filter(rating_count__gt=0).order_by("-rating_count"))
    assert [p.rating_count for p in rated] == [6, 5]
    assert {r.rating for r in Review.objects.filter(product=rated[1])} == {5, 4, 3, 2}
    assert Review.objects.filter(has_photos=True).exists() and Review.objects.filter(followup_at__isnull=False).exists()

    before = (Review.objects.count(), AfterSale.objects.count(), Order.objects.count())
    DemoBuilder(products=80, progress=False)._aftersales()
    assert (Review.objects.count(), AfterSale.objects.count(), Order.objects.count()) == before

    page = desktop_page
    password = (settings.VAR_DIR / "admin-password.txt").read_text().strip()
    page.goto(reverse("accounts:login"))
    page.locator("form.stack #id_username").fill(DEMO_CUSTOMER)
    page.locator("form.stack #id_password").fill(password)
    page.locator("form.stack [type=submit]").click()
    arrived(page, re.escape(reverse("accounts:overview")) + "$")
    page.goto(reviewed.get_absolute_url())
    review_order = reverse("aftersales:review_order", kwargs={"number": reviewed.number})
    expect(page.locator(f"#order-reviews a[href^='{review_order}']")).to_have_count(1)  # the line to review
    expect(page.locator("#order-reviews .stars")).to_have_text("★★★★★")  # the one reviewed, to follow up
    expect(page.locator("#order-reviews a[href$='/followup/']")).to_have_count(1)
    page.goto(rated[0].get_absolute_url())
    expect(page.locator("#reviews .review-average .muted")).to_contain_text("6")
    expect(page.locator("#reviews .review-photos img").first).to_be_visible()
