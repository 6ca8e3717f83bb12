"""INSERTs on the purchase's hot path with their SQL built once per process.

Placing an order inserts six kinds of rows (the order, its lines, its events, its payment, its
parcel and the parcel's lines). Through create() and bulk_create() the ORM built and compiled
each INSERT again per placement (the query, its compiler, the quoted column list, the signals
of a save): about a third of the place step's Python for six statements PostgreSQL runs in
well under a millisecond together. `rows_insert` writes the same columns with the same values
(each field's pre_save and get_db_prep_save, as the ORM prepares them) in the same statement
text (so psycopg prepares it once per connection, as the ORM's), built once per model and
number of rows.

Like bulk_create, it sends no pre_save/post_save signals: use it only for models that have no
receivers of those and no save() of their own (the rows of the purchase: orders, payments,
parcels and their lines and events; the cart and its lines when added to).

`rows_insert(objs, along=(sql, params))` sends one more data-modifying statement (an UPDATE of
a row the transaction has already locked) with the INSERT, as its WITH clause: one round trip
for both (placing marks its cart ordered as it inserts the order). PostgreSQL runs a
data-modifying CTE exactly once, whether or not the INSERT reads it, and in the same snapshot;
it may only write rows the INSERT does not.
"""

from functools import cache

from django.db import connections, router
from django.db.models import Model


@cache
def _statement(model: type[Model], rows: int, along: str = "") -> tuple[str, tuple]:
    """The INSERT of `rows` rows of `model` (every concrete field but an auto primary key, in
    the model's order: the ORM's column list) returning their primary keys, and its fields;
    `along` (a statement's SQL) run first as its WITH clause. PostgreSQL's quoting (the only
    database it is built for)."""
    quote = connections[router.db_for_write(model)].ops.quote_name
    fields = tuple(f for f in model._meta.concrete_fields if not f.primary_key or not f.auto_created)
    columns = ", ".join(quote(f.column) for f in fields)
    row = f"({', '.join(['%s'] * len(fields))})"
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * rows)} "  # noqa: S608 - names from the model
        f"RETURNING {quote(model._meta.db_table)}.{quote(model._meta.pk.column)}"
    )
    # `along` is the caller's statement written in code (never built from input).
    return (f"WITH along AS ({along}) {sql}" if along else sql), fields


def rows_insert(objs: list[Model], *, along: tuple[str, list] | None = None) -> list[Model]:
    """Insert `objs` (new instances of one model, their primary keys unset) in one statement and
    set their primary keys, as bulk_create(objs) does on PostgreSQL. Elsewhere (the embedded
    SQLite default) it is bulk_create. `along`: a data-modifying statement (SQL written for
    Django's cursor, its parameters) sent in the same statement, before the rows' parameters
    (see the module's docstring); elsewhere run first on its own. Returns `objs`."""
    if not objs:
        return objs
    model = type(objs[0])
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        if along is not None:
            with connection.cursor() as cursor:
                cursor.execute(*along)
        return model._base_manager.using(using).bulk_create(objs)
    sql, fields = _statement(model, len(objs), along[0] if along else "")
    params = list(along[1]) if along else []
    for obj in objs:
        if obj.pk is not None or type(obj) is not model:
            raise ValueError(f"rows_insert: {obj!r} is not a new {model.__name__}")
        obj._prepare_related_fields_for_save(operation_name="rows_insert")
        params += [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = cursor.fetchall()
    for obj, (pk,) in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, using
    return objs
