"""PostgreSQL-only: a generation number of the catalogue's names and tree, kept by the database.

Every listing showed the root categories or a category's place in the tree and the labels of
its facets (brands, attribute values and their attributes), read and built into model objects
on every request when nothing was cached: about 2.5 ms of a 9 ms page (docs/benchmark.md,
"Issue 12, third session"). They change only when staff edit categories, brands or attributes,
so each web process keeps them (catalog.selectors.taxonomy_current) under this number and reads only
the number per request.

Statement-level triggers on the four tables set it from a sequence on any INSERT, UPDATE,
DELETE or TRUNCATE, whoever writes (the admin, the import, raw SQL). From a sequence, not +1:
a number is never handed out twice, so a process that read the rows of a transaction rolled
back afterwards (its own, in a test) never finds that number again. The row is written in the
writer's transaction, so others see the new number when they can see the new rows, not before.
Two transactions writing the taxonomy at once wait for each other on the row (staff edits and
imports, rare).
"""

from django.db import migrations

TABLES = ("catalog_category", "catalog_brand", "catalog_attribute", "catalog_attributevalue")

FORWARD = [
    "CREATE SEQUENCE catalog_taxonomy_generation_seq",
    """CREATE TABLE catalog_taxonomy_generation (
         id smallint PRIMARY KEY CHECK (id = 1),
         generation bigint NOT NULL
       )""",
    "INSERT INTO catalog_taxonomy_generation VALUES (1, nextval('catalog_taxonomy_generation_seq'))",
    """CREATE FUNCTION catalog_taxonomy_bump() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         INSERT INTO catalog_taxonomy_generation (id, generation)
              VALUES (1, nextval('catalog_taxonomy_generation_seq'))
         ON CONFLICT (id) DO UPDATE SET generation = EXCLUDED.generation;
         RETURN NULL;
       END $$""",
    *(
        f"""CREATE TRIGGER {table}_taxonomy_bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table}
            FOR EACH STATEMENT EXECUTE FUNCTION catalog_taxonomy_bump()"""
        for table in TABLES
    ),
]
BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS {table}_taxonomy_bump ON {table}" for table in TABLES),
    "DROP FUNCTION IF EXISTS catalog_taxonomy_bump()",
    "DROP TABLE IF EXISTS catalog_taxonomy_generation",
    "DROP SEQUENCE IF EXISTS catalog_taxonomy_generation_seq",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0013_search_sample_tiers")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
