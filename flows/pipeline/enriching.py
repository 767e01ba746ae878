"""The enrich stage of a run (and the flow that runs it alone): the queue worked through the
arXiv API, its answers committed as they come, `REQUESTS_PER_COMMIT` requests at a time. A
Ctrl-C, a kill or a lost network keeps every committed answer, and the next run asks only for
the rest; the stage stops at its time budget (`--all`: when the queue is empty)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.enrichment.enrich import Enrichment, EnrichStats, finish, rejects_table
from flows.pipeline.run_stats import RunStats
from flows.pipeline.shell import SHELL, report_progress, result_of, run_lake, warn
from flows.pipeline.stages import committed
from flows.settings import Settings
from schemas.tables import REJECTS
from warehouse.lake import Lake
from warehouse.queue import pending_count


@task(name="ask-arxiv", cache_policy=NO_CACHE)
def enrich_task(lake: Lake, run_id: str, session: Enrichment, ids: list[str]) -> EnrichStats:
    """Ask for `ids` and store the answers, inside the lake transaction the caller holds."""
    return session.work(lake, run_id, ids, datetime.now(UTC))


def enrich_stage(
    lake: Lake,
    stats: RunStats,
    settings: Settings,
    limit: int | None = None,
    everything: bool = False,
) -> None:
    """The enrich stage, in transactions of its own: the run's entries are committed before
    the first request, so the API can only add to them; each batch of answers is committed
    with the run's figures so far. `limit`: ask for at most that many papers; `everything`:
    no time budget, until the queue is empty."""
    started, status = time.perf_counter(), stats.status
    session = Enrichment(settings, budget=float("inf") if everything else None, limit=limit)
    total = pending_count(lake) if limit is None else min(limit, pending_count(lake))
    done = 0
    while ids := session.next_ids(lake, datetime.now(UTC)):
        stats.status = "running"  # until the stage's last commit
        first = [ids]

        def work(first: list[list[str]] = first) -> None:
            # Done again after another writer committed first: the IDs due now, not those
            # due before its answers came in (no paper asked for twice).
            todo = first.pop() if first else session.next_ids(lake, datetime.now(UTC))
            if todo:
                _add(lake, stats, enrich_task(lake, stats.run_id, session, todo))
            stats.enrich_seconds = time.perf_counter() - started

        committed(lake, stats, "enrich", work, settings, SHELL)
        done += len(ids)
        report_progress(done, max(total, done))
    stats.status = status

    def close() -> None:
        result = finish(lake, session, EnrichStats())
        stats.papers_pending = result.pending
        stats.enrich_seconds = time.perf_counter() - started
        if result.warning:
            warn(result.warning)  # the run's one warning line

    committed(lake, stats, "enrich", close, settings, SHELL)


def _add(lake: Lake, stats: RunStats, result: EnrichStats) -> None:
    """One commit's answers into the run's figures, and its rejects into the lake."""
    stats.api_requests += result.requests
    stats.papers_enriched += result.enriched
    if result.rejects:
        rejects = rejects_table(result)
        lake.insert(REJECTS, rejects)
        stats.rejects += rejects.num_rows
        stats.rejects_by_rule.update(rejects.column("rule").to_pylist())


@flow(name="enrich-papers")
def enrich_flow(
    warehouse: str | None = None, limit: int | None = None, everything: bool = False
) -> dict[str, Any]:
    """Work the enrichment queue alone (no digest files are read): within the time budget,
    at most `limit` papers, or (`everything`) until the queue is empty."""
    settings = Settings()
    with run_lake(settings, warehouse, "enrich") as (lake, stats):
        enrich_stage(lake, stats, settings, limit, everything)
    return result_of(stats)
