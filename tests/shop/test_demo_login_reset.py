"""`make run` prints the demo logins with the password in var/admin-password.txt: when that file
no longer opens the database (another database was seeded with it, or a password was changed in
the admin), the demo logins are reset so that what is printed works."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import Product
from orders.models import Coupon
from shop.demo import DEMO_CUSTOMER, FINANCE_EMAIL, WAREHOUSE_EMAIL, DemoBuilder
from tests import factories

pytestmark = pytest.mark.django_db


def test_a_password_file_that_no_longer_matches_the_database_resets_the_demo_logins(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    User = get_user_model()
    email, password = DemoBuilder(products=0, progress=False)._admin()
    User.objects.create_user(email=DEMO_CUSTOMER, password=password)
    # Someone changed the admin's and the customer's passwords, and deactivated a staff login.
    for login in (email, DEMO_CUSTOMER):
        user = User.objects.get(email=login)
        user.set_password("changed-in-the-admin")
        user.save()
    User.objects.filter(email=WAREHOUSE_EMAIL).update(is_active=False)

    assert DemoBuilder(products=0, progress=False)._admin() == (email, password)  # the file's password kept
    for login in (email, DEMO_CUSTOMER, WAREHOUSE_EMAIL, FINANCE_EMAIL):
        user = User.objects.get(email=login)
        assert user.is_active and user.check_password(password), login
    assert (tmp_path / "admin-password.txt").read_text().strip() == password


def test_another_databases_password_file_is_taken_over_and_a_lost_file_is_made_again(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    User = get_user_model()
    _email, first = DemoBuilder(products=0, progress=False)._admin()
    (tmp_path / "admin-password.txt").write_text("admin-from-another-seed\n")  # seed_demo on another database
    assert DemoBuilder(products=0, progress=False)._admin()[1] == "admin-from-another-seed"
    assert User.objects.get(email="admin@example.com").check_password("admin-from-another-seed")
    assert not User.objects.get(email="admin@example.com").check_password(first)

    (tmp_path / "admin-password.txt").unlink()
    _email, fresh = DemoBuilder(products=0, progress=False)._admin()
    assert fresh.startswith("admin-") and fresh != "admin-from-another-seed"
    assert (tmp_path / "admin-password.txt").read_text().strip() == fresh
    assert User.objects.get(email=FINANCE_EMAIL).check_password(fresh)


def test_seed_demo_changes_no_login_wallet_or_coupon_in_a_live_database(settings, tmp_path):
    """DEBUG off and a catalogue there (a live shop, or `make stack` run again): the demo's
    superuser is not re-activated nor its password reset, nothing is topped up or added."""
    settings.VAR_DIR = tmp_path
    settings.DEBUG = False
    factories.ProductFactory()
    admin = get_user_model().objects.create_superuser(email="admin@example.com", password="the-owners-own")
    admin.is_active = False
    admin.save()
    (tmp_path / "admin-password.txt").write_text("admin-from-another-seed\n")
    err = StringIO()
    call_command("seed_demo", "--if-empty", stdout=StringIO(), stderr=err)
    assert "DEBUG is off" in err.getvalue()
    admin.refresh_from_db()
    assert not admin.is_active and admin.check_password("the-owners-own")
    assert not Coupon.objects.exists()
    assert get_user_model().objects.count() == 1
    with pytest.raises(SystemExit):
        call_command("seed_demo", "--products", "3", stdout=StringIO(), stderr=StringIO())
    assert Product.objects.count() == 1
