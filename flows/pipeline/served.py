"""The ingest flow as `arxiv-digests serve` runs it: one run at a time, each ending in the
lines `ingest` prints.

A scheduled run that comes while the last one still runs is not started: the deployment's
concurrency limit is 1 with the CANCEL_NEW strategy, so Prefect's server cancels it, and the
run that was running says, when it ends, how many it made skip."""

from __future__ import annotations

import sys
from typing import Any

from flows.settings import Settings

# How a flow run that SIGINT or SIGTERM ended exits (`end_quietly_when_served`, or Python's
# own default when it came before that was installed).
STOPPED_CODES = ("130", "143", "-2", "-15")
SKIPPED = "Deployment concurrency limit reached."  # the message Prefect cancels them with


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _skipped_during(flow_run: Any) -> int:
    """Runs of this deployment the server cancelled while `flow_run` was running."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterStartTime,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType

    if flow_run.deployment_id is None or flow_run.start_time is None:
        return 0
    with get_client(sync_client=True) as client:
        cancelled = client.read_flow_runs(
            deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[flow_run.deployment_id])
            ),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.CANCELLED])),
                start_time=FlowRunFilterStartTime(is_null_=True),
            ),
        )
    return sum(
        1
        for run in cancelled
        if run.state is not None
        and run.state.message == SKIPPED
        and run.state.timestamp >= flow_run.start_time
    )


def said_done(flow: Any, flow_run: Any, state: Any) -> None:
    """A served run's end, in the lines `ingest` prints."""
    from flows.pipeline.run_stats import run_summary

    result = state.result(raise_on_failure=False)
    if isinstance(result, dict):
        for line in [*result.get("problems", [])[:20], *result.get("lines", [])]:
            _say(line)
        where = str(flow_run.parameters.get("warehouse", ""))
        _say(f"run {result['run_id']}: " + run_summary(result, where).replace("\n", "; "))
    # A late start is the runner's polling (runs never wait for each other: one that would
    # overlap the last is cancelled, and counted below), so it is not reported as a wait.
    skipped = _skipped_during(flow_run)
    if skipped:
        _say(
            f"arxiv-digests: {skipped} scheduled run(s) skipped while this one ran (a run "
            "never overlaps the last; the next scheduled run picks up what they would have)"
        )


def said_failed(flow: Any, flow_run: Any, state: Any) -> None:
    """A served run's failure, in one line."""
    message = (state.message or "").splitlines()[0] if state.message else "failed"
    if any(f"status code: {code}" in message for code in STOPPED_CODES):
        _say(
            f"arxiv-digests: the run {flow_run.name} was stopped by a signal (serve stopping): "
            "what it had not committed is discarded, and the next run does the rest"
        )
        return
    _say(f"arxiv-digests: the run {flow_run.name} failed: {message}")


def serve_here(name: str, where: list[str], schedule: dict[str, Any]) -> None:
    """Prefect's runner serving the deployment until stopped, one run at a time."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    from flows.common.processes import end_with_supervisor
    from flows.pipeline.distributed import with_task_runner
    from flows.pipeline.ingest import ingest_flow

    end_with_supervisor()
    flow = with_task_runner(ingest_flow, Settings()).with_options(
        on_completion=[said_done], on_failure=[said_failed], on_crashed=[said_failed]
    )
    flow.serve(
        name=name,
        parameters={"paths": [where[0]], "warehouse": where[1]},
        global_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        limit=1,
        **schedule,
    )
