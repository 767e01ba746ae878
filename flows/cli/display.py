"""How the command line shows query results in each output format, with text exactly as
stored. (Problem lines and escaped names are `flows.digests.text`'s.)"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any


class Format(StrEnum):
    """The output formats of `sql`, `status` and `rejects`."""

    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def as_json(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    """Rows as a JSON array of objects, text as it is (no ASCII escaping)."""
    return json.dumps(
        [dict(zip(columns, r, strict=True)) for r in rows],
        default=_json_value,
        ensure_ascii=False,
        indent=1,
    )


def _csv_value(value: Any) -> Any:
    """A list or a struct as JSON text: CSV has no nested values."""
    if isinstance(value, list | dict):
        return json.dumps(value, default=_json_value, ensure_ascii=False)
    return value


def flat_for_csv(result: Any) -> Any:
    """An Arrow table with its list, struct and map columns as JSON text, for CSV."""
    import pyarrow as pa

    for index, field in enumerate(result.schema):
        if pa.types.is_nested(field.type):
            values = [
                None if v is None else _csv_value(v) for v in result.column(index).to_pylist()
            ]
            result = result.set_column(index, field.name, pa.array(values, pa.string()))
    return result


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: Format) -> str:
    """Rows in `fmt`. Text is shown as stored: never read as markup, and escaped only where
    the format itself needs it (`|` and line breaks in a Markdown cell)."""
    if fmt is Format.json:
        return as_json(columns, rows)
    if fmt is Format.csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_csv_value(v) for v in r] for r in rows])
        return out.getvalue().rstrip("\n")
    if fmt is Format.markdown:

        def cell(value: Any) -> str:
            text = "" if value is None else str(value)
            return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")

        lines = ["| " + " | ".join(cell(c) for c in columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
        return "\n".join(lines)
    return _rich_table(columns, rows)


def _rich_table(columns: list[str], rows: list[tuple[Any, ...]]) -> str:
    from rich.console import Console
    from rich.table import Column, Table
    from rich.text import Text

    # Text objects, not strings: rich reads a string as markup (`[red]x[/red]` would vanish)
    # and highlights numbers and URLs in it.
    # Folded, not cut with an ellipsis: every character of a long value is shown.
    table = Table(*(Column(header=Text(c), overflow="fold") for c in columns))
    for r in rows:
        table.add_row(*(Text("" if v is None else str(v)) for v in r))
    buffer = io.StringIO()
    width = None if sys.stdout.isatty() else 200
    Console(file=buffer, width=width, highlight=False, markup=False, emoji=False).print(table)
    return buffer.getvalue().rstrip("\n")


OUTPUT_SUFFIXES = (".csv", ".json", ".parquet")


def write_result(result: Any, path: Path) -> None:
    """An Arrow table to `path` in the format its suffix names, written beside it and renamed
    into place: a reader never sees half a file."""
    import pyarrow.csv
    import pyarrow.parquet

    from flows.common.atomic import replaced

    suffix = path.suffix.lower()
    with replaced(path) as stream:
        if suffix == ".parquet":
            pyarrow.parquet.write_table(result, stream)
        elif suffix == ".csv":
            pyarrow.csv.write_csv(flat_for_csv(result), stream)
        else:
            rows = list(zip(*(c.to_pylist() for c in result.columns), strict=True))
            stream.write((as_json(result.column_names, rows) + "\n").encode("utf-8"))
