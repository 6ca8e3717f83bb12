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
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
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
