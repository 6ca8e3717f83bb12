"""The categories, brands and attribute values a web process keeps (catalog.selectors.Taxonomy)
under the generation number the database keeps for them (migration 0014): a listing reads one
number instead of the rows, and any committed write to them shows on the next request."""

import pytest
from django import forms
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext

from catalog import selectors
from catalog.filters import _FIELDS, listing_filters_parse
from catalog.models import AttributeValue, Brand
from tests import factories

pytestmark = pytest.mark.django_db


def generation() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT generation FROM catalog_taxonomy_generation")
        return cursor.fetchone()[0]


def test_any_write_to_the_taxonomy_tables_changes_the_generation_and_other_writes_do_not(make_product):
    brand = factories.BrandFactory(name="甲")
    product = make_product(name="衫", brand=brand)
    seen = {generation()}
    statements = [
        "UPDATE catalog_brand SET name = '乙' WHERE id = %(brand)s",
        "UPDATE catalog_category SET name_en = 'x' WHERE id = %(category)s",
        "INSERT INTO catalog_attribute (name, name_en, code, is_filter, position) VALUES ('色', '', 'c', true, 0)",
        "INSERT INTO catalog_attributevalue (attribute_id, value, value_en, position)"
        " SELECT id, '红', '', 0 FROM catalog_attribute WHERE code = 'c'",
        "DELETE FROM catalog_attributevalue WHERE value = '红'",
        "UPDATE catalog_attribute SET is_filter = false WHERE code = 'c'",
    ]
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql, {"brand": brand.pk, "category": product.category_id})
            assert generation() not in seen, sql  # raw SQL too: triggers, not signals
            seen.add(generation())
        before = generation()
        cursor.execute("UPDATE catalog_product SET price = price + 1, name = 'x' WHERE id = %s", [product.pk])
        assert generation() == before  # a product write is not a taxonomy write


def test_the_taxonomy_is_read_once_per_generation_and_again_after_a_write(django_assert_num_queries):
    brand = factories.BrandFactory(name="甲")
    selectors.taxonomy_current()
    with django_assert_num_queries(1):  # the generation only
        kept = selectors.taxonomy_current()
    assert kept.brands[brand.pk].name == "甲"
    Brand.objects.filter(pk=brand.pk).update(name="乙")  # no signal, no cache clear
    with django_assert_num_queries(4):  # the generation, then categories, brands, values
        assert selectors.taxonomy_current().brands[brand.pk].name == "乙"


def test_rows_read_in_a_transaction_rolled_back_are_never_taken_for_later_ones():
    """A +1 counter would hand the rolled-back number out again to the next write: the rows read
    inside the rolled-back transaction would then pass for that write's."""
    with transaction.atomic():
        factories.BrandFactory(name="撤销的")
        assert "撤销的" in {b.name for b in selectors.taxonomy_current().brands.values()}
        transaction.set_rollback(True)
    factories.BrandFactory(name="留下的")
    names = {b.name for b in selectors.taxonomy_current().brands.values()}
    assert "留下的" in names and "撤销的" not in names


def test_a_copy_restored_with_triggers_off_and_an_old_generation_number_is_still_seen():
    """As tests/browser restores its snapshot (or pg_restore a dump): the tables written with
    triggers off, the generation row and its sequence put back to an old number. The row is
    written by another transaction, which the process sees."""
    brand = factories.BrandFactory(name="甲")
    number = selectors.taxonomy_current().generation[0]
    with transaction.atomic(), connection.cursor() as cursor:  # a savepoint: its own transaction id
        cursor.execute("SET LOCAL session_replication_role = replica")  # no triggers
        cursor.execute("UPDATE catalog_brand SET name = '乙' WHERE id = %s", [brand.pk])
        cursor.execute("UPDATE catalog_taxonomy_generation SET generation = %s", [number])
        cursor.execute("SET LOCAL session_replication_role = origin")
    assert selectors.taxonomy_current().brands[brand.pk].name == "乙"


def test_a_brand_renamed_by_raw_sql_shows_at_once_on_a_listing_with_nothing_cached(client, make_product, settings):
    settings.PAGE_CACHE_ENABLED = False
    brand = factories.BrandFactory(name="旧名", name_en="Old")
    make_product(name="衫", brand=brand)
    assert "旧名" in client.get("/products/").content.decode()
    caches["pages"].clear()  # the facets' minute, as after any catalogue write
    with connection.cursor() as cursor:
        cursor.execute("UPDATE catalog_brand SET name = '新名' WHERE id = %s", [brand.pk])
    page = client.get("/products/").content.decode()
    assert "新名" in page and "旧名" not in page


def test_a_category_added_or_hidden_shows_at_once(client, make_product, settings):
    settings.PAGE_CACHE_ENABLED = False
    shoes = factories.CategoryFactory(name="鞋", slug="shoes")
    make_product(name="跑鞋", category=shoes)
    assert client.get("/c/shoes/").status_code == 200
    assert "鞋" in {c.name for c in client.get("/products/").context["children"]}
    boots = factories.CategoryFactory(parent=shoes, name="靴子", slug="boots")
    assert [c.slug for c in client.get("/c/shoes/").context["children"]] == ["boots"]
    boots.refresh_from_db()
    boots.is_active = False
    boots.save()
    assert client.get("/c/shoes/").context["children"] == []
    assert client.get("/c/boots/").status_code == 404


@pytest.mark.parametrize(
    "url, statements",
    [
        # the taxonomy's generation, the count table, the chosen products' counts, the products:
        # the brand or value chosen is looked up in the taxonomy, no query of its own (and the
        # listings without filters, tests/catalog/test_listing_sql.py)
        ("/c/clothing/?brand={brand}", 4),
        ("/products/?av={value}", 4),
    ],
)
def test_listings_with_nothing_cached_read_no_taxonomy_row(client, make_product, url, statements, settings):
    settings.PAGE_CACHE_ENABLED = False
    clothing = factories.CategoryFactory(name="服装", slug="clothing")
    red = factories.AttributeValueFactory(value="红")
    products = [make_product(name=f"纯棉衫{i}", category=clothing, options=[red]) for i in range(3)]
    url = url.format(brand=products[0].brand_id, value=red.pk)
    client.get(url)  # per-process lookups (content types, jieba, the taxonomy)
    caches["pages"].clear()  # nothing cached: the facets and the category tree too
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    assert len(captured) == statements, [q["sql"][:120] for q in captured]


@pytest.mark.parametrize(
    "values",
    [
        ["{a}"],
        ["{a}", "{b}"],
        ["0{a}"],
        [" {a}"],
        ["{a}.0"],
        ["abc"],
        [""],
        ["-1"],
        ["99999999999999999999999"],
        ["a\x00"],
        ["\u0665"],  # an Arabic-Indic digit: int() reads it, the id it gives is not "٥"
        [],
    ],
)
@pytest.mark.parametrize("name", ["brand", "av"])
def test_brand_and_value_ids_are_checked_as_django_checks_them(name, values):
    first = factories.BrandFactory() if name == "brand" else factories.AttributeValueFactory()
    second = factories.BrandFactory() if name == "brand" else factories.AttributeValueFactory(attribute=first.attribute)
    values = [v.format(a=first.pk, b=second.pk) for v in values]
    model = Brand if name == "brand" else AttributeValue
    django_field = forms.ModelMultipleChoiceField(queryset=model.objects.all(), required=False)
    try:
        expected = sorted(o.pk for o in django_field.clean(values))
    except ValidationError as exc:
        expected = exc.messages
    rows = selectors.taxonomy_current().brands if name == "brand" else selectors.taxonomy_current().values
    try:
        found = [o.pk for o in _FIELDS[name].clean_among(values, rows)]
    except ValidationError as exc:
        found = exc.messages
    assert found == expected
    params = QueryDict(mutable=True)
    params.setlist(name, values)
    parsed = listing_filters_parse(params)
    if all(isinstance(pk, int) for pk in expected):  # valid: the rows, no message
        assert [o.pk for o in parsed.cleaned[name]] == expected and parsed.errors == []
    else:  # dropped, and said why in Django's words
        assert list(parsed.cleaned[name]) == [] and parsed.errors == [f"{_FIELDS[name].label}: {expected[0]}"]
