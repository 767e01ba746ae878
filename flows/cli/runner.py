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
import threading
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


def _exit_now(signum: int, _frame: object) -> NoReturn:
    say(f"stopped by {signal.Signals(signum).name} after the run ended")
    sys.stderr.flush()
    os._exit(128 + signum)


def watch(url: str, stop: threading.Event) -> None:
    """Watch the Prefect API the run uses: when it stops answering for
    ARXIV_DIGESTS_SERVER_WATCH_SECONDS, say so in one line and end the command (Prefect would
    retry against nothing for minutes, its signals ignored): exit 0 when the run committed
    its load, 1 when nothing of it was committed."""
    import time

    from flows.operations.server import healthy
    from flows.settings import Settings

    limit = Settings().server_watch_seconds

    def loop() -> None:
        answered = time.monotonic()
        while not stop.wait(min(2.0, limit / 3)):
            if healthy(url, timeout=min(5.0, limit / 3)):
                answered = time.monotonic()
            elif time.monotonic() - answered >= limit:
                _api_lost(url, limit)

    threading.Thread(target=loop, name="prefect-api-watch", daemon=True).start()


def _api_lost(url: str, limit: float) -> NoReturn:
    from flows.pipeline.stages import COMMITTED

    runs = [(run, stages) for run, stages in COMMITTED.items() if "load" in stages]
    if runs:
        run, stages = runs[-1]
        done = " and ".join(dict.fromkeys(stages))
        say(
            f"the Prefect API at {url} stopped answering for {limit:.0f} s after run {run} "
            f"committed its {done}: its rows are in the warehouse (Prefect's record of the run "
            "is incomplete); what was not committed waits for the next run"
        )
        code = 0
    else:
        say(
            f"the Prefect API at {url} stopped answering for {limit:.0f} s: the run was "
            "stopped and nothing of it was committed; start the server again (`arxiv-digests "
            "server start`) and run again"
        )
        code = 1
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(code)


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
        # A server gone: each retry of its queued events and logs is an error line of its own
        # (thousands); the command's watch says it once.
        "prefect.events",
        "prefect._internal.concurrency",
        "prefect.logging",
        "EventsWorker",
        "APILogWorker",
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
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    stop = threading.Event()  # the watch ends with the command's use of the API
    try:
        with api_for_flows(say) as url:
            if not verbose:
                quiet_failures()
            watch(url, stop)
            try:
                return call()
            except Exception as exc:
                if _received:
                    raise Interrupted(_received[0]) from None
                raise failure(exc) from None
            finally:
                # The run is over: a signal while Prefect's events drain ends the command now.
                for sig in (signal.SIGINT, signal.SIGTERM):
                    signal.signal(sig, _exit_now)
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
    finally:
        stop.set()
        for sig, handler in previous.items():  # the command's caller's handlers back
            signal.signal(sig, handler)


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
    from flows.common.stopping import SUPERVISOR

    stopping: list[int] = []

    def stop(signum: int, _frame: object) -> None:
        stopping.append(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    supervised = os.environ | {SUPERVISOR: str(os.getpid())}
    service = subprocess.Popen(command, start_new_session=True, env=supervised)
    try:
        while service.poll() is None and not stopping:
            time.sleep(0.2)
    finally:
        if service.poll() is None:
            stop_process(service.pid, grace=grace)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0 if stopping else int(service.returncode or 0)
