"""`make run` prints one login per staff role, each in its group, sharing the admin's password."""

import pytest
from django.contrib.auth import get_user_model

from aftersales.services.staff import CUSTOMER_SERVICE_GROUP, FINANCE_GROUP
from fulfillment.services.staff import WAREHOUSE_GROUP
from shop.demo import FINANCE_EMAIL, SERVICE_EMAIL, WAREHOUSE_EMAIL, DemoBuilder

pytestmark = pytest.mark.django_db


def test_every_staff_role_has_a_demo_login(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    email, password = DemoBuilder(products=0, progress=False)._admin()
    User = get_user_model()
    for login, group in ((WAREHOUSE_EMAIL, WAREHOUSE_GROUP), (SERVICE_EMAIL, CUSTOMER_SERVICE_GROUP),
                         (FINANCE_EMAIL, FINANCE_GROUP)):  # fmt: skip
        user = User.objects.get(email=login)
        assert user.is_staff and not user.is_superuser and user.check_password(password)
        assert list(user.groups.values_list("name", flat=True)) == [group]
    # A database made before a login existed gets it on the next run.
    User.objects.filter(email=FINANCE_EMAIL).delete()
    assert DemoBuilder(products=0, progress=False)._admin() == (email, password)
    assert User.objects.get(email=FINANCE_EMAIL).check_password(password)


@pytest.mark.django_db(transaction=True)
def test_the_demo_has_a_catalogue_manager_a_department_login_and_last_month_settled(settings, tmp_path):
    """`make run` shows the back office with something in it: last month settled (the books
    reconcile, so every demo order is really paid), a department's staff see their statement."""
    from aftersales.models import SettlementRun, Statement
    from aftersales.services.settlement import month_previous
    from catalog.selectors import DEPARTMENT_STAFF_GROUP, staff_department_ids
    from catalog.services import CATALOGUE_MANAGER_GROUP
    from shop.demo import CATALOGUE_EMAIL, DEPARTMENT_EMAIL

    settings.VAR_DIR = tmp_path
    DemoBuilder(products=0, progress=False).build()
    DemoBuilder(products=60, progress=False).build()
    User = get_user_model()
    assert list(User.objects.get(email=CATALOGUE_EMAIL).groups.values_list("name", flat=True)) == [
        CATALOGUE_MANAGER_GROUP
    ]
    member = User.objects.get(email=DEPARTMENT_EMAIL)
    assert list(member.groups.values_list("name", flat=True)) == [DEPARTMENT_STAFF_GROUP]
    run = SettlementRun.objects.get()
    assert run.outcome == SettlementRun.Outcome.OK and run.sale_lines > 0
    statements = Statement.objects.filter(month=month_previous())
    assert statements.exists()
    assert statements.filter(department_id__in=staff_department_ids(member)).exists()
    # The demo customer's wallet is topped up and coupons exist (tests/shop/test_demo_wallet.py).
    from orders.models import Coupon
    from payments.models import WalletEntry
    from shop.demo import DEMO_CUSTOMER

    assert WalletEntry.objects.filter(wallet__user__email=DEMO_CUSTOMER, reason="top_up", amount=500).exists()
    assert Coupon.objects.filter(code="WELCOME20").exists()
    # 已售: the demo's invented history as the products' baselines, plus its real orders, less
    # their refunds (the recompute from the sales rollup, orders.sales_count).
    from django.db.models import Sum

    from catalog.models import Product
    from orders.models import DailySales, SalesBaseline

    baseline = dict(SalesBaseline.objects.values_list("product_id", "units"))
    sold = dict(
        DailySales.objects.values("product_id")
        .annotate(n=Sum("units") - Sum("refunded_units"))
        .values_list("product_id", "n")
    )
    counts = dict(Product.objects.values_list("pk", "sales_count"))
    assert counts == {pk: max(baseline.get(pk, 0) + sold.get(pk, 0), 0) for pk in counts}
    assert any(counts[pk] > baseline.get(pk, 0) for pk in sold)  # the demo's orders counted
    assert len(set(counts.values())) > 5  # a spread of counts, as a shop has
