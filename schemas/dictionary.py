"""The data dictionary (docs/tables.md), generated from the table declarations.

`python -m schemas.dictionary --write docs/tables.md` (or `make docs`) rewrites the page's
generated block; a test fails when it is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow as pa

from schemas import TABLES
from schemas.model import Column

BEGIN = "<!-- data-dictionary:begin (generated: `make docs`) -->"
END = "<!-- data-dictionary:end -->"


def _type(t: pa.DataType) -> str:
    if pa.types.is_timestamp(t):
        return "timestamp (UTC)"
    if pa.types.is_date32(t):
        return "date"
    if pa.types.is_list(t):
        return f"list<{_type(t.value_type)}>"
    if pa.types.is_struct(t):
        return "struct<" + ", ".join(f"{f.name}: {_type(f.type)}" for f in t) + ">"
    return str(t)


def rules(col: Column) -> str:
    """A column's rules in words, for the data dictionary."""
    rules = ["required"] if col.required else []
    if col.pattern:
        rules.append(col.pattern_doc or f"matches `{col.pattern}`")
    if col.enum:
        rules.append("one of " + ", ".join(f"`{v}`" for v in col.enum))
    if col.not_future:
        rules.append("not in the future")
    return "; ".join(rules)


def data_dictionary() -> str:
    """The data dictionary of every table, as Markdown."""
    out = [BEGIN]
    for table in TABLES.values():
        key = ", ".join(table.key)
        out += [
            "",
            f"### `{table.name}`",
            "",
            f"{table.doc} Key: ({key}).",
            "",
            "| column | type | rules | meaning |",
            "| --- | --- | --- | --- |",
        ]
        out += [
            f"| `{c.name}` | {_type(c.type)} | {rules(c)} | {c.doc.replace('|', '/')} |"
            for c in table.columns
        ]
    out += ["", END]
    return "\n".join(out)


def generated_block(text: str, begin: str, end: str) -> str | None:
    """The block of `text` from the line `begin` to the line `end`, both included."""
    start = text.find(begin)
    stop = text.find(end, start)
    return None if start < 0 or stop < 0 else text[start : stop + len(end)]


def write_block(path: Path, block: str, begin: str, end: str) -> None:
    """Put `block` (from `begin` to `end`) in place of the page's generated block, or at its
    end when it has none."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    old = generated_block(text, begin, end)
    text = text.replace(old, block) if old else text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--write"]:
        write_block(Path(sys.argv[2]), data_dictionary(), BEGIN, END)
    else:
        print(data_dictionary())
