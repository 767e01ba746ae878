"""Migration from the layout before DuckLake (release 0.1), on the first run that finds it.

That layout kept each table in `<root>/<table>/`: append tables as `part-<run_id>-<seq>.parquet`
files that counted once the run had a `runs` part, snapshot tables as one `<table>.parquet`; and
a catalog of views in `warehouse.duckdb`. The published rows of every table are copied into the
lake in one transaction; then the old files are moved, not deleted, into `legacy/<time>/`, so
nothing is lost whatever happens in between (a migration interrupted after its commit only
moves the files on the next run).
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from schemas import TABLES, Table
from schemas.tables import ENRICHMENT, PAPERS, RUNS
from warehouse.connection import scalar
from warehouse.index import index_missing
from warehouse.lake import Lake
from warehouse.store import ALIAS

# The tables the old layout replaced whole; the others were appended to.
SNAPSHOT_TABLES = ("papers", "paper_authors", "paper_categories", "enrichment")
# The tables release 0.1 wrote, each a folder of Parquet files (later tables start empty).
OLD_TABLES = (
    "digests", "seen_files", "digest_entries", "papers", "paper_authors", "paper_categories",
    "enrichment", "rejects", "runs",
)  # fmt: skip
OLD_FILES = (*OLD_TABLES, "warehouse.duckdb", ".staging")
MESSAGE = "migrate the layout before DuckLake"
_PART = re.compile(r"^part-(?P<run>.+)-(?P<seq>\d{4,})\.parquet$")


def legacy_files(root: Path) -> list[Path]:
    """The Parquet files of release 0.1's layout under `root`."""
    return [root / name for name in OLD_FILES if (root / name).exists()]


def published_files(root: Path, table: Table, committed: set[str]) -> list[Path]:
    """A 0.1 table's files that its commit file listed as committed."""
    folder = root / table.name
    if not folder.is_dir():
        return []
    if table.name in SNAPSHOT_TABLES:
        snapshot = folder / f"{table.name}.parquet"
        return [snapshot] if snapshot.is_file() else []
    parts = sorted(p for p in folder.iterdir() if _PART.match(p.name))
    if table is RUNS:
        return parts
    return [p for p in parts if _PART.match(p.name).group("run") in committed]  # type: ignore[union-attr]


def read_legacy(root: Path, table: Table, committed: set[str]) -> pa.Table:
    """The published rows of an old-layout table; columns declared since are null."""
    files = published_files(root, table, committed)
    if not files:
        return table.empty()
    return ds.dataset([str(f) for f in files], schema=table.schema, format="parquet").to_table()


def _with_held_versions(queue: pa.Table, papers: pa.Table) -> pa.Table:
    """A queue from before it kept `enriched_version` takes it from `papers`."""
    if pc.any(pc.is_valid(queue.column("enriched_version"))).as_py():
        return queue
    held = papers.select(["arxiv_id", "latest_version"])
    joined = queue.join(held, "arxiv_id", join_type="left outer")
    enriched = pc.equal(joined.column("state"), "enriched")
    versions = pc.if_else(enriched, joined.column("latest_version"), pa.scalar(None, pa.int32()))
    index = joined.schema.get_field_index("enriched_version")
    return joined.set_column(index, "enriched_version", versions).select(ENRICHMENT.column_names)


def migrated(lake: Lake) -> bool:
    """Whether the lake already holds a migration."""
    query = f"SELECT count(*) FROM ducklake_snapshots('{ALIAS}') WHERE commit_message = ?"
    return bool(scalar(lake.con, query, [MESSAGE]))


def migrate(lake: Lake) -> int:
    """Copy an old-layout warehouse at the lake's root into the lake, once; returns the rows
    copied (0 when there is nothing to migrate)."""
    if lake.store.remote:
        return 0  # the layout before DuckLake was local folders only
    root = lake.store.root
    if not legacy_files(root):
        return 0
    copied = 0
    if not migrated(lake):
        runs = read_legacy(root, RUNS, set())
        committed = set(runs.column("run_id").to_pylist())
        with lake.transaction(MESSAGE):
            for table in (TABLES[name] for name in OLD_TABLES):
                rows = read_legacy(root, table, committed)
                if table is ENRICHMENT:
                    rows = _with_held_versions(rows, read_legacy(root, PAPERS, committed))
                lake.insert(table, rows)
                copied += rows.num_rows
            index_missing(lake)  # the copied rows' texts, in the same commit
    aside = root / "legacy" / datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside.mkdir(parents=True, exist_ok=True)
    for path in legacy_files(root):
        os.replace(path, aside / path.name)
    return copied
