"""make cluster's balancer and state (bin/cluster), checked without starting the cluster.

HAProxy re-sends a GET whose node died holding it to the other node, but never a POST (a
place-order the dead node may have executed must not be sent twice); the file mail backend's
path is absolute; `bin/cluster status` says so in its exit status when something is down."""

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import environ
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "bin" / "cluster"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listens(pid: int, port: int) -> bool:
    """Whether process pid holds a socket listening on 127.0.0.1:port: a connection would not
    tell, if another process took the port first."""
    sockets = {
        f"socket:[{fields[9]}]"
        for fields in (line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:])
        if fields[3] == "0A" and fields[1] == f"0100007F:{port:04X}"
    }
    with contextlib.suppress(OSError):
        return any(os.readlink(fd) in sockets for fd in Path(f"/proc/{pid}/fd").iterdir())
    return False


def listening(start, tries: int = 5) -> tuple[subprocess.Popen, int]:
    """start(port) on a free port, until the process listens there: (process, port).

    A free port is only free when it is picked; the process binds it a moment later, and the
    suite's other process may have taken it by then. The server then exits on its bind error,
    and it starts again on another port."""
    for _ in range(tries):
        port = free_port()
        process = start(port)
        for _ in range(400):  # 20 s: gunicorn retries a taken port for ~5 s before it gives up
            if process.poll() is not None:
                break
            if listens(process.pid, port):
                return process, port
            time.sleep(0.05)
        process.kill()
        process.wait()
    raise AssertionError(f"no server listened after {tries} ports")


class DyingNode:
    """A node that answers its health check and closes every other request unanswered."""

    def __init__(self) -> None:
        self.hits: Counter = Counter()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                method, path = [*conn.recv(65536).decode(errors="replace").split(" "), "", ""][:2]
                if path == "/healthz":
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                else:
                    self.hits[method] += 1


def send(port: int, method: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(
            f"{method} /p/x/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx".encode()
        )
        return s.recv(100)


@pytest.mark.skipif(not shutil.which("haproxy"), reason="HAProxy is not installed")
def test_a_get_is_retried_on_the_other_node_a_post_never(tmp_path):
    nodes = [DyingNode(), DyingNode()]

    def start(front: int) -> subprocess.Popen:
        env = {"PATH": "/usr/sbin:/usr/bin:/bin", "CLUSTER_DIR": str(tmp_path), "CLUSTER_PORT": str(front)}
        env |= {"STATS_PORT": str(free_port()), "NODE1_PORT": str(nodes[0].port), "NODE2_PORT": str(nodes[1].port)}
        config = subprocess.run(["bash", CLUSTER, "haproxy-config"], env=env, capture_output=True, text=True)
        assert config.returncode == 0, config.stderr
        (tmp_path / "haproxy.cfg").write_text(config.stdout)
        return subprocess.Popen(["haproxy", "-db", "-f", tmp_path / "haproxy.cfg"], stderr=subprocess.DEVNULL)

    haproxy, front = listening(start)
    try:
        assert send(front, "GET").startswith(b"HTTP/1.1 502")
        gets = [node.hits["GET"] for node in nodes]
        assert send(front, "POST").startswith(b"HTTP/1.1 502")
        posts = [node.hits["POST"] for node in nodes]
    finally:
        haproxy.kill()
        haproxy.wait()
    assert sum(gets) == 4 and min(gets) >= 1, gets  # sent, then 3 retries, on both nodes
    assert sum(posts) == 1, posts  # sent once: it may have been executed


def test_the_cluster_mail_directory_is_absolute():
    line = next(ln for ln in CLUSTER.read_text().splitlines() if "EMAIL_URL=filemail:" in ln)
    url = line.split('"')[1].split("=", 1)[1].replace("$CLUSTER", str(ROOT / "var" / "cluster"))
    path = environ.Env.email_url_config(url)["EMAIL_FILE_PATH"]
    assert path == str(ROOT / "var" / "cluster" / "mail")


def test_status_fails_when_the_cluster_is_stopped(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    port = free_port()  # nothing listens there
    (tmp_path / "cluster.env").write_text(
        "".join(f"{k}_PID='{dead.pid}'\n" for k in ("HAPROXY", "NODE1", "NODE2", "WORKER1", "WORKER2", "BEAT"))
        + f"PRIMARY_PORT='{port}'\nREPLICA_PORT='{port}'\nREDIS_PORT='{port}'\n"
        + f"CLUSTER_URL='http://127.0.0.1:{port}'\n"
    )
    done = subprocess.run(
        ["bash", CLUSTER, "status"],
        env={"PATH": "/usr/sbin:/usr/bin:/bin", "CLUSTER_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "node1     stopped" in done.stdout, done.stdout + done.stderr
    assert done.returncode == 1


APP = """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def test_a_killed_gunicorn_master_takes_its_workers_along(tmp_path):
    """Orphaned sync workers kept serving on the node's socket, so HAProxy never saw the node die."""
    source = CLUSTER.read_text()
    (tmp_path / "gunicorn.conf.py").write_text(source.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0] + "\n")
    (tmp_path / "tinyapp.py").write_text(APP)
    master, _port = listening(
        lambda port: subprocess.Popen(
            [
                *(ROOT / ".venv/bin/gunicorn", "--config", tmp_path / "gunicorn.conf.py", "--chdir", tmp_path),
                *("--workers", "2", "--bind", f"127.0.0.1:{port}", "tinyapp"),
            ],
            stderr=subprocess.DEVNULL,
        )
    )
    workers: list[int] = []
    try:
        for _ in range(200):
            found = subprocess.run(["pgrep", "-P", str(master.pid)], capture_output=True, text=True).stdout
            workers = [int(p) for p in found.split()]
            if len(workers) == 2:
                break
            time.sleep(0.05)
        assert len(workers) == 2
        master.kill()
        master.wait()
        for _ in range(100):  # 5 s; an idle orphan looks for its master every 15 s
            if not any(Path(f"/proc/{p}").exists() for p in workers):
                break
            time.sleep(0.05)
        left = [p for p in workers if Path(f"/proc/{p}").exists()]
    finally:
        for p in workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
    assert left == []


def test_a_server_whose_port_was_taken_meanwhile_starts_on_another():
    """The port another process takes between free_port() and the server's bind is not mistaken
    for the server's: the server dies on its bind error and starts again on a free port."""
    others: list[socket.socket] = []

    def start(port: int) -> subprocess.Popen:
        if not others:  # the first port is taken by someone else before the server binds it
            other = socket.socket()
            other.bind(("127.0.0.1", port))
            other.listen(1)
            others.append(other)
        return subprocess.Popen(
            [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)], stderr=subprocess.DEVNULL
        )

    process, port = listening(start)
    try:
        taken = others[0].getsockname()[1]
        assert port != taken
        assert listens(process.pid, port) and not listens(process.pid, taken)
    finally:
        process.kill()
        process.wait()
        others[0].close()
