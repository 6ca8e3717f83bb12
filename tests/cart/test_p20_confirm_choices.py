"""The confirm page's GET shows the choices offered (cart.forms.CheckoutChoices) with no Django
form: nothing is posted, so nothing is validated, and building a form only deep-copied its five
fields for each to give its initial value. What the page shows of them is what an unbound
CheckoutForm of the same choices shows; a posted choice is still validated by CheckoutForm, with
the same errors for the same bad input."""

from decimal import Decimal

import pytest
from django.test import override_settings
from django.urls import reverse

import cart.forms
from cart.forms import CheckoutChoices, CheckoutForm
from cart.shipping import shipping_quotes
from payments.services import wallet_top_up
from tests import factories
from tests.purchase import buyer_with_cart, english, place_form, stocked_variant

pytestmark = pytest.mark.django_db
D = Decimal
CHECKOUT = reverse("cart:checkout")


@pytest.fixture
def forms_built(monkeypatch):
    """The CheckoutForms built (their data: None when unbound)."""
    built = []
    init = CheckoutForm.__init__

    def counted(self, *args, **kwargs):
        built.append(args[0] if args else kwargs.get("data"))
        init(self, *args, **kwargs)

    monkeypatch.setattr(CheckoutForm, "__init__", counted)
    return built


def test_the_page_is_shown_with_no_form_and_a_posted_choice_is_validated_by_one(client, forms_built):
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)])
    english(client).force_login(user)
    wallet_top_up(user=user, amount=D("500.00"), reference="T")

    page = client.get(CHECKOUT)
    assert page.status_code == 200 and "place-order" in page.content.decode()
    assert forms_built == []  # fails before P20: the GET built an unbound CheckoutForm

    posted = client.post(CHECKOUT, {**place_form(cart, address), "shipping_method": "no-such-way", "address": "x"})
    assert len(forms_built) == 1 and forms_built[0] is not None
    errors = posted.context["form"].errors
    assert set(errors) == {"address", "shipping_method"}  # the same errors for the same bad input
    assert 'id="place-order" disabled' in posted.content.decode()


def _book(user):
    home = factories.AddressFactory(user=user, is_default=False, recipient="<张三>")
    default = factories.AddressFactory(user=user, is_default=True, province="新疆维吾尔自治区")
    return [home, default]


@pytest.mark.parametrize(
    ("providers", "balance", "least", "default"),
    [
        (["sandbox", "wallet", "cod"], D("500.00"), D("100.00"), True),  # the wallet first
        (["sandbox", "wallet", "cod"], D("50.00"), D("100.00"), True),  # the wallet short: disabled
        (["wallet", "cod"], D("0.00"), None, False),  # no least total, no default address
        (["cod", "sandbox"], None, D("100.00"), True),  # no wallet offered
        (["wallet"], D("10.00"), D("100.00"), True),  # nothing usable: the first offered
    ],
)
def test_the_choices_show_what_an_unbound_form_of_them_shows(settings, providers, balance, least, default):
    settings.PAYMENT_PROVIDERS = providers
    user = factories.UserFactory()
    addresses = _book(user)
    if not default:
        addresses[1].is_default = False
    quotes = shipping_quotes(weight_grams=1500, province="新疆维吾尔自治区", goods=D("90.00"))
    arguments = {
        "addresses": addresses, "quotes": quotes, "wallet_balance": balance, "least_total": least,
        "shipping_initial": quotes[1].method,
    }  # fmt: skip
    offered = CheckoutChoices(**arguments)
    for form in (CheckoutForm(None, offered=offered), CheckoutForm(**arguments)):
        assert offered.address_options == form.address_options
        assert offered.payment_options == form.payment_options
        assert offered.payment_choices == form.payment_choices
        assert offered.payment_disabled == form.fields["payment_method"].widget.disabled
        assert offered.payment_initial == form.fields["payment_method"].initial
        for name in ("address", "shipping_method", "insured", "payment_method", "note"):
            assert offered.value(name) == form[name].value(), name
        assert offered.shipping_value == form.shipping_value
        assert str(offered.note_label) == str(form.note_label) == str(form["note"].label)
        assert dict(offered.errors) == form.errors == {}


@override_settings(PAYMENT_PROVIDERS=["sandbox", "wallet", "cod"])
def test_a_disabled_wallet_posted_is_refused_as_before(client):
    user, address, cart = buyer_with_cart([(stocked_variant(price="60.00"), 2)])
    english(client).force_login(user)  # no wallet balance: the wallet is short for any total
    page = client.post(CHECKOUT, {**place_form(cart, address), "payment_method": "wallet"})
    assert page.context["form"].errors["payment_method"] == ["Your wallet balance is not enough for this order."]


def test_the_payment_choices_are_built_once_and_keep_their_labels_lazy():
    labels = dict(cart.forms._PAYMENT_CHOICES)
    assert set(labels) >= {"wallet", "cod", "sandbox"}
    from django.utils import translation

    with translation.override("zh-hans"):
        assert str(labels["cod"]) == "货到付款"
    with translation.override("en"):
        assert str(labels["cod"]) == "Cash on delivery"
