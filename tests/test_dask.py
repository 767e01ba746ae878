"""The parse stage on a Dask cluster (a 2-worker LocalCluster on 127.0.0.1) through Prefect's
Dask task runner: the same tables as a local run, and the cluster ran the parse tasks."""

from __future__ import annotations

import os
import shutil

import pytest
from ai_days import jsonl, markdown, papers
from conftest import DIGESTS
from helpers import VOLATILE, table_hashes

from flows.pipeline.distributed import with_task_runner
from flows.pipeline.ingest import ingest_flow
from flows.settings import Settings
from schemas import TABLES

pytestmark = pytest.mark.corpus  # every test here reads the real corpus


@pytest.fixture(scope="module")
def cluster(prefect):
    from distributed import LocalCluster

    # Started under the test harness, so the workers inherit its Prefect API.
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        memory_limit="2GiB",
    ) as running:
        yield running


@pytest.mark.slow
def test_a_run_on_dask_gives_the_same_tables(cluster, tmp_path, monkeypatch):
    inbox = tmp_path / "inbox"
    shutil.copytree(DIGESTS, inbox)
    day = papers(12, 9)  # the second family beside the first, and its crawl (never read)
    (inbox / "2025-04-03_AI_enhanced_Chinese.jsonl").write_bytes(jsonl(day))
    (inbox / "2025-04-03.md").write_bytes(markdown(day))
    (inbox / "2025-04-03.jsonl").write_bytes(jsonl(day[:2]))
    for name in ("2025-04-03_AI_enhanced_Chinese.jsonl", "2025-04-03.md"):
        os.utime(inbox / name, (1e9, 1e9))  # settled, as the copied corpus is
    # The first file's bytes again, under a name that sorts into the second batch: parsed at
    # the same time as the first batch, it must be skipped as a local run skips it.
    names = sorted(inbox.iterdir())
    shutil.copy2(names[0], inbox / f"{names[5].stem}-copy{names[5].suffix}")
    monkeypatch.setenv("ARXIV_DIGESTS_BATCH_FILES", "4")  # 13 batches of 49 files: 13 parse tasks
    local = ingest_flow(paths=[str(inbox)], warehouse=str(tmp_path / "local"), enrich=False)

    monkeypatch.setenv("ARXIV_DIGESTS_DASK_ADDRESS", cluster.scheduler_address)
    flow = with_task_runner(ingest_flow, Settings())
    remote = flow(paths=[str(inbox)], warehouse=str(tmp_path / "dask"), enrich=False)

    figures = ("files_seen", "files_new", "files_skipped", "entries_seen", "entries_loaded")
    assert {k: remote[k] for k in figures} == {k: local[k] for k in figures}
    assert (local["files_new"], local["files_skipped"]) == (48, 1)
    on_dask, here = (
        table_hashes(tmp_path / "dask", VOLATILE),
        table_hashes(tmp_path / "local", VOLATILE),
    )
    for name in TABLES:
        if name != "runs":
            assert on_dask[name] == here[name], name

    from distributed import Client

    with Client(cluster) as client:
        prefixes = client.run_on_scheduler(
            lambda dask_scheduler: {
                p: dict(t.state_counts) for p, t in dask_scheduler.task_prefixes.items()
            }
        )
    # Every task the scheduler ever held, by key prefix and the states it went through.
    assert prefixes == {
        "read_task": {"waiting": 13, "processing": 13, "memory": 13, "forgotten": 13}
    }
