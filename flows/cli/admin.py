"""The commands that look after the warehouse and its server: export, maintain, check,
migrate, rejects, server."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli.common import (
    WarehouseOpt,
    app,
    existing_store,
    fail,
    load_settings,
    query_failures,
    setting_option,
    store_of,
)
from flows.cli.display import Format, render
from flows.digests.text import problem_line

if TYPE_CHECKING:
    from flows.settings import Settings
    from warehouse.lake import Lake


@app.command("export")
def export_command(
    folder: Annotated[Path, typer.Argument(help="Folder to write <table>/*.parquet into.")],
    warehouse: WarehouseOpt = None,
) -> None:
    """Write every table of the newest snapshot as plain Parquet (swapped in atomically)."""
    from warehouse.export import export

    with query_failures():
        written = export(existing_store(warehouse), folder)
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
    from warehouse.lake import Lake
    from warehouse.maintain import maintain as upkeep

    settings = load_settings()
    store = existing_store(warehouse)
    with query_failures():
        holder = f"maintain (pid {os.getpid()})"
        with store.lock(settings.lock_timeout_seconds, holder), Lake(store) as lake:
            done = upkeep(
                lake,
                settings.retention_days,
                settings.maintain_grace_seconds if grace is None else grace,
            )
    typer.echo(
        f"merged {done.merged} and rewrote {done.rewritten} file group(s); expired "
        f"{done.expired} snapshot(s); removed {done.files_removed} old and "
        f"{done.orphans_removed} unreferenced file(s)"
        + (
            f"; kept {done.orphans_kept} unreferenced file(s) this lake did not write "
            "(`arxiv-digests check` names them)"
            if done.orphans_kept
            else ""
        )
        + (f"; indexed {done.reindexed} paper(s) for search again" if done.reindexed else "")
    )


@app.command()
def check(warehouse: WarehouseOpt = None) -> None:
    """Verify every file the warehouse refers to (exists, whole, its own) and the counts."""
    from warehouse.check import check as verify

    report = verify(existing_store(warehouse))
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
    from warehouse.lake import Lake
    from warehouse.legacy import legacy_files
    from warehouse.legacy import migrate as move

    settings = load_settings()
    store = store_of(warehouse)
    if not store.exists() and (store.remote or not legacy_files(store.root)):
        store = existing_store(warehouse)  # no warehouse of either layout: one line, exit 1
    with query_failures():
        holder = f"migrate (pid {os.getpid()})"
        with store.lock(settings.lock_timeout_seconds, holder), Lake(store) as lake:
            rows = move(lake)
    typer.echo(f"migrated {rows} row(s)" if rows else "nothing to migrate")


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
    from warehouse.reads import rejects_listing

    with query_failures():
        columns, rows = rejects_listing(store_of(warehouse), run, rule, file, resolved, limit)
    if fmt is not None:
        typer.echo(render(columns, rows, fmt))
    else:
        for source, line, _stage, rule_name, message, *_ in rows:
            typer.echo(problem_line(source, line, rule_name, message))
    typer.echo(f"{len(rows)} reject(s)", err=True)


@contextlib.contextmanager
def _writing(warehouse: str | None, name: str) -> Iterator[tuple[Lake, str, Settings]]:
    """A command that writes outside a flow (`rejects replay`, `reparse`): the lake open under
    the warehouse's lock, a run id, the settings; a failure is its one line. Afterwards, the
    export is refreshed if the settings name one (the caller says whether anything changed)."""
    from datetime import UTC, datetime

    from flows.pipeline.run_stats import new_run_id
    from warehouse.lake import Lake

    settings = load_settings()
    store = existing_store(warehouse)
    run_id = new_run_id(datetime.now(UTC))
    with query_failures():
        holder = f"{name} (pid {os.getpid()})"
        with store.lock(settings.lock_timeout_seconds, holder), Lake(store) as lake:
            yield lake, run_id, settings


def _export(lake: Lake, settings: Settings) -> None:
    """Refresh the plain-Parquet export after a command changed the tables."""
    from warehouse.export import export

    if settings.export_dir is not None:
        export(lake.store, settings.export_dir)


@rejects_app.command("replay")
def rejects_replay(warehouse: WarehouseOpt = None) -> None:
    """Parse and validate the raw text of row rejects again with the current code; the rows
    that pass now are loaded in one transaction and their rejects marked resolved."""
    from flows.pipeline.replay import replay

    with _writing(warehouse, "rejects replay") as (lake, run_id, settings):
        done = replay(lake, run_id)
        if done.moved:
            _export(lake, settings)
    why = ", ".join(f"{rule} {n}" for rule, n in done.still.most_common())
    typer.echo(
        f"replayed {done.tried} reject(s): {done.moved} row(s) loaded"
        + (f" (run {done.run_id})" if done.run_id else "")
        + (f"; still rejected: {why}" if why else "")
    )


@app.command("reparse")
def reparse_command(
    warehouse: WarehouseOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Parse every digest the warehouse keeps again with the current code, and apply what
    changed (entries updated, loaded or rejected) in one transaction."""
    from flows.cli.progress import shown
    from flows.pipeline.reparse import reparse

    with _writing(warehouse, "reparse") as (lake, run_id, settings), shown("digests", quiet) as bar:
        done = reparse(lake, run_id, settings.limits(), bar)
        if done.run_id:
            _export(lake, settings)
    for path in done.missing[:20]:
        typer.echo(f"{path}: not found with the same sha256: not parsed again", err=True)
    if len(done.missing) > 20:
        typer.echo(f"… and {len(done.missing) - 20} more digest(s) not found", err=True)
    changes = f"{done.updated} entries changed, {done.loaded} loaded, {done.rejected} rejected" + (
        f", {done.recovered} digest(s) kept from their files" if done.recovered else ""
    )
    typer.echo(
        f"parsed {done.digests} digest(s) again: "
        + (f"{changes} (run {done.run_id})" if done.run_id else "nothing changed, nothing written")
    )


server_app = typer.Typer(help="The local Prefect server the product manages.", no_args_is_help=True)

app.add_typer(server_app, name="server")


@server_app.command("start")
def server_start(
    port: Annotated[
        int | None, setting_option("Port on 127.0.0.1.", "server_port", "4200", "--port")
    ] = None,
) -> None:
    """Start Prefect's server in the background on 127.0.0.1 (or say where it runs)."""
    from flows.operations import server

    chosen = port if port is not None else load_settings().server_port
    if not 1 <= chosen <= 65535:
        raise fail(f"--port {chosen}: expected a port from 1 to 65535", 2)
    try:
        up, started = server.start(chosen)
    except server.ServerError as exc:
        raise fail(str(exc)) from None
    state = "started" if started else "already running"
    typer.echo(
        f"Prefect server {state} (pid {up.pid}): UI at {up.ui}, log {server.home()}/server.log"
    )


@server_app.command("stop")
def server_stop() -> None:
    """Stop the managed Prefect server."""
    from flows.operations import server

    stopped = server.stop()
    typer.echo(
        f"stopped the Prefect server (pid {stopped.pid})" if stopped else "no server was running"
    )


@server_app.command("status")
def server_status() -> None:
    """Say whether the managed Prefect server is up, and where."""
    from flows.operations import server

    up = server.running()
    if up is None:
        typer.echo("not running: `arxiv-digests server start` starts it")
        raise typer.Exit(1)
    typer.echo(f"running (pid {up.pid}): UI at {up.ui}, API {up.url}")
