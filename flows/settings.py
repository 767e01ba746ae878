"""Every setting in one typed place. Each can be set as ARXIV_DIGESTS_<NAME> in the environment
(or a `.env` file in the working directory); `arxiv-digests config` prints the effective values."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from flows.guard import Limits


class Settings(BaseSettings):
    """Every setting, from `ARXIV_DIGESTS_*` variables, a `.env` file, or the default."""

    model_config = SettingsConfigDict(env_prefix="ARXIV_DIGESTS_", env_file=".env", extra="ignore")

    warehouse: str = Field(
        "data/warehouse", description="warehouse root: a folder, or s3://bucket/prefix"
    )
    catalog: str | None = Field(
        None,
        description="DuckLake catalog: a SQLite file (default: catalog.sqlite in a folder "
        "warehouse) or postgresql://... for writers on several machines",
    )
    inbox: str = Field(
        "data/inbox", description="folder (or s3://bucket/prefix) `ingest` reads when given no path"
    )
    batch_files: int = Field(
        100, ge=1, description="files per parse/validate/load task: bounds memory and task count"
    )
    parse_workers: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        description="processes that parse a large run's files (1: parse in the flow's process)",
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
    dask_address: str | None = Field(
        None,
        description="Dask scheduler (tcp://host:8786) that parses a run's batches (unset: "
        "this machine's processes)",
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
        description="`maintain` expires snapshots older than this (time travel range)",
    )
    maintain_grace_seconds: float = Field(
        3600,
        ge=0,
        le=3_153_600_000,
        allow_inf_nan=False,
        description="`maintain` deletes unreferenced files only once this old",
    )
    lock_timeout_seconds: float = Field(
        600, ge=0, description="how long a run waits for another run on the same warehouse"
    )
    arxiv_api_url: str = Field(
        "https://export.arxiv.org/api/query", description="arXiv API endpoint"
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
    arxiv_contact: str = Field(
        "https://github.com/arxiv-digests/arxiv-digests",
        description="contact address sent in the User-Agent, as arXiv asks",
    )

    def limits(self) -> Limits:
        """The per-file guard these settings ask for."""
        from flows.guard import Limits

        return Limits(self.max_file_bytes, self.parse_timeout_seconds, self.quiet_seconds)

    @field_validator("export_dir", "report_dir", "dask_address", "catalog", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value


PREFIX = "ARXIV_DIGESTS_"
# Variables with the prefix that are not settings: the test suite's own.
NOT_SETTINGS = ("ARXIV_DIGESTS_TEST_",)


def unknown_variables(environ: dict[str, str]) -> list[str]:
    """One warning per ARXIV_DIGESTS_* variable that names no setting (a typo is otherwise
    silently ignored), with the closest setting's name."""
    import difflib

    names = [PREFIX + name.upper() for name in Settings.model_fields]
    warnings = []
    for variable in sorted(environ):
        if not variable.startswith(PREFIX) or variable in names:
            continue
        if variable.startswith(NOT_SETTINGS):
            continue
        close = difflib.get_close_matches(variable, names, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else "; `arxiv-digests config` lists them"
        warnings.append(f"{variable} is not a setting and is ignored{hint}")
    return warnings


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
        parts.append(f"{PREFIX}{field.upper()}={value!r}: {problem['msg'].lower()}")
    return "invalid setting " + "; ".join(parts) + " (fix or unset it; `--help` has the defaults)"
