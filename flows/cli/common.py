"""What every command shares: the app, its options, settings checked first, and failures as
one line."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from flows.settings import Settings

if TYPE_CHECKING:
    from warehouse.lake import Warehouse

HELP = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    help="Load daily arXiv digest Markdown files into a DuckLake warehouse of Parquet tables.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings=HELP,
    # Typer's own completion options guess the shell from the parent processes, and refuse
    # to run under `sh` (a Dockerfile RUN line, cron, CI) even when a shell is named: ours
    # take the shell's name.
    add_completion=False,
)
COMPLETION_SHELLS = ("bash", "zsh", "fish", "powershell", "pwsh")


# Options that are settings show their variable and default in --help; the value itself comes
# from `Settings`, so the environment, a `.env` file and the default agree with `config`.
def setting_option(help: str, setting: str, default: str, *names: str) -> Any:
    """An option that is also a setting: help shows `[env var: ARXIV_DIGESTS_<SETTING>]` and
    `default` (typer's own rendering, which rich cannot swallow as markup)."""
    return typer.Option(
        *names,
        help=help,
        envvar=f"ARXIV_DIGESTS_{setting.upper()}",
        show_envvar=True,
        show_default=default,
    )


WarehouseOpt = Annotated[
    str | None,
    setting_option(
        "Warehouse folder or s3://bucket/prefix.",
        "warehouse",
        "./data/warehouse",
        "--warehouse",
        "-w",
    ),
]


def quiet_prefect(verbose: bool) -> None:
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


def _shell(value: str) -> str:
    if value not in COMPLETION_SHELLS:
        raise fail(
            f"no completion for the shell {value!r}: name one of "
            f"{', '.join(COMPLETION_SHELLS)}, as `--show-completion bash`",
            2,
        )
    return value


def _show_completion(value: str | None) -> None:
    if value:
        from typer._completion_shared import get_completion_script

        script = get_completion_script(
            prog_name="arxiv-digests", complete_var="_ARXIV_DIGESTS_COMPLETE", shell=_shell(value)
        )
        typer.echo(script)
        raise typer.Exit()


def _install_completion(value: str | None) -> None:
    if value:
        from typer._completion_shared import install

        shell, path = install(
            shell=_shell(value), prog_name="arxiv-digests", complete_var="_ARXIV_DIGESTS_COMPLETE"
        )
        typer.echo(f"{shell} completion installed in {path}; open a new shell to use it")
        raise typer.Exit()


def _completion_option(name: str, callback: Any, what: str) -> Any:
    return typer.Option(
        name,
        metavar="SHELL",
        callback=callback,
        is_eager=True,
        expose_value=False,
        help=f"{what} for SHELL: {', '.join(COMPLETION_SHELLS[:4])}.",
    )


@app.callback()
def _checked_settings(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    show_completion: Annotated[
        str | None,
        _completion_option("--show-completion", _show_completion, "Print the completion script"),
    ] = None,
    install_completion: Annotated[
        str | None,
        _completion_option("--install-completion", _install_completion, "Install completion"),
    ] = None,
) -> None:
    """Load daily arXiv digest Markdown files into a DuckLake warehouse of Parquet tables."""
    from flows.settings import dotenv_variables, unknown_variables

    for warning in unknown_variables(dotenv_variables() | dict(os.environ)):
        typer.echo(f"arxiv-digests: warning: {warning}", err=True)
    load_settings()


def load_settings() -> Settings:
    """The settings, or one line naming what is wrong with them (every command, and again
    after an option set a variable)."""
    from pydantic import ValidationError

    from flows.settings import invalid_settings

    try:
        return Settings()
    except ValidationError as exc:
        raise fail(invalid_settings(exc)) from None
    except UnicodeDecodeError as exc:
        raise fail(
            f"the .env file in {os.getcwd()} is not UTF-8 text (byte {exc.start}): save it "
            "as UTF-8, or remove it"
        ) from None


def warehouse_of(option: str | None) -> str:
    """Where the warehouse a command works on is: `--warehouse`, else the setting (a local
    folder as an absolute path)."""
    from warehouse.location import is_remote

    location = option if option is not None else load_settings().warehouse
    return location if is_remote(location) else str(Path(location).expanduser().resolve())


def store_of(option: str | None) -> Warehouse:
    """The warehouse a command works on, with the catalog the settings name."""
    from warehouse.lake import Warehouse, WarehouseError

    try:
        return Warehouse(warehouse_of(option), load_settings().catalog)
    except WarehouseError as exc:
        raise fail(str(exc)) from None


def existing_store(option: str | None) -> Warehouse:
    """The warehouse a command that needs one works on, or one line saying there is none
    (or that its data lost its catalog)."""
    from warehouse.connection import no_warehouse

    store = store_of(option)
    if not store.exists():
        raise fail(str(store.lost_catalog() or no_warehouse(store)))
    return store


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `arxiv-digests: message` to stderr; the exit to raise with `code`."""
    typer.echo(f"arxiv-digests: {message}", err=True)
    return typer.Exit(code)


def print_problems(result: dict[str, Any], limit: int) -> None:
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


def _disk_full(root: str) -> bool:
    """Whether the disk holding the warehouse is (nearly) full: a failure there, whatever
    error it surfaced as (a failed commit, a failed rollback), is most likely that."""
    import shutil

    from warehouse.location import is_remote

    if is_remote(root):
        return False
    folder = Path(root)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        usage = shutil.disk_usage(folder)
    except OSError:
        return False
    # A pseudo filesystem (/proc, /sys) has no space at all: not a full disk.
    return usage.total > 0 and usage.free < 16 * 1024 * 1024


def run_failure(exc: Exception, root: str) -> typer.Exit:
    """The one line for a flow run that failed on something systemic."""
    if _disk_full(root):
        return fail(f"the disk holding {root} is full: free space, then run again")
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        where = exc.filename or root
        if exc.errno == 28:  # ENOSPC
            return fail(f"the disk is full writing {where}: free space, then run again")
        return fail(f"cannot write the warehouse at {root}: {reason} ({where})")
    text = str(exc)
    if "No space left on device" in text or "disk is full" in text.lower():
        return fail(f"the disk is full writing {root}: free space, then run again")
    from warehouse.errors import STORAGE_ERRORS

    if isinstance(exc, STORAGE_ERRORS):
        return query_failure(exc)
    first = text.splitlines()[0] if text else ""
    return fail(f"the run failed: {type(exc).__name__}: {first} (--verbose shows the details)")


def query_failure(exc: Exception) -> typer.Exit:
    """The one line for a failed read or write of the warehouse (`warehouse.errors.explain`)."""
    from warehouse.errors import explain

    return fail(explain(exc))


@contextlib.contextmanager
def query_failures() -> Iterator[None]:
    """Whatever the warehouse raises inside becomes its one line and exit 1."""
    from warehouse.errors import STORAGE_ERRORS

    try:
        yield
    except Exception as exc:
        if not isinstance(exc, (OSError, *STORAGE_ERRORS)):
            raise
        raise query_failure(exc) from None
