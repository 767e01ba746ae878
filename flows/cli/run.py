"""The commands that run the flows: ingest, serve, enrich, and validate (the parser alone)."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.cli.common import (
    WarehouseOpt,
    app,
    existing_store,
    fail,
    load_settings,
    print_problems,
    quiet_prefect,
    run_failure,
    setting_option,
    warehouse_of,
)
from flows.digests.text import problem_line
from flows.pipeline.run_stats import run_summary

if TYPE_CHECKING:
    from warehouse.lake import Warehouse


DateOpt = Annotated[
    datetime | None,
    typer.Option(
        "--date",
        formats=["%Y-%m-%d"],
        help="Date (YYYY-MM-DD) of a day's drop: given to the digests read from PATHS whose "
        "path names no date, those loaded before with no date included.",
        show_default=False,
    ),
]


@app.command()
def ingest(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Digest files, folders and/or s3://bucket/prefix [default: the inbox].",
            show_default=False,
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
    dask_address: Annotated[
        str | None,
        setting_option(
            "Dask scheduler that parses the batches.", "dask_address", "none", "--dask-address"
        ),
    ] = None,
    day: DateOpt = None,
) -> None:
    """Load digest files, or every version on a git history (git+URL[@REV]), into the
    warehouse (safe to re-run: known content is skipped)."""
    quiet_prefect(verbose)
    if dask_address:  # the flow reads its settings where it runs
        os.environ["ARXIV_DIGESTS_DASK_ADDRESS"] = dask_address
    root = warehouse_of(warehouse)
    _refuse_early(paths, root)
    from flows.cli.progress import shown
    from flows.cli.runner import run_flow

    with shown("digest files", quiet) as progress:
        call = _ingest_call(
            paths, root, not no_enrich, progress, day.date().isoformat() if day else None
        )
        result = run_flow(call, lambda exc: run_failure(exc, root), verbose)
    _print_result(result, root, max_problems)
    _said_what_was_read(result, paths)


def _print_result(result: dict[str, Any], root: str, max_problems: int) -> None:
    """A run's problems, what it said (a history walked again, digests dated), its figures."""
    print_problems(result, max_problems)
    for line in result.get("lines", []):
        typer.echo(line, err=True)
    typer.echo(run_summary(result, root))


def _said_what_was_read(result: dict[str, Any], paths: list[str] | None) -> None:
    """Exit 2 when nothing could be read as a digest; name what was looked for when there was
    nothing at all."""
    nothing_read = result["files_new"] + result["files_skipped"] + result["files_waiting"] == 0
    if nothing_read and (result["files_rejected"] or result["problems"]):
        raise fail("no input could be read as a digest; see the lines above", 2)
    if result["files_seen"] == 0:
        from flows.digests.history import is_git
        from flows.digests.text import DIGEST_SUFFIXES

        looked = ", ".join(f"*{s}" for s in DIGEST_SUFFIXES)
        given = paths or ["the inbox"]
        if all(is_git(p) for p in given):
            typer.echo(f"no new digest versions on {', '.join(given)} since the last run", err=True)
        else:
            typer.echo(
                f"no digest files ({looked}) in {', '.join(given)}{_git_hint(given)}", err=True
            )


def _refuse_early(paths: list[str] | None, root: str) -> None:
    """What stops a run before it starts (no server, no warehouse made): a Dask scheduler that
    cannot be reached, and, for a warehouse not made yet, inputs holding no digest file."""
    from flows.digests.discover import discover
    from flows.digests.text import DIGEST_SUFFIXES
    from warehouse.lake import Warehouse, WarehouseError

    settings = load_settings()
    if settings.dask_address:
        from flows.pipeline.distributed import unreachable_scheduler

        if (why := unreachable_scheduler(settings.dask_address)) is not None:
            raise fail(why)
    inputs = paths or [settings.inbox]
    try:
        store = Warehouse(root, settings.catalog)
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    if store.catalog.shared:
        _reachable_catalog(store)
    histories = _histories_readable(inputs)  # a git source that cannot be read: one line now
    if store.exists():
        return  # a run is recorded, even with nothing new: its row says what it looked at
    if (lost := store.lost_catalog()) is not None:
        raise fail(str(lost))
    try:  # a system folder, or one holding a user's files: one line before a server starts
        store.refuse_new_lake_here()
    except WarehouseError as exc:
        raise fail(str(exc)) from None
    if histories:
        return
    files, problems = discover(inputs)
    if files:
        return
    looked = ", ".join(f"*{s}" for s in DIGEST_SUFFIXES)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise fail(f"{problems[0]}{more}; no digest files ({looked}) to load: no warehouse made", 2)
    raise fail(
        f"no digest files ({looked}; hidden files skipped) in {', '.join(inputs)}: nothing "
        f"to load, and no warehouse was made{_git_hint(inputs)}",
        0,
    )


def _git_hint(inputs: list[str]) -> str:
    """A hint for a git repository given as a folder: its history is read as `git+file://`."""
    for text in inputs:
        folder = Path(text)
        if (folder / ".git").exists() or (
            (folder / "HEAD").is_file() and (folder / "objects").is_dir()
        ):
            return (
                f" ({text} is a git repository: `git+file://{folder.resolve()}` reads its history)"
            )
    return ""


def _histories_readable(inputs: list[str]) -> bool:
    """Whether a git source is among the inputs (each a readable one, or one line: exit 2).
    A remote one is mirrored by the run itself."""
    from flows.digests.git import GitSourceError
    from flows.digests.history import (
        GitSource,
        check_reachable,
        head_commit,
        is_git,
        repository_folder,
    )

    histories = [text for text in inputs if is_git(text)]
    for text in histories:
        try:
            source = GitSource.parse(text)
            if source.remote:
                check_reachable(source)
            else:
                head_commit(source, repository_folder(source, Path()))
        except GitSourceError as exc:
            raise fail(f"{exc}; nothing loaded", 2) from None
    return bool(histories)


def _reachable_catalog(store: Warehouse) -> None:
    """A PostgreSQL catalog that refuses the connection fails at once, before any server
    starts or any folder is made (a catalog with no lake yet is fine: the run makes one)."""
    from warehouse.connection import no_warehouse, open_connection
    from warehouse.lake import WarehouseError

    try:
        open_connection(store, read_only=True).close()
    except WarehouseError as exc:
        if str(exc) != str(no_warehouse(store)):
            raise fail(str(exc)) from None


def _ingest_call(
    paths: list[str] | None,
    root: str,
    enrich: bool,
    progress: Callable[[int, int], None],
    day: str | None = None,
) -> Callable[[], dict[str, Any]]:
    """The ingest flow run, on the Dask scheduler the settings name, if any."""

    def call() -> dict[str, Any]:
        from flows.pipeline.distributed import with_task_runner
        from flows.pipeline.ingest import ingest_flow
        from flows.pipeline.shell import reporting

        flow = with_task_runner(ingest_flow, load_settings())
        with reporting(progress):
            result: dict[str, Any] = flow(
                paths=[str(p) for p in paths] if paths else None,
                warehouse=str(root),
                enrich=enrich,
                digest_date=day,
            )
            return result

    return call


def _check_schedule(interval: float | None, cron: str | None) -> None:
    """A schedule given on the command line is one Prefect accepts, or one line (exit 2)."""
    if interval is not None and not 1 <= interval <= 366 * 86_400:
        raise fail(f"--interval {interval:g}: expected seconds between runs, from 1 to a year", 2)
    if cron is not None:
        from flows.settings import checked_cron

        try:
            checked_cron(cron)
        except ValueError as exc:
            raise fail(f"--cron {cron!r}: {exc}", 2) from None


@app.command()
def serve(
    warehouse: WarehouseOpt = None,
    inbox: Annotated[
        str | None,
        setting_option(
            "Folder, s3://bucket/prefix or git+URL[@REV] to load.", "inbox", "./data/inbox"
        ),
    ] = None,
    cron: Annotated[
        str | None, setting_option("Schedule (cron, UTC).", "schedule_cron", "0 6 * * *")
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Run every this many seconds instead of on --cron.")
    ] = None,
    name: Annotated[str, typer.Option(help="Deployment name.")] = "daily",
    child: Annotated[bool, typer.Option("--child", hidden=True)] = False,
) -> None:
    """Serve the ingest flow as a scheduled Prefect deployment (runs until stopped)."""
    # Each run ends in the lines `ingest` prints (flows.pipeline.served).
    quiet_prefect(verbose=False)
    settings = load_settings()
    _check_schedule(interval, cron)
    where = [_location(inbox or settings.inbox), warehouse_of(warehouse)]
    if child:
        schedule = {"interval": interval} if interval else {"cron": cron or settings.schedule_cron}
        from flows.pipeline.served import AlreadyServed, serve_here

        try:
            serve_here(name, where, schedule)
        except AlreadyServed as exc:
            raise fail(str(exc)) from None
        return
    from flows.cli.runner import say, supervise
    from flows.operations import server

    if not server.configured_api():  # a schedule needs a real server
        try:
            managed, started = server.start(settings.server_port)
        except server.ServerError as exc:
            raise fail(str(exc)) from None
        os.environ["PREFECT_API_URL"] = managed.url
        say(f"{'started' if started else 'using'} the Prefect server at {managed.ui}")
    when = ["--interval", str(interval)] if interval else ["--cron", cron or settings.schedule_cron]
    command = ["serve", "--child", "--name", name, "--inbox", where[0], "-w", where[1], *when]
    code = supervise([sys.executable, "-m", "flows", *command])
    say(f"stopped serving ingest-digests/{name}")
    raise typer.Exit(code)


def _location(inbox: str) -> str:
    """An inbox as the served flow gets it: a folder as an absolute path, a git source
    checked (one line, exit 2, when it cannot be read)."""
    from warehouse.location import is_remote

    if _histories_readable([inbox]) or is_remote(inbox):
        return inbox
    folder = Path(inbox).expanduser().resolve()
    if not folder.is_dir():  # every scheduled run would make an empty warehouse
        raise fail(
            f"the inbox {folder} is not a folder: create it, or point --inbox / "
            "ARXIV_DIGESTS_INBOX at the folder the digests arrive in",
            2,
        )
    return str(folder)


@app.command("enrich")
def enrich_command(
    warehouse: WarehouseOpt = None,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Ask for at most N papers.")
    ] = None,
    everything: Annotated[
        bool,
        typer.Option(
            "--all", help="No time budget: until the queue is empty, committing as it goes."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show Prefect's logs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Work the enrichment queue (papers waiting for the arXiv API) without reading digests:
    within ARXIV_DIGESTS_ARXIV_MAX_SECONDS, or `--all`. Answers are committed as they come:
    Ctrl-C keeps them."""
    quiet_prefect(verbose)
    from flows.cli.progress import shown
    from flows.cli.runner import run_flow

    root = warehouse_of(warehouse)
    existing_store(warehouse)  # a mistyped path is one line, not a new, empty warehouse
    with shown("papers", quiet) as progress:

        def call() -> dict[str, Any]:
            from flows.pipeline.enriching import enrich_flow
            from flows.pipeline.shell import reporting

            with reporting(progress):
                return enrich_flow(warehouse=str(root), limit=limit, everything=everything)

        result = run_flow(call, lambda exc: run_failure(exc, root), verbose)
    print_problems(result, 20)
    typer.echo(
        f"{result['api_requests']} arXiv API request(s): {result['papers_enriched']} paper(s) "
        f"enriched, {result['papers_pending']} pending"
    )


@app.command()
def validate(
    paths: Annotated[
        list[str], typer.Argument(help="Digest files, folders and/or s3://bucket/prefix.")
    ],
) -> None:
    """Parse and validate files without writing anything; print every problem."""
    from datetime import UTC, datetime

    from flows.digests.discover import discover
    from flows.digests.parsed import validate_batch
    from flows.digests.read import read_batch

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
