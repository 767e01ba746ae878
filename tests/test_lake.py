"""The warehouse as a DuckLake: a read-only query layer, relocation, export, maintain, check,
time travel and the migration of the layout before it."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from conftest import DIGESTS, EXAMPLES
from helpers import (
    assert_consistent,
    count,
    counts,
    ducklake_file_name,
    plain_counts,
    table_hash,
    table_hashes,
    tree_hash,
)
from typer.testing import CliRunner

import warehouse
from flows.cli import app
from flows.pipeline.ingest import ingest_flow
from schemas import TABLES
from warehouse.connection import open_connection
from warehouse.lake import ALIAS, Warehouse

pytestmark = [pytest.mark.usefixtures("prefect"), pytest.mark.corpus]  # all read the corpus


def ingest(paths: list[Path], wh: Path, enrich: bool = False) -> dict:
    return ingest_flow(paths=[str(p) for p in paths], warehouse=str(wh), enrich=enrich)


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def hashes(wh: Path) -> dict[str, str]:
    return table_hashes(wh)


@pytest.fixture(scope="module")
def enriched(tmp_path_factory, prefect) -> Path:
    """The examples and a few real digests, enriched from the local arXiv server."""
    from arxiv_server import ArxivServer

    server, url = ArxivServer().start()
    os.environ["ARXIV_DIGESTS_ARXIV_API_URL"] = url
    os.environ["ARXIV_DIGESTS_ARXIV_DELAY_SECONDS"] = "0.01"
    try:
        wh = tmp_path_factory.mktemp("lake") / "wh"
        ingest([EXAMPLES, *sorted(DIGESTS.glob("*.md"))[:5]], wh, enrich=True)
        ingest([DIGESTS], wh, enrich=True)
    finally:
        server.shutdown()
        del (
            os.environ["ARXIV_DIGESTS_ARXIV_API_URL"],
            os.environ["ARXIV_DIGESTS_ARXIV_DELAY_SECONDS"],
        )
    assert count(wh, "papers") > 100
    return wh


REFUSED = [
    "COPY (SELECT * FROM digest_entries WHERE false) TO '{data}/main/digest_entries/x.parquet'",
    "COPY (SELECT 1) TO '{tmp}/out.csv'",
    "EXPORT DATABASE '{tmp}/exported'",
    "ATTACH '{data}/x.db' AS x",
    "CREATE TABLE t AS SELECT 1",
    "CREATE VIEW v AS SELECT 1",
    "INSERT INTO digest_entries SELECT * FROM digest_entries",
    "DELETE FROM digest_entries",
    "UPDATE enrichment SET state = 'failed'",
    "DROP TABLE runs",
    "ALTER TABLE runs ADD COLUMN x INTEGER",
    "SELECT 1; DELETE FROM digest_entries",
    "WITH x AS (SELECT 1) DELETE FROM runs",
    "CALL ducklake_expire_snapshots('lake', older_than => now())",
    "SELECT * FROM ducklake_cleanup_old_files('lake', cleanup_all => true)",
    "SELECT * FROM ducklake_delete_orphaned_files('lake', cleanup_all => true)",
    "SELECT * FROM ducklake_merge_adjacent_files('lake')",
    "SELECT * FROM ducklake_rewrite_data_files('lake')",
    "SELECT count(*) FROM (SELECT * FROM ducklake_flush_inlined_data('lake'))",
    "SELECT * FROM sqlite_attach('{data}/x.db')",
    "SELECT * FROM query('COPY (SELECT 1) TO ''{tmp}/q.csv''')",
    "CHECKPOINT",
    "SELECT * FROM checkpoint()",
    "SET enable_external_access = true",
    "SELECT * FROM read_csv('/etc/passwd')",
    "INSTALL httpfs",
    "PRAGMA enable_profiling",
    "EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp}/e.csv'",
]


@pytest.mark.slow
@pytest.mark.parametrize("statement", REFUSED)
def test_sql_changes_nothing_anywhere(enriched, tmp_path, statement):
    before = tree_hash(enriched)
    query = statement.format(data=enriched / "data", tmp=tmp_path)
    code, output = cli("sql", query, "-w", str(enriched))
    assert code == 1 and output.startswith("arxiv-digests: "), output
    lines = output.strip().splitlines()
    # One message: a refusal in one line, or DuckDB's error whole (its pointer into the query).
    assert "Traceback" not in output, output
    assert not any(line.startswith("arxiv-digests") for line in lines[1:]), output
    assert tree_hash(enriched) == before
    assert list(tmp_path.iterdir()) == []


def test_python_one_liner_and_time_travel(enriched):
    with warehouse.connect(enriched) as con:
        first = con.execute("SELECT run_id FROM runs ORDER BY started_at LIMIT 1").fetchone()[0]
        now = con.execute("SELECT count(*) FROM digest_entries").fetchone()[0]
    with warehouse.connect(enriched, as_of_run=first) as con:
        then = con.execute("SELECT count(*) FROM digest_entries").fetchone()[0]
        runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        mentions = con.execute("SELECT count(*) FROM paper_mentions").fetchone()[0]
    assert 0 < then < now and runs == 1 and mentions == then
    code, output = cli(
        "sql", "SELECT count(*) FROM runs", "-f", "csv", "--as-of", first, "-w", str(enriched)
    )
    assert (code, output.split()) == (0, ["count_star()", "1", "1", "row(s)"])  # count: stderr


@pytest.mark.slow
def test_a_moved_or_copied_warehouse_reads_its_own_files(enriched, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(enriched, copy)
    moved = tmp_path / "moved"
    shutil.copytree(enriched, tmp_path / "original")
    os.rename(tmp_path / "original", moved)
    expected = hashes(enriched)
    assert hashes(copy) == hashes(moved) == expected
    # The copy reads and writes its own files: the original's can go, and stay untouched.
    original_tree = tree_hash(enriched)
    shutil.rmtree(moved)
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "new.md").write_text(
        (EXAMPLES / "2026-11-23" / "cs.CL.md").read_text() + "\n"
    )
    result = ingest([tmp_path / "inbox"], copy)
    assert result["files_new"] == 1 and count(copy, "digests") == count(enriched, "digests") + 1
    assert tree_hash(enriched) == original_tree
    with open_connection(Warehouse(copy), read_only=True) as con:
        files = con.execute(f"SELECT data_file FROM ducklake_list_files('{ALIAS}', 'papers')")
        assert all(f.startswith(str(copy)) for (f,) in files.fetchall())


def test_export_equals_the_query_layer_for_every_reader(enriched, tmp_path):
    import pandas
    import polars

    out = tmp_path / "export"
    code, output = cli("export", str(out), "-w", str(enriched))
    assert code == 0, output
    with warehouse.connect(enriched) as con:
        for name, table in TABLES.items():
            keys = [(k, "ascending") for k in table.key]
            lake = con.execute(f'SELECT * FROM "{name}"').to_arrow_table().cast(table.schema)
            exported = ds.dataset(out / name, format="parquet").to_table().cast(table.schema)
            assert exported.sort_by(keys).equals(lake.sort_by(keys)), name
            assert plain_counts(out, name) == (lake.num_rows, lake.num_rows)
            assert len(pandas.read_parquet(out / name)) == lake.num_rows
            assert polars.read_parquet(out / name / "*.parquet").height == lake.num_rows
    first = (out / "current").resolve()
    cli("export", str(out), "-w", str(enriched))
    cli("export", str(out), "-w", str(enriched))
    kept = sorted(p.name for p in (out / ".snapshots").iterdir())
    assert len(kept) == 2 and first.name not in kept  # the current one and the one before
    assert (out / "current").resolve().name == kept[-1]


@pytest.mark.slow
def test_maintain_keeps_every_row_and_removes_leftovers(enriched, tmp_path):
    wh = tmp_path / "wh"
    shutil.copytree(enriched, wh)
    for i in range(3):  # small runs: small files to merge
        inbox = tmp_path / f"inbox{i}"
        inbox.mkdir()
        text = (EXAMPLES / "2026-11-24" / "hep-th.md").read_text()
        (inbox / "d.md").write_text(text + "\n" * (i + 2))
        ingest([inbox], wh)
    folder = wh / "data" / "main" / "digest_entries"
    leftover = folder / ducklake_file_name(datetime.now(UTC))
    pq.write_table(pa.table({"x": [1]}), leftover)  # as a killed run leaves an unreferenced file
    # Files maintain cannot account for: a user's, and one written before this lake was made.
    strangers = [
        folder / "mine.parquet",
        folder / ducklake_file_name(datetime(2020, 1, 1, tzinfo=UTC)),
    ]
    for path in strangers:
        pq.write_table(pa.table({"x": [2]}), path)
    code, output = cli("check", "-w", str(wh))
    assert code == 0 and "1 file(s)" in output and "maintain" in output, output
    assert all(f"{p}: not a file of this lake" in output for p in strangers), output
    before, files = hashes(wh), sum(1 for p in (wh / "data").rglob("*") if p.is_file())
    code, output = cli("maintain", "-w", str(wh), "--grace", "0")
    assert code == 0 and "kept 2 unreferenced file(s) this lake did not write" in output, output
    assert hashes(wh) == before
    assert not leftover.exists() and all(p.exists() for p in strangers)
    assert sum(1 for p in (wh / "data").rglob("*") if p.is_file()) < files
    code, output = cli("check", "-w", str(wh))
    assert code == 0 and "belong to no snapshot" not in output, output
    assert_consistent(wh)


def _data_file(wh: Path, table: str) -> Path:
    with open_connection(Warehouse(wh), read_only=True) as con:
        rows = con.execute(f"SELECT data_file FROM ducklake_list_files('{ALIAS}', ?)", [table])
        return Path(sorted(rows.fetchall())[0][0])


def _missing(wh: Path) -> str:
    target = _data_file(wh, "digest_entries")
    target.unlink()
    return target.name


def _truncated(wh: Path) -> str:
    target = _data_file(wh, "digest_entries")
    target.write_bytes(target.read_bytes()[:200])
    return target.name


def _foreign(wh: Path) -> str:
    target = _data_file(wh, "papers")
    rows = pq.read_table(target)
    pq.write_table(rows.slice(0, rows.num_rows // 2), target)  # another file of the same shape
    return target.name


def _catalog(wh: Path) -> str:
    path = wh / "catalog.sqlite"
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)
    path.write_bytes(bytes(data))
    return "catalog.sqlite"


@pytest.mark.slow
@pytest.mark.parametrize("damage", [_missing, _truncated, _foreign, _catalog])
def test_check_names_each_kind_of_damage_and_nothing_deletes_data(enriched, tmp_path, damage):
    wh = tmp_path / "wh"
    shutil.copytree(enriched, wh)
    name = damage(wh)
    code, output = cli("check", "-w", str(wh))
    assert code == 1, output
    assert name in output and "restore" in output and "Traceback" not in output, output
    files = {p for p in wh.rglob("*") if p.is_file() and p.name != ".lock"}
    catalog = (wh / "catalog.sqlite").read_bytes()
    for command in (
        ["sql", "SELECT count(*) FROM paper_mentions JOIN papers USING (arxiv_id)"],
        ["status"],
        ["maintain", "--grace", "0"],
        ["export", str(tmp_path / "x")],
        ["ingest", str(EXAMPLES), "--no-enrich", "-q"],
    ):
        code, output = cli(*command, "-w", str(wh))
        lines = output.strip().splitlines()
        assert code == 1 and len(lines) == 1 and lines[0].startswith("arxiv-digests: "), (
            command,
            output,
        )
    # Nothing was "recovered" by deleting: every file is still there, the catalog as it was.
    assert files <= {p for p in wh.rglob("*") if p.is_file()}
    assert (wh / "catalog.sqlite").read_bytes() == catalog


def write_legacy(source: Path, legacy: Path) -> None:
    """`source`'s tables in the layout before DuckLake, as release 0.1 wrote them: append
    tables in parts named by run, the others in one file each; a queue from before it kept
    `enriched_version`; a part of a run that never committed; and the old catalog file."""
    from warehouse.legacy import OLD_TABLES, SNAPSHOT_TABLES

    with warehouse.connect(source) as con:
        runs = [r for (r,) in con.execute("SELECT run_id FROM runs ORDER BY 1").fetchall()]
        for name, table in ((n, TABLES[n]) for n in OLD_TABLES):
            rows = con.execute(f'SELECT * FROM "{name}"').to_arrow_table().cast(table.schema)
            folder = legacy / name
            folder.mkdir(parents=True)
            if name in SNAPSHOT_TABLES:
                if name == "enrichment":
                    rows = rows.drop_columns(["enriched_version"])
                pq.write_table(rows, folder / f"{name}.parquet")
                continue
            pq.write_table(rows, folder / f"part-{runs[0]}-0000.parquet")
            if name == "runs":
                later = [r for r in rows.column("run_id").to_pylist() if r != runs[0]]
                assert later == runs[1:]
    uncommitted = pq.read_table(next((legacy / "digest_entries").iterdir()))
    pq.write_table(
        uncommitted.slice(0, 3),
        legacy / "digest_entries" / "part-29990101T000000Z-dead-0001.parquet",
    )
    (legacy / "warehouse.duckdb").write_bytes(b"old catalog")


@pytest.mark.slow
def test_a_warehouse_of_the_old_layout_is_migrated_losing_nothing(enriched, tmp_path):
    legacy = tmp_path / "legacy-wh"
    write_legacy(enriched, legacy)
    old_files = {p.relative_to(legacy) for p in legacy.rglob("*") if p.is_file()}
    result = ingest([EXAMPLES], legacy)  # the first run migrates, then loads (nothing new)
    assert result["files_skipped"] == 3 and result["entries_loaded"] == 0
    for name in TABLES:
        if name == "runs":
            assert count(legacy, "runs") == count(enriched, "runs") + 1
            continue
        if name == "digest_bytes":  # 0.1 kept no bytes: `reparse` takes them from the files
            assert count(legacy, name) == 0
            continue
        # The search index's numbers of a field's texts follow the order they were met in.
        same = table_hash(legacy, name, ("text_no",)) == table_hash(enriched, name, ("text_no",))
        assert same, name
    assert_consistent(legacy)
    aside = next((legacy / "legacy").iterdir())
    moved = {p.relative_to(aside) for p in aside.rglob("*") if p.is_file()}
    assert moved == old_files  # every old file kept, none left in place
    assert counts(legacy)["digest_entries"] == count(enriched, "digest_entries")
    code, output = cli("migrate", "-w", str(legacy))
    assert (code, output.strip()) == (0, "nothing to migrate")


def test_kept_bytes_live_in_files_never_in_the_catalog(tmp_path):
    """A day's few digests: their bytes in a Parquet file, not in the catalog with their
    statistics (a 100 MB digest once grew the catalog by 315 MB and its writer to 2.7 GB);
    bytes an older release left in the catalog move to a file at `maintain`."""
    import hashlib

    from schemas.tables import DIGEST_BYTES
    from warehouse.lake import Lake

    data = b"| [^1] | kept |\n" * 200_000  # 3.2 MB
    row = pa.table({"digest_id": [hashlib.sha256(data).hexdigest()], "data": [data]})
    wh = tmp_path / "wh"
    with Lake(Warehouse(wh)) as lake:
        with lake.transaction("one small digest"):
            lake.insert(DIGEST_BYTES, row)
        files = f"SELECT count(*) FROM ducklake_list_files('{ALIAS}', 'digest_bytes')"
        assert lake.query(files).column(0).to_pylist() == [1]
        # As before: small inserts of the raw layer inlined into the catalog.
        lake.execute(
            f"CALL {ALIAS}.set_option('data_inlining_row_limit', 10, table_name => 'digest_bytes')"
        )
        second = b"| [^2] | old |\n" * 200_000
        with lake.transaction("an older release's small digest"):
            lake.insert(
                DIGEST_BYTES,
                pa.table({"digest_id": [hashlib.sha256(second).hexdigest()], "data": [second]}),
            )
        assert lake.query(files).column(0).to_pylist() == [1]  # the second one inlined
    assert inlined_bytes(wh / "catalog.sqlite") == len(second)
    code, output = cli("maintain", "-w", str(wh), "--grace", "0")
    assert code == 0, output
    assert inlined_bytes(wh / "catalog.sqlite") == 0
    with Lake(Warehouse(wh)) as lake:
        kept = lake.query("SELECT sha256(data) FROM digest_bytes ORDER BY 1").column(0).to_pylist()
    assert sorted(kept) == sorted(hashlib.sha256(d).hexdigest() for d in (data, second))


def inlined_bytes(catalog: Path) -> int:
    """The bytes of digests the catalog holds in its inlined-data tables."""
    import sqlite3

    with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True) as con:
        names = con.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'ducklake_inlined_data_%'"
        ).fetchall()
        total = 0
        for (name,) in names:
            columns = [r[1] for r in con.execute(f'PRAGMA table_info("{name}")')]
            if "data" in columns and "digest_id" in columns:
                live = f'FROM "{name}" WHERE end_snapshot IS NULL'
                total += con.execute(f"SELECT coalesce(sum(length(data)), 0) {live}").fetchone()[0]
    return total
