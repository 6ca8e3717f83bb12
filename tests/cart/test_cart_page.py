"""The cart page's lines: the product's photo beside each (its denormalised card image, so no
query per line), a header for every column (axe: empty-table-header), a remove button named
after its product."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from catalog.models import Product
from tests.purchase import buyer_with_cart, stocked_variant

pytestmark = pytest.mark.django_db


def photographed_variant(n: int):
    variant = stocked_variant(price="20.00")
    Product.objects.filter(pk=variant.product_id).update(card_image=f"products/listing/photo-{n}.jpg")
    return variant


def cart_page(client, user):
    client.force_login(user)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/cart/")
    assert response.status_code == 200
    return response.content.decode(), len(queries)


def test_every_line_shows_its_product_photo_in_a_fixed_number_of_queries(client, settings):
    one = [(photographed_variant(0), 1)]
    three = [(photographed_variant(n), 1) for n in (1, 2, 3)]
    user_one, _, _ = buyer_with_cart(one)
    user_three, _, _ = buyer_with_cart(three)

    html_one, queries_one = cart_page(client, user_one)
    html_three, queries_three = cart_page(client, user_three)

    assert queries_three == queries_one
    for n in (1, 2, 3):
        assert f'<img class="cl-image" src="{settings.MEDIA_URL}products/listing/photo-{n}.jpg"' in html_three
    assert html_one.count('class="cl-image"') == 1


def test_a_line_without_a_photo_keeps_its_place(client):
    user, _, _ = buyer_with_cart([(stocked_variant(), 1)])
    html, _ = cart_page(client, user)
    assert '<span class="cl-image noimg" aria-hidden="true"></span>' in html


def test_every_column_has_a_header_and_remove_names_its_product(client):
    variant = photographed_variant(0)
    user, _, _ = buyer_with_cart([(variant, 1)])
    html, _ = cart_page(client, user)
    thead = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    headers = re.findall(r"<th[^>]*>(.*?)</th>", thead, re.S)
    assert len(headers) == 5
    assert all(re.sub(r"<[^>]+>", "", h).strip() for h in headers), headers
    with translation.override("en"):
        name = variant.product.display_name
    assert f'aria-label="Remove {name}"' in html
