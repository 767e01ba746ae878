"""Enrichment as long work: answers committed as they come (a Ctrl-C or a kill -9 keeps every
committed answer, and the next run asks only for the rest), a time budget that holds with
slow answers, and `--limit`."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from helpers import cli_output, count, sql

from flows.digests.synthetic import generate
from flows.pipeline.enriching import enrich_flow
from flows.pipeline.ingest import ingest_flow

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect")]

PENDING = "SELECT count(*) FROM enrichment WHERE state = 'pending'"


def queued(tmp_path: Path, files: int, entries: int) -> tuple[Path, int]:
    """A warehouse whose papers all wait for the API; how many."""
    generate(tmp_path / "inbox", files, entries, seed=5)
    wh = tmp_path / "wh"
    ingest_flow(paths=[str(tmp_path / "inbox")], warehouse=str(wh), enrich=False)
    return wh, sql(wh, PENDING)[0][0]


def cli_env(**settings: str) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return (
        env
        | settings
        | {
            "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the harness's: no server start-up
            "PYTHONPATH": str(ROOT),
        }
    )


def interrupt(command: list[str], env: dict[str, str], server, after: int, sig: int) -> int:
    """Run `command` and send it `sig` once the API has had `after` more requests; its exit."""
    target = len(server.log) + after
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while process.poll() is None and len(server.log) < target and time.monotonic() < deadline:
        time.sleep(0.005)
    if process.poll() is None:
        process.send_signal(sig)
    output = process.communicate(timeout=60)[0].decode()
    assert "Traceback" not in output, output
    return process.returncode


# What an enrichment's tables hold, when and by which run aside.
ENRICHED = {
    "papers": "SELECT * EXCLUDE (fetched_at) FROM papers ORDER BY arxiv_id",
    "paper_authors": "SELECT * FROM paper_authors ORDER BY ALL",
    "paper_categories": "SELECT * FROM paper_categories ORDER BY ALL",
    "enrichment": "SELECT arxiv_id, state, attempts FROM enrichment ORDER BY arxiv_id",
}


def test_interrupted_enrichment_keeps_what_it_committed_and_asks_only_for_the_rest(tmp_path, api):
    """Ctrl-C and kill -9 at random moments of `enrich --all` over 20,000 IDs; then the rest,
    and an uninterrupted enrichment of a copy: the same tables."""
    wh, waiting = queued(tmp_path, 200, 100)
    assert waiting >= 19_000
    shutil.copytree(wh, tmp_path / "whole")
    server = api()  # every well-formed ID exists
    env = cli_env(ARXIV_DIGESTS_ARXIV_COMMIT_SECONDS="0", ARXIV_DIGESTS_ARXIV_DELAY_SECONDS="0.02")
    command = [sys.executable, "-m", "flows", "enrich", "--all", "-q", "-w", str(wh)]
    rng, interrupted, papers = random.Random(37), 0, 0
    for sig in (signal.SIGINT, signal.SIGKILL, signal.SIGINT, signal.SIGKILL):
        code = interrupt(command, env, server, rng.randint(5, 45), sig)
        interrupted += code != 0
        assert code in (0, 130, -signal.SIGKILL), code
        now = count(wh, "papers")
        assert now >= papers and now + sql(wh, PENDING)[0][0] == waiting
        papers = now
    assert interrupted >= 3 and 0 < papers < waiting
    done = enrich_flow(warehouse=str(wh), everything=True)
    assert (count(wh, "papers"), sql(wh, PENDING)) == (waiting, [(0,)])
    floor = -(-waiting // 100)
    # Every answer committed before a signal was kept: at most the request in flight is lost.
    assert len(server.log) <= floor + interrupted, (len(server.log), floor, interrupted)
    assert done["papers_pending"] == 0 and done["api_requests"] == -(-(waiting - papers) // 100)
    enrich_flow(warehouse=str(tmp_path / "whole"), everything=True)
    for table, query in ENRICHED.items():
        assert sql(wh, query) == sql(tmp_path / "whole", query), table


def test_the_time_budget_holds_with_slow_answers(tmp_path, api, monkeypatch):
    wh, waiting = queued(tmp_path, 6, 100)
    server = api(faults=["hang"] * 100, hang_seconds=1.0)  # every answer takes a second
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_TIMEOUT_SECONDS", "3")
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_MAX_SECONDS", "3")
    result = enrich_flow(warehouse=str(wh))
    stage = result["enrich_seconds"]  # the stage's own time: a flow's start-up is not its budget
    assert len(server.log) <= 4 and result["api_requests"] == len(server.log)
    assert stage < 3 + 3 + 2, stage  # the budget, one request's timeout, its commits
    assert result["papers_pending"] == waiting - count(wh, "papers") > 0
    assert sql(wh, "SELECT status, api_requests FROM runs WHERE kind = 'enrich'") == [
        ("ok", len(server.log))
    ]


def test_limit_asks_for_at_most_that_many_papers(tmp_path, api, monkeypatch):
    wh, waiting = queued(tmp_path, 6, 100)
    server = api()
    result = enrich_flow(warehouse=str(wh), limit=250)
    assert result["papers_enriched"] == 250 == count(wh, "papers")
    assert [len(r.ids) for r in server.log] == [100, 100, 50]
    assert sql(wh, PENDING) == [(waiting - 250,)]
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_DELAY_SECONDS", "3")
    code, output = cli_output("status", "-w", str(wh))
    left = waiting - 250
    assert (
        code == 0
        and f"{left} paper(s) wait for the arXiv API: {-(-left // 100)} request(s)" in output
    )
    assert "enrich --all" in output
