"""A sha256 of every data file, recorded right after the commit that wrote it.

DuckLake records a file's size and row count, which a few bytes flipped inside a data page
leave as they were; `check` reads every file whole and compares it with its recorded hash.
The hashes sit in the lake's own table `internal.file_checksums`, written in a transaction
of their own just after each commit (a file is only visible to this code once its commit
is); files a crash left without one get it when the next writer opens the lake.
"""

from __future__ import annotations

import hashlib
import os

import duckdb
import pyarrow as pa
from pyarrow import fs as pafs

from warehouse.files import SnapshotFile, has_table, snapshot_files
from warehouse.location import filesystem, object_key

TABLE = "internal.file_checksums"
STATEMENTS = [
    "CREATE SCHEMA IF NOT EXISTS internal",
    f"CREATE TABLE {TABLE} (file_name VARCHAR, size_bytes BIGINT, sha256 VARCHAR)",
]
_CHUNK = 1 << 20


def sha256_of(fs: pafs.FileSystem, path: str) -> str:
    """The sha256 of a file's bytes, read a megabyte at a time."""
    digest = hashlib.sha256()
    with fs.open_input_stream(object_key(path)) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def recorded(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """The recorded hash of each file, by file name (none before the table exists)."""
    if not has_table(con, TABLE):
        return {}
    return dict(con.execute(f"SELECT file_name, sha256 FROM {TABLE}").fetchall())


def unrecorded_rows(con: duckdb.DuckDBPyConnection, data_location: str) -> pa.Table:
    """Rows for `internal.file_checksums`: the files of the connection's snapshot that have
    no hash yet, each hashed now."""
    known = recorded(con)
    fs = filesystem(data_location)[0]
    rows = [
        {"file_name": os.path.basename(path), "size_bytes": size, "sha256": sha256_of(fs, path)}
        for _, path, size in snapshot_files(con)
        if os.path.basename(path) not in known
    ]
    schema = pa.schema(
        [("file_name", pa.string()), ("size_bytes", pa.int64()), ("sha256", pa.string())]
    )
    return pa.Table.from_pylist(rows, schema=schema)


def changed(files: list[SnapshotFile], known: dict[str, str], fs: pafs.FileSystem) -> list[str]:
    """The lines for files whose bytes no longer have the hash recorded when they were written
    (files with no recorded hash are not judged)."""
    out = []
    for table, path, _ in files:
        expected = known.get(os.path.basename(path))
        if expected is None:
            continue
        try:
            actual = sha256_of(fs, path)
        except OSError:
            continue  # a missing or unreadable file is reported by the size check already
        if actual != expected:
            out.append(
                f"table {table}: {path}: its bytes changed since it was written (its sha256 is "
                "not the one recorded at its commit); restore it from a backup of the warehouse"
            )
    return out
