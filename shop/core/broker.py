"""Cheaper publishing of tasks (shop.core.tasks.enqueue): kombu's Redis transport with one kept
client per channel for the commands it sends outside its consuming loop (above all the LPUSH of
every task queued), and a producer kept per thread that looks in kombu's record of declared
queues before binding a copy of the queue to look there.

The stock channel builds a new redis.Redis client for each of those commands: about 80 response
callbacks copied into a case-insensitive dict, a quarter of the CPU of queuing a task. The client
holds no connection of its own (it borrows one from the channel's pool for each command, which
redis-py allows from several threads), so keeping it changes nothing on the wire: same commands,
same message, same connection pool, same timeouts and errors when Redis is down.

Fork safety is the pool's: redis-py's ConnectionPool notices a new process id and drops the
parent's sockets, and kombu replaces a channel's pools after a billiard fork (a Celery worker's
children). The kept client is tied to the pool it was made for and is made again with a new one.

Installed by shop.celery under kombu's own names for the transport ("redis", "rediss"), so the
broker URL, Celery's settings and kombu's rendering of the URL in logs stay as they were."""

import contextlib
import os
import threading

import kombu
from kombu import transport as kombu_transport
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _kept_client = None  # (the pool it was made for, the client)

    def _create_client(self, asynchronous=False):
        if asynchronous:  # the consuming loop's own client (BRPOP), cached by kombu already
            return super()._create_client(asynchronous=True)
        pool = self.pool
        kept = self._kept_client
        if kept is None or kept[0] is not pool:
            kept = self._kept_client = (pool, self.Client(connection_pool=pool))
        return kept[1]

    def _disconnect_pools(self):
        self._kept_client = None
        super()._disconnect_pools()


class Transport(kombu_redis.Transport):
    Channel = Channel


TRANSPORT = f"{__name__}:Transport"


def install() -> None:
    """Resolve kombu's "redis" and "rediss" transport names to this module's transport in this
    process. Idempotent; call before the first broker connection (kombu caches what a name
    resolved to)."""
    for name in ("redis", "rediss"):
        kombu_transport.TRANSPORT_ALIASES[name] = TRANSPORT
        kombu_transport._transport_cache.pop(name, None)


class Producer(kombu.Producer):
    def maybe_declare(self, entity, retry=False, **retry_policy):
        # Celery asks for the task's queue to be declared with every message; kombu binds a copy
        # of the queue to this channel before it looks in the connection's record of what it has
        # declared. Looked up first, with kombu's own key and condition: the answer is the same.
        transport = self.channel.connection
        if (
            entity is not None
            and transport is not None
            and entity.can_cache_declaration
            and hash(entity) in transport.client.declared_entities
        ):
            return False
        return super().maybe_declare(entity, retry, **retry_policy)


_kept = threading.local()


def producer(app):
    """This thread's producer on a broker connection of its own, kept while the process, the
    thread and the app's connection pool last (Celery makes a new pool after a billiard fork,
    and tests make one to change the broker). Celery's own path takes a producer from its pool
    and binds it to a pooled connection for every message, then gives both back.

    Connects on first use: with the broker down that raises, as Celery's pool does, and the
    next call tries again. A caller whose publish failed calls `producer_drop`."""
    pool, pid = app.pool, os.getpid()
    kept = getattr(_kept, "producer", None)
    if kept is None or kept[0] is not pool or kept[1] != pid:
        connection = app.connection_for_write()
        try:
            kept = (pool, pid, Producer(connection))
        except BaseException:
            connection.release()
            raise
        _kept.producer = kept
    return kept[2]


def producer_drop() -> None:
    """Forget this thread's producer and close its connection: the next message connects anew
    (one attempt, as with a pooled connection after an outage)."""
    kept = getattr(_kept, "producer", None)
    _kept.producer = None
    if kept is not None and kept[1] == os.getpid():  # never close what a parent process opened
        with contextlib.suppress(Exception):  # closing a connection to a broker that is gone
            kept[2].connection.release()
