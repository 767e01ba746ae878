"""How the CLI runs a flow: against the API `flows.operations.server` picks, stopped cleanly
by Ctrl-C or SIGTERM, every systemic failure as one line.

A signal turns into an exception in the flow's thread, so the run's open lake transaction is
abandoned (nothing of it is visible) and its lock released as the process ends. The process
then exits at once with 130 (SIGINT) or 143 (SIGTERM), past Prefect's exit hooks, whose
flushing of events could otherwise keep it alive; a temporary server goes with it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer

from flows.operations.server import ServerError, api_for_flows


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived (a BaseException, like KeyboardInterrupt: nothing that
    catches Exception swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# The signal that arrived, if one did: DuckDB, interrupted in a query, raises its own error
# ("Query interrupted") instead of ours, which must still count as the interruption.
_received: list[int] = []


def _interrupt(signum: int, _frame: object) -> NoReturn:
    for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up
        signal.signal(sig, signal.SIG_IGN)
    _received.append(signum)
    raise Interrupted(signum)


def say(message: str) -> None:
    """One `arxiv-digests:` line on stderr."""
    typer.echo(f"arxiv-digests: {message}", err=True)


def _signal_of(exc: BaseException) -> int | None:
    if isinstance(exc, Interrupted):
        return exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return int(signal.SIGINT)
    if type(exc).__name__ == "TerminationSignal":  # Prefect's own SIGTERM handler
        return int(getattr(exc, "signal", signal.SIGTERM))
    return None


class _HandledFailures(logging.Filter):
    """Prefect logs a failing flow or task at ERROR with its traceback; the CLI says the same
    in one line of its own, so without --verbose those records stay off the terminal (they
    still reach the Prefect server's log)."""

    ENGINES = (
        "prefect.flow_runs",
        "prefect.task_runs",
        "prefect.flow_engine",
        "prefect.task_engine",
    )

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR or not record.name.startswith(self.ENGINES)


def quiet_failures() -> None:
    """Keep Prefect's tracebacks of failed runs off the terminal (the CLI says it in one line)."""
    from prefect.logging.configuration import setup_logging

    setup_logging()
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, _HandledFailures) for f in handler.filters):
            handler.addFilter(_HandledFailures())


def run_flow(
    call: Callable[[], Any], failure: Callable[[Exception], typer.Exit], verbose: bool = False
) -> Any:
    """`call()` (which runs a flow) with an API, signals handled, and `failure` turning an
    exception into the one line a user sees."""
    # Installed first, whatever was inherited (a background job starts with SIGINT ignored):
    # a signal while the temporary server starts stops the command too.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    try:
        with api_for_flows(say):
            if not verbose:
                quiet_failures()
            try:
                return call()
            except Exception as exc:
                if _received:
                    raise Interrupted(_received[0]) from None
                raise failure(exc) from None
            finally:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, signal.SIG_IGN)
    except ServerError as exc:
        raise typer.Exit(_fail_server(exc)) from None
    except BaseException as exc:
        # A signal that arrived while a library was working can surface wrapped in that
        # library's own error (pydantic's serializer re-raises it as its own): still ours.
        signum = _signal_of(exc) or (_received[0] if _received else None)
        if signum is None:
            raise
        say(
            f"interrupted by {signal.Signals(signum).name}: what the run had not committed is "
            "discarded (readers never saw it); the next run picks it up"
        )
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(128 + signum)


def _fail_server(exc: ServerError) -> int:
    say(str(exc))
    return 1


def supervise(command: list[str], grace: float = 5.0) -> int:
    """Run `command` (a long-lived service) in a session of its own until it ends or until
    SIGINT / SIGTERM reach this process; then stop its whole process group (the flow runs it
    started included) within `grace` s. Returns 0 when stopped so, else its exit code."""
    import subprocess
    import time

    from flows.common.processes import stop_process

    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    service = subprocess.Popen(command, start_new_session=True)
    try:
        while service.poll() is None and not stopping:
            time.sleep(0.2)
    finally:
        if service.poll() is None:
            stop_process(service.pid, grace=grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else int(service.returncode or 0)
