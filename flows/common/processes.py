"""Processes the product starts and stops: the Prefect server, a supervised flow run, the
folders a run's pid names."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

from flows.common.stopping import SUPERVISOR


def alive(pid: int) -> bool:
    """Whether process `pid` exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(pid: int, grace: float = 10.0) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left after `grace` s."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not alive(pid):
                return
            time.sleep(0.1)


def end_with_supervisor(grace: float = 5.0) -> None:
    """Stop this process's group (this service and the flow runs it started) once the command
    that supervises it is gone: a `serve` killed by kill -9 or the OOM killer cannot stop it
    itself, and an orphan would go on running the schedule beside the next `serve`."""
    supervisor = int(os.environ.get(SUPERVISOR, "0") or 0)
    if supervisor <= 0:
        return

    def watch() -> None:
        while os.getppid() == supervisor:
            time.sleep(1)
        stop_process(os.getpid(), grace)  # a session leader: its pid is its group's

    threading.Thread(target=watch, name="end-with-supervisor", daemon=True).start()
