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
