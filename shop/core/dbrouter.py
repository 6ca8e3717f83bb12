"""Catalogue reads from a streaming replica; everything else from the primary.

Configured only when REPLICA_DATABASE_URL is set (settings: the "replica" alias, this router
and its middleware); without it every query uses "default", as on one machine.

Which reads may go to the replica: queries on the catalogue's models (app "catalog") made
while a catalogue page (the home page and the "catalog" URL namespace) answers a GET or HEAD,
outside any transaction. Everything else reads the primary: the cart, checkout, payments,
stock, accounts, the admin, Celery tasks, management commands, and any query inside
`transaction.atomic` (a service that reads to decide what to write must see the primary).
Every write goes to the primary.

Three rules keep a replica's lag out of what people see:

- Read your writes. A request that writes (a POST, or any write through the ORM) gets a signed
  cookie that pins its client to the primary for REPLICA_PIN_SECONDS: the staff member who
  saved a price sees it on the next page, whatever the lag.
- Fence. A write to anything a catalogue page shows (catalogue models, reviews) also raises a
  fence in the shared cache for REPLICA_PIN_SECONDS (set when the write happens and again on
  commit): while it is up, nobody's catalogue reads go to the replica. The page and fragment
  caches are invalidated on that same commit, so the pages that refill them are rendered from
  the primary, never from a replica that has not replayed the write yet. The replica is used
  only while its lag is at most REPLICA_MAX_LAG, measured at most REPLICA_CHECK_SECONDS ago,
  and settings require REPLICA_PIN_SECONDS >= REPLICA_MAX_LAG + REPLICA_CHECK_SECONDS: when
  the fence comes down, the replica has replayed the write. A request that checked the fence
  just before a write commits can still store what it read (as with one database, where it
  read just before the commit). The page cache's generations (shop.core.pagecache) make a page
  safe: its sequence is read before the view, so a write committed after it is never stored
  as fresh. A fragment stamped later in a request than the request's first catalogue read (when
  the fence was read) is not covered by them: such a store should check
  `replica_safe_to_store()`, which tells whether the fence moved since this request read from
  the replica.
- Health. The replica's state (reachable, lag) is measured at most every REPLICA_CHECK_SECONDS
  per process: down, or lagging more than REPLICA_MAX_LAG, and reads fall back to the
  primary. A catalogue page whose replica connection fails mid-request is answered again
  from the primary (GET and HEAD only, so running the view twice is harmless).

Redis down: the fence cannot be read and is taken as down (the replica may be used); the
page cache is down with it, so nothing stale is stored, and the pin cookie still works.
"""

import contextvars
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)

REPLICA_APPS = frozenset({"catalog"})
# Writes that change what a catalogue page shows raise the fence: the catalogue's models, but not
# its per-customer or bookkeeping rows, plus the reviews shown on product pages.
FENCE_EXEMPT = frozenset({"catalog.favourite", "catalog.productview", "catalog.stockalert", "catalog.commissionrate"})
FENCE_EXTRA = frozenset({"aftersales.review", "aftersales.reviewphoto"})
# Writes that do not pin their client to the primary: a session saved on a GET is not
# something the visitor wrote and will look for.
PIN_EXEMPT = frozenset({"sessions.session", "catalog.productview"})
PIN_COOKIE = "replica_pin"
PIN_SALT = "shop.core.dbrouter.pin"
FENCE_KEY = "dbrouter:catalogue-fence"
CATALOGUE_URL_NAMES = frozenset({"home"})
CATALOGUE_NAMESPACES = frozenset({"catalog"})


def replica_alias() -> str:
    """The replica's alias, or "" when none is configured."""
    return getattr(settings, "REPLICA_DATABASE_ALIAS", "")


# -- the request's state ----------------------------------------------------------------------


@dataclass
class _RequestState:
    allowed: bool  # a catalogue page's GET/HEAD for a client not pinned to the primary
    fence: float | None = None  # the fence's value when first read (0.0: down)
    used_replica: bool = False
    wrote: bool = False


_request: contextvars.ContextVar[_RequestState | None] = contextvars.ContextVar("dbrouter_request", default=None)


def _fence_read() -> float:
    try:
        return float(caches["default"].get(FENCE_KEY) or 0.0)
    except Exception:  # a cache outage must not fail a page (see the module's docstring)
        return 0.0


def _replica_allowed(state: _RequestState) -> bool:
    if state.fence is None:
        state.fence = _fence_read()
    if state.fence:
        return False
    return replica_status().in_use


def replica_safe_to_store() -> bool:
    """Whether what this request read may go into a shared cache: True unless it read from
    the replica and a catalogue write raised the fence since (one cache GET in that case)."""
    state = _request.get()
    if state is None or not state.used_replica:
        return True
    return _fence_read() == state.fence


# -- the fence --------------------------------------------------------------------------------

_fence_last_set = [0.0]
_FENCE_DEBOUNCE = 0.5


def _fence_set() -> None:
    now = time.monotonic()
    if now - _fence_last_set[0] < _FENCE_DEBOUNCE:
        return
    _fence_last_set[0] = now
    try:
        # One second longer than the pin: a set skipped by the debounce still leaves it up long enough.
        caches["default"].set(FENCE_KEY, time.time(), settings.REPLICA_PIN_SECONDS + 1)
    except Exception:  # see the module's docstring: Redis down, no page cache to protect
        log.warning("could not raise the replica fence", exc_info=True)


def replica_fence_raise() -> None:
    """Keep catalogue reads on the primary for REPLICA_PIN_SECONDS from now and from the commit
    of the current transaction. Called by the router for catalogue writes; call it after a write
    the router does not see (raw SQL) that changes what catalogue pages show."""
    if not replica_alias():
        return
    _fence_set()
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.in_atomic_block and getattr(connection, "_replica_fence_hooks", None) is not connection.run_on_commit:
        # Once per transaction: Django gives each transaction a new list of commit hooks.
        transaction.on_commit(_fence_on_commit)
        connection._replica_fence_hooks = connection.run_on_commit


_fence_skipped: contextvars.ContextVar[bool] = contextvars.ContextVar("dbrouter_fence_skipped", default=False)


@contextmanager
def replica_fence_skipped() -> Iterator[None]:
    """Catalogue writes in this block raise no fence: for bookkeeping no page needs at once
    (view counts flushed every 30 s would otherwise keep the replica idle 6 s in 30)."""
    token = _fence_skipped.set(True)
    try:
        yield
    finally:
        _fence_skipped.reset(token)


def _fence_on_commit() -> None:
    _fence_last_set[0] = 0.0  # the commit must set it, whatever was set moments ago
    _fence_set()


def _fences(model) -> bool:
    label = model._meta.label_lower
    return (model._meta.app_label == "catalog" and label not in FENCE_EXEMPT) or label in FENCE_EXTRA


# -- the replica's health ---------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaStatus:
    configured: bool
    reachable: bool = False
    lag_seconds: float | None = None  # None: unknown (unreachable)
    in_use: bool = False  # catalogue reads may go there
    error: str = ""
    checked_at: float = field(default=0.0, compare=False)  # time.monotonic()

    @property
    def state(self) -> str:
        """'off' (none configured), 'down', 'lagging' (reads on the primary) or 'ok'."""
        if not self.configured:
            return "off"
        if not self.reachable:
            return "down"
        return "ok" if self.in_use else "lagging"


_status: list[ReplicaStatus | None] = [None]


# The primary's WAL position at each of this process's recent checks: (position, time.monotonic()).
_primary_positions: deque[tuple[int, float]] = deque(maxlen=64)


def _lsn(text: str) -> int:
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def replica_lag(*, replayed: int, positions: Iterable[tuple[int, float]], now: float, age: float | None) -> float:
    """Seconds the replica is behind, at most: it has replayed `replayed`, so it holds every commit
    the primary had made when the primary stood at a position at or below it (0 if that is the
    position just read). Without such a sample, the age of its last replayed commit (`age`), an
    overestimate after a quiet spell; infinite when unknown."""
    seen = [at for position, at in positions if position <= replayed]
    if seen:
        return max(0.0, now - max(seen))
    return float("inf") if age is None else max(0.0, age)


def _measure(alias: str) -> ReplicaStatus:
    """One look at the replica: reachable, and how far behind the primary (replica_lag)."""
    replica = connections[alias]
    if replica.vendor != "postgresql":
        replica.ensure_connection()
        return ReplicaStatus(configured=True, reachable=True, lag_seconds=0.0, in_use=True)
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn()::text")
        now = time.monotonic()
        _primary_positions.append((_lsn(cursor.fetchone()[0]), now))
    with replica.cursor() as cursor:
        cursor.execute(
            "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn()::text,"
            " EXTRACT(EPOCH FROM clock_timestamp() - pg_last_xact_replay_timestamp())::float8"
        )
        in_recovery, replayed, age = cursor.fetchone()
    if not in_recovery:
        lag = 0.0  # not a standby: a test mirror of the primary
    elif replayed is None:
        lag = float("inf")
    else:
        lag = replica_lag(replayed=_lsn(replayed), positions=_primary_positions, now=now, age=age)
    return ReplicaStatus(configured=True, reachable=True, lag_seconds=lag, in_use=lag <= settings.REPLICA_MAX_LAG)


def replica_status(*, refresh: bool = False) -> ReplicaStatus:
    """The replica's state, measured at most every REPLICA_CHECK_SECONDS in this process."""
    alias = replica_alias()
    if not alias:
        return ReplicaStatus(configured=False)
    current = _status[0]
    now = time.monotonic()
    if current is not None and not refresh and now - current.checked_at < settings.REPLICA_CHECK_SECONDS:
        return current
    try:
        measured = _measure(alias)
    except DatabaseError as exc:
        _replica_close(alias)
        measured = ReplicaStatus(configured=True, error=str(exc).strip().splitlines()[0][:200] if str(exc) else "")
    measured = ReplicaStatus(**{**measured.__dict__, "checked_at": now})
    if current is not None and current.in_use != measured.in_use:
        log.warning("read replica %s (lag %s s) %s", measured.state, measured.lag_seconds, measured.error)
    _status[0] = measured
    return measured


def replica_mark_down(error: str) -> None:
    """A query on the replica failed: use the primary until the next check."""
    _status[0] = ReplicaStatus(configured=True, error=error[:200], checked_at=time.monotonic())
    _replica_close(replica_alias())


def _replica_close(alias: str) -> None:
    with suppress(DatabaseError):
        connections[alias].close()


# -- the router -------------------------------------------------------------------------------


def _in_transaction() -> bool:
    """Inside `transaction.atomic` on the primary; a test case's own wrapping block (Django marks
    it, and checks durable blocks the same way) does not count."""
    connection = connections[DEFAULT_DB_ALIAS]
    return connection.in_atomic_block and any(
        not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


class PrimaryReplicaRouter:
    """DATABASE_ROUTERS entry: see the module's docstring."""

    def db_for_read(self, model, **hints) -> str:
        state = _request.get()
        if (
            state is None
            or not state.allowed
            or model._meta.app_label not in REPLICA_APPS
            or _in_transaction()
            or not replica_alias()
            or not _replica_allowed(state)
        ):
            return DEFAULT_DB_ALIAS
        state.used_replica = True
        return replica_alias()

    def db_for_write(self, model, **hints) -> str:
        state = _request.get()
        if state is not None and model._meta.label_lower not in PIN_EXEMPT:
            state.wrote = True
        if _fences(model) and not _fence_skipped.get():
            replica_fence_raise()
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        # The same data on both: a product read from the replica may be linked to a row written
        # on the primary (which is where the write goes).
        pool = {DEFAULT_DB_ALIAS, replica_alias()}
        return True if {obj1._state.db, obj2._state.db} <= pool else None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        # The replica replays the primary's WAL: it is never migrated itself.
        return False if db == replica_alias() and db != DEFAULT_DB_ALIAS else None


# -- the middleware ---------------------------------------------------------------------------


def _pinned(request: HttpRequest) -> bool:
    return (
        request.get_signed_cookie(PIN_COOKIE, default=None, salt=PIN_SALT, max_age=settings.REPLICA_PIN_SECONDS)
        is not None
    )


def _catalogue_view(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and (match.url_name in CATALOGUE_URL_NAMES or match.namespace in CATALOGUE_NAMESPACES)


class ReplicaRoutingMiddleware:
    """Marks which requests may read the catalogue from the replica, pins a client that wrote
    to the primary, and answers again from the primary when the replica fails mid-request.
    Not used at all without a replica."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        if not replica_alias():
            raise MiddlewareNotUsed
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(_RequestState(allowed=False))
        try:
            response = self.get_response(request)
            state = _request.get()
            if state.wrote or request.method not in ("GET", "HEAD", "OPTIONS", "TRACE"):
                response.set_signed_cookie(
                    PIN_COOKIE,
                    "1",
                    salt=PIN_SALT,
                    max_age=settings.REPLICA_PIN_SECONDS,
                    secure=settings.SESSION_COOKIE_SECURE,
                    httponly=True,
                    samesite="Lax",
                )
            return response
        finally:
            _request.reset(token)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> None:
        state = _request.get()
        state.allowed = request.method in ("GET", "HEAD") and _catalogue_view(request) and not _pinned(request)
        request._dbrouter_view = (view_func, view_args, view_kwargs)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        state = _request.get()
        if state is None or not state.used_replica or not isinstance(exception, DatabaseError):
            return None
        log.warning("read replica failed mid-request; answering from the primary", exc_info=exception)
        replica_mark_down(str(exception).strip())
        state.allowed = False
        view_func, view_args, view_kwargs = request._dbrouter_view
        return view_func(request, *view_args, **view_kwargs)


@contextmanager
def replica_reads(*, allowed: bool = True) -> Iterator[None]:
    """Route this block's catalogue reads as a catalogue page's would be (tests, commands that
    render catalogue pages in bulk)."""
    token = _request.set(_RequestState(allowed=allowed))
    try:
        yield
    finally:
        _request.reset(token)
