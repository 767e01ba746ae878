"""Declared validation against a row-by-row model of its rules: the first rule a row breaks,
in column order (required, pattern, enum, future), then key uniqueness (first row wins)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.model import Column, Table
from schemas.validate import validate

NOW = datetime.now(UTC)
TABLE = Table(
    name="things",
    doc="a table with one rule of each kind",
    columns=(
        Column("code", pa.string(), "key", required=True, pattern=r"^[a-c]\d$", pattern_doc="x9"),
        Column("kind", pa.string(), "an enum", enum=("new", "old")),
        Column("title", pa.string(), "required text", required=True),
        Column("seen", pa.timestamp("us", tz="UTC"), "not in the future", not_future=True),
    ),
    key=("code",),
)

codes = st.sampled_from(["a1", "b2", "c3", "a1", "zz", "", " ", None])
kinds = st.sampled_from(["new", "old", "odd", None])
titles = st.sampled_from(["T", " padded ", "", " \t", "\u3000", None])
seens = st.sampled_from([NOW, NOW + timedelta(days=30), None])
rows = st.lists(
    st.fixed_dictionaries({"code": codes, "kind": kinds, "title": titles, "seen": seens}),
    max_size=30,
)


def expected_rule(row: dict, earlier_keys: set) -> tuple[str, str] | None:
    code, kind, title, seen = row["code"], row["kind"], row["title"], row["seen"]
    if code is None or not code.strip():
        return "required:code", "code is missing"
    if not re.match(r"^[a-c]\d$", code):
        return "pattern:code", f"code '{code}' is not x9"
    if kind is not None and kind not in ("new", "old"):
        return "enum:kind", f"kind '{kind}' is not one of new, old"
    if title is None or not title.strip():
        return "required:title", "title is missing"
    if seen is not None and seen > NOW + timedelta(days=1):
        shown = pa.scalar(seen, TABLE.schema.field("seen").type).cast(pa.string())
        return "future:seen", f"seen {shown} is in the future"
    if code in earlier_keys:
        return "unique:code", "duplicate key (code): an earlier row has the same"
    return None


@settings(max_examples=examples(200), deadline=None)
@given(rows)
def test_validate_matches_the_row_by_row_rules(data):
    table = pa.Table.from_pylist(data, schema=TABLE.schema)
    valid, failed = validate(TABLE, table)

    expected_valid, expected_failed, keys = [], [], set()
    for row in data:
        broken = expected_rule(row, keys)
        if broken is None:
            keys.add(row["code"])
            expected_valid.append(row)
        else:
            expected_failed.append({**row, "_rule": broken[0], "_message": broken[1]})
    assert valid.to_pylist() == expected_valid
    assert failed.to_pylist() == expected_failed
    assert valid.schema == TABLE.schema
    assert failed.column_names == [*TABLE.column_names, "_rule", "_message"]
