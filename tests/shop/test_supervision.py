"""A process of `make stack` that dies is started again; the others never notice.

honcho stops every process as soon as one exits, so each Procfile line runs under bin/respawn.
The worker is started here exactly as honcho starts it (its Procfile line through /bin/sh, in a
session of its own), on the test Redis and database; its Celery process is killed with SIGKILL,
comes back and runs a task; then SIGTERM to the wrapper, as honcho's stop sends it, ends both."""

import contextlib
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from shop.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]
RESPAWN = ROOT / "bin" / "respawn"


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def descendants(pid: int) -> dict[int, str]:
    """Every live process under `pid`: pid -> command line (from /proc)."""
    parents, cmdlines = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z":  # a zombie is dead already
            parents[int(entry.name)], cmdlines[int(entry.name)] = int(fields[1]), cmdline
    found, frontier = {}, {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier and p not in found}
        found.update({p: cmdlines[p] for p in frontier})
    return found


def wait_until(condition, what: str, timeout: float, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)  # polling another process, not asserting on time
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}\n" + (log.read_text() if log else ""))


def celery_main(wrapper_pid: int) -> int | None:
    """The worker's main Celery process: the one whose parent is not itself a Celery process."""
    tree = descendants(wrapper_pid)
    workers = [p for p, cmd in tree.items() if "bin/celery" in cmd and " worker" in cmd and "respawn" not in cmd]
    mains = [p for p in workers if _parent(p) not in workers]
    return mains[0] if len(mains) == 1 else None


def _parent(pid: int) -> int:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return 0


def test_every_stack_process_runs_under_the_respawn_wrapper():
    processes = procfile()
    assert {"web", "worker", "beat"} <= processes.keys()
    for name, command in processes.items():
        assert command.startswith("bin/respawn "), f"{name} is not restarted when it dies: {command}"
    assert os.access(RESPAWN, os.X_OK)


@contextlib.contextmanager
def broker_sending():
    """This process sends tasks to the broker instead of running them eagerly. The app reads
    Django settings under the CELERY namespace, where the prefixed key wins over the plain one."""
    conf = celery_app.conf
    was_eager = conf.task_always_eager
    conf.task_always_eager = conf.CELERY_TASK_ALWAYS_EAGER = False
    try:
        yield
    finally:
        conf.task_always_eager = conf.CELERY_TASK_ALWAYS_EAGER = was_eager


@pytest.mark.worker
@pytest.mark.filterwarnings("error::celery.exceptions.AlwaysEagerIgnored")
def test_a_killed_worker_comes_back_and_sigterm_stops_wrapper_and_worker(transactional_db, tmp_path):
    if "DATABASE_URL" not in os.environ or not settings.CELERY_BROKER_URL.startswith("redis://"):
        pytest.skip("needs PostgreSQL and Redis (run through bin/test)")
    queue = f"supervision-{uuid.uuid4().hex[:8]}"  # this test's own queue: no other worker takes its task
    parts = urlsplit(os.environ["DATABASE_URL"])
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"])),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CONN_MAX_AGE": "0",
        "PYTHONUNBUFFERED": "1",
    }
    command = procfile()["worker"] + f" --queues {queue} --without-gossip --without-mingle --hostname {queue}@%h"
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        # As honcho runs a Procfile line: through the shell, in a new session.
        wrapper = subprocess.Popen(
            ["/bin/sh", "-c", command], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        first = wait_until(lambda: celery_main(wrapper.pid), "the worker to start", 60, log_path)
        wait_until(lambda: log_path.read_text().count(" ready.") >= 1, "the worker to be ready", 60, log_path)

        os.kill(first, signal.SIGKILL)

        second = wait_until(
            lambda: (p := celery_main(wrapper.pid)) and p != first and p, "a new worker process", 30, log_path
        )
        assert wrapper.poll() is None, "the wrapper must outlive its command"
        wait_until(lambda: log_path.read_text().count(" ready.") >= 2, "the new worker to be ready", 60, log_path)
        assert "starting it again" in log_path.read_text()

        # The new worker does work. Sent to the broker, as in production: this process runs tasks
        # eagerly under bin/test (CELERY_TASK_ALWAYS_EAGER=1), which send_task ignores with an
        # AlwaysEagerIgnored warning in every run.
        with broker_sending():
            result = celery_app.send_task("orders.tasks.notification_sweep", queue=queue)
        wait_until(lambda: f"[{result.id}] succeeded" in log_path.read_text(), "the task to run", 30, log_path)

        # honcho's stop: SIGTERM to the process group. Everything under the wrapper ends.
        tree = descendants(wrapper.pid)
        os.killpg(wrapper.pid, signal.SIGTERM)
        wrapper.wait(timeout=30)
        wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in tree), "the worker to exit", 30, log_path)
        assert second in tree
        assert "starting it again" not in log_path.read_text().split("Warm shutdown", 1)[-1]
    finally:
        # Whatever happened above, nothing of this group outlives the test (a worker left behind
        # would keep consuming from the test Redis).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(wrapper.pid, signal.SIGKILL)
        wrapper.wait(timeout=10)


def test_a_command_that_cannot_start_makes_the_wrapper_give_up(tmp_path):
    """A command that dies at once each time (bad settings, port taken) is not retried forever:
    the wrapper exits, so honcho stops the stack with the error on screen."""
    wrapper = subprocess.run(
        [str(RESPAWN), "sh", "-c", "echo started; exit 3"],
        env={**os.environ, "RESPAWN_MAX_QUICK_DEATHS": "2"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert wrapper.returncode == 1
    assert wrapper.stdout.count("started") == 2
    assert "giving up" in wrapper.stderr


def test_sigterm_while_waiting_to_restart_stops_the_wrapper(tmp_path):
    marker = tmp_path / "runs"
    wrapper = subprocess.Popen(
        [str(RESPAWN), "sh", "-c", f"echo run >> {marker}; exit 1"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_until(lambda: marker.exists(), "the first run", 10)
        wait_until(lambda: any("sleep" in c for c in descendants(wrapper.pid).values()), "the back-off", 10)
        os.killpg(wrapper.pid, signal.SIGTERM)
        assert wrapper.wait(timeout=10) == 0
        assert marker.read_text().count("run") == 1
    finally:
        if wrapper.poll() is None:
            os.killpg(wrapper.pid, signal.SIGKILL)


@pytest.mark.parametrize(
    ("unit", "command"),
    [
        ("shop-web.service", "gunicorn shop.wsgi"),
        ("shop-worker.service", "celery -A shop worker"),
        ("shop-beat.service", "celery -A shop beat"),
    ],
)
def test_production_units_restart_their_process_and_run_it_confined(unit, command):
    text = (ROOT / "deploy" / unit).read_text()
    settings_ = dict(
        line.split("=", 1)
        for line in text.replace("\\\n", " ").splitlines()
        if "=" in line and not line.startswith("#")
    )
    assert command in settings_["ExecStart"]
    assert settings_["Restart"] == "always"
    assert settings_["User"] == "shop"
    assert settings_["EnvironmentFile"] == "/etc/shop/shop.env"
    for option, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes"}.items():
        assert settings_[option] == value, option
    assert "WantedBy=shop.target" in text
    assert unit in (ROOT / "deploy" / "shop.target").read_text()
