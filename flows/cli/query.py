"""The commands that read the warehouse: sql, status, runs, report, attach, config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from flows.cli.common import (
    WarehouseOpt,
    app,
    existing_store,
    fail,
    load_settings,
    query_failure,
    query_failures,
    setting_option,
    store_of,
)
from flows.cli.display import Format, as_json, render
from flows.digests.names import undated_note
from flows.settings import Settings


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only SELECT over the tables and views.")],
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the result to this .csv, .json or .parquet file."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Query the warehouse as it was after this run (run_id)."),
    ] = None,
) -> None:
    """Run a read-only SQL query on the warehouse (time travel with --as-of). The row count
    goes to stderr."""
    from flows.cli.display import OUTPUT_SUFFIXES, write_result
    from flows.common.atomic import write_failure
    from warehouse.reads import select

    root = store_of(warehouse)
    if output is not None:
        if output.suffix.lower() not in OUTPUT_SUFFIXES:
            raise fail(f"--output {output}: the name must end in {', '.join(OUTPUT_SUFFIXES)}")
        if not root.remote and output.resolve().is_relative_to(root.root):
            raise fail(f"--output {output} is inside the warehouse: write it elsewhere", 2)
    with query_failures():
        result = select(root, query, as_of)
    if output is not None:
        try:
            write_result(result, output)
        except OSError as exc:
            raise fail(write_failure(output, exc)) from None
        typer.echo(f"{result.num_rows} row(s) -> {output}", err=True)
        return
    rows = list(zip(*(c.to_pylist() for c in result.columns), strict=True))
    typer.echo(render(result.column_names, rows, fmt))
    typer.echo(f"{result.num_rows} row(s)", err=True)


@app.command()
def status(
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Row counts per table, rejects by rule, enrichment states and the last runs (in JSON:
    one object with a list of rows per section)."""
    from warehouse.reads import status_sections

    with query_failures():
        sections = status_sections(store_of(warehouse))
    if fmt is Format.json:  # keys scripts can use as names: `rows_per_table`
        whole = {t.replace(" ", "_"): json.loads(as_json(c, r)) for t, (c, r) in sections.items()}
        typer.echo(json.dumps(whole, ensure_ascii=False, indent=1))
        return
    for title, (columns, rows) in sections.items():
        typer.echo(f"\n{title}")
        typer.echo(render(columns, rows, fmt))
    for dated_by, digests, entries, *_ in sections["digest dates"][1]:
        if dated_by == "no date":
            typer.echo(f"\n{undated_note(digests, entries)}")
    pending = sum(n for state, n in sections["enrichment"][1] if state == "pending")
    if pending:
        typer.echo(f"\n{queue_note(pending)}")


def queue_note(pending: int) -> str:
    """How long the papers waiting for the API take at the configured rate."""
    settings = load_settings()
    requests = -(-pending // settings.arxiv_batch_size)
    seconds = requests * max(settings.arxiv_delay_seconds, 0.0)
    hours, minutes = divmod(round(seconds / 60), 60)
    took = (
        f"{hours} h {minutes} min" if hours else f"{minutes} min" if minutes else f"{seconds:.0f} s"
    )
    return (
        f"{pending} paper(s) wait for the arXiv API: {requests} request(s), about {took} at "
        f"one request every {settings.arxiv_delay_seconds:g} s; `arxiv-digests enrich --all` "
        "works through them, committing as it goes (Ctrl-C keeps what it fetched)"
    )


@app.command()
def report(
    out: Annotated[
        Path | None,
        setting_option(
            "Folder for index.html.", "report_dir", "report/ in the warehouse's folder", "--out"
        ),
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the warehouse as one static HTML page with charts (opens offline)."""
    from flows.common.atomic import write_failure
    from flows.operations.report import build
    from warehouse.errors import STORAGE_ERRORS

    root = store_of(warehouse)
    local = Path("report") if root.remote else root.root / "report"  # its own: one per warehouse
    folder = out if out is not None else local
    try:
        page = build(root, folder)
    except STORAGE_ERRORS as exc:
        raise query_failure(exc) from None
    except OSError as exc:
        raise fail(write_failure(folder / "index.html", exc)) from None
    typer.echo(f"report -> {page.resolve()} ({page.stat().st_size:,} bytes)")


@app.command()
def attach(warehouse: WarehouseOpt = None) -> None:
    """Print the SQL that opens the warehouse read-only in any DuckDB 1.5.5 shell."""
    from warehouse.connection import attach_script

    store = existing_store(warehouse)
    typer.echo(attach_script(store))
    if store.catalog.has_password():
        typer.echo(
            "arxiv-digests: the catalog's password is not printed: set PGPASSWORD in the "
            "environment of the shell that runs duckdb",
            err=True,
        )


@app.command()
def config() -> None:
    """Print the effective settings (environment and defaults)."""
    from warehouse.location import Catalog

    settings = load_settings()
    for name, info in Settings.model_fields.items():
        value = getattr(settings, name)
        if name == "catalog" and value is not None:
            value = Catalog.parse(value).shown()  # a PostgreSQL password is never printed
        # Unset prints as an empty value: pasted back, the line leaves the setting unset.
        shown, note = ("", "unset; ") if value is None else (value, "")
        typer.echo(f"ARXIV_DIGESTS_{name.upper()}={shown}  # {note}{info.description}")


runs_app = typer.Typer(
    help="The warehouse's runs: the last ones, one line each, or one run whole.",
    invoke_without_command=True,
)

app.add_typer(runs_app, name="runs")


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    last: Annotated[int, typer.Option(help="How many runs, newest first.", min=1)] = 10,
    warehouse: WarehouseOpt = None,
) -> None:
    """List the last runs, one line each (`runs show RUN_ID` for one run whole)."""
    if ctx.invoked_subcommand is not None:
        return
    from warehouse.reads import run_lines

    with query_failures():
        rows = run_lines(store_of(warehouse), last)
    for run_id, kind, status, started, seconds, new, skipped, rejected, *rest in rows:
        loaded, updated, rejects, requests, enriched, pending = rest
        # A reparse loads, updates and rejects rows of digests already loaded.
        entries = f"{loaded} entries" + ("" if updated is None else f", {updated} updated")
        typer.echo(
            f"{run_id}  {kind:<7} {status:<11} {started} UTC  {seconds:>6} s  "
            f"files {new} new, {skipped} skipped, {rejected} rejected; {entries}, {rejects} "
            f"rejects; API {requests} requests, {enriched} enriched, {pending} pending"
        )


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A run id, as `runs` lists them.")],
    warehouse: WarehouseOpt = None,
) -> None:
    """One run: its stages with durations, its counts, its rejects by rule, and the papers
    still pending with the time each is next due."""
    from schemas.tables import RUNS
    from warehouse.reads import run_whole

    with query_failures():
        (names, found), pending = run_whole(store_of(warehouse), run_id)
    if not found:
        raise fail(f"no run {run_id}: `arxiv-digests runs` lists them")
    row = found[0]
    docs = {c.name: c.doc for c in RUNS.columns}
    for name, value in zip(names, row, strict=True):
        shown = f"{value:.3f}" if isinstance(value, float) else value
        typer.echo(f"{name:<18} {shown}  # {docs.get(name, '')}")
    typer.echo(f"\npapers pending now (first {len(pending)}, by next attempt):")
    for ident, attempts, due, error in pending:
        when = "now" if due is None else f"{due:%Y-%m-%d %H:%M:%S} UTC"
        typer.echo(f"  {ident}  due {when}, {attempts} attempt(s){f'; {error}' if error else ''}")
