"""Which lake a catalog is, and which lake the data files belong to.

The catalog holds the lake's id in its own table, `internal.identity` (with the time the lake
was made), from the transaction that declares its tables; the data's location holds the same
id in `.lake-id`, written by the first writer. A catalog made again after a loss, or another
lake's, has another id (or none), and no command writes or deletes with it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import duckdb

from warehouse.files import has_table
from warehouse.store import ALIAS

TABLE = "internal.identity"
_METADATA = f"__ducklake_metadata_{ALIAS}"


def statements(lake_id: str | None) -> list[str]:
    """What gives a catalog its identity: `lake_id` (the data's, when it has one already) or a
    new one, made when the lake's first snapshot was."""
    chosen = (lake_id or f"lake-{uuid.uuid4()}").replace("'", "''")
    return [
        "CREATE SCHEMA IF NOT EXISTS internal",
        f"CREATE TABLE {TABLE} (lake_id VARCHAR, made_at TIMESTAMPTZ)",
        f"INSERT INTO {TABLE} SELECT '{chosen}', min(snapshot_time)::TIMESTAMPTZ "
        f"FROM {_METADATA}.ducklake_snapshot",
    ]


def catalog_identity(con: duckdb.DuckDBPyConnection) -> tuple[str, datetime] | None:
    """The catalog's lake id and when the lake was made; None before it has them."""
    if not has_table(con, TABLE):
        return None
    row = con.execute(f"SELECT lake_id, made_at FROM {TABLE} LIMIT 1").fetchone()
    return (str(row[0]), row[1]) if row else None


def lake_id(con: duckdb.DuckDBPyConnection) -> str | None:
    """The catalog's lake id (None for a catalog from before identities)."""
    identity = catalog_identity(con)
    return identity[0] if identity else None


def lake_made(con: duckdb.DuckDBPyConnection) -> datetime:
    """When the lake was made: as its identity says, else its oldest snapshot (later than the
    truth once `maintain` expired the first ones, which only makes `maintain` keep more)."""
    identity = catalog_identity(con)
    if identity is not None:
        return identity[1]
    sql = f"SELECT min(snapshot_time)::TIMESTAMPTZ FROM {_METADATA}.ducklake_snapshot"
    made: datetime = con.execute(sql).fetchone()[0]  # type: ignore[index]
    return made
