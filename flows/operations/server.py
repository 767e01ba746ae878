"""A Prefect server the product manages: `arxiv-digests server start|stop|status`, and the
choice of API a flow command runs against.

The server is Prefect's own (`prefect server start`), bound to 127.0.0.1, started in a session
of its own so that a Ctrl-C in the terminal reaches the command, not the server. Its pid,
address and log live in `<PREFECT_HOME>/arxiv-digests/`; its database is where Prefect's
settings put it, so runs and artifacts persist across restarts.

A flow command uses, in this order: PREFECT_API_URL when set; the managed server when it is
up; else a temporary server of its own, started the same way but tied to the command's life
(it dies with the command, kill -9 included).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from flows.common.processes import alive, stop_process
from schemas.errors import ArxivDigestsError

HOST = "127.0.0.1"
DEFAULT_PORT = 4200
START_TIMEOUT = 120.0
PR_SET_PDEATHSIG = 1


class ServerError(ArxivDigestsError):
    """The managed server could not be started or stopped."""


def home() -> Path:
    """Where the managed server keeps its pid file and log."""
    base = os.environ.get("PREFECT_HOME") or str(Path.home() / ".prefect")
    return Path(base).expanduser() / "arxiv-digests"


@dataclass(frozen=True)
class Server:
    """A running Prefect server: its process and API URL."""

    pid: int
    url: str  # the API's address: http://127.0.0.1:PORT/api

    @property
    def ui(self) -> str:
        """The server's web UI."""
        return self.url.removesuffix("/api")


def healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether the API at `url` answers its health check within `timeout`."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def running() -> Server | None:
    """The managed server, if its pid file names a live process that answers."""
    try:
        pid_text, url = (home() / "server.pid").read_text().split()
        server = Server(int(pid_text), url)
    except (OSError, ValueError):
        return None
    return server if alive(server.pid) and healthy(server.url) else None


def _bindable(port: int) -> int | None:
    """`port` (or, for 0, the one the OS picks) if a server could listen on it now. As the
    server binds (SO_REUSEADDR), a port whose last server died moments ago (its connections
    in TIME_WAIT) is free; one another program listens on is not."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return None
        return int(probe.getsockname()[1])


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        if (free := _bindable(port)) is not None:
            return free
    raise ServerError("no free port on 127.0.0.1 for the Prefect server")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the child is killed when the process that started it dies, kill -9 too. A
    temporary server holds nothing worth a graceful stop, and may not yet handle SIGTERM."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(port: int, log: Path, tied: bool) -> Server:
    """Start `prefect server start` on 127.0.0.1:`port` in its own session; wait until it
    answers. `tied`: it dies when this process does."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    log.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", HOST]
    if tied:  # a temporary server only answers this command's API calls: no scheduler
        command.append("--no-services")
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [*command, "--port", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if tied else None,
        )
    server = Server(process.pid, f"http://{HOST}:{port}/api")
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while not healthy(server.url, timeout=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                raise ServerError(f"the Prefect server did not start; its log is {log}")
            time.sleep(0.25)
    except BaseException:  # Ctrl-C while it starts included: never leave it behind
        stop_process(process.pid, grace=1.0)
        raise
    return server


def start(port: int = DEFAULT_PORT) -> tuple[Server, bool]:
    """The managed server on `port`, started unless it is up already; (server, started now).
    A port another program holds is one line, never a different port each time."""
    up = running()
    if up is not None:
        return up, False
    if _bindable(port) is None:
        raise ServerError(
            f"port {port} on {HOST} is in use by another program: stop it, or choose "
            "another port with ARXIV_DIGESTS_SERVER_PORT (or `server start --port`)"
        )
    folder = home()
    server = spawn(port, folder / "server.log", tied=False)
    tmp = folder / f".server.pid.{os.getpid()}"
    tmp.write_text(f"{server.pid} {server.url}\n")
    os.replace(tmp, folder / "server.pid")
    return server, True


def stop() -> Server | None:
    """Stop the managed server; the one stopped, or None if none was running."""
    pid_file = home() / "server.pid"
    try:
        pid_text, url = pid_file.read_text().split()
    except (OSError, ValueError):
        return None
    server = Server(int(pid_text), url)
    if not alive(server.pid):  # it died (a crash, a reboot): only its record was left
        pid_file.unlink(missing_ok=True)
        return None
    stop_process(server.pid)
    pid_file.unlink(missing_ok=True)
    return server


def configured_api() -> str | None:
    """PREFECT_API_URL as Prefect sees it: the environment, the active profile, or a test
    harness's settings."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


def _drain() -> None:
    """Send Prefect's queued events and logs while the temporary server is still up (at exit,
    with it gone, they would be retried against nothing)."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    for worker in (EventsWorker, APILogWorker):
        # A worker that still holds items when told to finish says so at WARNING ("Still
        # processing items"), which is all it is doing here: not for the terminal.
        quiet = logging.getLogger(worker.__name__)
        level, quiet.level = quiet.level, logging.ERROR
        try:
            with contextlib.suppress(Exception):
                worker.drain_all(timeout=5)
        finally:
            quiet.level = level


@contextlib.contextmanager
def using(url: str) -> Iterator[None]:
    """Prefect's API is `url` inside: in the environment (for child processes) and in the
    settings Prefect has already loaded (it reads the environment once)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield
    finally:
        os.environ.pop("PREFECT_API_URL", None)


CONFIGURED_HEALTH_TIMEOUT = 10.0


@contextlib.contextmanager
def api_for_flows(say: object = None) -> Iterator[str]:
    """Point Prefect at an API for a flow command (see the module's docstring); yields its
    address. `say` is called with the one line printed when a temporary server is needed."""
    configured = configured_api()
    if configured:
        # A server that accepts connections and never answers would hold the run silently.
        if not healthy(configured, timeout=CONFIGURED_HEALTH_TIMEOUT):
            raise ServerError(
                f"the Prefect API at {configured} (PREFECT_API_URL) did not answer its health "
                f"check within {CONFIGURED_HEALTH_TIMEOUT:.0f} s: start that server, or unset "
                "PREFECT_API_URL to use `arxiv-digests server start`"
            )
        yield configured
        return
    managed = running()
    if managed is not None:
        with using(managed.url):
            yield managed.url
        return
    if callable(say):
        say(
            "no Prefect server is running: starting a temporary one (about 10 s); "
            "`arxiv-digests server start` keeps one up and makes every run faster"
        )
    folder = home()
    folder.mkdir(parents=True, exist_ok=True)
    # One start-up at a time: two servers migrating Prefect's one database at once fail.
    with open(folder / "start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        temporary = spawn(_free_port(0), folder / f"temporary-{os.getpid()}.log", tied=True)
    try:
        with using(temporary.url):
            try:
                yield temporary.url
            except Exception:
                # A failed run's logs and events, still queued, would otherwise be sent at
                # exit to the server stopped below: each try printed an error of its own
                # under the command's one-line error. An interrupt does not wait for them.
                _drain()
                raise
            _drain()
    finally:
        stop_process(temporary.pid, grace=0.3)  # disposable: no graceful wait on open clients
        with contextlib.suppress(OSError):
            (folder / f"temporary-{os.getpid()}.log").unlink()
