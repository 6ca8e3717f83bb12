"""Hot reads compiled once per process and, on PostgreSQL, prepared once per connection.

The product page's live read is a single small query, yet building and compiling its queryset
cost about as much Python as the rest of the page (docs/benchmark.md, "Issue 12: product
page"), and PostgreSQL planned it on every request for longer than it took to run. A
`CompiledRead` builds the queryset once per database alias with a marker in place of the
varying argument, keeps the SQL, its parameters and the ORM's value converters, and then only
substitutes the argument. On PostgreSQL, in autocommit, the SQL is also PREPAREd on each
connection the first time it runs there, so later executions skip parsing and planning.

Why not psycopg's own `prepare_threshold`: Django turns it off by default for connection
poolers, and enabling it for every query gave generic plans to full-text and LIKE searches,
which made them slower (/work/shared/PERFORMANCE.md). Here one known query is prepared,
through Django's cursor, so query logging, `CaptureQueriesContext` and the database router
see it like any other read.

Inside a transaction the compiled SQL runs unprepared: a statement that fails there (a
session reset by a pooler in transaction mode drops prepared statements) would abort the
caller's transaction, where in autocommit it is simply prepared again.
"""

import hashlib
import re
import threading
import weakref
from collections.abc import Callable
from typing import Any

from django.db import connections
from django.db.models import QuerySet
from django.db.utils import NotSupportedError, ProgrammingError

from shop.core.postgresql.base import bind_on_server, plan_went_stale

_PLACEHOLDER = re.compile(r"%s|%%")
DUPLICATE_PREPARED_STATEMENT = "42P05"


def rows_converted(rows: list, converters: list, connection) -> list:
    """Rows of a statement compiled once, as iterating its queryset would give them: each
    column through the ORM's converters (`compiler.get_converters`), as lists; the rows as
    they came when there is nothing to convert."""
    if not converters:
        return rows
    converted = []
    for row in map(list, rows):
        for position, (functions, expression) in converters:
            for function in functions:
                row[position] = function(row[position], expression, connection)
        converted.append(row)
    return converted


class CompiledRead:
    """`build(marker)` returns the queryset with `marker` as its one varying argument (a string
    compared for equality, e.g. a slug). `rows(value, using=alias)` returns what iterating that
    queryset with `value` would return (its values_list rows, converted)."""

    MARKER = "\x00compiled-read-argument\x00"

    def __init__(self, name: str, build: Callable[[str], QuerySet]) -> None:
        self.name = name
        self.build = build
        self._compiled: dict[str, tuple[str, list, int, list, str]] = {}
        # psycopg connections on which the statement is prepared (gone with their connection).
        self._prepared: weakref.WeakSet = weakref.WeakSet()
        self._lock = threading.Lock()

    def _compile(self, using: str) -> tuple[str, list, int, list, str]:
        compiled = self._compiled.get(using)
        if compiled is None:
            compiler = self.build(self.MARKER).query.get_compiler(using=using)
            sql, params = compiler.as_sql()
            params = list(params)
            index = params.index(self.MARKER)
            converters = list(compiler.get_converters([column for column, _, _ in compiler.select]).items())
            digest = hashlib.blake2b(sql.encode(), digest_size=6).hexdigest()
            statement = f"{self.name}_{digest}"
            compiled = (sql, params, index, converters, statement)
            with self._lock:
                self._compiled.setdefault(using, compiled)
        return compiled

    def rows(self, value: str, *, using: str) -> list[list[Any]]:
        sql, params, index, converters, statement = self._compile(using)
        params = params.copy()
        params[index] = value
        connection = connections[using]
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql" and not connection.in_atomic_block:
                self._execute_prepared(connection, cursor, sql, statement, params)
            else:
                cursor.execute(sql, params)
            rows = cursor.fetchall()
        return rows_converted(rows, converters, connection)

    def _execute_prepared(self, connection, cursor, sql: str, statement: str, params: list) -> None:
        execute = f"EXECUTE {statement}({', '.join(['%s'] * len(params))})"
        raw = connection.connection
        if raw in self._prepared:
            try:
                cursor.execute(execute, params)
                return
            except ProgrammingError:
                # The session forgot it (DISCARD ALL, a pooler that moved us to another server
                # connection): prepare it again, once. In autocommit nothing else is affected.
                self._prepared.discard(raw)
            except NotSupportedError as exc:
                if not plan_went_stale(exc):
                    raise
                # A migration changed the type of a column it returns: PostgreSQL refuses it
                # until it is prepared again, on this connection for as long as it lives.
                cursor.execute(f"DEALLOCATE {statement}")
                self._prepared.discard(raw)
        numbered = iter(range(1, len(params) + 1))
        body = _PLACEHOLDER.sub(lambda m: f"${next(numbered)}" if m.group() == "%s" else "%", sql)
        try:
            cursor.execute(f"PREPARE {statement} AS {body}")
        except ProgrammingError as exc:
            # Already prepared on this session by an earlier instance (a reloaded module).
            if getattr(exc.__cause__, "sqlstate", None) != DUPLICATE_PREPARED_STATEMENT:
                raise
        self._prepared.add(raw)
        cursor.execute(execute, params)


class ServerBoundRead(CompiledRead):
    """A `CompiledRead` of one row by its key, for reads on every request (the signed-in user,
    their cart count): bound on the server (bind_on_server: a plain equality on the key), so
    psycopg prepares it at the protocol level, as the purchase's statements, per
    DB_PREPARE_THRESHOLD (README, "Past one machine"), and never PREPAREd in SQL: behind
    PgBouncer in transaction mode a PREPARE and its EXECUTE may reach different server
    connections."""

    # A key no row has (within even a 32-bit key's range): compiled, never sent.
    MARKER = -2_000_000_001

    def rows(self, value: int, *, using: str) -> list[list[Any]]:
        with bind_on_server(using):
            return super().rows(value, using=using)

    def _execute_prepared(self, connection, cursor, sql: str, statement: str, params: list) -> None:
        cursor.execute(sql, params)
