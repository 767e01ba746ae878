"""The `arxiv-digests` command line."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.settings import Settings

app = typer.Typer(
    help="Load daily arXiv digest Markdown files into a DuckLake warehouse of Parquet tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

WarehouseOpt = Annotated[
    Path | None,
    typer.Option(
        "--warehouse",
        "-w",
        help="Warehouse folder [env ARXIV_DIGESTS_WAREHOUSE; default ./data/warehouse].",
        show_default=False,
    ),
]


def _quiet_prefect(verbose: bool) -> None:
    """Prefect's defaults suit a server, not a command: no telemetry, and its local temporary
    server logs only warnings, so a successful run prints no server noise."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _warehouse(option: Path | None) -> Path:
    return option if option is not None else Settings().warehouse


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"arxiv-digests: {message}", err=True)
    return typer.Exit(code)


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Digest files and/or folders [default: the inbox].", show_default=False
        ),
    ] = None,
    warehouse: WarehouseOpt = None,
    no_enrich: Annotated[
        bool, typer.Option("--no-enrich", help="Skip the arXiv API stage.")
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Load digest files into the warehouse (safe to re-run: known content is skipped)."""
    _quiet_prefect(verbose)
    import duckdb
    from rich.progress import Progress

    import flows.ingest
    from warehouse.lake import WarehouseError

    root = _warehouse(warehouse)
    show = sys.stderr.isatty() and not quiet
    with Progress(transient=True, disable=not show) as bar:
        job = bar.add_task("digest files", total=None)
        flows.ingest.progress = lambda done, total: bar.update(job, completed=done, total=total)
        try:
            result = flows.ingest.ingest_flow(
                paths=[str(p) for p in paths] if paths else None,
                warehouse=str(root),
                enrich=not no_enrich,
            )
        except WarehouseError as exc:
            raise _fail(str(exc)) from None
        except OSError as exc:
            raise _fail(f"cannot write the warehouse at {root}: {exc}") from None
        except duckdb.Error as exc:
            raise _query_failure(exc) from None
        finally:
            flows.ingest.progress = None
    for line in result["problems"]:
        typer.echo(line, err=True)
    typer.echo(
        f"{result['api_requests']} arXiv API request(s): {result['papers_enriched']} paper(s) "
        f"enriched, {result['papers_pending']} pending"
    )
    typer.echo(
        f"{result['files_new']} new, {result['files_skipped']} skipped, "
        f"{result['files_rejected']} rejected file(s); {result['entries_loaded']} entries loaded, "
        f"{result['entries_rejected']} rejected; {result['rejects']} new reject(s) -> {root}"
    )
    nothing_read = result["files_new"] + result["files_skipped"] == 0
    if nothing_read and (result["files_rejected"] or result["problems"]):
        raise _fail("no input could be read as a digest; see the lines above", 2)


@app.command()
def serve(
    warehouse: WarehouseOpt = None,
    inbox: Annotated[
        Path | None, typer.Option(help="Folder to load [env ARXIV_DIGESTS_INBOX].")
    ] = None,
    cron: Annotated[
        str | None, typer.Option(help="Schedule [env ARXIV_DIGESTS_SCHEDULE_CRON; 0 6 * * *].")
    ] = None,
    name: Annotated[str, typer.Option(help="Deployment name.")] = "daily",
) -> None:
    """Serve the ingest flow as a Prefect deployment on a cron schedule (runs until stopped)."""
    _quiet_prefect(verbose=True)  # a service: its log is the record of what it did
    from flows.ingest import ingest_flow

    settings = Settings()
    ingest_flow.serve(
        name=name,
        cron=cron or settings.schedule_cron,
        parameters={
            "paths": [str((inbox or settings.inbox).resolve())],
            "warehouse": str(_warehouse(warehouse).resolve()),
        },
    )


@app.command("enrich")
def enrich_command(
    warehouse: WarehouseOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Work the enrichment queue (papers waiting for the arXiv API) without reading digests."""
    _quiet_prefect(verbose)
    from flows.ingest import enrich_flow
    from warehouse.lake import WarehouseError

    try:
        result = enrich_flow(warehouse=str(_warehouse(warehouse)))
    except WarehouseError as exc:
        raise _fail(str(exc)) from None
    for line in result["problems"]:
        typer.echo(line, err=True)
    typer.echo(
        f"{result['api_requests']} arXiv API request(s): {result['papers_enriched']} paper(s) "
        f"enriched, {result['papers_pending']} pending"
    )


@app.command()
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Digest files and/or folders.")],
) -> None:
    """Parse and validate files without writing anything; print every problem."""
    from datetime import UTC, datetime

    from flows.digest_files import discover, read_batch, validate_batch

    files, missing = discover(paths)
    problems = [str(p) for p in missing]
    now = datetime.now(UTC)
    batch = read_batch(files, set(), "validate", now)
    valid = validate_batch(batch, "validate", now)
    problems += [str(p) for p in batch.problems]
    for row in valid.rejects.to_pylist():
        if row["stage"] == "validate":
            where = f"{row['source']}:{row['line']}" if row["line"] else row["source"]
            problems.append(f"{where}: {row['rule']}: {row['message']}")
    for line in problems:
        typer.echo(line)
    typer.echo(
        f"{len(files)} file(s): {valid.entries.num_rows} valid entries, "
        f"{valid.entries_rejected} rejected, {batch.files_rejected} file(s) rejected",
        err=True,
    )
    if valid.rejects.num_rows or missing:
        raise typer.Exit(1)


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


def render(columns: list[str], rows: list[tuple[Any, ...]], fmt: Format) -> str:
    if fmt is Format.json:
        return json.dumps(
            [dict(zip(columns, r, strict=True)) for r in rows],
            default=str,
            ensure_ascii=False,
            indent=1,
        )
    if fmt is Format.csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return out.getvalue().rstrip("\n")

    def cell(value: Any) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in r) + " |" for r in rows]
    if fmt is Format.markdown:
        return "\n".join(lines)
    from rich.console import Console
    from rich.table import Table as RichTable

    table = RichTable(*columns)
    for r in rows:
        table.add_row(*("" if v is None else str(v) for v in r))
    buffer = io.StringIO()
    Console(file=buffer, width=200 if not sys.stdout.isatty() else None).print(table)
    return buffer.getvalue().rstrip("\n")


def _query_failure(exc: Exception) -> typer.Exit:
    import duckdb

    from warehouse.lake import WarehouseError, damage

    if isinstance(exc, WarehouseError):
        return _fail(str(exc))
    broken = damage(exc) if isinstance(exc, duckdb.Error) else None
    if broken is not None:
        return _fail(str(broken))
    first = str(exc).splitlines()[0]
    if isinstance(exc, duckdb.PermissionException) or any(
        s in first for s in ("read-only", "configuration has been locked")
    ):
        return _fail(
            f"refused: `sql` only reads the warehouse's tables ({first}); "
            "write your own copy with `arxiv-digests export` if you need one"
        )
    return _fail(f"query failed: {first}")


@app.command()
def sql(
    query: Annotated[str, typer.Argument(help="One read-only SELECT over the tables and views.")],
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Query the warehouse as it was after this run (run_id)."),
    ] = None,
) -> None:
    """Run a read-only SQL query on the warehouse (time travel with --as-of)."""
    import duckdb

    from warehouse.lake import WarehouseError
    from warehouse.query import connect, read_only_statement

    try:
        read_only_statement(query)
        with connect(_warehouse(warehouse), as_of_run=as_of) as con:
            result = con.execute(query)
            columns = [d[0] for d in result.description or []]
            rows = result.fetchall()
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    typer.echo(render(columns, rows, fmt))


STATUS_QUERIES = {
    "rows per table": "",
    "rejects by rule": (
        "SELECT stage, rule, count(*) AS rejects FROM rejects GROUP BY ALL ORDER BY 3 DESC"
    ),
    "enrichment": "SELECT state, count(*) AS papers FROM enrichment GROUP BY ALL ORDER BY 1",
    "last runs": (
        "SELECT run_id, status, files_new, files_skipped, files_rejected, entries_loaded, "
        "rejects, api_requests, papers_pending, "
        "round(epoch(ended_at) - epoch(started_at), 1) AS seconds "
        "FROM runs ORDER BY started_at DESC LIMIT 5"
    ),
}


@app.command()
def status(warehouse: WarehouseOpt = None) -> None:
    """Row counts per table, rejects by rule, enrichment states and the last runs."""
    import duckdb

    from schemas import TABLES
    from warehouse.lake import WarehouseError
    from warehouse.query import connect

    counts = " UNION ALL ".join(
        f"SELECT '{name}' AS table_name, count(*) AS rows FROM \"{name}\"" for name in TABLES
    )
    try:
        with connect(_warehouse(warehouse)) as con:
            for title, query in STATUS_QUERIES.items():
                result = con.execute(query or counts)
                columns = [d[0] for d in result.description or []]
                typer.echo(f"\n{title}")
                typer.echo(render(columns, result.fetchall(), Format.table))
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None


@app.command("export")
def export_command(
    folder: Annotated[Path, typer.Argument(help="Folder to write <table>/*.parquet into.")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Write every table of the newest snapshot as plain Parquet (swapped in atomically)."""
    import duckdb

    from warehouse.export import export
    from warehouse.lake import Warehouse, WarehouseError

    try:
        written = export(Warehouse(_warehouse(warehouse)), folder)
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    typer.echo(f"exported {written.name} -> {folder.resolve()}/<table>/")


@app.command()
def maintain(
    warehouse: WarehouseOpt = None,
    grace: Annotated[
        float | None,
        typer.Option(help="Seconds an unreferenced file must be old to be deleted."),
    ] = None,
) -> None:
    """Compact small files, expire old snapshots, remove files no snapshot refers to."""
    import duckdb

    from warehouse.lake import Lake, Warehouse, WarehouseError
    from warehouse.maintain import maintain as upkeep

    settings = Settings()
    store = Warehouse(_warehouse(warehouse))
    if not store.exists():
        raise _fail(f"no warehouse at {store.root}")
    try:
        holder = f"maintain (pid {os.getpid()})"
        with store.lock(settings.lock_timeout_seconds, holder), Lake(store) as lake:
            done = upkeep(
                lake,
                settings.retention_days,
                settings.maintain_grace_seconds if grace is None else grace,
            )
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    typer.echo(
        f"merged {done.merged} and rewrote {done.rewritten} file group(s); expired "
        f"{done.expired} snapshot(s); removed {done.files_removed} old and "
        f"{done.orphans_removed} unreferenced file(s)"
    )


@app.command()
def check(warehouse: WarehouseOpt = None) -> None:
    """Verify every file the warehouse refers to (exists, whole, its own) and the counts."""
    from warehouse.check import check as verify
    from warehouse.lake import Warehouse

    report = verify(Warehouse(_warehouse(warehouse)))
    for line in report.damage:
        typer.echo(f"arxiv-digests: damage: {line}", err=True)
    for line in report.notes:
        typer.echo(line)
    if report.damage:
        raise typer.Exit(1)
    total = sum(report.rows.values())
    typer.echo(f"ok: {report.files} file(s) whole; {total} rows in {len(report.rows)} tables")


@app.command()
def migrate(warehouse: WarehouseOpt = None) -> None:
    """Move a warehouse of the layout before DuckLake into the lake (a run also does it)."""
    import duckdb

    from warehouse.lake import Lake, Warehouse, WarehouseError
    from warehouse.legacy import migrate as move

    settings = Settings()
    store = Warehouse(_warehouse(warehouse))
    try:
        holder = f"migrate (pid {os.getpid()})"
        with store.lock(settings.lock_timeout_seconds, holder), Lake(store) as lake:
            rows = move(lake)
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    typer.echo(f"migrated {rows} row(s)" if rows else "nothing to migrate")


@app.command()
def attach(warehouse: WarehouseOpt = None) -> None:
    """Print the SQL that opens the warehouse read-only in any DuckDB 1.5.5 shell."""
    from warehouse.lake import Warehouse, attach_script

    store = Warehouse(_warehouse(warehouse))
    if not store.exists():
        raise _fail(f"no warehouse at {store.root}: run `arxiv-digests ingest` first")
    typer.echo(attach_script(store))


@app.command()
def config() -> None:
    """Print the effective settings (environment and defaults)."""
    settings = Settings()
    for name, info in Settings.model_fields.items():
        typer.echo(f"ARXIV_DIGESTS_{name.upper()}={getattr(settings, name)}  # {info.description}")


def main() -> None:  # pragma: no cover - console script entry
    app()
