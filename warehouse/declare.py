"""The lake's tables, column comments and convenience views, derived from `schemas/`.

A writer calls `declare` when it attaches: missing tables are created, columns declared since
are added (DuckLake adds a column without rewriting a file), and views are replaced when their
SQL changed. Nothing is done (no snapshot is made) when the lake is already as declared.
"""

from __future__ import annotations

import hashlib

import duckdb
import pyarrow as pa

from schemas import TABLES, Column, Table
from schemas.dictionary import rules
from warehouse.checksums import STATEMENTS as CHECKSUM_STATEMENTS
from warehouse.checksums import TABLE as CHECKSUMS
from warehouse.connection import METADATA
from warehouse.identity import TABLE as IDENTITY
from warehouse.identity import statements as identity_statements
from warehouse.location import sql_literal
from warehouse.search_sql import macro_statements
from warehouse.store import ALIAS

# Convenience views for analysts, over the tables only.
CONVENIENCE_VIEWS = {
    "paper_mentions": (
        "Each digest entry with its digest and, once enriched, its paper.",
        """
        SELECT e.arxiv_id, e.digest_id, d.digest_date, d.category, d.file_name, e.ref,
               e.title, e.announce_type, p.primary_category, p.published
        FROM digest_entries e
        JOIN digests d USING (digest_id)
        LEFT JOIN papers p USING (arxiv_id)
        """,
    ),
    "daily_counts": (
        "Digests, entries and distinct papers per digest date and category; the digests with "
        "no date are the row whose digest_date is null (`arxiv-digests ingest --date` or a "
        "git source dates them).",
        """
        SELECT d.digest_date, d.category, count(DISTINCT d.digest_id) AS digests,
               count(e.ref) AS entries, count(DISTINCT e.arxiv_id) AS papers
        FROM digests d LEFT JOIN digest_entries e USING (digest_id)
        GROUP BY ALL
        """,
    ),
}


_SCALARS = {
    pa.string(): "VARCHAR",
    pa.int32(): "INTEGER",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.binary(): "BLOB",
}


def duckdb_type(arrow_type: pa.DataType) -> str:
    """The DuckDB type a declared Arrow type is stored as."""
    if arrow_type in _SCALARS:
        return _SCALARS[arrow_type]
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_map(arrow_type):
        return f"MAP({duckdb_type(arrow_type.key_type)}, {duckdb_type(arrow_type.item_type)})"
    if pa.types.is_list(arrow_type):
        return f"{duckdb_type(arrow_type.value_type)}[]"
    if pa.types.is_struct(arrow_type):
        fields = ", ".join(f'"{f.name}" {duckdb_type(f.type)}' for f in arrow_type)
        return f"STRUCT({fields})"
    raise TypeError(f"no DuckDB type for {arrow_type}")


def _column_comment(column: Column) -> str:
    rule = rules(column)
    return f"{column.doc} ({rule})" if rule else column.doc


def table_statements(table: Table, present: set[str] | None) -> list[str]:
    """What makes the lake's `table` as declared, given the columns it has (None: no table)."""

    out: list[str] = []
    if present is None:
        columns = ", ".join(f'"{c.name}" {duckdb_type(c.type)}' for c in table.columns)
        out.append(f'CREATE TABLE "{table.name}" ({columns})')
        out.append(f'COMMENT ON TABLE "{table.name}" IS {sql_literal(table.doc)}')
        if table.sorted_by:
            keys = ", ".join(f'"{c}"' for c in table.sorted_by)
            out.append(f'ALTER TABLE "{table.name}" SET SORTED BY ({keys})')
    for column in table.columns:
        if present is None or column.name not in present:
            if present is not None:
                kind = duckdb_type(column.type)
                out.append(f'ALTER TABLE "{table.name}" ADD COLUMN "{column.name}" {kind}')
                if column.filled is not None:
                    out.append(f'UPDATE "{table.name}" SET "{column.name}" = {column.filled}')
            comment = sql_literal(_column_comment(column))
            out.append(f'COMMENT ON COLUMN "{table.name}"."{column.name}" IS {comment}')
    return out


def _view_tag(sql: str) -> str:
    return "sql:" + hashlib.sha256(" ".join(sql.split()).encode()).hexdigest()[:16]


def view_statements(existing: dict[str, str | None]) -> list[str]:
    """Create or replace each convenience view whose declared SQL is not the one in the lake
    (its comment ends with a hash of that SQL)."""
    out: list[str] = []
    for name, (doc, sql) in CONVENIENCE_VIEWS.items():
        tag = _view_tag(sql)
        if (existing.get(name) or "").endswith(f"[{tag}]"):
            continue
        out.append(f'CREATE OR REPLACE VIEW "{name}" AS {sql}')
        out.append(f'COMMENT ON VIEW "{name}" IS {sql_literal(f"{doc} [{tag}]")}')
    return out


WRITER = "internal.writer"
# The one row every write transaction rewrites, so that concurrent writers conflict (see
# `Lake.begin`): created with the lake, with its row.
WRITER_STATEMENTS = [
    f"CREATE SCHEMA IF NOT EXISTS {WRITER.split('.')[0]}",
    f"CREATE TABLE {WRITER} (claimed_by VARCHAR, claimed_at TIMESTAMPTZ)",
    f"INSERT INTO {WRITER} VALUES ('created', now())",
]


# The table options set, with their values (DuckLake keeps table options in its metadata;
# one cannot be set in the transaction that creates the table).
_OPTIONS = f"""
SELECT t.table_name, m.key, m.value FROM {METADATA}.ducklake_metadata m
JOIN {METADATA}.ducklake_table t ON m.scope = 'table' AND m.scope_id = t.table_id
WHERE m.key IN ('parquet_compression', 'data_inlining_row_limit', 'parquet_row_group_size')
  AND t.end_snapshot IS NULL
"""


def option_statements(con: duckdb.DuckDBPyConnection) -> list[str]:
    """What sets each existing table's declared options where they are not set: its Parquet
    compression, and no inlining for a table of large values."""
    present = {t for (t,) in con.execute(_TABLES, [ALIAS]).fetchall()}
    done = {(t, k): v for t, k, v in con.execute(_OPTIONS).fetchall()}
    wanted = [
        *((t.name, "parquet_compression", t.compression) for t in TABLES.values() if t.compression),
        *((t.name, "data_inlining_row_limit", "0") for t in TABLES.values() if not t.inlined),
        *(
            (t.name, "parquet_row_group_size", str(t.row_group_rows))
            for t in TABLES.values()
            if t.row_group_rows
        ),
    ]
    return [
        f"CALL {ALIAS}.set_option({sql_literal(key)}, {sql_literal(value)}, "
        f"table_name => {sql_literal(name)})"
        for name, key, value in wanted
        if name in present and done.get((name, key)) != value
    ]


def _macros_version(con: duckdb.DuckDBPyConnection) -> str | None:
    """The version of the search macros the lake holds (None: none)."""
    found = con.execute(
        "SELECT 1 FROM duckdb_functions() WHERE database_name = ? "
        "AND function_name = 'search_macros_version'",
        [ALIAS],
    ).fetchall()
    version = con.execute("SELECT search_macros_version()").fetchone() if found else None
    return None if version is None else str(version[0])


_TABLES = "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'"


def pending_statements(
    con: duckdb.DuckDBPyConnection, lake_id: str | None
) -> tuple[list[str], bool]:
    """What declaring the tables takes: the statements that create each declared table, add
    columns declared since, and (re)write comments and views; and whether the writer's own
    table was already there (a new lake has none to claim yet). `lake_id` is the identity a
    new lake records."""
    columns: dict[str, set[str]] = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() WHERE database_name = ?", [ALIAS]
    ).fetchall():
        columns.setdefault(table, set()).add(column)
    views = dict(
        con.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE database_name = ?", [ALIAS]
        ).fetchall()
    )
    statements = [s for t in TABLES.values() for s in table_statements(t, columns.get(t.name))]
    statements += view_statements(views)
    statements += macro_statements(_macros_version(con))
    internal = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
            [ALIAS, WRITER.split(".")[0]],
        ).fetchall()
    }
    writer = WRITER.split(".")[1] in internal
    if not writer:
        statements += WRITER_STATEMENTS
    if CHECKSUMS.split(".")[1] not in internal:
        statements += CHECKSUM_STATEMENTS
    if IDENTITY.split(".")[1] not in internal:
        statements += identity_statements(lake_id)
    return statements, writer
