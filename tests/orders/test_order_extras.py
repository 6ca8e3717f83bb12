"""The order list and page extras: finished orders removed from the customer's list (kept for
the shop), and the 售后 tab (orders with an after-sales request, and closed orders) within a
fixed number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from aftersales.models import AfterSale
from orders import selectors
from orders.exceptions import OrderError, OrderErrorCode
from orders.models import Order
from orders.services import order_hide
from tests import factories
from tests.purchase import buyer_with_cart, english, last_message, place, stocked_variant

pytestmark = pytest.mark.django_db
S = Order.Status


def order_of(user=None, status: str = S.COMPLETED) -> Order:
    """A placed order of `user` (a new customer by default), put straight into `status` (set-up)."""
    variant = stocked_variant(on_hand=20)
    if user is None:
        user, address, cart = buyer_with_cart([(variant, 1)])
    else:
        address = user.addresses.first() or factories.AddressFactory(user=user)
        from cart.models import Cart

        cart = Cart.objects.create(user=user)
        cart.lines.create(variant=variant, quantity=1, price_seen=variant.price)
    order = place(user, address, cart)
    Order.objects.filter(pk=order.pk).update(status=status)
    return Order.objects.get(pk=order.pk)


def request_on(order: Order, status: str = AfterSale.Status.PENDING) -> AfterSale:
    return AfterSale.objects.create(
        number=f"AS{order.pk:06d}{AfterSale.objects.count()}",
        order=order,
        customer=order.customer,
        kind=AfterSale.Kind.RETURN,
        reason=AfterSale.Reason.QUALITY,
        status=status,
    )


@pytest.fixture
def browser(client):
    return english(client)


# -- removing finished orders from the list ------------------------------------------------------


@pytest.mark.parametrize("status", [S.COMPLETED, S.CANCELLED, S.CLOSED])
def test_a_finished_order_is_removed_from_the_list_and_kept_for_the_shop(browser, status):
    order = order_of(status=status)
    other = order_of(order.customer, status=S.COMPLETED)
    browser.force_login(order.customer)

    response = browser.post(f"/orders/{order.number}/remove/")

    assert response.status_code == 302
    assert response.url == "/orders/"
    assert "removed from your list" in last_message(response)
    order.refresh_from_db()
    assert order.hidden_by_customer
    assert order.status == status  # nothing else changed
    for page in ("/orders/", "/account/"):  # the list, and the account's recent orders
        listed = browser.get(page).content.decode()
        assert f'href="/orders/{order.number}/"' not in listed
        assert f'href="/orders/{other.number}/"' in listed
    for tab in selectors.TABS:
        assert order not in selectors.orders_of(customer=order.customer, tab=tab)
    # The page still opens (mail and after-sales pages link to it), saying it was removed.
    page = browser.get(f"/orders/{order.number}/")
    assert page.status_code == 200
    assert 'id="order-hidden"' in page.content.decode()
    # The shop keeps it: staff still find it in the admin.
    staff = factories.UserFactory(email="boss@example.com", is_staff=True, is_superuser=True)
    browser.force_login(staff)
    assert order.number in browser.get("/admin/orders/order/").content.decode()


@pytest.mark.parametrize("status", [S.PENDING_PAYMENT, S.PAID, S.SHIPPED])
def test_an_order_under_way_cannot_be_removed(browser, status):
    order = order_of(status=status)
    browser.force_login(order.customer)

    response = browser.post(f"/orders/{order.number}/remove/")

    assert response.status_code == 302
    assert "Only a completed, cancelled or closed order" in last_message(response)
    order.refresh_from_db()
    assert not order.hidden_by_customer
    assert order.number in browser.get("/orders/").content.decode()


def test_an_order_with_an_after_sales_request_in_progress_is_kept_in_the_list():
    order = order_of()
    request = request_on(order, AfterSale.Status.AWAITING_RETURN)
    with pytest.raises(OrderError) as caught:
        order_hide(order_id=order.pk, customer=order.customer)
    assert caught.value.code == OrderErrorCode.AFTERSALE_IN_PROGRESS
    order.refresh_from_db()
    assert not order.hidden_by_customer

    AfterSale.objects.filter(pk=request.pk).update(status=AfterSale.Status.COMPLETED)
    order_hide(order_id=order.pk, customer=order.customer)
    order.refresh_from_db()
    assert order.hidden_by_customer
    assert order_hide(order_id=order.pk, customer=order.customer).hidden_by_customer  # idempotent


def test_another_customers_order_answers_404_and_stays(browser):
    order = order_of()
    browser.force_login(factories.UserFactory())

    assert browser.post(f"/orders/{order.number}/remove/").status_code == 404
    with pytest.raises(Order.DoesNotExist):
        order_hide(order_id=order.pk, customer=factories.UserFactory())
    order.refresh_from_db()
    assert not order.hidden_by_customer


def test_removing_is_post_only(browser):
    order = order_of()
    browser.force_login(order.customer)
    assert browser.get(f"/orders/{order.number}/remove/").status_code == 405
    order.refresh_from_db()
    assert not order.hidden_by_customer


def test_the_order_page_offers_buy_again_and_remove_only_when_finished(browser):
    done = order_of(status=S.COMPLETED)
    shipped = order_of(done.customer, status=S.SHIPPED)
    browser.force_login(done.customer)

    page = browser.get(f"/orders/{done.number}/").content.decode()
    assert 'id="buy-again"' in page and 'id="hide-order"' in page
    assert 'id="change-address-link"' not in page
    page = browser.get(f"/orders/{shipped.number}/").content.decode()
    assert 'id="buy-again"' not in page and 'id="hide-order"' not in page


# -- the 售后 tab ------------------------------------------------------------------------------


def test_the_aftersales_tab_lists_orders_with_a_request_and_closed_orders():
    user = factories.UserFactory()
    with_request = order_of(user, status=S.COMPLETED)
    with_two = order_of(user, status=S.SHIPPED)
    closed = order_of(user, status=S.CLOSED)
    plain = order_of(user, status=S.COMPLETED)
    request_on(with_request, AfterSale.Status.CLOSED)  # a finished request still counts
    request_on(with_two)
    request_on(with_two, AfterSale.Status.REJECTED)
    others = order_of(status=S.CLOSED)  # another customer's
    request_on(others)

    listed = list(selectors.orders_of(customer=user, tab="aftersales"))

    assert sorted(o.pk for o in listed) == sorted([with_request.pk, with_two.pk, closed.pk])  # each once
    assert plain not in listed
    assert set(selectors.orders_of(customer=user, tab="completed")) == {with_request, plain}  # by status only


def test_the_aftersales_tab_page(browser):
    user = factories.UserFactory()
    with_request = order_of(user, status=S.SHIPPED)
    request_on(with_request)
    plain = order_of(user, status=S.COMPLETED)
    browser.force_login(user)

    page = browser.get("/orders/", {"tab": "aftersales"}).content.decode()

    assert with_request.number in page
    assert plain.number not in page


def test_the_order_list_takes_the_same_queries_for_one_order_or_ten(browser):
    user = factories.UserFactory()
    browser.force_login(user)
    first = order_of(user, status=S.SHIPPED)
    request_on(first)

    def count(tab: str) -> int:
        with CaptureQueriesContext(connection) as queries:
            assert browser.get("/orders/", {"tab": tab}).status_code == 200
        return len(queries)

    few = {tab: count(tab) for tab in ("", "aftersales")}
    for n in range(9):
        order = order_of(user, status=S.SHIPPED if n % 2 else S.CLOSED)
        if n % 3 == 0:
            request_on(order)
            request_on(order, AfterSale.Status.CLOSED)
    many = {tab: count(tab) for tab in ("", "aftersales")}

    assert many == few
