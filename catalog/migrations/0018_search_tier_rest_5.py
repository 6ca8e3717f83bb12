"""PostgreSQL-only: a search of about 9,000 to 11,250 hits (100,000 products) is estimated from a
5 % sample stratum instead of the 6 % one, its hits beyond the 4 % stratum's count read by a
partial copy of the full-text index over the one stratum 4 <= sample < 5 (catalog.facets.NARROW_TIERS
and SEARCH_TIER_RESTS): still at least 450 sampled hits, the stated 4.6 % error, from half the
rows the 6 % tier's rest read (issue 12, part P28). About 1 % of the full-text index; well under
a second at 100,000 products.
"""

from django.db import migrations

FORWARD = [
    "CREATE INDEX product_search_4_5 ON catalog_product USING gin (search_vector)"
    " WHERE is_active AND sample >= 4 AND sample < 5"
]
BACKWARD = ["DROP INDEX IF EXISTS product_search_4_5"]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0017_search_tier_rest_6")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
