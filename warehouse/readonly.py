"""Connections that cannot write: what `warehouse.connect()` and `sql` hand out.

DuckDB's own guards come first (the lake attached READ_ONLY at one snapshot, file access
limited to that snapshot's files, the configuration locked), but they do not stop a COPY with
`USE_TMP_FILE false` from overwriting a file they allow reading. So every statement is checked
here before DuckDB sees it: one SELECT that calls no function that writes, and relations offer
their reading methods only.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

import duckdb

from warehouse.journal import HOT_JOURNAL
from warehouse.store import WarehouseError

T = TypeVar("T")

# Functions a SELECT could call to change files: refused by name (any catalog prefix).
# `query` and `query_table` run a statement given as text, which no check here would see.
WRITING_FUNCTIONS = (
    "ducklake_",
    "checkpoint",
    "force_checkpoint",
    "attach",
    "detach",
    "sqlite_attach",
    "postgres_attach",
    "postgres_execute",
    "postgres_query",
    "cleanup_old_files",
    "delete_orphaned_files",
    "expire_snapshots",
    "merge_adjacent_files",
    "rewrite_data_files",
    "flush_inlined_data",
    "add_data_files",
    "set_option",
    "set_commit_message",
    "query",
    "query_table",
)
_WRITING_WORDS = re.compile(
    r"\b(" + "|".join(re.escape(f.rstrip("_")) for f in WRITING_FUNCTIONS) + r")\w*\s*\(",
    re.IGNORECASE,
)


class ReadOnlyViolation(WarehouseError):
    """A statement given to the query layer could change something."""


def _functions(tree: object) -> set[str]:
    names: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            name = node.get("function_name")
            if isinstance(name, str):
                names.add(name.lower())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return names


# DuckLake's functions that only read the catalog: what analysts ask of its history.
READING_FUNCTIONS = frozenset(
    ["ducklake_snapshots", "ducklake_table_info", "ducklake_list_files",
     "ducklake_table_changes", "ducklake_table_insertions", "ducklake_table_deletions",
     "ducklake_current_snapshot", "ducklake_last_committed_snapshot"]
)  # fmt: skip


def _writes(name: str) -> bool:
    if name in READING_FUNCTIONS:
        return False
    return any(
        name == f or (f.endswith("_") and name.startswith(f)) or name.startswith(f + "_")
        for f in WRITING_FUNCTIONS
    )


def read_only_statement(query: str) -> str:
    """`query` if it is one SELECT that calls no writing function, else ReadOnlyViolation."""
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
    for name in sorted(_functions(tree)):
        if _writes(name):
            raise ReadOnlyViolation(_refusal(name))
    return query


def _refusal(name: str) -> str:
    if name in ("query", "query_table"):
        return f"refused: {name}() runs SQL given as text, which cannot be checked; write it out"
    return f"refused: {name}() can change the warehouse"


def _checked_text(value: Any) -> Any:
    """A relation method's text argument (an expression, a condition), refused when it names a
    writing function: such text is SQL this module would not see otherwise."""
    if isinstance(value, str) and (found := _WRITING_WORDS.search(value)):
        raise ReadOnlyViolation(_refusal(found.group(1).lower()))
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
