"""PostgreSQL-only: facet counts kept by the database, and a deterministic sample of products
(skipped on the embedded SQLite default, which counts on every miss as before).

Counting a listing's brands and attribute values on a miss read every product of the listing:
about 65 ms for all 100,000 products, 23 ms for a root category, 75 ms for a common-word search
(docs/benchmark.md, "Issue 12: nothing cached"). Now:

- `catalog_facet_count` holds, per category a product is filed in (and once more for the whole
  catalogue, category_id 0), the number of active products per brand ('b', key = brand id) and
  per attribute value ('v', key = value id), and a summary row ('s', key 0: active products,
  and how many are in stock). Statement-level triggers with transition tables keep it equal to
  the product table, so the admin, the import, the bulk seed and raw SQL all keep it right; an
  UPDATE that changes none of the counted columns (is_active, category_id, brand_id, in_stock,
  attr_ids: views, sales, prices, names) touches no count row, so it takes no lock there. A
  category page sums its subtree's rows (at most a few thousand); all products read category 0.
  The price span is not kept (a delete would need a rescan): it is two probes per category of
  the (category, price) index product_cat_price, exact and as cheap.
- `catalog_product.sample` (0..99, a hash of the id, so fixed for a product and spread evenly
  over brands, categories and attributes) lets a facet count over a very large filtered result
  set or search read a known fraction of it and scale up (catalog.facets). The covering index
  product_facets gains it after the category, and a small index on it alone is ANDed with the
  full-text index's bitmap, so a common-word search reads only its sampled hits from the table.
"""

from django.db import migrations

# The relation `changes` (category_id, brand_id, in_stock, attr_ids, sign) is what enters (+1)
# or leaves (-1) the counts in one statement; each is counted in its category and in the whole
# catalogue (0). Rows are upserted in key order, so two statements never lock them in opposite
# orders; rows whose deltas cancel out are not touched at all.
APPLY = """
    WITH changes AS ({changes}),
    scoped AS (
      SELECT category_id, brand_id, in_stock, attr_ids, sign FROM changes
      UNION ALL SELECT 0, brand_id, in_stock, attr_ids, sign FROM changes
    ),
    deltas AS (
      SELECT category_id, 's'::char AS kind, 0::bigint AS key, sum(sign)::int AS dn,
             coalesce(sum(sign) FILTER (WHERE in_stock), 0)::int AS ds
        FROM scoped GROUP BY category_id
      UNION ALL
      SELECT category_id, 'b', brand_id, sum(sign)::int, 0 FROM scoped GROUP BY category_id, brand_id
      UNION ALL
      SELECT category_id, 'v', v, sum(sign)::int, 0 FROM scoped, unnest(attr_ids) v GROUP BY category_id, v
    )
    INSERT INTO catalog_facet_count AS c (category_id, kind, key, n, stocked)
    SELECT category_id, kind, key, dn, ds FROM deltas WHERE dn <> 0 OR ds <> 0
     ORDER BY category_id, kind, key
    ON CONFLICT (category_id, kind, key)
    DO UPDATE SET n = c.n + EXCLUDED.n, stocked = c.stocked + EXCLUDED.stocked
"""
COUNTED = "{t}.is_active, {t}.category_id, {t}.brand_id, {t}.in_stock, {t}.attr_ids"
ON_INSERT = "SELECT category_id, brand_id, in_stock, attr_ids, 1 AS sign FROM new_rows WHERE is_active"
ON_DELETE = "SELECT category_id, brand_id, in_stock, attr_ids, -1 AS sign FROM old_rows WHERE is_active"
# Primary keys never change: an updated row is its old self leaving and its new self entering,
# and only rows whose counted columns changed are looked at.
ON_UPDATE = f"""
      SELECT o.category_id, o.brand_id, o.in_stock, o.attr_ids, -1 AS sign
        FROM old_rows o JOIN new_rows n ON n.id = o.id
       WHERE o.is_active AND ({COUNTED.format(t="o")}) IS DISTINCT FROM ({COUNTED.format(t="n")})
      UNION ALL
      SELECT n.category_id, n.brand_id, n.in_stock, n.attr_ids, 1
        FROM old_rows o JOIN new_rows n ON n.id = o.id
       WHERE n.is_active AND ({COUNTED.format(t="o")}) IS DISTINCT FROM ({COUNTED.format(t="n")})
"""  # noqa: S608 - our own SQL text, no value in it
ALL_ROWS = "SELECT category_id, brand_id, in_stock, attr_ids, 1 AS sign FROM catalog_product WHERE is_active"


def function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"


FORWARD = [
    # hashint8 is immutable and spreads consecutive ids evenly (ids modulo 100 would not: the
    # seed gives brands and categories to products in turn).
    """
    ALTER TABLE catalog_product ADD COLUMN sample smallint NOT NULL
      GENERATED ALWAYS AS (mod(hashint8(id)::bigint & 2147483647, 100)::smallint) STORED
    """,
    "DROP INDEX IF EXISTS product_facets",
    """
    CREATE INDEX product_facets ON catalog_product (category_id, sample)
      INCLUDE (id, brand_id, price, in_stock, attr_ids) WHERE is_active
    """,
    # A search's hits come from the full-text GIN index as a bitmap; ANDed with this one's,
    # only the sampled hits are read from the table.
    "CREATE INDEX product_sample ON catalog_product (sample) WHERE is_active",
    """
    CREATE TABLE catalog_facet_count (
      category_id bigint NOT NULL,
      kind char(1) NOT NULL,
      key bigint NOT NULL,
      n integer NOT NULL,
      stocked integer NOT NULL DEFAULT 0,
      PRIMARY KEY (category_id, kind, key)
    )
    """,
    function("catalog_facet_count_insert", APPLY.format(changes=ON_INSERT)),
    function("catalog_facet_count_update", APPLY.format(changes=ON_UPDATE)),
    function("catalog_facet_count_delete", APPLY.format(changes=ON_DELETE)),
    function("catalog_facet_count_truncate", "DELETE FROM catalog_facet_count"),
    # Recount from scratch (the initial fill; also for a check or a repair by hand).
    f"""
    CREATE FUNCTION catalog_facet_count_rebuild() RETURNS void LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM catalog_facet_count;
      {APPLY.format(changes=ALL_ROWS)};
    END $$
    """,  # noqa: S608 - our own SQL text, no value in it
    """
    CREATE TRIGGER product_facet_count_insert AFTER INSERT ON catalog_product
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_count_insert()
    """,
    """
    CREATE TRIGGER product_facet_count_update AFTER UPDATE ON catalog_product
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_count_update()
    """,
    """
    CREATE TRIGGER product_facet_count_delete AFTER DELETE ON catalog_product
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_count_delete()
    """,
    """
    CREATE TRIGGER product_facet_count_truncate AFTER TRUNCATE ON catalog_product
      FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_count_truncate()
    """,
    "SELECT catalog_facet_count_rebuild()",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS product_facet_count_truncate ON catalog_product",
    "DROP TRIGGER IF EXISTS product_facet_count_delete ON catalog_product",
    "DROP TRIGGER IF EXISTS product_facet_count_update ON catalog_product",
    "DROP TRIGGER IF EXISTS product_facet_count_insert ON catalog_product",
    "DROP FUNCTION IF EXISTS catalog_facet_count_rebuild()",
    "DROP FUNCTION IF EXISTS catalog_facet_count_truncate()",
    "DROP FUNCTION IF EXISTS catalog_facet_count_delete()",
    "DROP FUNCTION IF EXISTS catalog_facet_count_update()",
    "DROP FUNCTION IF EXISTS catalog_facet_count_insert()",
    "DROP TABLE IF EXISTS catalog_facet_count",
    "DROP INDEX IF EXISTS product_sample",
    "DROP INDEX IF EXISTS product_facets",
    """
    CREATE INDEX product_facets ON catalog_product (category_id)
      INCLUDE (id, brand_id, price, in_stock, attr_ids) WHERE is_active
    """,
    "ALTER TABLE catalog_product DROP COLUMN IF EXISTS sample",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0011_recommendation_labels")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
