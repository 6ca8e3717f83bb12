"""Labels the admin shows: every model of ours names itself (in the admin's lists, its
permission list, the history), and every kind of mail the code queues has a label of its own."""

import pytest
from django.apps import apps
from django.utils import translation

from fulfillment.services.alerts import STOCK_BACK
from orders.models import Notification

OUR_APPS = ["shop", "catalog", "orders", "payments", "fulfillment", "cart", "aftersales"]


@pytest.mark.parametrize("app", OUR_APPS)
def test_every_model_has_verbose_names(app):
    # Without them Django makes one from the class name ("bought together"), never translated.
    unnamed = [
        model.__name__
        for model in apps.get_app_config(app).get_models()
        if not {"verbose_name", "verbose_name_plural"} <= model._meta.original_attrs.keys()
    ]
    assert unnamed == []


def test_the_back_in_stock_mail_has_a_label():
    assert STOCK_BACK in Notification.Kind.values
    with translation.override("en"):
        assert Notification(kind=STOCK_BACK, to="a@example.com").get_kind_display() == "Back-in-stock notice"
