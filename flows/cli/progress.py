"""How long work shows its progress: a bar with the count, the rate and the time left on a
terminal (rich), one line a minute (ARXIV_DIGESTS_PROGRESS_LOG_SECONDS) in a log."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

Progress = Callable[[int, int], None]  # (done, total)


@contextlib.contextmanager
def shown(what: str, quiet: bool = False) -> Iterator[Progress]:
    """A `(done, total)` callback that shows progress on stderr while the block runs."""
    if quiet:
        yield lambda done, total: None
    elif sys.stderr.isatty():
        with _bar(what) as progress:
            yield progress
    else:
        from flows.settings import Settings

        yield _LogLines(what, Settings().progress_log_seconds)


@contextlib.contextmanager
def _bar(what: str) -> Iterator[Progress]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn(what), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        job = bar.add_task(what, total=None)
        yield lambda done, total: bar.update(job, completed=done, total=total)


class _LogLines:
    """One line per `every` seconds: how many, how fast, how long still."""

    def __init__(self, what: str, every: float):
        self.what, self.every = what, every
        self.started = self.last = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every or done >= total:
            return
        self.last = now
        rate = done / max(now - self.started, 1e-9)
        left = (total - done) / rate if rate else float("inf")
        eta = f"about {_duration(left)} left" if left != float("inf") else "time left unknown"
        sys.stderr.write(f"{self.what}: {done:,} of {total:,} ({rate:,.1f}/s), {eta}\n")
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min {secs:02d} s"
