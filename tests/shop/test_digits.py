"""One rule for digits typed by people (issue 8: "Postcodes accept full-width digits; quantities
do not"): full-width digits, what a Chinese input method types in full-width mode, are taken
and stored as ASCII; every other character Python calls a digit (superscripts, Arabic-Indic,
Devanagari...) is refused, in postcodes, phone numbers, quantities and ids alike."""

import re
import sys

import pytest
from django.test import Client
from django.utils import translation
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from cart.exceptions import CartError
from cart.models import CartLine
from cart.services import parse_quantity
from shop.accounts.forms import AddressForm, ProfileForm
from shop.core.text import fold_digits, parse_digits, parse_whole_number
from shop.models import Address
from tests import factories
from tests.purchase import english, messages_of, stocked_variant

FULLWIDTH = "０１２３４５６７８９"
OTHER_DIGITS = "٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹०१२३४५६७८९০১২৩৪৫৬৭৮৯๐๑๒๓๔๕๖๗๘๙²³¹⁰₀₁①⑴"
# Characters people might type around or instead of digits.
NEAR_MISSES = "五一〇 \t\u3000+-._,eExX"
ALPHABET = "0123456789" + FULLWIDTH + OTHER_DIGITS + NEAR_MISSES


def oracle(raw: str) -> str | None:
    """What the rule says `raw` stands for: ASCII digits, or None."""
    text = raw.strip()
    text = "".join(str(FULLWIDTH.index(c)) if c in FULLWIDTH else c for c in text)
    return text if re.fullmatch(r"[0-9]+", text, flags=re.ASCII) else None


digit_strings = st.one_of(
    st.text(alphabet=ALPHABET, max_size=8),
    st.text(alphabet="0123456789" + FULLWIDTH, min_size=1, max_size=8),  # all valid, mixed widths
    st.text(max_size=6),
)


@hypothesis_settings(max_examples=500, deadline=None)
@example(raw="５１８０００")
@example(raw="518000")
@example(raw="５1８0００")
@example(raw="²")
@example(raw="٣")
@example(raw="१२३")
@example(raw=" ５ ")
@example(raw="")
@given(raw=digit_strings)
def test_parse_digits_follows_the_rule(raw):
    assert parse_digits(raw) == oracle(raw)
    want = oracle(raw)
    assert parse_whole_number(raw) == (int(want) if want is not None else None)


def test_absurdly_long_numbers_are_refused_not_a_500():
    assert parse_whole_number("9" * 30) == int("9" * 30)
    assert parse_whole_number("9" * 31) is None
    assert parse_whole_number("１" * 5000) is None  # int() would raise past 4300 digits
    with pytest.raises(CartError):
        parse_quantity("1" * 5000)


def test_every_unicode_digit_but_ascii_and_full_width_is_refused():
    """Exhaustive: every code point Python's isdigit() or int() would take as a digit."""
    taken = []
    for code in range(sys.maxunicode + 1):
        char = chr(code)
        if not char.isdigit():
            continue
        if parse_digits(char) is not None:
            taken.append(char)
    assert "".join(taken) == "0123456789" + FULLWIDTH


def test_fold_digits_changes_only_full_width_digits():
    assert fold_digits("邮编５１８０００，电话１３８") == "邮编518000，电话138"
    assert fold_digits("٣²") == "٣²"


def test_parse_digits_takes_only_text():
    assert parse_digits(None) is None
    assert parse_digits(5) is None


# -- the fields that use it -------------------------------------------------------------------


def address_form(**fields) -> AddressForm:
    data = {
        "recipient": "张三",
        "phone": "13800138000",
        "province": "440000",  # 广东省 深圳市 南山区 (division codes: shop.core.divisions)
        "city": "440300",
        "district": "440305",
        "street": "科技园 1 号",
        "postcode": "",
        **fields,
    }
    return AddressForm(data=data, instance=Address(user=factories.UserFactory.build()))


@pytest.mark.django_db
@hypothesis_settings(max_examples=200, deadline=None)
@example(raw="５１８０００")
@example(raw="²")
@example(raw="٥١٨٠٠٠")
@example(raw="51800²")
@given(raw=st.text(alphabet=ALPHABET, min_size=1, max_size=8))
def test_postcodes_follow_the_rule_and_are_stored_in_ascii(raw):
    form = address_form(postcode=raw)
    with translation.override("en"):
        valid = form.is_valid()
    if not raw.strip():
        assert valid and form.cleaned_data["postcode"] == ""
    elif oracle(raw) is None:
        assert not valid
        with translation.override("en"):
            assert form.errors["postcode"] == ["A postcode is digits only."]
    else:
        assert valid, form.errors
        assert form.cleaned_data["postcode"] == oracle(raw)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("１３８００１３８０００", "13800138000"),
        ("+８６ １３８-００１３-８０００", "13800138000"),  # an account's phone too: the national form
        ("13800138000", "13800138000"),
        ("١٣٨٠٠١٣٨٠٠٠", None),
        ("13800138000²", None),
        ("１３８００１٣８０００", None),
    ],
)
def test_phone_numbers_follow_the_rule(typed, stored):
    form = address_form(phone=typed)
    assert form.is_valid() is (stored is not None), form.errors
    if stored is not None:
        # An address's phone is also a mainland number, stored normalised (shop.core.phones).
        assert form.cleaned_data["phone"] == "13800138000"
    profile = ProfileForm(data={"phone": typed, "language": ""}, instance=factories.UserFactory.build())
    assert profile.is_valid() is (stored is not None)
    if stored is not None:
        assert profile.cleaned_data["phone"] == stored


@hypothesis_settings(max_examples=300, deadline=None)
@given(raw=digit_strings)
def test_quantities_and_postcodes_agree(raw):
    """The same characters make a quantity and a postcode: one rule, two ranges."""
    want = oracle(raw)
    try:
        quantity = parse_quantity(raw)
    except CartError:
        quantity = None
    if want is None or not 1 <= int(want) <= 99:
        assert quantity is None
    else:
        assert quantity == int(want)


# -- through the pages ------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_address_typed_in_full_width_is_saved_in_ascii():
    customer = factories.UserFactory()
    client = english(Client())
    client.force_login(customer)
    response = client.post(
        "/account/addresses/new/",
        {
            "recipient": "李雷",
            "phone": "１３９００１３９０００",
            "province": "440000",  # 广东省 (division codes: shop.core.divisions)
            "city": "440300",
            "district": "440305",
            "street": "科技园 8 号",
            "postcode": "５１８０００",
        },
    )
    assert response.status_code == 302
    address = Address.objects.get(user=customer)
    assert (address.phone, address.postcode) == ("13900139000", "518000")

    refused = client.post(
        f"/account/addresses/{address.pk}/",
        {
            "recipient": "李雷",
            "phone": "13900139000",
            "province": "440000",  # 广东省 (division codes: shop.core.divisions)
            "city": "440300",
            "district": "440305",
            "street": "科技园 8 号",
            "postcode": "²",
        },
    )
    assert refused.status_code == 200
    assert refused.context["form"].errors == {"postcode": ["A postcode is digits only."]}
    address.refresh_from_db()
    assert address.postcode == "518000"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("quantity", "variant_as", "added"),
    [
        ("３", "ascii", 3),
        ("3", "full-width", 3),
        ("٣", "ascii", None),
        ("3", "arabic-indic", None),
        ("3", "superscript", None),
    ],
)
def test_adding_to_the_cart_follows_the_rule_for_quantity_and_variant(quantity, variant_as, added):
    variant = stocked_variant(on_hand=10)
    spell = {
        "ascii": str,
        "full-width": lambda n: str(n).translate(str.maketrans("0123456789", FULLWIDTH)),
        "arabic-indic": lambda n: str(n).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
        "superscript": lambda n: str(n).translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")),
    }[variant_as]
    client = english(Client())
    response = client.post("/cart/add/", {"variant": spell(variant.pk), "quantity": quantity})
    assert response.status_code == 302
    lines = list(CartLine.objects.values_list("variant_id", "quantity"))
    if added is None:
        assert lines == []
        assert messages_of(response) != ["Added to your cart."]
    else:
        assert lines == [(variant.pk, added)]


@pytest.mark.parametrize("raw", ["٣", "²", "3_0", "+3"])
def test_a_page_number_in_other_digits_is_not_a_page_number(client, db, raw):
    response = client.get("/products/", {"page": raw})
    assert response.status_code == 200
    assert response.context["page"].number == 1
    assert any("不是有效页码" in e for e in response.context["errors"]), response.context["errors"]


def test_a_full_width_page_number_is_taken(client, make_product):
    make_product()
    response = client.get("/products/", {"page": "１"})
    assert response.status_code == 200
    assert response.context["errors"] == []


@pytest.mark.parametrize("raw", ["²", "٣", "9" * 40], ids=["superscript", "arabic-indic", "40-digits"])
def test_pick_list_ids_follow_the_rule(admin_client, raw):
    warehouse = factories.WarehouseFactory()
    assert admin_client.get("/admin/fulfillment/shipment/pick-list/", {"warehouse": raw}).status_code == 404
    response = admin_client.get("/admin/fulfillment/shipment/pick-list/", {"warehouse": warehouse.pk, "shipment": raw})
    assert response.status_code == 200


@pytest.mark.parametrize("raw", ["²", "٣", "9" * 5000], ids=["superscript", "arabic-indic", "5000-digits"])
def test_bench_ceiling_size_follows_the_rule(rf, settings, raw):
    from shop.views import bench_ceiling

    settings.BENCH_VIEWS_ENABLED = True
    response = bench_ceiling(rf.get("/bench/ceiling/", {"kb": raw}))
    assert response.status_code == 200
    assert 20 * 1024 < len(response.content) < 21 * 1024
