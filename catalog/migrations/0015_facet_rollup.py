"""PostgreSQL-only: each category's facet counts over its whole subtree, kept by the database
(skipped on the embedded SQLite default, which counts on every miss as before).

A category page read its unfiltered counts by summing catalog_facet_count's rows of every
category in its subtree (migration 0012): for the root category of the 100,000-product seed,
about 3,000 rows grouped into 520, and planned afresh on every request for its array of
category ids (docs/benchmark.md, "Issue 12, sixth session"). `catalog_facet_rollup` holds
those sums, one row per category, kind and key, for every category and its ancestors:
a category's counts are the rows of one category id, read in key order from a table filled in
that order (its pages have room for updates, so a changed count usually stays on its page).

Kept by statement-level triggers:
- on catalog_facet_count (which 0012's triggers keep from the products): the net change of
  each row in one statement is added to the row of the category and of each of its ancestors;
- on catalog_category: a statement that adds or deletes categories, or changes a path (a move,
  treebeard's re-parenting of a whole subtree), rebuilds the table from catalog_facet_count
  (tens of milliseconds at 100,000 products; staff edits, rare). Updates that change no path
  (names, numchild, flags) touch nothing. TRUNCATE empties it.
`catalog_facet_rollup_rebuild()` recounts it by hand (a check or a repair).
"""

from django.db import migrations

# Every category with each of its ancestors and itself (treebeard's materialised paths: an
# ancestor's path is a prefix of its descendants').
ANCESTRY = """
    SELECT c.id AS category_id, a.id AS ancestor_id
      FROM catalog_category c JOIN catalog_category a ON left(c.path, length(a.path)) = a.path
"""

REBUILD = f"""
    DELETE FROM catalog_facet_rollup;
    INSERT INTO catalog_facet_rollup (category_id, kind, key, n, stocked)
    SELECT up.ancestor_id, f.kind, f.key, sum(f.n)::int, sum(f.stocked)::int
      FROM catalog_facet_count f JOIN ({ANCESTRY}) up ON up.category_id = f.category_id
     GROUP BY up.ancestor_id, f.kind, f.key
    HAVING sum(f.n) <> 0 OR sum(f.stocked) <> 0
     ORDER BY up.ancestor_id, f.kind, f.key
"""  # noqa: S608 - our own SQL text, no value in it

# `changes` (category_id, kind, key, n, stocked, sign): rows of catalog_facet_count entering
# (+1) or leaving (-1) in one statement. Category 0 (the whole catalogue) joins no category, so
# it has no roll-up: the whole catalogue reads its own rows. Upserted in key order, as 0012
# does, so two statements never lock rows in opposite orders.
APPLY = f"""
    WITH changes AS ({{changes}}),
    deltas AS (
      SELECT up.ancestor_id AS category_id, ch.kind, ch.key,
             sum(ch.sign * ch.n)::int AS dn, sum(ch.sign * ch.stocked)::int AS ds
        FROM changes ch JOIN ({ANCESTRY}) up ON up.category_id = ch.category_id
       GROUP BY up.ancestor_id, ch.kind, ch.key
    )
    INSERT INTO catalog_facet_rollup AS r (category_id, kind, key, n, stocked)
    SELECT category_id, kind, key, dn, ds FROM deltas WHERE dn <> 0 OR ds <> 0
     ORDER BY category_id, kind, key
    ON CONFLICT (category_id, kind, key)
    DO UPDATE SET n = r.n + EXCLUDED.n, stocked = r.stocked + EXCLUDED.stocked
"""  # noqa: S608 - our own SQL text, no value in it
ON_INSERT = "SELECT category_id, kind, key, n, stocked, 1 AS sign FROM new_rows"
ON_DELETE = "SELECT category_id, kind, key, n, stocked, -1 AS sign FROM old_rows"
ON_UPDATE = f"{ON_INSERT} UNION ALL {ON_DELETE}"


def function(name: str, body: str) -> str:
    return f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"


FORWARD = [
    """
    CREATE TABLE catalog_facet_rollup (
      category_id bigint NOT NULL,
      kind char(1) NOT NULL,
      key bigint NOT NULL,
      n integer NOT NULL,
      stocked integer NOT NULL DEFAULT 0,
      PRIMARY KEY (category_id, kind, key)
    ) WITH (fillfactor = 70)
    """,
    f"CREATE FUNCTION catalog_facet_rollup_rebuild() RETURNS void LANGUAGE plpgsql AS $$ BEGIN {REBUILD}; END $$",
    function("catalog_facet_rollup_insert", APPLY.format(changes=ON_INSERT)),
    function("catalog_facet_rollup_update", APPLY.format(changes=ON_UPDATE)),
    function("catalog_facet_rollup_delete", APPLY.format(changes=ON_DELETE)),
    function("catalog_facet_rollup_categories", "PERFORM catalog_facet_rollup_rebuild()"),
    function(
        "catalog_facet_rollup_moved",
        """IF EXISTS (SELECT 1 FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE n.path IS DISTINCT FROM o.path)
           THEN PERFORM catalog_facet_rollup_rebuild(); END IF""",
    ),
    function("catalog_facet_rollup_truncate", "DELETE FROM catalog_facet_rollup"),
    """
    CREATE TRIGGER facet_rollup_insert AFTER INSERT ON catalog_facet_count
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_rollup_insert()
    """,
    """
    CREATE TRIGGER facet_rollup_update AFTER UPDATE ON catalog_facet_count
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_rollup_update()
    """,
    """
    CREATE TRIGGER facet_rollup_delete AFTER DELETE ON catalog_facet_count
      REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_rollup_delete()
    """,
    """
    CREATE TRIGGER facet_rollup_truncate AFTER TRUNCATE ON catalog_facet_count
      FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_rollup_truncate()
    """,
    """
    CREATE TRIGGER category_facet_rollup_insert AFTER INSERT OR DELETE ON catalog_category
      FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_rollup_categories()
    """,
    """
    CREATE TRIGGER category_facet_rollup_moved AFTER UPDATE ON catalog_category
      REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
      FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_rollup_moved()
    """,
    """
    CREATE TRIGGER category_facet_rollup_truncate AFTER TRUNCATE ON catalog_category
      FOR EACH STATEMENT EXECUTE FUNCTION catalog_facet_rollup_truncate()
    """,
    "SELECT catalog_facet_rollup_rebuild()",
]
BACKWARD = [
    "DROP TRIGGER IF EXISTS category_facet_rollup_truncate ON catalog_category",
    "DROP TRIGGER IF EXISTS category_facet_rollup_moved ON catalog_category",
    "DROP TRIGGER IF EXISTS category_facet_rollup_insert ON catalog_category",
    "DROP TRIGGER IF EXISTS facet_rollup_truncate ON catalog_facet_count",
    "DROP TRIGGER IF EXISTS facet_rollup_delete ON catalog_facet_count",
    "DROP TRIGGER IF EXISTS facet_rollup_update ON catalog_facet_count",
    "DROP TRIGGER IF EXISTS facet_rollup_insert ON catalog_facet_count",
    "DROP FUNCTION IF EXISTS catalog_facet_rollup_truncate()",
    "DROP FUNCTION IF EXISTS catalog_facet_rollup_moved()",
    "DROP FUNCTION IF EXISTS catalog_facet_rollup_categories()",
    "DROP FUNCTION IF EXISTS catalog_facet_rollup_delete()",
    "DROP FUNCTION IF EXISTS catalog_facet_rollup_update()",
    "DROP FUNCTION IF EXISTS catalog_facet_rollup_insert()",
    "DROP FUNCTION IF EXISTS catalog_facet_rollup_rebuild()",
    "DROP TABLE IF EXISTS catalog_facet_rollup",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("catalog", "0014_taxonomy_generation")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
