"""Declared validation: checks every column rule of a table over a whole Arrow batch at once.

A row fails on the first rule it breaks, in column order (required, pattern, enum), then on key
uniqueness within the batch (the first occurrence wins). Nothing is dropped silently: failures
come back as rows with `_rule` and `_message`, for the caller to turn into `rejects`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc

from schemas.model import Column, Table

_IDX = "_row"
Message = Callable[[], pa.Array | pa.ChunkedArray | pa.Scalar]


def _as_text(values: pa.ChunkedArray) -> pa.ChunkedArray:
    text = pc.cast(values, pa.string()) if not pa.types.is_string(values.type) else values
    return pc.fill_null(pc.utf8_slice_codeunits(text, 0, 80), "")


Check = tuple[pa.Array, str, Message]  # (mask of rows breaking a rule, its name, its message)


def _quoted(col: Column, values: pa.ChunkedArray, after: str) -> Message:
    return lambda: pc.binary_join_element_wise(f"{col.name} '", _as_text(values), after, "")


def _required(col: Column, values: pa.ChunkedArray) -> Check:
    missing = pc.invert(pc.is_valid(values))
    if pa.types.is_string(values.type):
        blank = pc.or_(pc.equal(pc.utf8_length(values), 0), pc.utf8_is_space(values))
        missing = pc.or_(missing, pc.fill_null(blank, False))
    return missing, f"required:{col.name}", lambda: pa.scalar(f"{col.name} is missing")


def _pattern(col: Column, values: pa.ChunkedArray, pattern: str) -> Check:
    bad = pc.and_(pc.is_valid(values), pc.invert(pc.match_substring_regex(values, pattern)))
    after = f"' is not {col.pattern_doc or pattern}"
    return pc.fill_null(bad, False), f"pattern:{col.name}", _quoted(col, values, after)


def _enum(col: Column, values: pa.ChunkedArray, enum: tuple[str, ...]) -> Check:
    bad = pc.and_(pc.is_valid(values), pc.invert(pc.is_in(values, value_set=pa.array(enum))))
    after = f"' is not one of {', '.join(enum)}"
    return pc.fill_null(bad, False), f"enum:{col.name}", _quoted(col, values, after)


def _future(col: Column, values: pa.ChunkedArray) -> Check:
    limit = pa.scalar(datetime.now(UTC) + timedelta(days=1), values.type)
    bad = pc.fill_null(pc.greater(values, limit), False)
    return (
        bad,
        f"future:{col.name}",
        lambda: pc.binary_join_element_wise(
            f"{col.name} ", _as_text(values), " is in the future", ""
        ),
    )


def _failures(col: Column, values: pa.ChunkedArray) -> list[Check]:
    """The checks of each rule of `col`, in order. A message is made only for a rule some row
    breaks: building strings for every row of a clean batch was most of the time validation
    took."""
    checks = [_required(col, values)] if col.required else []
    pattern = col.regex()
    if pattern is not None:
        checks.append(_pattern(col, values, pattern))
    if col.enum is not None:
        checks.append(_enum(col, values, col.enum))
    if col.not_future:
        checks.append(_future(col, values))
    return checks


def validate(table: Table, rows: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Split `rows` into (valid, failed). Extra columns (such as `_raw`) are carried along;
    `failed` has two more, `_rule` and `_message`."""
    n = rows.num_rows
    rule = pa.nulls(n, pa.string())
    message = pa.nulls(n, pa.string())
    for col in table.columns:
        if col.name not in rows.column_names:
            values = pa.chunked_array([pa.nulls(n, col.type)])
        else:
            values = rows.column(col.name)
        for bad, name, msg in _failures(col, values):
            first = pc.and_(bad, pc.is_null(rule))
            if not pc.any(first).as_py():
                continue
            rule = pc.if_else(first, name, rule)
            message = pc.if_else(first, msg(), message)

    # Key uniqueness over the key columns alone: filtering whole rows would copy their text.
    keys = pa.table({**{k: rows.column(k) for k in table.key}, _IDX: pa.array(range(n))})
    clean = keys.filter(pc.is_null(rule))
    firsts = clean.group_by(list(table.key), use_threads=False).aggregate([(_IDX, "min")])
    if firsts.num_rows < clean.num_rows:
        keep = pc.is_in(keys.column(_IDX), value_set=firsts.column(f"{_IDX}_min"))
        duplicate = pc.and_(pc.is_null(rule), pc.invert(keep))
        key_name = ",".join(table.key)
        rule = pc.if_else(duplicate, f"unique:{key_name}", rule)
        message = pc.if_else(
            duplicate, f"duplicate key ({key_name}): an earlier row has the same", message
        )

    ok = pc.is_null(rule)
    if rule.null_count == n:  # every row is valid: no copy of the batch
        # An empty table, not an empty slice of `rows`: pickled (a parse worker hands its
        # batch back), a slice would carry the whole batch's buffers a second time.
        none = pa.nulls(0, pa.string())
        failed = rows.schema.empty_table()
        return rows, failed.append_column("_rule", none).append_column("_message", none)
    valid = rows.filter(ok)
    failed = (
        rows.append_column("_rule", rule).append_column("_message", message).filter(pc.invert(ok))
    )
    return valid, failed
