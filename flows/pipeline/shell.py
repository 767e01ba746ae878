"""What every flow of the product shares: its log lines, its commit task, the progress it
reports to the command that started it, and a run's set-up and result (`run_lake`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from flows.common.stopping import end_quietly_when_served
from flows.pipeline.run_stats import RunStats, new_run_id
from flows.pipeline.stages import Shell
from flows.settings import Settings
from warehouse.export import export, refuse_export_into
from warehouse.lake import Lake, Warehouse
from warehouse.legacy import migrate
from warehouse.writes import commit_run


def warn(line: str) -> None:
    """One line in the run's log (and on the console, at the CLI's level)."""
    get_run_logger().warning(line)


@task(name="commit", cache_policy=NO_CACHE)
def commit_task(lake: Lake, row: dict[str, Any], message: str) -> bool:
    """Commit the stage with its `runs` row: visible to every reader at once (False: another
    writer committed first, and nothing of the stage was kept)."""
    return commit_run(lake, row, message)


SHELL = Shell(warn, commit_task)


def say(stats: RunStats, line: str) -> None:
    """A line for the run's log and for the command that started it to print."""
    get_run_logger().info(line)
    stats.lines.append(line)


ARTIFACT_KEY = "arxiv-digests-run"

Progress = Callable[[int, int], None]  # called with (done, total): files, or papers
_PROGRESS: ContextVar[Progress | None] = ContextVar("progress", default=None)


@contextlib.contextmanager
def reporting(progress: Progress) -> Iterator[None]:
    """Runs started inside call `progress(done, total)` after each batch of files, or each
    commit of answers (the CLI's progress bar). A context variable, not a flow parameter:
    Prefect records parameters, and a function is not one."""
    token = _PROGRESS.set(progress)
    try:
        yield
    finally:
        _PROGRESS.reset(token)


def report_progress(done: int, total: int) -> None:
    """Tell the command that started the run how far it is, if it asked."""
    if (progress := _PROGRESS.get()) is not None:
        progress(done, total)


def _publish(lake: Lake, stats: RunStats, settings: Settings) -> None:
    markdown = stats.markdown()
    if settings.export_dir is not None:
        export(lake.store, settings.export_dir)
    if settings.report_dir is not None:
        from flows.operations.report import build

        page = build(lake.store, settings.report_dir)
        markdown += f"\nReport: [{page.resolve()}](file://{page.resolve()})\n"
    create_markdown_artifact(
        key=ARTIFACT_KEY, markdown=markdown, description=f"arxiv-digests run {stats.run_id}"
    )


@contextlib.contextmanager
def run_lake(
    settings: Settings, warehouse: str | None, kind: str
) -> Iterator[tuple[Lake, RunStats]]:
    """A run's set-up, for every flow: its figures (with its id and flow run), the warehouse's
    lock held in its name, the lake open (a warehouse of the old layout migrated first); the
    run's artifact published when its work is done."""
    end_quietly_when_served()
    store = Warehouse(warehouse or settings.warehouse, settings.catalog)
    if settings.export_dir is not None:  # refused before the run, not after its commit
        refuse_export_into(store, settings.export_dir.expanduser().resolve())
    now = datetime.now(UTC)
    run_id, flow_run_id = new_run_id(now), str(flow_run.id or "")
    stats = RunStats(run_id=run_id, started_at=now, flow_run_id=flow_run_id, kind=kind)
    name = "run" if kind == "ingest" else f"{kind} run"
    holder = f"{name} {run_id} (pid {os.getpid()}, started {now:%Y-%m-%d %H:%M:%S} UTC)"
    with store.lock(settings.lock_timeout_seconds, holder, warn), Lake(store, holder) as lake:
        migrate(lake)
        yield lake, stats
        _publish(lake, stats, settings)


def result_of(stats: RunStats) -> dict[str, Any]:
    """What a flow returns: its `runs` row, and every problem kept for the command to print."""
    result = stats.row()
    result["problems"] = stats.problems
    result["problems_total"] = stats.problems_total
    result["lines"] = stats.lines
    return result
