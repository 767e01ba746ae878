"""kill -9 at random moments, enrichment on, with a long-lived reader watching: after every
kill each table reads and no row of an uncommitted run is visible; the reader never gets an
error nor a torn answer; a final run converges to exactly what an undisturbed run gives."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT
from helpers import (
    VOLATILE,
    Killer,
    assert_consistent,
    assert_consistent_after_a_kill,
    copy_into,
    count,
    sql,
    table_hashes,
)

from flows.digests.synthetic import generate
from flows.pipeline.ingest import ingest_flow
from schemas import TABLES

pytestmark = pytest.mark.usefixtures("prefect")
TRIALS = 20


@pytest.fixture
def reader(tmp_path) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """The long-lived reader process on `tmp_path / "wh"`; never left running."""
    out, stop = tmp_path / "reader.jsonl", tmp_path / "reader.stop"
    wh = tmp_path / "wh"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "long_reader.py"), str(wh), str(out), str(stop)],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        yield process, out, stop
    finally:
        stop.touch()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def reader_answers(reader: subprocess.Popen, out: Path, stop: Path) -> list[list[int]]:
    stop.touch()
    assert reader.wait(timeout=30) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [line["error"] for line in lines if "error" in line]
    assert errors == [], errors[:3]
    return [line["answer"] for line in lines]


def latest_versions(digests: list[Path]) -> dict[str, int]:
    """The newest version any digest announces of each paper: what the API says it has, so
    that a paper is fetched once whatever the order of the runs (no refresh for a version
    announced later), and an interrupted history and an undisturbed one can be compared."""
    from datetime import UTC, datetime

    from flows.digests.read import read_batch
    from flows.enrichment.queue import newest_versions

    entries = read_batch(digests, set(), "versions", datetime.now(UTC)).entries
    wanted = newest_versions(entries.select(["arxiv_id", "arxiv_version"])).to_pylist()
    return {row["arxiv_id"]: row["_wanted"] or 1 for row in wanted}


@pytest.mark.slow
def test_kill_9_at_random_moments_converges(tmp_path, capsys, api, reader):
    from prefect.settings import PREFECT_API_URL

    rng = random.Random(20261201)
    source, inbox = tmp_path / "generated", tmp_path / "inbox"
    digests = generate(source, 400, 30, seed=11)
    server = api(known=latest_versions(digests))
    inbox.mkdir()
    wh = tmp_path / "wh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the harness's: no server start-up
        "PYTHONPATH": str(ROOT),
        "ARXIV_DIGESTS_BATCH_FILES": "20",  # many batches: many moments to die in
    }
    command = [sys.executable, "-m", "flows", "ingest", str(inbox), "-q", "-w", str(wh)]
    process_of_reader, out, stop = reader
    killer = Killer(rng, run_seconds=8.0)
    per_trial = len(digests) // TRIALS
    for trial in range(TRIALS):
        copy_into(digests[trial * per_trial : (trial + 1) * per_trial], source, inbox)
        killer.run(command, env)
        assert_consistent_after_a_kill(wh)
    requests_with_kills = len(server.log)
    ingest_flow(paths=[str(inbox)], warehouse=str(wh))
    answers = reader_answers(process_of_reader, out, stop)
    assert_consistent(wh)
    clean = tmp_path / "clean"
    ingest_flow(paths=[str(inbox)], warehouse=str(clean))
    hashes = {}
    after_kills, undisturbed = table_hashes(wh, VOLATILE), table_hashes(clean, VOLATILE)
    for name in TABLES:
        if name in ("runs", "seen_files"):  # records of runs and of when they read files
            continue
        assert after_kills[name] == undisturbed[name], name
        hashes[name] = after_kills[name][:16]
    entries = count(wh, "digest_entries")
    assert entries == count(clean, "digest_entries") and count(wh, "papers") > 0
    assert sql(wh, "SELECT count(*) FROM enrichment WHERE state <> 'enriched'") == [(0,)]
    assert sql(wh, "SELECT count(*) FROM runs WHERE status = 'failed'") == [(0,)]
    torn = [a for a in answers if a[0] != a[1]]
    assert len(answers) > 50 and torn == []
    with capsys.disabled():
        print(
            f"\ncrash test: {TRIALS} trials, {killer.killed} killed mid-run, {entries} entries, "
            f"{requests_with_kills} API requests during the trials; the reader's {len(answers)} "
            f"answers all whole; table hashes equal to an undisturbed run: {hashes}"
        )
    assert killer.killed >= TRIALS // 2
