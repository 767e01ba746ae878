"""Ctrl-C and SIGTERM for the command line, from its first instruction.

The handler is installed before the CLI imports typer, pydantic and the commands (a second
or more on a loaded machine): a signal in that window would otherwise end the process with
Python's defaults (a KeyboardInterrupt traceback, or a silent -15) instead of one line."""

from __future__ import annotations

import contextlib
import os
import signal
import sys


def stop_on_signal() -> None:
    """Ctrl-C or SIGTERM stops a command at once, with one line and exit 130 / 143. Reading
    commands hold nothing to undo, and a writer's open transaction is discarded as by kill -9
    (a run is all or nothing): waiting for DuckDB to unwind an interrupted query can hang.
    The flow commands install their own handler (`flows.cli.runner`), which ends their runs."""

    def stop(signum: int, _frame: object) -> None:
        atomic = sys.modules.get("flows.common.atomic")  # not imported yet: nothing is written
        for path in list(getattr(atomic, "WRITING", ())):
            with contextlib.suppress(OSError):
                os.unlink(path)
        name = signal.Signals(signum).name
        sys.stderr.write(f"arxiv-digests: interrupted by {name}: nothing half-done was kept\n")
        sys.stderr.flush()
        os._exit(128 + signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
