"""Every setting in one typed place. Each can be set as ARXIV_DIGESTS_<NAME> in the environment
(or a `.env` file in the working directory); `arxiv-digests config` prints the effective values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from flows.digests.guard import Limits


class Settings(BaseSettings):
    """Every setting, from `ARXIV_DIGESTS_*` variables, a `.env` file, or the default."""

    model_config = SettingsConfigDict(env_prefix="ARXIV_DIGESTS_", env_file=".env", extra="ignore")

    warehouse: str = Field(
        "data/warehouse",
        description="warehouse root: a folder, or s3://bucket/prefix (--warehouse overrides)",
    )
    catalog: str | None = Field(
        None,
        description="DuckLake catalog: a SQLite file (default: catalog.sqlite in a folder "
        "warehouse; an s3:// warehouse needs one) or postgresql://... for writers on several "
        "machines",
    )
    inbox: str = Field(
        "data/inbox",
        description="what `ingest` reads when given no path: a folder, an s3://bucket/prefix, "
        "or a git history, git+file:///path or git+https://host/repo (optionally @branch)",
    )
    git_cache: Path = Field(
        Path("~/.cache/arxiv-digests/git"),
        description="folder where remote git sources (git+https://…) are mirrored and fetched "
        "before each run (local ones are read where they are)",
    )
    batch_files: int = Field(
        100, ge=1, description="files per parse/validate/load task: bounds memory and task count"
    )
    batch_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1,
        description="bytes of files per parse/validate/load task at most (a larger file is a "
        "batch alone): a batch's bytes are held a few times over while it loads, so this "
        "bounds a run's memory when files are large",
    )
    parse_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="processes that parse a large run's files, the flow's own included (1: "
        "parse in the flow's process; a batch with fewer than 20 new files and 4 MiB per "
        "process is parsed there too, so a daily run never starts them)",
    )
    max_file_bytes: int = Field(
        16 * 1024 * 1024, ge=1, description="a larger file is rejected unread (file_too_large)"
    )
    parse_timeout_seconds: float = Field(
        60, gt=0, description="a file that takes longer to parse is rejected (parse_timeout)"
    )
    quiet_seconds: float = Field(
        2,
        ge=0,
        le=86_400,
        allow_inf_nan=False,
        description="a file modified less than this long before a run reads it is looked at "
        "again once this has passed; one that changed meanwhile is left for the next run",
    )
    server_watch_seconds: float = Field(
        30,
        gt=0,
        description="a command whose Prefect API stops answering for this long says so in "
        "one line and ends (exit 0 when its run had committed)",
    )
    progress_log_seconds: float = Field(
        60,
        ge=0,
        description="when a long command's output is not a terminal (a log, cron), the "
        "seconds between two lines saying how far it is (on a terminal: a progress bar)",
    )
    server_port: int = Field(
        4200,
        ge=1,
        le=65535,
        description="port of the Prefect server `server start` manages (--port overrides)",
    )
    dask_address: str | None = Field(
        None,
        description="Dask scheduler (tcp://host:8786) that parses a run's batches "
        "(--dask-address; unset: this machine's processes)",
    )
    schedule_cron: str = Field(
        "0 6 * * *", description="when `arxiv-digests serve` runs the ingest flow (cron, UTC)"
    )
    export_dir: Path | None = Field(
        None, description="plain-Parquet export refreshed after each run (unset: none)"
    )
    report_dir: Path | None = Field(
        None, description="`arxiv-digests report` page refreshed after each run (unset: none)"
    )
    retention_days: float = Field(
        30,
        ge=0,
        le=36_500,
        allow_inf_nan=False,
        description="`maintain` expires snapshots older than this: how far back time travel "
        "reaches",
    )
    maintain_grace_seconds: float = Field(
        3600,
        ge=0,
        le=3_153_600_000,
        allow_inf_nan=False,
        description="`maintain` deletes unreferenced files only once this old, so a query "
        "already reading one keeps it (--grace overrides)",
    )
    lock_timeout_seconds: float = Field(
        600,
        ge=0,
        description="how long a run waits for another run on the same warehouse (a file lock "
        "on a SQLite catalog; commits retried on a PostgreSQL one)",
    )
    arxiv_api_url: str = Field(
        "https://export.arxiv.org/api/query",
        description="arXiv API endpoint, or file:///folder of recorded answers (offline)",
    )
    arxiv_delay_seconds: float = Field(
        3.0, ge=0, description="minimum time between request starts (arXiv's terms ask 3 s)"
    )
    arxiv_batch_size: int = Field(100, ge=1, le=100, description="IDs per API request")
    arxiv_timeout_seconds: float = Field(30.0, gt=0, description="timeout of one API request")
    arxiv_max_attempts: int = Field(
        4, ge=1, description="tries per request before the IDs wait for the next run"
    )
    arxiv_backoff_seconds: float = Field(
        30, ge=0, description="first back-off after a failed request; doubles each retry"
    )
    arxiv_backoff_max_seconds: float = Field(600, ge=0, description="longest single back-off")
    arxiv_max_seconds: float = Field(
        600, gt=0, description="time budget of the enrich stage per run; the rest waits"
    )
    arxiv_commit_seconds: float = Field(
        1.0,
        ge=0,
        description="answers are committed once this long has passed since the last commit "
        "(at arXiv's rate: after every request; 0: after every request)",
    )
    arxiv_contact: str = Field(
        "https://github.com/arxiv-digests/arxiv-digests",
        description="contact address sent in the User-Agent, as arXiv asks",
    )

    def limits(self) -> Limits:
        """The per-file guard these settings ask for."""
        from flows.digests.guard import Limits

        return Limits(
            self.max_file_bytes,
            seconds=self.parse_timeout_seconds,
            quiet_seconds=self.quiet_seconds,
        )

    @field_validator("export_dir", "report_dir", "dask_address", "catalog", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("schedule_cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return checked_cron(value)

    @field_validator("arxiv_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme in ("http", "https") and parts.hostname:
            return value
        if parts.scheme == "file" and parts.path:
            return value
        raise ValueError(
            "expected the arXiv API's http(s):// address (https://export.arxiv.org/api/query) "
            "or file:///folder of recorded answers"
        )

    @field_validator("dask_address")
    @classmethod
    def _dask_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        try:
            port = parts.port
        except ValueError:
            port = None
        if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
            raise ValueError("expected a Dask scheduler's address, as tcp://host:8786")
        return value


def checked_cron(value: str) -> str:
    """`value` if it is a cron expression Prefect's schedules take, else ValueError."""
    from datetime import UTC, datetime

    from cronsim import CronSim, CronSimError

    try:
        CronSim(value, datetime.now(UTC))
    except (CronSimError, ValueError) as exc:
        raise ValueError(
            f"expected a cron expression of five fields, as '0 6 * * *' ({exc})"
        ) from None
    if len(value.split()) != 5:
        raise ValueError("expected a cron expression of five fields, as '0 6 * * *'")
    return value


PREFIX = "ARXIV_DIGESTS_"
# Variables with the prefix that are not settings: the test suite's own.
# Variables the product sets for its own processes, or its tests: never a user's typo.
NOT_SETTINGS = ("ARXIV_DIGESTS_TEST_", "ARXIV_DIGESTS_SUPERVISED_BY")


def unknown_variables(environ: dict[str, str]) -> list[str]:
    """One warning per ARXIV_DIGESTS_* variable that names no setting (a typo is otherwise
    silently ignored), with the closest setting's name."""
    import difflib

    names = [name.upper() for name in Settings.model_fields]
    warnings = []
    for variable in sorted(environ):
        if not variable.startswith(PREFIX) or variable.removeprefix(PREFIX) in names:
            continue
        if variable.startswith(NOT_SETTINGS):
            continue
        # Compared without the prefix every name shares: `…_FOO` is close to nothing.
        close = difflib.get_close_matches(variable.removeprefix(PREFIX), names, n=1, cutoff=0.6)
        hint = (
            f"; did you mean {PREFIX}{close[0]}?"
            if close
            else "; `arxiv-digests config` lists them"
        )
        warnings.append(f"{variable} is not a setting and is ignored{hint}")
    return warnings


def dotenv_variables(path: Path = Path(".env")) -> dict[str, str]:
    """The variables a `.env` file in the working directory sets (none if it cannot be read:
    loading the settings says why)."""
    from dotenv import dotenv_values

    try:
        return {k: v for k, v in dotenv_values(path).items() if v is not None}
    except (OSError, UnicodeDecodeError):
        return {}


SETTINGS_BEGIN = "<!-- settings:begin (generated: `make docs`) -->"
SETTINGS_END = "<!-- settings:end -->"
# Defaults the code computes, as the reference shows them.
SHOWN_DEFAULTS = {"parse_workers": "the CPU count", "catalog": "unset"}


def settings_reference() -> str:
    """Every setting as a Markdown table: variable, default, meaning (docs/configuration.md)."""
    rows = [SETTINGS_BEGIN, "", "| variable | default | meaning |", "| --- | --- | --- |"]
    for name, info in Settings.model_fields.items():
        default = SHOWN_DEFAULTS.get(name)
        if default is None:
            default = "unset" if info.default is None else f"`{info.default}`"
        meaning = (info.description or "").replace("|", "/")
        rows.append(f"| `{PREFIX}{name.upper()}` | {default} | {meaning} |")
    return "\n".join([*rows, "", SETTINGS_END])


def invalid_settings(error: Exception) -> str:
    """A pydantic ValidationError of Settings -> one line naming each variable, its value and
    what it expects."""
    from pydantic import ValidationError

    if not isinstance(error, ValidationError):
        return str(error).splitlines()[0]
    parts = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        value = problem.get("input")
        message = problem["msg"].removeprefix("Value error, ")
        parts.append(f"{PREFIX}{field.upper()}={value!r}: {message[:1].lower()}{message[1:]}")
    return "invalid setting " + "; ".join(parts) + " (fix or unset it; `--help` has the defaults)"


if __name__ == "__main__":
    import sys

    from schemas.dictionary import write_block

    if sys.argv[1:2] == ["--write"]:
        write_block(Path(sys.argv[2]), settings_reference(), SETTINGS_BEGIN, SETTINGS_END)
    else:
        print(settings_reference())
