"""A catalog that is not the one its data belongs to: another warehouse's copied over with its
`.lake-id`, or an older copy of its own. `check` says so as damage, and `maintain` deletes
none of the data files it does not list (they hold rows of another catalog's snapshots)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from helpers import cli_output, one_line, tree_hash

from flows.digests.synthetic import generate
from flows.pipeline.ingest import ingest_flow

pytestmark = pytest.mark.slow


def load(root: Path, name: str, files: int, entries: int, seed: int) -> Path:
    generate(root / f"inbox-{name}", files, entries, seed=seed)
    wh = root / name
    ingest_flow(paths=[str(root / f"inbox-{name}")], warehouse=str(wh), enrich=False)
    return wh


def parquet_files(wh: Path) -> list[Path]:
    return sorted((wh / "data").rglob("*.parquet"))


def test_another_lakes_catalog_is_damage_and_maintain_deletes_nothing(tmp_path, prefect):
    ours = load(tmp_path, "ours", 12, 10, seed=41)
    theirs = load(tmp_path, "theirs", 1, 3, seed=42)
    # Their catalog lists none of our files (its rows are inlined in it, but for its raw
    # layer's one file and its search postings' one file, which are not in our folder).
    assert parquet_files(ours) and [p.parent.name for p in parquet_files(theirs)] == [
        "digest_bytes",
        "search_terms",
    ]
    for name in ("catalog.sqlite", ".lake-id"):  # a catalog carried along with its identity
        shutil.copyfile(theirs / name, ours / name)
    data = tree_hash(ours / "data")

    code, output = cli_output("check", "-w", str(ours))
    assert code == 1 and "written by the writers of another lake" in output, output
    assert "belong to no snapshot" not in output, output
    line = one_line(*cli_output("maintain", "-w", str(ours), "--grace", "0"))
    assert "another lake" in line and "merged or deleted" in line, line
    assert tree_hash(ours / "data") == data


def test_an_older_copy_of_the_catalog_is_damage_and_maintain_deletes_nothing(tmp_path, prefect):
    wh = load(tmp_path, "wh", 12, 10, seed=43)
    shutil.copyfile(wh / "catalog.sqlite", tmp_path / "backup.sqlite")
    generate(tmp_path / "later", 12, 10, seed=44)
    ingest_flow(paths=[str(tmp_path / "later")], warehouse=str(wh), enrich=False)
    shutil.copyfile(tmp_path / "backup.sqlite", wh / "catalog.sqlite")  # the wrong backup
    data = tree_hash(wh / "data")

    code, output = cli_output("check", "-w", str(wh))
    assert code == 1 and "the catalog is older than its data" in output, output
    line = one_line(*cli_output("maintain", "-w", str(wh), "--grace", "0"))
    assert "older than its data" in line, line
    assert tree_hash(wh / "data") == data
