"""PostgreSQL-only: a search of about 7,500 to 11,250 hits (100,000 products) is estimated from
a 6 % sample stratum instead of the 10 % one, its hits beyond the 4 % stratum's count read by a
partial copy of the full-text index over 4 <= sample < 6 (catalog.facets.NARROW_TIERS and
SEARCH_TIER_RESTS): still at least 450 sampled hits, the stated 4.6 % error, from about a third
of the rows the 10 % tier's rest read (issue 12, part P18). About 2 % of the full-text index;
about a second at 100,000 products.
"""

from django.db import migrations

FORWARD = [
    "CREATE INDEX product_search_4_6 ON catalog_product USING gin (search_vector)"
    " WHERE is_active AND sample >= 4 AND sample < 6"
]
BACKWARD = ["DROP INDEX IF EXISTS product_search_4_6"]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0016_search_tier_rests")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
