"""`arxiv-digests search`: the papers that best match words, English or Chinese."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from flows.cli.common import WarehouseOpt, app, existing_store, query_failures
from flows.cli.display import Format, render

DAY = "%Y-%m-%d"


@app.command()
def search(
    query: Annotated[str, typer.Argument(help="Words to look for: English, Chinese or both.")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many papers.", min=1)] = 20,
    since: Annotated[
        datetime | None,
        typer.Option(
            help="Only papers a digest of this date or later mentions.", formats=["%Y-%m-%d"]
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            help="Only papers a digest of this date or earlier mentions.", formats=["%Y-%m-%d"]
        ),
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="Only papers a digest lists under this category (cs.CL).")
    ] = None,
    generator: Annotated[
        str | None,
        typer.Option(help="Only papers a digest of this family mentions (docs/families.md)."),
    ] = None,
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Search every digest's papers, best first: one row per paper with its score, a snippet
    with the matched words marked «so», and the first and last digest dates that mention it
    (and on how many days). The row count goes to stderr."""
    from warehouse.search import search as ranked

    with query_failures():
        result = ranked(
            existing_store(warehouse), query, limit, since and since.date(), until and until.date(),
            category, generator,
        )  # fmt: skip
    rows = list(zip(*(c.to_pylist() for c in result.columns), strict=True))
    typer.echo(render(result.column_names, rows, fmt))
    typer.echo(f"{result.num_rows} paper(s)", err=True)
