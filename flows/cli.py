"""The `arxiv-digests` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.display import Format, as_json, problem_line, render
from flows.settings import Settings

HELP = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    help="Load daily arXiv digest Markdown files into a DuckLake warehouse of Parquet tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=HELP,
)

# Options that are settings show their variable and default in --help; the value itself comes
# from `Settings`, so the environment, a `.env` file and the default agree with `config`.
WarehouseOpt = Annotated[
    Path | None,
    typer.Option(
        "--warehouse",
        "-w",
        help="Warehouse folder.",
        envvar="ARXIV_DIGESTS_WAREHOUSE",
        show_envvar=True,
        show_default="./data/warehouse",
    ),
]


def _quiet_prefect(verbose: bool) -> None:
    """Prefect's defaults suit a server, not a command: no telemetry, and its local temporary
    server logs only warnings, so a successful run prints no server noise."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO" if verbose else "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"arxiv-digests {version('arxiv-digests')}")
        raise typer.Exit()


@app.callback()
def _checked_settings(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Load daily arXiv digest Markdown files into a DuckLake warehouse of Parquet tables."""
    from pydantic import ValidationError

    from flows.settings import invalid_settings, unknown_variables

    for warning in unknown_variables(dict(os.environ)):
        typer.echo(f"arxiv-digests: warning: {warning}", err=True)
    try:
        Settings()
    except ValidationError as exc:
        raise _fail(invalid_settings(exc)) from None


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
    max_problems: Annotated[
        int, typer.Option(help="Problem lines to print; the rest are counted.", min=0)
    ] = 20,
) -> None:
    """Load digest files into the warehouse (safe to re-run: known content is skipped)."""
    _quiet_prefect(verbose)
    from rich.progress import Progress

    from flows.runner import run_flow

    root = _warehouse(warehouse)
    show = sys.stderr.isatty() and not quiet
    with Progress(transient=True, disable=not show) as bar:
        job = bar.add_task("digest files", total=None)

        def call() -> dict[str, Any]:
            import flows.ingest

            flows.ingest.progress = lambda done, total: bar.update(job, completed=done, total=total)
            return flows.ingest.ingest_flow(
                paths=[str(p) for p in paths] if paths else None,
                warehouse=str(root),
                enrich=not no_enrich,
            )

        result = run_flow(call, lambda exc: _run_failure(exc, root), verbose)
    _print_problems(result, max_problems)
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


def _print_problems(result: dict[str, Any], limit: int) -> None:
    """Every problem of the run (read, parse, validate), up to `limit` lines, then how many
    more there were and the command that lists them."""
    for line in result["problems"][:limit]:
        typer.echo(line, err=True)
    rest = result["problems_total"] - min(limit, len(result["problems"]))
    if rest > 0:
        typer.echo(
            f"... and {rest} more problem(s): `arxiv-digests rejects --run {result['run_id']}` "
            "lists the run's rejects, `arxiv-digests validate PATH...` every problem",
            err=True,
        )


def _disk_full(root: Path) -> bool:
    """Whether the disk holding the warehouse is (nearly) full: a failure there, whatever
    error it surfaced as (a failed commit, a failed rollback), is most likely that."""
    import shutil

    folder = root
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return shutil.disk_usage(folder).free < 16 * 1024 * 1024
    except OSError:
        return False


def _run_failure(exc: Exception, root: Path) -> typer.Exit:
    """The one line for a flow run that failed on something systemic."""
    if _disk_full(root):
        return _fail(f"the disk holding {root} is full: free space, then run again")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        where = exc.filename or root
        if exc.errno == 28:  # ENOSPC
            return _fail(f"the disk is full writing {where}: free space, then run again")
        return _fail(f"cannot write the warehouse at {root}: {reason} ({where})")
    text = str(exc)
    if "No space left on device" in text or "disk is full" in text.lower():
        return _fail(f"the disk is full writing {root}: free space, then run again")
    import duckdb

    from warehouse.lake import WarehouseError

    if isinstance(exc, WarehouseError | duckdb.Error):
        return _query_failure(exc)
    first = text.splitlines()[0] if text else ""
    return _fail(f"the run failed: {type(exc).__name__}: {first} (--verbose shows the details)")


@app.command()
def serve(
    warehouse: WarehouseOpt = None,
    inbox: Annotated[
        Path | None,
        typer.Option(
            help="Folder to load.",
            envvar="ARXIV_DIGESTS_INBOX",
            show_envvar=True,
            show_default="./data/inbox",
        ),
    ] = None,
    cron: Annotated[
        str | None,
        typer.Option(
            help="Schedule (cron, UTC).",
            envvar="ARXIV_DIGESTS_SCHEDULE_CRON",
            show_envvar=True,
            show_default="0 6 * * *",
        ),
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Run every this many seconds instead of on --cron.")
    ] = None,
    name: Annotated[str, typer.Option(help="Deployment name.")] = "daily",
    child: Annotated[bool, typer.Option("--child", hidden=True)] = False,
) -> None:
    """Serve the ingest flow as a scheduled Prefect deployment (runs until stopped)."""
    _quiet_prefect(verbose=True)  # a service: its log is the record of what it did
    settings = Settings()
    where = [str((inbox or settings.inbox).resolve()), str(_warehouse(warehouse).resolve())]
    if child:
        from flows.ingest import ingest_flow

        schedule = {"interval": interval} if interval else {"cron": cron or settings.schedule_cron}
        ingest_flow.serve(
            name=name, parameters={"paths": [where[0]], "warehouse": where[1]}, **schedule
        )
        return
    from flows import server
    from flows.runner import say, supervise

    if not server.configured_api():  # a schedule needs a real server
        try:
            managed, started = server.start()
        except server.ServerError as exc:
            raise _fail(str(exc)) from None
        os.environ["PREFECT_API_URL"] = managed.url
        say(f"{'started' if started else 'using'} the Prefect server at {managed.ui}")
    when = ["--interval", str(interval)] if interval else ["--cron", cron or settings.schedule_cron]
    command = ["serve", "--child", "--name", name, "--inbox", where[0], "-w", where[1], *when]
    code = supervise([sys.executable, "-m", "flows", *command])
    say(f"stopped serving ingest-digests/{name}")
    raise typer.Exit(code)


@app.command("enrich")
def enrich_command(
    warehouse: WarehouseOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
) -> None:
    """Work the enrichment queue (papers waiting for the arXiv API) without reading digests."""
    _quiet_prefect(verbose)
    from flows.runner import run_flow

    root = _warehouse(warehouse)

    def call() -> dict[str, Any]:
        from flows.ingest import enrich_flow

        return enrich_flow(warehouse=str(root))

    result = run_flow(call, lambda exc: _run_failure(exc, root), verbose)
    _print_problems(result, 20)
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
            problems.append(problem_line(row["source"], row["line"], row["rule"], row["message"]))
    for line in problems:
        typer.echo(line)
    typer.echo(
        f"{len(files)} file(s): {valid.entries.num_rows} valid entries, "
        f"{valid.entries_rejected} rejected, {batch.files_rejected} file(s) rejected",
        err=True,
    )
    if valid.rejects.num_rows or missing:
        raise typer.Exit(1)


def _query_failure(exc: Exception) -> typer.Exit:
    import duckdb

    from warehouse.lake import WarehouseError, damage

    if isinstance(exc, WarehouseError):
        return _fail(str(exc))
    broken = damage(exc) if isinstance(exc, duckdb.Error) else None
    if broken is not None:
        return _fail(str(broken))
    text = str(exc)  # whole: DuckDB's later lines say `Did you mean "papers"?`
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, duckdb.PermissionException) or any(
        s in first for s in ("read-only", "configuration has been locked")
    ):  # a refusal is ours to explain: one line, without DuckDB's pointer into the query
        return _fail(
            f"refused: `sql` only reads the warehouse's tables ({first}); "
            "write your own copy with `arxiv-digests export` if you need one"
        )
    return _fail(f"query failed: {text}")


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
    import duckdb

    from flows.display import OUTPUT_SUFFIXES, write_result
    from warehouse.lake import WarehouseError, arrow
    from warehouse.query import connect, read_only_statement

    root = _warehouse(warehouse)
    if output is not None:
        if output.suffix.lower() not in OUTPUT_SUFFIXES:
            raise _fail(f"--output {output}: the name must end in {', '.join(OUTPUT_SUFFIXES)}")
        if output.resolve().is_relative_to(root.resolve()):
            raise _fail(f"--output {output} is inside the warehouse: write it elsewhere", 2)
    try:
        read_only_statement(query)
        with connect(root, as_of_run=as_of) as con:
            result = arrow(con.execute(query))
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    if output is not None:
        write_result(result, output)
        typer.echo(f"{result.num_rows} row(s) -> {output}", err=True)
        return
    rows = list(zip(*(c.to_pylist() for c in result.columns), strict=True))
    typer.echo(render(result.column_names, rows, fmt))
    typer.echo(f"{result.num_rows} row(s)", err=True)


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
def status(
    warehouse: WarehouseOpt = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Row counts per table, rejects by rule, enrichment states and the last runs (in JSON:
    one object with a list of rows per section)."""
    import duckdb

    from schemas import TABLES
    from warehouse.lake import WarehouseError
    from warehouse.query import connect

    counts = " UNION ALL ".join(
        f"SELECT '{name}' AS table_name, count(*) AS rows FROM \"{name}\"" for name in TABLES
    )
    sections: dict[str, Any] = {}
    try:
        with connect(_warehouse(warehouse)) as con:
            for title, query in STATUS_QUERIES.items():
                result = con.execute(query or counts)
                columns = [d[0] for d in result.description or []]
                sections[title] = (columns, result.fetchall())
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    if fmt is Format.json:
        whole = {t: json.loads(as_json(c, r)) for t, (c, r) in sections.items()}
        typer.echo(json.dumps(whole, ensure_ascii=False, indent=1))
        return
    for title, (columns, rows) in sections.items():
        typer.echo(f"\n{title}")
        typer.echo(render(columns, rows, fmt))


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
def report(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Folder for index.html.",
            envvar="ARXIV_DIGESTS_REPORT_DIR",
            show_envvar=True,
            show_default="report/ beside the warehouse",
        ),
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """Write the warehouse as one static HTML page with charts (opens offline)."""
    import duckdb

    from flows.report import build
    from warehouse.lake import WarehouseError

    root = _warehouse(warehouse)
    folder = out if out is not None else root.resolve().parent / "report"
    try:
        page = build(root, folder)
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    typer.echo(f"report -> {page.resolve()} ({page.stat().st_size:,} bytes)")


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


runs_app = typer.Typer(
    help="The warehouse's runs: the last ones, one line each, or one run whole.",
    invoke_without_command=True,
)
app.add_typer(runs_app, name="runs")

RUN_LINE = (
    "SELECT run_id, status, strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started, "
    "round(epoch(ended_at) - epoch(started_at), 1) AS seconds, files_new, files_skipped, "
    "files_rejected, entries_loaded, rejects, api_requests, papers_enriched, papers_pending "
    "FROM runs ORDER BY started_at DESC LIMIT ?"
)


@runs_app.callback()
def runs_list(
    ctx: typer.Context,
    last: Annotated[int, typer.Option(help="How many runs, newest first.")] = 10,
    warehouse: WarehouseOpt = None,
) -> None:
    """List the last runs, one line each (`runs show RUN_ID` for one run whole)."""
    if ctx.invoked_subcommand is not None:
        return
    import duckdb

    from warehouse.lake import WarehouseError
    from warehouse.query import connect

    try:
        with connect(_warehouse(warehouse)) as con:
            for row in con.execute(RUN_LINE, [last]).fetchall():
                run_id, status, started, seconds, new, skipped, rejected, *rest = row
                loaded, rejects, requests, enriched, pending = rest
                typer.echo(
                    f"{run_id}  {status:<6} {started} UTC  {seconds:>6} s  files {new} new, "
                    f"{skipped} skipped, {rejected} rejected; {loaded} entries, {rejects} "
                    f"rejects; API {requests} requests, {enriched} enriched, {pending} pending"
                )
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(help="A run id, as `runs` lists them.")],
    warehouse: WarehouseOpt = None,
) -> None:
    """One run: its stages with durations, its counts, its rejects by rule, and the papers
    still pending with the time each is next due."""
    import duckdb

    from schemas.tables import RUNS
    from warehouse.lake import WarehouseError
    from warehouse.query import connect

    try:
        with connect(_warehouse(warehouse)) as con:
            result = con.execute("SELECT * FROM runs WHERE run_id = ?", [run_id])
            names = [d[0] for d in result.description or []]
            row = result.fetchone()
            if row is None:
                raise _fail(f"no run {run_id}: `arxiv-digests runs` lists them")
            pending = con.execute(
                "SELECT arxiv_id, attempts, next_attempt_at, last_error FROM enrichment "
                "WHERE state = 'pending' ORDER BY next_attempt_at NULLS FIRST, arxiv_id LIMIT 20"
            ).fetchall()
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    docs = {c.name: c.doc for c in RUNS.columns}
    for name, value in zip(names, row, strict=True):
        typer.echo(f"{name:<18} {value}  # {docs.get(name, '')}")
    typer.echo(f"\npapers pending now (first {len(pending)}, by next attempt):")
    for ident, attempts, due, error in pending:
        when = "now" if due is None else f"{due:%Y-%m-%d %H:%M:%S} UTC"
        typer.echo(f"  {ident}  due {when}, {attempts} attempt(s){f'; {error}' if error else ''}")


rejects_app = typer.Typer(
    help="What could not be loaded: list it, or replay it with the current code.",
    invoke_without_command=True,
)
app.add_typer(rejects_app, name="rejects")


@rejects_app.callback()
def rejects_list(
    ctx: typer.Context,
    run: Annotated[str | None, typer.Option(help="Only this run's rejects (run_id).")] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule (`malformed_row`…).")] = None,
    file: Annotated[
        str | None, typer.Option(help="Only files whose path contains this text.")
    ] = None,
    resolved: Annotated[
        bool, typer.Option(help="Also the rejects a replay has since loaded.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many, oldest first.", min=1)] = 100,
    fmt: Annotated[
        Format | None, typer.Option("--format", "-f", help="A table format instead of lines.")
    ] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """List rejects as `file:line: rule: message` lines, filtered by run, rule or file."""
    if ctx.invoked_subcommand is not None:
        return
    import duckdb

    from warehouse.lake import WarehouseError
    from warehouse.query import connect

    where = ["(? OR resolved_by IS NULL)"]
    params: list[Any] = [resolved]
    for column, value in (("run_id", run), ("rule", rule)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if file is not None:
        where.append("contains(source, ?)")
        params.append(file)
    query = (
        "SELECT source, line, stage, rule, message, run_id, resolved_by, raw FROM rejects "
        f"WHERE {' AND '.join(where)} ORDER BY rejected_at, source, line LIMIT ?"
    )
    try:
        with connect(_warehouse(warehouse)) as con:
            result = con.execute(query, [*params, limit])
            columns = [d[0] for d in result.description or []]
            rows = result.fetchall()
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    if fmt is not None:
        typer.echo(render(columns, rows, fmt))
    else:
        for source, line, _stage, rule_name, message, *_ in rows:
            typer.echo(problem_line(source, line, rule_name, message))
    typer.echo(f"{len(rows)} reject(s)", err=True)


@rejects_app.command("replay")
def rejects_replay(warehouse: WarehouseOpt = None) -> None:
    """Parse and validate the raw text of row rejects again with the current code; the rows
    that pass now are loaded in one transaction and their rejects marked resolved."""
    import duckdb

    from flows.ingest import new_run_id
    from flows.replay import replay
    from warehouse.export import export
    from warehouse.lake import Lake, Warehouse, WarehouseError

    settings = Settings()
    store = Warehouse(_warehouse(warehouse))
    if not store.exists():
        raise _fail(f"no warehouse at {store.root}")
    from datetime import UTC, datetime

    run_id = new_run_id(datetime.now(UTC))
    try:
        holder = f"rejects replay (pid {os.getpid()})"
        with store.lock(settings.lock_timeout_seconds, holder), Lake(store) as lake:
            done = replay(lake, run_id)
            if done.moved and settings.export_dir is not None:
                export(store, settings.export_dir)
    except (WarehouseError, duckdb.Error) as exc:
        raise _query_failure(exc) from None
    why = ", ".join(f"{rule} {n}" for rule, n in done.still.most_common())
    typer.echo(
        f"replayed {done.tried} reject(s): {done.moved} row(s) loaded"
        + (f" (run {done.run_id})" if done.run_id else "")
        + (f"; still rejected: {why}" if why else "")
    )


server_app = typer.Typer(help="The local Prefect server the product manages.", no_args_is_help=True)
app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start() -> None:
    """Start Prefect's server in the background on 127.0.0.1 (or say where it runs)."""
    from flows import server

    try:
        up, started = server.start()
    except server.ServerError as exc:
        raise _fail(str(exc)) from None
    state = "started" if started else "already running"
    typer.echo(
        f"Prefect server {state} (pid {up.pid}): UI at {up.ui}, log {server.home()}/server.log"
    )


@server_app.command("stop")
def server_stop() -> None:
    """Stop the managed Prefect server."""
    from flows import server

    stopped = server.stop()
    typer.echo(
        f"stopped the Prefect server (pid {stopped.pid})" if stopped else "no server was running"
    )


@server_app.command("status")
def server_status() -> None:
    """Say whether the managed Prefect server is up, and where."""
    from flows import server

    up = server.running()
    if up is None:
        typer.echo("not running: `arxiv-digests server start` starts it")
        raise typer.Exit(1)
    typer.echo(f"running (pid {up.pid}): UI at {up.ui}, API {up.url}")


def main() -> None:  # pragma: no cover - console script entry
    app()
