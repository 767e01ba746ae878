"""The lake's data files: which ones a snapshot holds, and which ones this lake wrote.

DuckLake names every file it writes `ducklake-<UUIDv7>.parquet` (`-delete.parquet` for a
delete file) in the folder of its table, `data/<schema>/<table>/`; a UUIDv7 begins with the
time it was made, in milliseconds.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import duckdb

from schemas import TABLES
from warehouse.location import object_key
from warehouse.store import ALIAS

_DUCKLAKE_FILE = re.compile(
    r"^(?P<schema>\w+)/(?P<table>\w+)/ducklake-(?P<uuid>[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}"
    r"-[0-9a-f]{4}-[0-9a-f]{12})(?:-delete)?\.parquet$"
)

SnapshotFile = tuple[str, str, int | None]  # table, path as DuckDB names it, recorded size


def snapshot_files(con: duckdb.DuckDBPyConnection) -> list[SnapshotFile]:
    """Every data and delete file of the connection's snapshot, with its recorded size. Read
    from the catalog before a folder is listed: a file committed in between is then in the
    listing too (a file is written before the commit that names it)."""
    present = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [ALIAS]
        ).fetchall()
    }
    out: list[SnapshotFile] = []
    for table in (t for t in TABLES if t in present):
        for data, data_size, delete, delete_size in con.execute(
            "SELECT data_file, data_file_size_bytes, delete_file, delete_file_size_bytes "
            f"FROM ducklake_list_files('{ALIAS}', ?)",
            [table],
        ).fetchall():
            out.append((table, data, data_size))
            if delete is not None:
                out.append((table, delete, delete_size))
    return out


def has_table(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    """Whether the lake has the table `schema.table`."""
    schema, table = qualified.split(".")
    row = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE database_name = ? AND schema_name = ? "
        "AND table_name = ?",
        [ALIAS, schema, table],
    ).fetchone()
    return bool(row and row[0])


def written_at(uuid_text: str) -> datetime:
    """When a UUIDv7 was made (its first 48 bits: milliseconds since the epoch)."""
    return datetime.fromtimestamp((uuid.UUID(uuid_text).int >> 80) / 1000, UTC)


def file_written_at(path: str, data_location: str) -> datetime | None:
    """When DuckLake wrote a file of the lake (its name's UUIDv7); None for another file."""
    relative = object_key(path).removeprefix(object_key(data_location))
    match = _DUCKLAKE_FILE.match(relative.lstrip("/"))
    return written_at(match["uuid"]) if match else None


def accounted_for(path: str, data_location: str, tables: set[str], made: datetime) -> bool:
    """Whether a file no snapshot refers to is one this lake's writers wrote: named as DuckLake
    names its files, in the folder of one of `tables` (`schema.table`), and written after the
    lake's catalog was `made`. Only such a file may be deleted as a leftover."""
    relative = object_key(path).removeprefix(object_key(data_location))
    match = _DUCKLAKE_FILE.match(relative)
    if match is None or f"{match['schema']}.{match['table']}" not in tables:
        return False
    return written_at(match["uuid"]) >= made
