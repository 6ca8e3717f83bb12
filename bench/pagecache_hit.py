"""What a warm page-cache hit costs, in-process through the full WSGI handler and middleware.

    .venv/bin/python bench/pagecache_hit.py /p/<slug>/ / /c/<slug>/

Against the database and caches of the environment (DATABASE_URL, CACHE_URL: Redis for the
round-trip count). Each page is requested until it is a hit, then timed: the minimum over 15
runs of 500 hits of the wall time and of this process's CPU time per hit, and the Redis round
trips one hit makes (commands sent, a pipeline or a script counting once). Nothing is written.
"""

import os
import sys
import time
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")

import django

django.setup()

from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from redis.connection import AbstractConnection  # noqa: E402

RUNS, HITS = 15, 500
handler = WSGIHandler()


def get(path: str) -> dict[str, str]:
    environ = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_ACCEPT_LANGUAGE": "zh-hans",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": BytesIO(b""),
        "wsgi.url_scheme": "http",
    }
    started = []
    b"".join(handler(environ, lambda status, headers, exc_info=None: started.append(dict(headers))))
    return started[0]


def round_trips(path: str) -> int:
    sent = [0]
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent[0] += 1
        return original(self, command, check_health)

    AbstractConnection.send_packed_command = counting
    try:
        get(path)
    finally:
        AbstractConnection.send_packed_command = original
    return sent[0]


def main(paths: list[str]) -> None:
    for path in paths:
        for _ in range(3):
            headers = get(path)
        if headers.get("X-Page-Cache") != "hit":
            sys.exit(f"{path}: not served from the page cache ({headers.get('X-Page-Cache')!r})")
        trips = round_trips(path)
        wall = cpu = float("inf")
        for _ in range(RUNS):
            t, c = time.perf_counter(), time.process_time()
            for _ in range(HITS):
                get(path)
            wall = min(wall, (time.perf_counter() - t) / HITS)
            cpu = min(cpu, (time.process_time() - c) / HITS)
        print(f"{path}: {wall * 1e6:.0f} µs wall, {cpu * 1e6:.0f} µs CPU per hit, {trips} Redis round trip(s)")


if __name__ == "__main__":
    main(sys.argv[1:] or ["/"])
