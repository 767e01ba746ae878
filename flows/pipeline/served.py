"""The ingest flow as `arxiv-digests serve` runs it: one run at a time, each ending in the
lines `ingest` prints.

A scheduled run that comes while the last one still runs is not started: the deployment's
concurrency limit is 1 with the CANCEL_NEW strategy, so Prefect's server cancels it, and the
run that was running says, when it ends, how many it made skip."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flows.settings import Settings
from schemas.errors import ArxivDigestsError

# How a flow run that SIGINT or SIGTERM ended exits (`end_quietly_when_served`, or Python's
# own default when it came before that was installed).
STOPPED_CODES = ("130", "143", "-2", "-15")
ORPHANED = "its serve stopped without ending it (a crash, kill -9 or a power cut)"
MISSED = "missed while nothing served: the catch-up run after it did its work"
SKIPPED = "Deployment concurrency limit reached."  # the message Prefect cancels them with


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _runs_of(client: Any, deployment_id: Any, **flow_run_filter: Any) -> list[Any]:
    """The deployment's flow runs that match `flow_run_filter` (FlowRunFilter's fields)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter

    return list(
        client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(**flow_run_filter),
        )
    )


def _in_state(*kinds: Any) -> Any:
    from prefect.client.schemas.filters import FlowRunFilterState, FlowRunFilterStateType

    return FlowRunFilterState(type=FlowRunFilterStateType(any_=list(kinds)))


def _skipped_during(flow_run: Any) -> int:
    """Runs of this deployment the server cancelled while `flow_run` was running."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilterStartTime
    from prefect.client.schemas.objects import StateType

    if flow_run.deployment_id is None or flow_run.start_time is None:
        return 0
    with get_client(sync_client=True) as client:
        cancelled = _runs_of(
            client,
            flow_run.deployment_id,
            state=_in_state(StateType.CANCELLED),
            start_time=FlowRunFilterStartTime(is_null_=True),
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


def _left_behind(client: Any, deployment_id: Any) -> tuple[list[Any], list[Any]]:
    """This deployment's runs that no process runs (started, or pending), and its scheduled
    runs whose time has passed, oldest first: what a `serve` that died left."""
    from prefect.client.schemas.filters import FlowRunFilterExpectedStartTime
    from prefect.client.schemas.objects import StateType

    unfinished = _in_state(StateType.RUNNING, StateType.PENDING, StateType.CANCELLING)
    orphans = _runs_of(client, deployment_id, state=unfinished)
    missed = _runs_of(
        client,
        deployment_id,
        state=_in_state(StateType.SCHEDULED),
        expected_start_time=FlowRunFilterExpectedStartTime(before_=datetime.now(UTC)),
    )

    def oldest_first(runs: list[Any]) -> list[Any]:
        return sorted(runs, key=lambda run: run.expected_start_time)

    return oldest_first(orphans), oldest_first(missed)


def _take_over(flow_name: str, name: str) -> None:
    """Before serving: the runs a `serve` that died (a crash, kill -9, a power cut) left
    running are marked crashed, freeing the one-run-at-a-time slot they would hold for ever;
    the runs missed while nothing served become one catch-up run, not a burst."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound
    from prefect.states import Cancelled, Crashed

    with get_client(sync_client=True) as client:
        try:
            deployment = client.read_deployment_by_name(f"{flow_name}/{name}")
        except ObjectNotFound:
            return  # served for the first time
        orphans, missed = _left_behind(client, deployment.id)
        for run in orphans:
            client.set_flow_run_state(run.id, Crashed(message=ORPHANED), force=True)
        for run in missed[:-1]:
            client.set_flow_run_state(run.id, Cancelled(message=MISSED), force=True)
    if orphans:
        _say(
            f"arxiv-digests: {len(orphans)} run(s) left running by a serve that died: marked "
            "crashed"
        )
    if len(missed) > 1:
        _say(
            f"arxiv-digests: {len(missed)} scheduled run(s) were missed while nothing served: "
            "one run catches up for all of them"
        )


class AlreadyServed(ArxivDigestsError):
    """Another `serve` of the same deployment runs on this machine."""


@contextlib.contextmanager
def serving_alone(name: str) -> Iterator[None]:
    """Hold this deployment's serve lock (on this machine, for this Prefect API) for the
    life of the serve: a second `serve` of it is refused, and the one holding it knows that
    any run of the deployment still marked running has no process left."""
    from flows.operations.server import configured_api, home

    api = configured_api() or "ephemeral"
    key = hashlib.sha256(f"{api} {name}".encode()).hexdigest()[:16]
    path = home() / f"serve-{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
            raise AlreadyServed(
                f"ingest-digests/{name} is already served on this machine ({who}): stop it "
                "first, or serve under another --name"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getppid()}".encode(), 0)  # the `serve` a user started
        yield
    finally:
        os.close(fd)


def serve_here(name: str, where: list[str], schedule: dict[str, Any]) -> None:
    """Prefect's runner serving the deployment until stopped, one run at a time."""
    from flows.common.processes import end_with_supervisor
    from flows.pipeline.distributed import with_task_runner
    from flows.pipeline.ingest import ingest_flow

    end_with_supervisor()
    with serving_alone(name):
        _take_over(ingest_flow.name, name)
        _serve(with_task_runner(ingest_flow, Settings()), name, where, schedule)


def _serve(flow: Any, name: str, where: list[str], schedule: dict[str, Any]) -> None:
    """Prefect's runner serving `flow` as the deployment `name` until stopped."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    flow = flow.with_options(
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
