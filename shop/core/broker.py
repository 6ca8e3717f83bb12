"""kombu's Redis transport with one kept client per channel for the commands it sends outside
its consuming loop (above all the LPUSH of every task queued: shop.core.tasks.enqueue).

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
