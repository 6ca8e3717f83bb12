"""Product card images: the grid at the top of a listing and of the home page loads its first
screenful at once (the first image with priority, usually the page's largest paint: a lazy one
waits for layout, which Lighthouse reports as "LCP image was lazily loaded"); the rest stay lazy."""

import re

import pytest

from catalog.models import Product

pytestmark = pytest.mark.django_db


def card_images(body: str) -> list[str]:
    return re.findall(r'<li class="card">\s*<a [^>]*>\s*(<img [^>]*>)', body)


@pytest.fixture
def six_products(make_product):
    for i in range(6):
        make_product(name=f"图片商品{i}")
    Product.objects.update(card_image="products/card.jpg")


@pytest.mark.parametrize("url", ["/products/", "/"])
def test_the_first_cards_load_at_once_and_the_very_first_with_priority(client, six_products, url):
    images = card_images(client.get(url).content.decode())
    assert len(images) >= 6
    first, eager, lazy = images[0], images[1:4], images[4:6]
    assert 'fetchpriority="high"' in first and "loading=" not in first
    assert all("loading=" not in tag and "fetchpriority" not in tag for tag in eager)
    assert all('loading="lazy"' in tag and "fetchpriority" not in tag for tag in lazy)
    assert all('width="400" height="400"' in tag for tag in images)  # no layout shift
