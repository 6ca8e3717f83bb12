"""Django's PostgreSQL backend with a health check that costs no round trip when all is well.

CONN_HEALTH_CHECKS makes Django send `SELECT 1` before the first query of every request on a
persistent connection: on the product page that was a second round trip to PostgreSQL for a
page that needs one query (docs/benchmark.md, "Issue 12: product page"). What the check is
for is a connection the server has closed meanwhile (a restart, an administrator's
pg_terminate_backend, idle timeouts): PostgreSQL then sends an error and closes the socket, so
an idle connection with nothing to read and libpq's state OK is one the server still holds.
Only when something arrived, or the state is not plain idle, does the full check run.

What neither check sees at once is a peer that vanished without closing (a cable pulled):
Django's SELECT 1 would then wait for TCP's timeout too. With psycopg's pool (DB_POOL_MAX_SIZE)
the pool's own check applies instead, as in Django's backend.

Server-side binding for the purchase's statements only (`bind_on_server`). Django's cursor
binds parameters on the client: psycopg writes each value into the statement's text, so
PostgreSQL parses and plans every statement afresh. Inside `bind_on_server()` (the add to cart,
confirm and place views) cursors send the values apart from the text, and psycopg prepares a
statement on the connection once it has run DB_PREPARE_THRESHOLD times there: the purchase's
~35 statements, all equalities on keys, then skip parsing and planning (about a third of
PostgreSQL's CPU per purchase; docs/benchmark.md, "Issue 12, third session: checkout"). Not for
the whole site: a prepared search gets a generic plan that ignores its words (slower full-text
and LIKE queries, /work/shared/PERFORMANCE.md), and shop.core.prepared's `EXECUTE name(%s)`
cannot be bound on the server. Django's SQL is the same with either cursor (its only use of the
`server_side_binding` option is how it logs the last query).

A migration that changes the type of a column a prepared statement returns makes PostgreSQL
refuse that statement ("cached plan must not change result type", SQLSTATE 0A000) until it is
prepared again. In autocommit the cursor prepares it again and runs it (ServerBindingCursor).
Inside a transaction it cannot (the transaction is aborted): `stale_plan_retried` runs a whole
transaction again, once, after the rollback has dropped the connection's prepared statements
(psycopg deallocates them on every rollback; PgBouncer passes that DEALLOCATE ALL on from 1.22).
"""

import functools
import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from django.db import DEFAULT_DB_ALIAS, NotSupportedError, connections
from django.db.backends.postgresql import base
from psycopg import errors, pq
from psycopg._queries import PostgresQuery, _query2pg  # see _KeptQuery

# feature_not_supported, what PostgreSQL answers for "cached plan must not change result type".
STALE_PLAN = "0A000"


def plan_went_stale(exc: BaseException) -> bool:
    """Whether `exc` (Django's error, psycopg's as its cause, or psycopg's) is PostgreSQL refusing
    a prepared statement whose result type a migration changed. Only its SQLSTATE is checked (the
    message is in the server's language); another "feature not supported" fails the same way
    when run again."""
    cause = exc if isinstance(exc, base.Database.Error) else exc.__cause__
    return getattr(cause, "sqlstate", None) == STALE_PLAN


class _KeptQuery(PostgresQuery):
    """psycopg's conversion of a statement's %s placeholders to $n, kept for statements of up to
    32 kB and 400 parameters. psycopg keeps it only up to 4 kB and 50 parameters (ORMs' long
    statements seldom repeat); the purchase's are fixed SQL that repeat on every purchase, and
    placing's order with its rows is one statement over those limits (shop.core.inserts
    .rows_together), which psycopg parsed again every time. The kept results are psycopg's own
    (its cached function, bounded to its 128 latest statements)."""

    __slots__ = ()

    def convert(self, query, vars) -> None:
        if vars is None or not isinstance(query, str) or len(vars) > 400 or len(query) > 32_768:
            return super().convert(query, vars)
        self.query, self._want_formats, self._order, self._parts = _query2pg(
            query.encode(self._encoding), self._encoding
        )
        self.dump(vars)


class ServerBindingCursor(base.ServerBindingCursor):
    _query_cls = _KeptQuery

    def execute(self, query, params=None, **kwargs):
        try:
            return super().execute(query, params, **kwargs)
        except errors.FeatureNotSupported:
            # "cached plan must not change result type": a migration changed the type of a
            # column a prepared statement returns. A rollback drops psycopg's prepared
            # statements, but in autocommit nothing would, and the statement would fail on this
            # connection until it is closed (a pooled one lives an hour). So they are dropped
            # (psycopg has no public call for it) and the statement, which did not run, run again.
            if self.connection.info.transaction_status != pq.TransactionStatus.IDLE:
                raise
            self.connection._prepared.clear()
            return super().execute(query, params, **kwargs)


class DatabaseWrapper(base.DatabaseWrapper):
    # Set by bind_on_server() for the cursors made meanwhile (a connection is one thread's).
    binds_on_server = False

    def create_cursor(self, name=None):
        # OPTIONS["prepare_threshold"] (Django's default: None, never) applies to these cursors
        # only: psycopg never prepares what a client-binding cursor sends.
        if name is not None or not self.binds_on_server:
            return super().create_cursor(name)
        cursor = ServerBindingCursor(self.connection)
        # As Django's create_cursor: timestamps in the connection's time zone.
        tzloader = self.connection.adapters.get_loader(base.TIMESTAMPTZ_OID, pq.Format.TEXT)
        if self.timezone != tzloader.timezone:
            base.register_tzloader(self.timezone, cursor)
        return cursor

    def _idle_and_quiet(self) -> bool:
        """True when the connection is idle, libpq reports it OK and the server sent nothing."""
        connection = self.connection
        try:
            if (
                connection.closed
                or connection.pgconn.status != pq.ConnStatus.OK
                or connection.pgconn.transaction_status != pq.TransactionStatus.IDLE
            ):
                return False
            poll = select.poll()
            poll.register(connection.pgconn.socket, select.POLLIN | select.POLLPRI)
            return not poll.poll(0)
        except (OSError, ValueError, base.Database.Error):
            return False

    def close_if_health_check_failed(self) -> None:
        if self.connection is None or not self.health_check_enabled or self.health_check_done or self.pool:
            return super().close_if_health_check_failed()
        if not self._idle_and_quiet() and not self.is_usable():
            self.close()
        self.health_check_done = True


@contextmanager
def bind_on_server(using: str = "default") -> Iterator[None]:
    """Cursors of `using` made inside bind their parameters on the server (and psycopg prepares
    what runs often). A no-op on other engines. Only for code whose statements are plain
    equalities on keys: see the module's docstring."""
    connection = connections[using]
    if not isinstance(connection, DatabaseWrapper) or connection.binds_on_server:
        yield
        return
    connection.binds_on_server = True
    try:
        yield
    finally:
        connection.binds_on_server = False


P = ParamSpec("P")
R = TypeVar("R")


def stale_plan_retried(function: Callable[P, R], using: str = DEFAULT_DB_ALIAS) -> Callable[P, R]:
    """`function`, whose transactions are all its own (it is not called inside a caller's), run
    once more when PostgreSQL refused one of its prepared statements because a migration changed
    a column's type (plan_went_stale). The refusal aborted its transaction, which rolled back, so
    nothing it wrote is left and the connection's prepared statements are gone: the second run
    prepares afresh. Without it the first purchase on each connection after such a migration
    failed (a 500). Inside a caller's transaction it runs once: the error goes to the caller, whose
    rollback drops the statements all the same."""

    @functools.wraps(function)
    def retried(*args: P.args, **kwargs: P.kwargs) -> R:
        connection = connections[using]
        if connection.in_atomic_block or not isinstance(connection, DatabaseWrapper):
            return function(*args, **kwargs)
        try:
            return function(*args, **kwargs)
        except NotSupportedError as exc:
            if not plan_went_stale(exc) or connection.in_atomic_block:
                raise
            raw = connection.connection
            if raw is not None and not raw.closed:
                # Already done by the rollback (psycopg clears them on ROLLBACK); a closed
                # connection is simply opened again by the next statement.
                raw._prepared.clear()
            return function(*args, **kwargs)

    return retried
