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

`rows_together()`: the rows_insert calls made inside it are sent as ONE statement when it ends,
each INSERT a data-modifying CTE of it (placing's order, lines, events, mail and payment: one
round trip where there were five; a parcel and its lines: one where there were two). A row may
refer to a row inserted earlier in the same block whose key is not known yet (a parcel's lines
to their parcel): its column takes that INSERT's key in the statement. Foreign keys between
them are checked as PostgreSQL checks any statement's, at its end (Django's are deferred to the
commit anyway). Inside the block the rows have no primary key until it ends (unless `keyed`:
allocated beforehand), so nothing in it may need one; an error inside sends nothing.
"""

import datetime
import uuid
from contextlib import contextmanager
from decimal import Decimal
from functools import cache

from django.db import connections, models, router
from django.db.models import Model


@cache
def _fields(model: type[Model], keyed: bool) -> tuple:
    """The columns rows_insert writes: every concrete field (in the model's order: the ORM's
    column list) but an auto primary key, unless `keyed` (the rows' keys allocated beforehand)."""
    return tuple(f for f in model._meta.concrete_fields if keyed or not f.primary_key or not f.auto_created)


def _insert_sql(model: type[Model], rows: int, keyed: bool, conflict: str, refs: tuple) -> str:
    """The INSERT of `rows` rows of `model` returning their primary keys. `conflict`: a column
    whose unique index makes a clashing row be skipped (ON CONFLICT DO NOTHING); `refs`: (field
    position, SQL) pairs, a value written into the statement instead of bound (a key of a row the
    same statement inserts). PostgreSQL's quoting (the only database it is built for)."""
    quote = connections[router.db_for_write(model)].ops.quote_name
    fields = _fields(model, keyed)
    columns = ", ".join(quote(f.column) for f in fields)
    written = dict(refs)
    row = f"({', '.join(written.get(i, '%s') for i in range(len(fields)))})"
    table = quote(model._meta.db_table)
    on_conflict = f"ON CONFLICT ({quote(conflict)}) DO NOTHING " if conflict else ""
    return (
        f"INSERT INTO {table} ({columns}) VALUES {', '.join([row] * rows)} "  # noqa: S608 - names from the model
        f"{on_conflict}RETURNING {table}.{quote(model._meta.pk.column)}"
    )


@cache
def _statement(model: type[Model], rows: int, along: str = "", keyed: bool = False, conflict: str = "") -> tuple:
    """The INSERT of `rows` rows of `model` and its fields; `along` (a statement's SQL) run first
    as its WITH clause."""
    sql = _insert_sql(model, rows, keyed, conflict, ())
    # `along` is the caller's statement written in code (never built from input).
    return (f"WITH along AS ({along}) {sql}" if along else sql), _fields(model, keyed)


@cache
def _together_statement(groups: tuple) -> str:
    """rows_together's statement: each group (model, rows, along, keyed, conflict, refs) an
    INSERT in a CTE of its own (its `along` one before it), the keys of all returned in order,
    each beside its group's number. refs' SQL names an earlier group: `(SELECT id FROM i{n})`."""
    ctes, selects = [], []
    for n, (model, rows, along, keyed, conflict, refs) in enumerate(groups):
        if along:
            ctes.append(f"a{n} AS ({along})")
        if model is None:  # rows_along's statement: no rows of its own
            continue
        ctes.append(f"i{n} AS ({_insert_sql(model, rows, keyed, conflict, refs)})")
        pk = connections[router.db_for_write(model)].ops.quote_name(model._meta.pk.column)
        selects.append(f"SELECT {n}, {pk} FROM i{n}")  # noqa: S608 - names from the models
    return f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}"


_TEXT = (models.CharField, models.TextField, models.EmailField, models.SlugField, models.URLField)
_INTEGERS = (
    models.IntegerField,
    models.BigIntegerField,
    models.SmallIntegerField,
    models.PositiveIntegerField,
    models.PositiveBigIntegerField,
    models.PositiveSmallIntegerField,
)
_AUTO_KEYS = (models.AutoField, models.BigAutoField, models.SmallAutoField)


def _prepare_quickly(field, connection):
    """What field.get_db_prep_save(field.pre_save(obj, add=True), connection) gives for the
    commonest values, in fewer calls: (attname, types, convert) where a value read from the
    instance whose type is exactly one of `types` (or None, sent as None) gives convert(value,
    connection) (the connection of the insert: a convert keeps none, see _preparers);
    None for a field that always takes the ORM's path. Only Django's own field classes (no
    subclass, whose methods may differ), each as its methods prepare the value on PostgreSQL:
    text as is; a boolean as is; an integer through the backend's adapt_integerfield_value (its
    psycopg type, as the ORM's); a key to an auto key through validate_autopk_value; a finite
    decimal through adapt_decimalfield_value; an aware datetime of a field set by hand through
    adapt_datetimefield_value; a UUID as is where the database has its own type."""
    kind = type(field)
    if kind in _TEXT:
        return field.attname, (str,), None
    if kind is models.BooleanField:
        return field.attname, (bool,), None
    if kind in _INTEGERS:
        internal = field.get_internal_type()
        return field.attname, (int,), lambda value, on: on.ops.adapt_integerfield_value(value, internal)
    if kind is models.ForeignKey and type(field.target_field) in _AUTO_KEYS:
        return field.attname, (int,), lambda value, on: on.ops.validate_autopk_value(value)
    if kind is models.DecimalField:
        digits, places = field.max_digits, field.decimal_places

        def decimal_value(value, on):
            if not value.is_finite():  # refused by the field: its own path raises
                return field.get_db_prep_save(value, on)
            return on.ops.adapt_decimalfield_value(value, digits, places)

        return field.attname, (Decimal,), decimal_value
    if kind is models.DateTimeField and not (field.auto_now or field.auto_now_add):

        def datetime_value(value, on):
            if value.utcoffset() is None:  # naive: the field warns and makes it aware
                return field.get_db_prep_save(value, on)
            return on.ops.adapt_datetimefield_value(value)

        return field.attname, (datetime.datetime,), datetime_value
    if kind is models.UUIDField and connection.features.has_native_uuid_field:
        return field.attname, (uuid.UUID,), None
    return None


@cache
def _preparers(model: type[Model], keyed: bool, vendor: str, alias: str) -> tuple:
    """_prepare_quickly's for each of rows_insert's fields, kept for the process: its converters
    take the insert's connection as an argument and keep none (Django's connections are one per
    thread; a kept one would be the first thread's, kept alive after it ends). Only the alias's
    features are read here, which are its backend's, the same on every thread."""
    connection = connections[alias]
    return tuple(_prepare_quickly(f, connection) for f in _fields(model, keyed))


def _values(objs: list[Model], model: type[Model], fields: tuple, connection, keyed: bool, pending=None) -> tuple:
    """The bound values of `objs` (each field's pre_save and get_db_prep_save, as the ORM's), and
    the refs: a foreign key to a row `pending` (the open rows_together's groups) has not sent yet
    becomes that INSERT's key in the statement (the same for every row, or refused)."""
    refs: dict[int, str] | None = None
    params: list = []
    for obj in objs:
        if type(obj) is not model or (obj.pk is None) == keyed:
            raise ValueError(f"rows_insert: {obj!r} is not a new {model.__name__}{' with its key' if keyed else ''}")
        unsent = {}
        for i, f in enumerate(fields if pending else ()):
            related = f.get_cached_value(obj, None) if f.many_to_one else None
            if related is None or related.pk is not None:
                continue
            at = next((n for n, g in enumerate(pending or ()) if len(g[1]) == 1 and g[1][0] is related), None)
            if at is None:
                raise ValueError(f"rows_insert: {obj!r} refers to an unsaved {type(related).__name__}")
            key = connection.ops.quote_name(related._meta.pk.column)
            unsent[i] = f"(SELECT {key} FROM i{at})"  # noqa: S608 - a name from the model, a number
        if refs is not None and unsent != refs:
            raise ValueError(f"rows_insert: the rows of {model.__name__} refer to different unsaved rows")
        refs = unsent
        if not unsent:
            obj._prepare_related_fields_for_save(operation_name="rows_insert")
        quick = _preparers(model, keyed, connection.vendor, connection.alias) if fields is _fields(model, keyed) else ()
        values = obj.__dict__
        for i, f in enumerate(fields):
            if i in unsent:
                continue
            how = quick[i] if quick else None
            if how is not None:
                attname, types, convert = how
                value = values.get(attname, values)  # not loaded (deferred): the ORM's path
                if value is None:
                    params.append(None)
                    continue
                if type(value) in types:
                    params.append(value if convert is None else convert(value, connection))
                    continue
            params.append(f.get_db_prep_save(f.pre_save(obj, add=True), connection))
    return params, tuple(sorted((refs or {}).items()))


def rows_insert(
    objs: list[Model], *, along: tuple[str, list] | None = None, keyed: bool = False, conflict: str = ""
) -> list[Model]:
    """Insert `objs` (new instances of one model, their primary keys unset: or all set, `keyed`,
    when allocated beforehand) in one statement and set their primary keys, as bulk_create(objs)
    does on PostgreSQL. Elsewhere (the embedded SQLite default) it is bulk_create. `along`: a
    data-modifying statement (SQL written for Django's cursor, its parameters) sent in the same
    statement, before the rows' parameters (see the module's docstring); elsewhere run first on
    its own. `conflict`: a unique column; a row clashing with one there is skipped and keeps no
    primary key (one row at a time; PostgreSQL only). Inside rows_together (PostgreSQL) the
    rows are sent, and their keys set, when it ends. Returns `objs`."""
    if not objs:
        return objs
    model = type(objs[0])
    using = router.db_for_write(model)
    connection = connections[using]
    if connection.vendor != "postgresql":
        if conflict:
            raise ValueError("rows_insert: conflict is for PostgreSQL only")
        if along is not None:
            with connection.cursor() as cursor:
                cursor.execute(*along)
        return model._base_manager.using(using).bulk_create(objs)
    if conflict and len(objs) != 1:
        raise ValueError("rows_insert: a conflict is known for one row at a time")
    pending = getattr(connection, "_rows_together", None)
    fields = _fields(model, keyed)
    params, refs = _values(objs, model, fields, connection, keyed, pending)
    if pending is not None:
        pending.append(((model, len(objs), along[0] if along else "", keyed, conflict, refs), objs, along, params))
        return objs
    sql, _f = _statement(model, len(objs), along[0] if along else "", keyed, conflict)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*(along[1] if along else ()), *params])
        ids = cursor.fetchall()
    _keys_set(objs, [pk for (pk,) in ids], using, keyed)
    return objs


def _keys_set(objs: list[Model], ids: list, using: str, keyed: bool) -> None:
    """The inserted rows' keys on their instances (none: a row skipped on conflict)."""
    if len(ids) != len(objs):
        if len(objs) == 1 and not ids:  # skipped on conflict
            if keyed:
                objs[0].pk = None
            return
        raise RuntimeError("rows_insert: a row count differs from the rows sent")
    for obj, pk in zip(objs, ids, strict=True):
        obj.pk = pk
        obj._state.adding, obj._state.db = False, using


def rows_along(sql: str, params: list, using: str = "default") -> None:
    """Run a data-modifying statement (SQL written in code for Django's cursor, never built from
    input; no WITH clause of its own and no RETURNING read) with the rows of the open
    rows_together, as a data-modifying CTE of its statement (PostgreSQL runs it once, to
    completion, in the same snapshot; it may not write rows the block's INSERTs write), or at
    once when none is open (elsewhere than PostgreSQL always)."""
    connection = connections[using]
    pending = getattr(connection, "_rows_together", None)
    if pending is None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    pending.append(((None, 0, sql, False, "", ()), [], None, list(params)))


def rows_together_open(using: str = "default") -> bool:
    """Whether rows_insert's rows are being put together (and get their keys later)."""
    return getattr(connections[using], "_rows_together", None) is not None


@contextmanager
def rows_together(using: str = "default"):
    """The rows_insert calls inside sent as one statement at the end (see the module's
    docstring). A no-op elsewhere than PostgreSQL, or inside another rows_together."""
    connection = connections[using]
    if connection.vendor != "postgresql" or getattr(connection, "_rows_together", None) is not None:
        yield
        return
    pending: list = []
    connection._rows_together = pending
    try:
        yield
    finally:
        connection._rows_together = None
    if not pending:
        return
    if len(pending) == 1:  # nothing to put together: rows_insert's (or rows_along's) own statement
        (model, rows, along, keyed, conflict, _refs), objs, along_sent, params = pending[0]
        if model is None:
            with connection.cursor() as cursor:
                cursor.execute(along, params)
            return
        sql, _f = _statement(model, rows, along, keyed, conflict)
        _send(connection, sql, [*(along_sent[1] if along_sent else ()), *params], [objs], using, grouped=False)
        return
    values = []
    for _group, _objs, along_sent, params in pending:
        values += [*(along_sent[1] if along_sent else ()), *params]
    sql = _together_statement(tuple(group for group, *_rest in pending))
    _send(connection, sql, values, [objs for _group, objs, *_rest in pending], using, grouped=True)
    for (model, _rows, _along, keyed, _conflict, refs), objs, *_rest in pending:
        if model is None:
            continue
        fields = _fields(model, keyed)
        for i, _sql in refs:  # the foreign keys the statement filled in
            for obj in objs:
                setattr(obj, fields[i].attname, fields[i].get_cached_value(obj).pk)


def _send(connection, sql: str, params: list, groups: list[list[Model]], using: str, *, grouped: bool) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not grouped:
        _keys_set(groups[0], [pk for (pk,) in rows], using, keyed=groups[0][0].pk is not None)
        return
    ids: list[list] = [[] for _ in groups]
    for n, pk in rows:
        ids[n].append(pk)
    for objs, keys in zip(groups, ids, strict=True):
        if objs:  # none: rows_along's statement
            _keys_set(objs, keys, using, keyed=objs[0].pk is not None)
