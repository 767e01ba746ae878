"""Worker processes that parse new files beside the flow's own, for runs large enough to pay
for them."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from flows.common.lean import without_pandas
from flows.digests.guard import Limits
from flows.digests.parsed import DEFAULT_LIMITS, NewFile, ParsedBatch, parse_files

# A batch with fewer new files than this per process, and fewer bytes, is parsed in-process.
POOL_MIN_FILES = 20
POOL_MIN_BYTES = 4 * 1024 * 1024


log = logging.getLogger(__name__)


def worker_start(parent: int) -> None:
    """A parse worker's set-up: lean (no pandas), and gone when the process that started it
    is, even killed with SIGKILL (it would hold its memory, and the resource tracker, for ever:
    the pool's own shutdown never runs then)."""
    without_pandas()
    # Ctrl-C reaches the whole process group; the run that started the pool ends it, and a
    # worker's own KeyboardInterrupt would only print a traceback under the run's one line.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":  # the kernel sends SIGKILL when the parent dies
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # died before the line above ran
        os._exit(1)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


PR_SET_PDEATHSIG = 1


def _exit_with(parent: int) -> None:
    """Exit once the parent is gone (where no kernel signal says so): its child is adopted."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


class ParsePool:
    """Processes that parse alongside the flow's own (`workers` in all, this one included),
    started on first use: only a batch with enough new files to pay for them (about 0.3 s
    each) starts them, so a daily run of a few digests never does. `spawn`, not `fork`: the
    flow's process runs Prefect's threads."""

    def __init__(self, workers: int, limits: Limits = DEFAULT_LIMITS):
        self.workers = workers
        self.limits = limits  # for the tasks that hand it files
        self._pool: ProcessPoolExecutor | None = None

    def worth_it(self, files: int, size: int = 0) -> bool:
        """Whether `files` new files of `size` bytes in all are enough to pay for starting the
        workers (a batch bounded by bytes holds few large files)."""
        enough = files >= self.workers * POOL_MIN_FILES or size >= self.workers * POOL_MIN_BYTES
        return self.workers > 1 and enough

    def parse(
        self, files: list[NewFile], run_id: str, now: datetime, limits: Limits | None = None
    ) -> list[ParsedBatch]:
        """Parse `files` in slices, one per process, the flow's own included."""
        limits = limits or self.limits
        pool = self.started()
        size = -(-len(files) // self.workers)
        slices = [files[i : i + size] for i in range(0, len(files), size)]
        mine: ParsedBatch | None = None
        try:
            futures = [pool.submit(parse_files, part, run_id, now, limits) for part in slices[1:]]
            # The flow's process parses the first slice itself instead of waiting idle.
            mine = parse_files(slices[0], run_id, now, limits)
            return [mine, *(f.result() for f in futures)]
        except BrokenProcessPool:  # a worker died (killed, out of memory): parse here instead
            log.warning("a parse worker process died; parsing in the flow's process from now on")
            self.workers = 1
            mine = mine or parse_files(slices[0], run_id, now, limits)
            return [mine, *(parse_files(part, run_id, now, limits) for part in slices[1:])]

    def started(self) -> ProcessPoolExecutor:
        """The worker processes, started now if they were not."""
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                self.workers - 1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=worker_start,
                initargs=(os.getpid(),),
            )
        return self._pool

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
