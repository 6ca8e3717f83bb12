"""PostgreSQL-only: a search of about 1,500 to 11,250 hits (100,000 products) is estimated from
the 10 % or 25 % sample stratum, after the 4 % stratum's count (catalog.selectors
._counted_bounded). The tier's count read the 4 % stratum's hits again, from product_search_10
or _25 (migration 0013): partial copies of the full-text index over the rest of each tier,
4 <= sample < k (catalog.facets.SEARCH_TIER_RESTS), let it read only the hits not yet counted
(issue 12, part P14). About 6 % and 21 % of the full-text index; a few seconds at 100,000
products.
"""

from django.db import migrations

RESTS = {25: 4, 10: 4}  # catalog.facets.SEARCH_TIER_RESTS

FORWARD = [
    f"CREATE INDEX product_search_{low}_{tier} ON catalog_product USING gin (search_vector)"
    f" WHERE is_active AND sample >= {low} AND sample < {tier}"
    for tier, low in RESTS.items()
]
BACKWARD = [f"DROP INDEX IF EXISTS product_search_{low}_{tier}" for tier, low in RESTS.items()]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0015_facet_rollup")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
