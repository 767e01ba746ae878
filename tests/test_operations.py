"""Running it every day: the deployment, the run log and artifact, bounded task counts,
concurrent runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from uuid import UUID

import pytest
from conftest import DIGESTS, EXAMPLES, ROOT
from helpers import VOLATILE, count, sql, table_hashes

from flows.pipeline.ingest import ingest_flow
from flows.pipeline.shell import ARTIFACT_KEY
from schemas import TABLES

pytestmark = pytest.mark.usefixtures("prefect")


def task_runs(flow_run_id: str, expected: int) -> list[str]:
    """Task-run names of a flow run, from the Prefect API. Task runs reach the API as events,
    shortly after the flow returns: wait (bounded) until `expected` of them arrived, and a
    little longer for any extra one."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    names: list[str] = []
    deadline = time.monotonic() + 60
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[UUID(flow_run_id)])),
                limit=200,
            )
            names = sorted(r.name.rsplit("-", 1)[0] for r in runs)
            if len(names) >= expected:
                break
            time.sleep(0.5)
    return names


def make_digests(folder: Path, n: int) -> Path:
    """n distinct small digests (the example file with the IDs renumbered)."""
    folder.mkdir(parents=True)
    text = (EXAMPLES / "2026-11-23" / "cs.CL.md").read_text()
    for i in range(n):
        body = text.replace("1706.03762", f"1706.{10000 + i:05d}")
        (folder / f"digest-{i:04d}.md").write_text(body.replace("2005.14165", f"2005.{20000 + i}"))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(("files", "bound"), [(10, 20), (1000, 60)])
def test_task_runs_grow_with_batches_not_rows(tmp_path, files, bound):
    inbox = make_digests(tmp_path / "inbox", files)
    result = ingest_flow(paths=[str(inbox)], warehouse=str(tmp_path / "wh"), enrich=False)
    assert result["entries_loaded"] == 2 * files
    batches = -(-files // 100)
    names = task_runs(result["flow_run_id"], expected=3 * batches + 3)
    assert len(names) <= bound
    per_batch = ("read-parse-check-entries", "check-digests", "load")
    assert [names.count(name) for name in per_batch] == [batches] * 3
    assert {"discover", "queue-ids", "commit"} <= set(names)


@pytest.mark.slow
def test_an_inbox_of_loaded_files_runs_tasks_only_for_the_new_one(tmp_path):
    inbox = make_digests(tmp_path / "inbox", 250)
    settled = time.time() - 3600
    for path in inbox.iterdir():
        os.utime(path, (settled, settled))
    ingest_flow(paths=[str(inbox)], warehouse=str(tmp_path / "wh"), enrich=False)
    (inbox / "new.md").write_text((EXAMPLES / "2026-11-24" / "hep-th.md").read_text())
    result = ingest_flow(paths=[str(inbox)], warehouse=str(tmp_path / "wh"), enrich=False)
    assert (result["files_seen"], result["files_skipped"], result["files_new"]) == (251, 250, 1)
    names = task_runs(result["flow_run_id"], expected=6)
    assert sorted(names) == [
        "check-digests",
        "commit",
        "discover",
        "load",
        "queue-ids",
        "read-parse-check-entries",
    ]


@pytest.mark.slow
def test_runs_row_and_artifact_after_rejects_and_enrichment(tmp_path, api):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    api(known={"1706.03762": 7, "2005.14165": 4, "1512.03385": 1, "1412.6980": 1})
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for f in EXAMPLES.rglob("*.md"):
        (inbox / f.name).write_bytes(f.read_bytes())
    (inbox / "junk.md").write_bytes(bytes(range(256)) * 16)
    wh = tmp_path / "wh"
    result = ingest_flow(paths=[str(inbox)], warehouse=str(wh), enrich=True)
    row = sql(
        wh,
        "SELECT files_seen, files_new, files_rejected, entries_loaded, rejects, "
        "rejects_by_rule, api_requests, papers_enriched, papers_pending, status, "
        "flow_run_id FROM runs",
    )[0]
    assert row[:5] == (4, 3, 1, 5, 1)
    assert json.loads(row[5]) == {"binary_file": 1}
    assert row[6:10] == (2, 4, 0, "ok")  # hep-th/9711200 unknown: confirmed once, not_found
    assert row[10] == result["flow_run_id"]
    durations = sql(wh, "SELECT parse_seconds, load_seconds, enrich_seconds FROM runs")[0]
    assert all(d > 0 for d in durations)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY]))
        )
    mine = [a for a in artifacts if str(a.flow_run_id) == result["flow_run_id"]]
    assert len(mine) == 1
    text = mine[0].data
    assert f"Run `{result['run_id']}`: ok" in text
    assert "| 4 | 3 | 0 | 1 | 5 | 5 | 0 |" in text
    assert "2 request(s), 4 paper(s) enriched, 0 pending" in text
    assert "| `binary_file` | 1 |" in text


def cli_env(tmp_path: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return environ | {"PREFECT_HOME": str(tmp_path / "prefect"), "PYTHONPATH": str(ROOT)}


@pytest.mark.slow
@pytest.mark.corpus
def test_two_runs_at_once_equal_one_run(tmp_path):
    wh, single = tmp_path / "wh", tmp_path / "single"
    env = cli_env(tmp_path)
    command = [
        sys.executable,
        "-m",
        "flows",
        "ingest",
        str(DIGESTS),
        "--no-enrich",
        "-q",
        "-w",
        str(wh),
    ]
    both = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=600) for p in both]
    assert [p.returncode for p in both] == [0, 0], outputs
    ingest_flow(paths=[str(DIGESTS)], warehouse=str(single), enrich=False)
    both_ways, one_run = table_hashes(wh, VOLATILE), table_hashes(single, VOLATILE)
    for name in TABLES:
        if name != "runs":
            assert both_ways[name] == one_run[name], name
    assert sorted(sql(wh, "SELECT files_new, files_skipped FROM runs")) == [(0, 46), (46, 0)]
    assert count(wh, "digest_entries") == 2641


@pytest.mark.slow
def test_serve_registers_a_scheduled_deployment_that_runs(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL

    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    make_digests(inbox, 3)
    env = cli_env(tmp_path) | {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flows",
            "serve",
            "--inbox",
            str(inbox),
            "-w",
            str(wh),
            "--cron",
            "15 5 * * *",
            "--name",
            "test-daily",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deployment = None
        with get_client(sync_client=True) as client:
            for _ in range(120):
                try:
                    deployment = client.read_deployment_by_name("ingest-digests/test-daily")
                    break
                except Exception:
                    time.sleep(1)
        assert deployment is not None, "serve did not register its deployment"
        assert [s.schedule.cron for s in deployment.schedules] == ["15 5 * * *"]
        assert deployment.parameters["warehouse"] == str(wh.resolve())
        run = run_deployment("ingest-digests/test-daily", timeout=300)
        assert run.state is not None and run.state.is_completed(), run.state
        assert count(wh, "digest_entries") == 6
    finally:
        server.terminate()
        server.wait(timeout=60)
