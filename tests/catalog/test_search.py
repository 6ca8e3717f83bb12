"""Search in Chinese and English on PostgreSQL full text, with a typo-tolerant fallback."""

import pytest

from catalog.search import segment, tsquery

pytestmark = pytest.mark.django_db


def test_segment_splits_chinese_titles_into_words():
    tokens = segment("纯棉圆领T恤")
    assert "纯棉" in tokens
    assert "t恤" in tokens


def test_tsquery_escapes_quotes_and_prefixes_the_last_word():
    assert tsquery("it's cotton") == "'it' & 's' & 'cotton':*"
    assert tsquery("!!!") is None


def _search(client, q, **params):
    response = client.get("/search/", {"q": q, **params})
    assert response.status_code == 200
    return [p.name for p in response.context["products"]]


def test_chinese_title_found_by_its_words(client, make_product):
    make_product(name="纯棉圆领T恤", name_en="Cotton crew-neck tee")
    make_product(name="不锈钢保温杯", name_en="Steel vacuum flask")
    assert _search(client, "纯棉") == ["纯棉圆领T恤"]
    assert _search(client, "T恤") == ["纯棉圆领T恤"]
    assert _search(client, "保温杯") == ["不锈钢保温杯"]


def test_english_words_and_prefixes(client, make_product):
    make_product(name="纯棉圆领T恤", name_en="Cotton crew-neck tee")
    assert _search(client, "cotton") == ["纯棉圆领T恤"]
    assert _search(client, "cott") == ["纯棉圆领T恤"]


def test_typo_falls_back_to_trigram_similarity(client, make_product):
    make_product(name="蓝牙耳机", name_en="Bluetooth earbuds")
    response = client.get("/search/", {"q": "bluetoth"})
    assert [p.name for p in response.context["products"]] == ["蓝牙耳机"]
    assert response.context["fuzzy"] is True


def test_nothing_found_says_so_and_suggests(client, make_product):
    make_product(name="蓝牙耳机", name_en="Bluetooth earbuds", sales_count=5)
    response = client.get("/search/", {"q": "zzzzqqq"})
    body = response.content.decode()
    assert response.context["page"].paginator.count == 0
    assert "No products match." in body or "没有找到" in body
    assert response.context["suggestions"]


def test_search_reflects_renamed_product(client, make_product):
    product = make_product(name="旧名字", name_en="old name")
    product.name = "新名字羽绒服"
    product.save()
    from catalog.services import product_after_save

    product_after_save(product_id=product.pk)
    assert _search(client, "羽绒服") == ["新名字羽绒服"]
