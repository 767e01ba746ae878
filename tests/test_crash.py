"""kill -9 at random moments: after every kill every file opens, no key is doubled and the
catalog opens; a final normal run converges to exactly what an undisturbed run gives."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import ROOT
from helpers import VOLATILE, table_hash

from flows.ingest import ingest_flow
from flows.synthetic import generate
from schemas import TABLES

pytestmark = pytest.mark.usefixtures("prefect")
TRIALS = 20


def check_readable(wh: Path) -> None:
    for name, table in TABLES.items():
        directory = wh / name
        if not directory.exists():
            continue
        files = sorted(directory.iterdir())
        for f in files:
            assert f.name.startswith("part-") or f.name == f"{name}.parquet", f
            pq.read_metadata(f)  # a partial file would fail here
        if files:
            keys = ds.dataset(directory, format="parquet").to_table(columns=list(table.key))
            if keys.num_rows:
                unique = keys.group_by(list(table.key)).aggregate([]).num_rows
                assert unique == keys.num_rows, f"duplicate keys in {name}"
    if (wh / "warehouse.duckdb").exists():
        with duckdb.connect(str(wh / "warehouse.duckdb"), read_only=True) as con:
            for name in TABLES:
                con.execute(f'SELECT count(*) FROM "{name}"').fetchall()


def test_kill_9_at_random_moments_converges(tmp_path, capsys):
    from prefect.settings import PREFECT_API_URL

    rng = random.Random(20261125)
    source, inbox = tmp_path / "generated", tmp_path / "inbox"
    digests = generate(source, 400, 30, seed=11)
    inbox.mkdir()
    wh = tmp_path / "wh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the harness's: no server start-up
        "PYTHONPATH": str(ROOT),
        "ARXIV_DIGESTS_BATCH_FILES": "20",  # many batches: many moments to die in
    }
    command = [
        sys.executable,
        "-m",
        "flows",
        "ingest",
        str(inbox),
        "--no-enrich",
        "-q",
        "-w",
        str(wh),
    ]
    killed = 0
    run_seconds = 6.0  # adjusted to the length of the runs that finish
    per_trial = len(digests) // TRIALS
    for trial in range(TRIALS):
        for path in digests[trial * per_trial : (trial + 1) * per_trial]:
            target = inbox / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
        started = time.monotonic()
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        # Die somewhere in the second half of a run (the first is mostly Python start-up).
        time.sleep(rng.uniform(0.5, 1.0) * run_seconds)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            killed += 1
        else:
            run_seconds = time.monotonic() - started
        process.wait()
        check_readable(wh)
    ingest_flow(paths=[str(inbox)], warehouse=str(wh), enrich=False)
    check_readable(wh)
    clean = tmp_path / "clean"
    ingest_flow(paths=[str(inbox)], warehouse=str(clean), enrich=False)
    hashes = {}
    for name in TABLES:
        if name in ("runs", "seen_files"):  # records of runs and of when they read files
            continue
        after_kills, undisturbed = table_hash(wh, name, VOLATILE), table_hash(clean, name, VOLATILE)
        assert after_kills == undisturbed, name
        hashes[name] = after_kills[:16]
    entries = ds.dataset(wh / "digest_entries", format="parquet").count_rows()
    assert entries == ds.dataset(clean / "digest_entries", format="parquet").count_rows()
    assert not pc.any(
        pc.equal(ds.dataset(wh / "runs").to_table().column("status"), "failed")
    ).as_py()
    with capsys.disabled():
        print(
            f"\ncrash test: {TRIALS} trials, {killed} killed mid-run, {entries} entries; "
            f"table hashes equal to an undisturbed run: {hashes}"
        )
    assert killed >= TRIALS // 2
