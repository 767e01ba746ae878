"""`arxiv-digests reparse`: the raw layer parsed again with the current code, on a warehouse
whose source files are gone. A rule changed in the test (monkeypatched) must change exactly
the rows it affects, in one snapshot; an unchanged parser must write nothing."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from helpers import cli_output, count, hash_rows, one_line, sql, table_hashes, tree_hash

import flows.digests.details as details
import flows.digests.parse as parse
from flows.digests.guard import Limits
from flows.digests.synthetic import generate
from flows.pipeline.ingest import ingest_flow
from flows.pipeline.reparse import reparse, verified
from warehouse.lake import Lake, Warehouse
from warehouse.store import WarehouseDamaged

VOLATILE = ("ingested_at", "run_id", "started_at", "ended_at", "first_seen", "last_seen")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, prefect) -> Path:
    """A warehouse of synthetic digests of every layout; its inbox deleted afterwards."""
    root = tmp_path_factory.mktemp("reparse")
    generate(root / "inbox", 8, 30, seed=29)
    ingest_flow(paths=[str(root / "inbox")], warehouse=str(root / "wh"), enrich=False)
    shutil.rmtree(root / "inbox")  # the warehouse alone must do
    return root / "wh"


@pytest.fixture
def wh(loaded, tmp_path) -> Path:
    return Path(shutil.copytree(loaded, tmp_path / "wh", symlinks=True))


def run(wh: Path):
    with Lake(Warehouse(wh)) as lake:
        return reparse(lake, "20991231T000000Z-reparse", Limits())


def snapshots(wh: Path) -> int:
    return sql(wh, "SELECT count(*) FROM ducklake_snapshots('lake')")[0][0]


def messages_after(wh: Path, taken: int) -> list[str]:
    """The commit messages of the snapshots after the first `taken`."""
    rows = sql(wh, "SELECT commit_message FROM ducklake_snapshots('lake') ORDER BY snapshot_id")
    return [m for (m,) in rows[taken:]]


def rows_by_key(wh: Path) -> dict[tuple[str, int], str]:
    rows = sql(wh, "SELECT * FROM digest_entries ORDER BY digest_id, ref")
    return {(r[0], r[1]): hash_rows([r]) for r in rows}


def test_an_unchanged_parser_writes_nothing_without_the_files(wh):
    before, files, taken = table_hashes(wh), tree_hash(wh), snapshots(wh)
    done = run(wh)
    assert (done.digests, done.updated, done.loaded, done.rejected) == (8, 0, 0, 0)
    assert done.run_id is None and done.missing == []
    assert table_hashes(wh) == before and tree_hash(wh) == files and snapshots(wh) == taken
    code, output = cli_output("reparse", "-w", str(wh))
    assert code == 0 and "nothing changed, nothing written" in output


def test_a_changed_rule_changes_exactly_its_rows_in_one_snapshot(wh, monkeypatch):
    before, taken = rows_by_key(wh), snapshots(wh)
    affected = set(
        sql(
            wh,
            "SELECT digest_id, ref FROM digest_entries "
            "WHERE layout IN ('old', 'early') AND announce_type = 'new'",
        )
    )
    assert affected
    # The rule changed: the old layout's unmarked titles no longer say a type.
    monkeypatch.setitem(details.OLD_MARKERS, None, None)
    done = run(wh)
    after = rows_by_key(wh)
    assert after.keys() == before.keys()
    assert {k for k in after if after[k] != before[k]} == affected
    assert (done.updated, done.loaded, done.rejected) == (len(affected), 0, 0)
    # One snapshot holds every change (the next records the new files' checksums only).
    assert messages_after(wh, taken) == [
        f"run {done.run_id}: reparse",
        "record the checksums of new files",
    ]
    assert sql(
        wh,
        "SELECT kind, entries_updated FROM runs WHERE run_id = ?".replace("?", f"'{done.run_id}'"),
    ) == [("reparse", len(affected))]
    code, listed = cli_output("runs", "-w", str(wh), "--last", "1")
    assert code == 0 and f"{done.run_id}  reparse" in listed
    assert f"0 entries, {len(affected)} updated, 0 rejects" in listed
    monkeypatch.undo()  # the rule back: the rows back as they were
    assert run(wh).updated == len(affected) and rows_by_key(wh) == before


def test_rows_that_fail_now_are_rejected_then_load_again(wh, monkeypatch):
    entries, original = count(wh, "digest_entries"), rows_by_key(wh)
    failing = set(sql(wh, "SELECT digest_id, ref FROM digest_entries WHERE ref = 1"))

    def first_row_is_another_paper(entry, named):
        return "2401.99999v1" if entry["ref"] == 1 else None

    monkeypatch.setattr(parse, "_other_paper", first_row_is_another_paper)
    done = run(wh)
    assert (done.updated, done.loaded, done.rejected) == (0, 0, len(failing))
    assert count(wh, "digest_entries") == entries - len(failing)
    code, output = cli_output("check", "-w", str(wh))  # rows a reparse moved are counted
    assert code == 0 and "rows were lost" not in output, output
    rejected = set(
        sql(
            wh,
            "SELECT digest_id, line FROM rejects WHERE rule = 'abstract_mismatch' "
            "AND resolved_by IS NULL",
        )
    )
    assert len(rejected) == len(failing)
    monkeypatch.undo()
    again = run(wh)
    assert (again.loaded, again.rejected) == (len(failing), 0)
    assert rows_by_key(wh) == original
    unresolved = (
        "SELECT count(*) FROM rejects WHERE rule = 'abstract_mismatch' AND resolved_by IS NULL"
    )
    assert sql(wh, unresolved) == [(0,)]


def test_a_warehouse_without_kept_bytes_takes_them_from_the_files(tmp_path, prefect):
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    paths = generate(inbox, 3, 10, seed=30)
    ingest_flow(paths=[str(inbox)], warehouse=str(wh), enrich=False)
    with Lake(Warehouse(wh)) as lake, lake.transaction("as a warehouse of release 0.3"):
        lake.execute("DELETE FROM digest_bytes")
    paths[0].unlink()
    done = run(wh)
    assert (done.recovered, done.missing, done.updated) == (2, [str(paths[0].resolve())], 0)
    assert count(wh, "digest_bytes") == 2
    assert run(wh).run_id is None  # kept now, nothing changed: nothing written


# A reparse under a changed rule, as its own process (to be killed).
CHANGED_RULE = """
import sys
import flows.digests.details as details
from flows.digests.guard import Limits
from flows.pipeline.reparse import reparse, verified
from warehouse.lake import Lake, Warehouse
from warehouse.store import WarehouseDamaged

details.OLD_MARKERS[None] = None
with Lake(Warehouse(sys.argv[1])) as lake:
    reparse(lake, "20991231T000000Z-killed", Limits())
"""


@pytest.mark.slow
def test_a_reparse_killed_at_any_moment_leaves_nothing_of_itself(tmp_path, prefect):
    import os
    import random
    import subprocess
    import sys
    import time

    from conftest import ROOT
    from helpers import Killer, assert_consistent

    generate(tmp_path / "inbox", 40, 60, seed=31)
    wh, whole = tmp_path / "wh", tmp_path / "whole"
    ingest_flow(paths=[str(tmp_path / "inbox")], warehouse=str(wh), enrich=False)
    shutil.copytree(wh, whole, symlinks=True)
    command = [sys.executable, "-c", CHANGED_RULE]
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    subprocess.run([*command, str(whole)], env=env, check=True, capture_output=True)
    killer = Killer(random.Random(20261205), run_seconds=time.monotonic() - started)
    before, after = table_hashes(wh, VOLATILE), table_hashes(whole, VOLATILE)
    assert before["digest_entries"] != after["digest_entries"]
    # Five trials, or more until three were killed: a run that speeds up when the machine's
    # load drops finishes before its kill, and teaches the killer its new length.
    for trial in range(10):
        copy = Path(shutil.copytree(wh, tmp_path / f"trial-{trial}", symlinks=True))
        killer.run([*command, str(copy)], env)
        assert_consistent(copy)
        assert table_hashes(copy, VOLATILE)["digest_entries"] in (
            before["digest_entries"],
            after["digest_entries"],
        )
        if trial >= 4 and killer.killed >= 3:
            break
    assert killer.killed >= 3


@pytest.mark.slow
def test_a_flipped_bit_in_the_kept_bytes_is_refused_in_one_line(tmp_path, prefect):
    generate(tmp_path / "inbox", 16, 10, seed=31)  # more rows than the catalog keeps inline
    wh = tmp_path / "wh"
    ingest_flow(paths=[str(tmp_path / "inbox")], warehouse=str(wh), enrich=False)
    files, rows = tree_hash(wh), rows_by_key(wh)
    kept = max((wh / "data").rglob("digest_bytes/*.parquet"), key=lambda p: p.stat().st_size)
    data = bytearray(kept.read_bytes())
    data[len(data) // 2] ^= 0x10
    kept.write_bytes(bytes(data))
    damaged = tree_hash(wh)
    line = one_line(*cli_output("reparse", "-w", str(wh)))
    assert "digest_bytes" in line and "its bytes changed since it was written" in line, line
    assert "nothing was parsed again" in line
    assert tree_hash(wh) == damaged and files != damaged  # nothing written
    kept.write_bytes(bytes(data[: len(data) // 2]) + bytes([data[len(data) // 2] ^ 0x10]) + bytes(
        data[len(data) // 2 + 1 :]
    ))  # fmt: skip
    assert tree_hash(wh) == files and rows_by_key(wh) == rows


def test_kept_bytes_that_are_not_their_id_are_never_parsed():
    good = b"# cs.AI\n"
    digest_id = hashlib.sha256(good).hexdigest()
    assert verified({"digest_id": digest_id, "source_path": "/in/cs.AI.md", "data": good}) == good
    flipped = bytes([good[0] ^ 1]) + good[1:]
    with pytest.raises(WarehouseDamaged, match=f"digest {digest_id} \\(/in/cs.AI.md\\)"):
        verified({"digest_id": digest_id, "source_path": "/in/cs.AI.md", "data": flipped})
