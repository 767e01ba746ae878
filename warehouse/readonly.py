"""Connections that cannot write: what `warehouse.connect()` and `sql` hand out.

DuckDB's own guards come first (the lake attached READ_ONLY at one snapshot, file access
limited to that snapshot's files, the configuration locked), but they do not stop a COPY with
`USE_TMP_FILE false` from overwriting a file they allow reading. So every statement is checked
here before DuckDB sees it: one SELECT that calls no function that writes, and relations offer
their reading methods only.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb

from warehouse.journal import HOT_JOURNAL
from warehouse.store import WarehouseError

T = TypeVar("T")

# What a query may call, as an allow-list: a function that runs SQL given as text or serialized,
# changes a setting, logs to a file or writes cannot be named by accident in a deny-list then.
# Table functions (a FROM's sources) are listed one by one: the lake's tables and history,
# DuckDB's own catalog, generated rows, and the file readers (which DuckDB's guards confine to
# the snapshot's files).
TABLE_FUNCTIONS = frozenset(
    ["ducklake_snapshots", "ducklake_table_info", "ducklake_list_files", "ducklake_table_changes",
     "ducklake_table_insertions", "ducklake_table_deletions", "ducklake_current_snapshot",
     "ducklake_last_committed_snapshot", "ducklake_options", "ducklake_settings",
     "range", "generate_series", "unnest", "repeat", "repeat_row", "json_each", "json_tree",
     "summary", "read_parquet", "parquet_scan", "parquet_metadata", "parquet_schema",
     "parquet_file_metadata", "parquet_kv_metadata", "read_csv", "read_csv_auto", "read_json",
     "read_json_auto", "read_ndjson", "read_ndjson_auto", "read_text", "read_blob", "glob",
     "sniff_csv", "duckdb_tables", "duckdb_columns", "duckdb_views", "duckdb_schemas",
     "duckdb_databases", "duckdb_types", "duckdb_functions", "duckdb_keywords",
     "duckdb_constraints", "duckdb_indexes", "duckdb_sequences", "duckdb_dependencies",
     "duckdb_extensions", "pragma_table_info", "pragma_show", "pragma_version",
     "pragma_platform", "pragma_database_size", "icu_calendar_names", "pg_timezone_names",
     "search"]
)  # fmt: skip
# DuckDB's scalar and aggregate functions are allowed but for these: one writes to the log,
# and one reads settings, which may hold an object store's keys.
REFUSED_FUNCTIONS = frozenset(["write_log", "current_setting", "json_execute_serialized_sql"])
# Forms the SQL parser writes as functions that the catalog does not list, and the lake's own
# search macros (warehouse/search_sql.py: SQL over its tables) with the stemmer they call.
_PARSER_FORMS = frozenset(["row", "struct_pack", "list_value", "coalesce", "ifnull", "nullif"])
_LAKE_MACROS = frozenset(
    ["search_words", "search_term", "search_marks", "search_macros_version", "stem"]
)


@functools.cache
def scalar_functions() -> frozenset[str]:
    """DuckDB's own scalar, aggregate and macro functions (with json, parquet and icu), less
    the refused ones."""
    with duckdb.connect() as con:
        rows = con.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type IN ('scalar', 'aggregate', 'macro')"
        ).fetchall()
    return frozenset(name for (name,) in rows) - REFUSED_FUNCTIONS | _PARSER_FORMS | _LAKE_MACROS


class ReadOnlyViolation(WarehouseError):
    """A statement given to the query layer could change something."""


def _calls(tree: object) -> tuple[set[str], set[str]]:
    """The names of the table functions and of the other functions a serialized statement
    calls."""
    tables: set[str] = set()
    others: set[str] = set()
    stack = [(tree, False)]
    while stack:
        node, in_from = stack.pop()
        if isinstance(node, dict):
            name = node.get("function_name")
            if isinstance(name, str):
                (tables if in_from else others).add(name.lower())
            table = node.get("type") == "TABLE_FUNCTION"
            stack.extend((v, table and k == "function") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((item, False) for item in node)
    return tables, others


def _refused_call(tables: set[str], others: set[str]) -> str | None:
    """The first call not allowed, as a refusal line; None when every call is allowed."""
    for name in sorted(tables - TABLE_FUNCTIONS):
        return _refusal(name)
    for name in sorted(others - scalar_functions() - TABLE_FUNCTIONS):
        return _refusal(name)
    return None


def read_only_statement(query: str) -> str:
    """`query` if it is one SELECT that calls only allowed functions, else ReadOnlyViolation."""
    try:
        statements = duckdb.extract_statements(query)
    except duckdb.Error as exc:
        raise ReadOnlyViolation(f"query failed: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1:
        raise ReadOnlyViolation(f"refused: give one statement at a time ({len(statements)} given)")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise ReadOnlyViolation(
            f"refused: the warehouse is read-only here: only SELECT queries run ({kind.name} "
            "would change or write something); copy data out with `arxiv-digests export` or "
            "`sql --output`"
        )
    with duckdb.connect() as con:
        row = con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
    tree = json.loads(row[0]) if row else {}
    if isinstance(tree, dict) and tree.get("error"):
        raise ReadOnlyViolation(f"query failed: {tree.get('error_message', 'cannot be parsed')}")
    refusal = _refused_call(*_calls(tree))
    if refusal:
        raise ReadOnlyViolation(refusal)
    return query


def _refusal(name: str) -> str:
    if name in ("query", "query_table", "json_execute_serialized_sql"):
        return f"refused: {name}() runs SQL given as text, which cannot be checked; write it out"
    return (
        f"refused: {name}() is not among the functions a query may call here (those that "
        "could change the warehouse, run hidden SQL, change settings or write files are "
        "not; docs/querying.md lists what is)"
    )


_CALL = re.compile(r"\b([A-Za-z_][\w]*)\s*\(")


@functools.cache
def _keywords() -> frozenset[str]:
    with duckdb.connect() as con:
        rows = con.execute("SELECT lower(keyword_name) FROM duckdb_keywords()").fetchall()
    return frozenset(name for (name,) in rows)


def _checked_text(value: Any) -> Any:
    """A relation method's text argument (an expression, a condition), refused when it calls
    a function a query may not: such text is SQL this module would not see otherwise."""
    if isinstance(value, str):
        allowed = scalar_functions() | TABLE_FUNCTIONS | _keywords()
        for name in (m.lower() for m in _CALL.findall(value)):
            if name not in allowed:
                raise ReadOnlyViolation(_refusal(name))
    return value


# What a relation may do: read its rows, in any form, and make other relations from it.
_RELATION_READS = frozenset([
    "aggregate", "alias", "any_value", "arg_max", "arg_min", "arrow", "avg", "bit_and",
    "bit_or", "bit_xor", "bitstring_agg", "bool_and", "bool_or", "columns", "count", "cross",
    "cume_dist", "dense_rank", "describe", "description", "df", "distinct", "dtypes",
    "except_", "explain", "favg", "fetch_arrow_reader", "fetch_arrow_table", "fetch_df_chunk",
    "fetch_record_batch", "fetchall", "fetchdf", "fetchmany", "fetchnumpy", "fetchone",
    "filter", "first", "first_value", "fsum", "geomean", "histogram", "intersect", "join",
    "lag", "last", "last_value", "lead", "limit", "list", "max", "mean", "median", "min",
    "mode", "n_tile", "nth_value", "order", "percent_rank", "pl", "product", "project",
    "quantile", "quantile_cont", "quantile_disc", "rank", "rank_dense", "row_number", "select",
    "select_dtypes", "select_types", "set_alias", "shape", "show", "sort", "sql_query", "std",
    "stddev", "stddev_pop", "stddev_samp", "string_agg", "sum", "to_arrow_reader",
    "to_arrow_table", "to_df", "type", "types", "union", "unique", "value_counts", "var",
    "var_pop", "var_samp", "variance", "close",
])  # fmt: skip


def _guarded(value: Any) -> Any:
    if isinstance(value, duckdb.DuckDBPyRelation):
        return ReadOnlyRelation(value)
    return value


def _unwrapped(value: Any) -> Any:
    if isinstance(value, ReadOnlyRelation):
        return value._relation
    return _checked_text(value)


class ReadOnlyRelation:
    """A DuckDB relation that can be read and combined, never written out or into."""

    def __init__(self, relation: duckdb.DuckDBPyRelation):
        self._relation = relation

    def __getattr__(self, name: str) -> Any:
        if name not in _RELATION_READS:
            raise ReadOnlyViolation(f"refused: {name}() is not offered on a read-only relation")
        method = getattr(self._relation, name)
        if not callable(method):
            return method

        def call(*args: Any, **kwargs: Any) -> Any:
            args = tuple(_unwrapped(a) for a in args)
            kwargs = {k: _unwrapped(v) for k, v in kwargs.items()}
            return _guarded(method(*args, **kwargs))

        return call

    def query(self, virtual_table_name: str, sql_query: str) -> ReadOnlyRelation:
        """Run a SELECT over this relation, named `virtual_table_name` in it."""
        return ReadOnlyRelation(
            self._relation.query(virtual_table_name, read_only_statement(sql_query))
        )

    def __len__(self) -> int:
        return len(self._relation)

    def __repr__(self) -> str:
        return repr(self._relation)

    def __str__(self) -> str:
        return str(self._relation)


_RESULT_READS = frozenset([
    "fetchone", "fetchall", "fetchmany", "fetchdf", "fetch_df", "df", "arrow",
    "fetch_arrow_table", "to_arrow_table", "fetch_record_batch", "fetch_df_chunk", "pl",
    "fetchnumpy", "description", "rowcount", "interrupt",
])  # fmt: skip


class ReadOnlyConnection:
    """A DuckDB connection that runs reading statements only (see the module's note). Its
    results are read as a DuckDB connection's are: `execute(...).fetchall()`, `sql(...).df()`."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        reopen: Callable[[], duckdb.DuckDBPyConnection] | None = None,
    ):
        self._con = con
        self._reopen = reopen  # the same snapshot again, past a writer's interrupted commit

    def execute(self, query: str, parameters: Any = None) -> ReadOnlyConnection:
        """Run one SELECT; read its result from this connection (`fetchall()`…)."""
        statement = read_only_statement(query)
        self._read(lambda con: con.execute(statement, parameters or []))
        return self

    def sql(self, query: str, *, params: Any = None, alias: str = "") -> ReadOnlyRelation:
        """One SELECT as a relation."""
        statement = read_only_statement(query)
        return ReadOnlyRelation(
            self._read(lambda con: con.sql(statement, params=params, alias=alias))
        )

    def _read(self, call: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        """`call` on the connection; once more on a connection opened again at the same
        snapshot when a writer killed mid-commit has left the catalog unreadable read-only."""
        try:
            return call(self._con)
        except duckdb.Error as exc:
            if self._reopen is None or HOT_JOURNAL not in str(exc):
                raise
        self._con.close()
        self._con = self._reopen()
        return call(self._con)

    query = sql

    def table(self, name: str) -> ReadOnlyRelation:
        """A table or view by name."""
        return ReadOnlyRelation(self._con.table(name))

    def view(self, name: str) -> ReadOnlyRelation:
        """A view by name."""
        return ReadOnlyRelation(self._con.view(name))

    def close(self) -> None:
        """Close the connection."""
        self._con.close()

    def __enter__(self) -> ReadOnlyConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        if name not in _RESULT_READS:
            raise ReadOnlyViolation(f"refused: {name}() is not offered on a read-only connection")
        return getattr(self._con, name)
