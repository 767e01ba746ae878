"""Test helpers: read tables the way users do (the query layer, and plain pyarrow or DuckDB
over an export)."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.dataset as ds

import warehouse
from schemas import TABLES

# Columns that differ between two runs over the same input by design (times, run ids).
VOLATILE = (
    "run_id",
    "ingested_at",
    "rejected_at",
    "fetched_at",
    "last_attempt_at",
    "next_attempt_at",
    # The search index numbers a paper field's texts in the order runs met them: two runs that
    # load the same rows in another order index the same texts under other numbers.
    "text_no",
)


def sql(wh: Path, query: str) -> list[tuple[Any, ...]]:
    with warehouse.connect(wh) as con:
        return con.execute(query).fetchall()


def count(wh: Path, table: str) -> int:
    return int(sql(wh, f'SELECT count(*) FROM "{table}"')[0][0])


def counts(wh: Path) -> dict[str, int]:
    """Every table's row count, through one connection."""
    with warehouse.connect(wh) as con:
        rows = [con.execute(f'SELECT count(*) FROM "{name}"').fetchall() for name in TABLES]
    return {name: int(found[0][0]) for name, found in zip(TABLES, rows, strict=True)}


def hash_rows(rows: list[tuple[Any, ...]]) -> str:
    return hashlib.sha256(repr(rows).encode()).hexdigest()


def table_hash(wh: Path, table: str, exclude: tuple[str, ...] = ()) -> str:
    """A hash of a table's sorted rows, for comparing two warehouses."""
    columns = [c.name for c in TABLES[table].columns if c.name not in exclude]
    cols = ", ".join(f'"{c}"' for c in columns)
    return hash_rows(sql(wh, f'SELECT {cols} FROM "{table}" ORDER BY ALL'))


def table_hashes(wh: Path | Any, exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """`table_hash` of every table, through one connection (a connection per table cost
    seconds on an object store: each one checks every file)."""
    hashes = {}
    with warehouse.connect(wh) as con:
        for name, table in TABLES.items():
            cols = ", ".join(f'"{c.name}"' for c in table.columns if c.name not in exclude)
            rows = con.execute(f'SELECT {cols} FROM "{name}" ORDER BY ALL').fetchall()
            hashes[name] = hash_rows(rows)
    return hashes


def tree_hash(folder: Path) -> str:
    """A hash of every path, size and byte under `folder` (links as their targets' names)."""
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_symlink():
            digest.update(str(path.readlink()).encode())
        elif path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def plain_counts(folder: Path, table: str) -> tuple[int, int]:
    """Rows of an exported table seen by a plain pyarrow dataset and by DuckDB's
    read_parquet, without our code."""
    directory = folder / table
    arrow = ds.dataset(directory, format="parquet").count_rows()
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{directory}/*.parquet')").fetchall()
    return arrow, int(rows[0][0])


CONSISTENCY = {
    "every entry's paper is queued, and nothing else is": """
        SELECT count(*) FROM (
            (SELECT DISTINCT arxiv_id FROM digest_entries EXCEPT SELECT arxiv_id FROM enrichment)
            UNION ALL
            (SELECT arxiv_id FROM enrichment EXCEPT SELECT DISTINCT arxiv_id FROM digest_entries)
        )""",
    "papers are the queue rows that hold one, the enriched ones at least": """
        SELECT count(*) FROM (
            (SELECT arxiv_id FROM papers
             EXCEPT SELECT arxiv_id FROM enrichment WHERE enriched_version IS NOT NULL)
            UNION ALL
            (SELECT arxiv_id FROM enrichment WHERE state = 'enriched'
             EXCEPT SELECT arxiv_id FROM papers)
        )""",
    "authors and categories belong to papers": """
        SELECT count(*) FROM (
            SELECT arxiv_id FROM paper_authors UNION SELECT arxiv_id FROM paper_categories
            EXCEPT SELECT arxiv_id FROM papers
        )""",
    "rejects and digests belong to committed runs": """
        SELECT count(*) FROM (
            SELECT run_id FROM rejects UNION SELECT run_id FROM digests
            UNION SELECT run_id FROM seen_files
            EXCEPT SELECT run_id FROM runs
        )""",
    "entries belong to digests": """
        SELECT count(*) FROM (
            SELECT digest_id FROM digest_entries EXCEPT SELECT digest_id FROM digests
        )
    """,
    "entries are what the runs loaded": """
        SELECT (SELECT count(*) FROM digest_entries)
             - (SELECT coalesce(sum(entries_loaded), 0) FROM runs)
    """,
}


def assert_consistent(wh: Path) -> None:
    """Every table reads, no key is doubled, and no row belongs to an uncommitted run."""
    with warehouse.connect(wh) as con:
        for name, table in TABLES.items():
            keys = ", ".join(f'"{k}"' for k in table.key)
            doubled = con.execute(
                f'SELECT count(*) FROM (SELECT {keys} FROM "{name}" GROUP BY ALL '
                "HAVING count(*) > 1)"
            ).fetchone()
            assert doubled == (0,), f"doubled keys in {name}"
        for rule, query in CONSISTENCY.items():
            assert con.execute(query).fetchone() == (0,), rule


def assert_consistent_after_a_kill(wh: Path | Any) -> None:
    """`assert_consistent`, or a warehouse a killed first run left unmade: no catalog yet, or
    one whose tables were never declared. Either way nothing of a run is visible."""
    from warehouse.store import WarehouseError

    try:
        assert_consistent(wh)
    except WarehouseError as exc:
        assert "no warehouse at" in str(exc) or "has no tables yet" in str(exc), exc


def copy_into(paths: list[Path], source: Path, folder: Path, settled: bool = False) -> None:
    """Copy `paths` (under `source`) into `folder` at the same relative paths; `settled`: with
    an old modification time, so that every run records them in `seen_files`."""
    import os
    import shutil

    for path in paths:
        target = folder / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target)
        if settled:
            os.utime(target, (1.7e9, 1.7e9))


class Killer:
    """Runs a command and kills it with SIGKILL somewhere in the second half of a run (the
    first is mostly Python start-up), learning a run's length from the runs that finish."""

    def __init__(self, rng: Any, run_seconds: float):
        self.rng, self.run_seconds, self.killed = rng, run_seconds, 0

    def run(self, command: list[str], env: dict[str, str]) -> None:
        import os
        import signal
        import subprocess
        import time

        started = time.monotonic()
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(self.rng.uniform(0.5, 1.0) * self.run_seconds)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            self.killed += 1
        else:
            self.run_seconds = time.monotonic() - started
        process.wait()


def ducklake_file_name(when: datetime) -> str:
    """A data file's name as DuckLake gives it: `ducklake-<UUIDv7 of when>.parquet`."""
    bits = (int(when.timestamp() * 1000) << 80) | (0x7 << 76) | (2 << 62) | 0x1234_5678_9ABC
    return f"ducklake-{uuid.UUID(int=bits)}.parquet"


def cli_output(*args: str) -> tuple[int, str]:
    """The CLI run in this process: its exit code and what it printed (stdout and stderr)."""
    from typer.testing import CliRunner

    from flows.cli import app

    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def one_line(code: int, output: str, expected: int = 1) -> str:
    """The one `arxiv-digests:` line a command printed, having exited with `expected`."""
    lines = output.strip().splitlines()
    assert code == expected and len(lines) == 1, (code, output)
    assert lines[0].startswith("arxiv-digests: ") and "Traceback" not in output, output
    return lines[0]


@contextlib.contextmanager
def tmpfs(point: Path, size: str) -> Iterator[Path]:
    """A small tmpfs mounted at `point` while the block runs (the tests run as root)."""
    import subprocess

    point.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], check=True)
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)
