"""Ctrl-C and SIGTERM for the command line, from its first instruction.

The handler is installed before the CLI imports typer, pydantic and the commands (a second
or more on a loaded machine): a signal in that window would otherwise end the process with
Python's defaults (a KeyboardInterrupt traceback, or a silent -15) instead of one line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

# Set by `supervise` in a service's environment: the pid of the command that supervises it.
SUPERVISOR = "ARXIV_DIGESTS_SUPERVISED_BY"


def _discard_writing() -> None:
    """Remove the files being written (`flows.common.atomic`): nothing half-done is kept."""
    atomic = sys.modules.get("flows.common.atomic")  # not imported yet: nothing is written
    for path in list(getattr(atomic, "WRITING", ())):
        with contextlib.suppress(OSError):
            os.unlink(path)


def stop_on_signal() -> None:
    """Ctrl-C or SIGTERM stops a command at once, with one line and exit 130 / 143. Reading
    commands hold nothing to undo, and a writer's open transaction is discarded as by kill -9
    (a run is all or nothing): waiting for DuckDB to unwind an interrupted query can hang.
    The flow commands install their own handler (`flows.cli.runner`), which ends their runs."""

    def stop(signum: int, _frame: object) -> None:
        _discard_writing()
        if not os.environ.get(SUPERVISOR):  # else its supervisor says the one line
            name = signal.Signals(signum).name
            sys.stderr.write(f"arxiv-digests: interrupted by {name}: nothing half-done was kept\n")
            sys.stderr.flush()
        os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def end_quietly_when_served() -> None:
    """In a flow run that `serve` started: SIGTERM or SIGINT (serve stopping) ends the run at
    once, as kill -9 would (a run is all or nothing), and silently, where Prefect would log
    the interrupted query as an ERROR with its traceback. `serve` says the one line."""
    if os.environ.get(SUPERVISOR) and threading.current_thread() is threading.main_thread():
        stop_on_signal()  # silent under a supervisor
