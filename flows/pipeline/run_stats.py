"""A run's figures, as its `runs` row and its Prefect artifact show them."""

from __future__ import annotations

import copy
import json
import secrets
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from schemas.tables import RUNS

PROBLEMS_KEPT = 1000  # problem lines a run keeps for the command to print


def new_run_id(now: datetime) -> str:
    """A sortable run id: the UTC start time and a random suffix."""
    return f"{now:%Y%m%dT%H%M%S}Z-{secrets.token_hex(4)}"


@dataclass
class RunStats:
    """A run's figures while it runs; `row()` is its `runs` row."""

    run_id: str
    started_at: datetime
    flow_run_id: str | None = None
    ended_at: datetime | None = None
    status: str = "ok"
    kind: str = "ingest"
    files_seen: int = 0
    files_new: int = 0
    files_skipped: int = 0
    files_rejected: int = 0
    files_waiting: int = 0
    entries_seen: int = 0
    entries_loaded: int = 0
    entries_rejected: int = 0
    entries_updated: int | None = None  # a reparse's changed rows
    rejects: int = 0
    rejects_by_rule: Counter[str] = field(default_factory=Counter)
    api_requests: int = 0
    papers_enriched: int = 0
    papers_pending: int = 0
    discover_seconds: float = 0.0
    parse_seconds: float = 0.0
    validate_seconds: float = 0.0
    load_seconds: float = 0.0
    enrich_seconds: float = 0.0
    message: str | None = None
    problems: list[str] = field(default_factory=list)  # the first PROBLEMS_KEPT, as lines
    problems_total: int = 0
    lines: list[str] = field(default_factory=list)  # what the run says beside its figures

    def saved(self) -> RunStats:
        """A copy to `restore` from when a stage is done again."""
        return copy.deepcopy(self)

    def restore(self, saved: RunStats) -> None:
        """Every figure back to what `saved` holds (a stage undone is counted once)."""
        for name in (f.name for f in fields(self)):
            setattr(self, name, copy.deepcopy(getattr(saved, name)))

    def note(self, lines: list[str]) -> None:
        """Keep the run's problem lines for the command to print (a bounded number: a backfill
        of damaged files must not hold a line per row)."""
        room = max(PROBLEMS_KEPT - len(self.problems), 0)
        self.problems.extend(lines[:room])
        self.problems_total += len(lines)

    def markdown(self) -> str:
        """The run's summary, as published to Prefect (the same figures as its `runs` row)."""
        stages = ("discover", "parse", "validate", "load", "enrich")
        lines = [
            f"# Run `{self.run_id}`: {self.status}",
            "",
            "| files seen | new | skipped | rejected | entries seen | loaded | rejected |",
            "|---|---|---|---|---|---|---|",
            f"| {self.files_seen} | {self.files_new} | {self.files_skipped} | "
            f"{self.files_rejected} | {self.entries_seen} | {self.entries_loaded} | "
            f"{self.entries_rejected} |",
            "",
            f"arXiv API: {self.api_requests} request(s), {self.papers_enriched} paper(s) "
            f"enriched, {self.papers_pending} pending.",
            "",
            "| stage | seconds |",
            "|---|---|",
            *(f"| {s} | {getattr(self, s + '_seconds'):.3f} |" for s in stages),
            "",
            f"New rejects: {self.rejects}.",
        ]
        if self.rejects_by_rule:
            lines += ["", "| reject rule | rows |", "|---|---|"]
            lines += [f"| `{r}` | {n} |" for r, n in sorted(self.rejects_by_rule.items())]
        if self.message:
            lines += ["", f"Failure: {self.message}"]
        return "\n".join(lines) + "\n"

    def row(self) -> dict[str, Any]:
        # Column by column from the declaration: a column RunStats lacks fails here, instead
        # of being dropped by `from_pylist`.
        """The figures as a `runs` row."""
        row = {name: getattr(self, name) for name in RUNS.column_names}
        row["rejects_by_rule"] = json.dumps(dict(sorted(self.rejects_by_rule.items())))
        return row


def run_summary(result: dict[str, Any], root: str) -> str:
    """A run's figures in the two lines `ingest` ends with."""
    return (
        f"{result['api_requests']} arXiv API request(s): {result['papers_enriched']} paper(s) "
        f"enriched, {result['papers_pending']} pending\n"
        f"{result['files_new']} new, {result['files_skipped']} skipped, "
        f"{result['files_rejected']} rejected file(s)"
        + (
            f", {result['files_waiting']} left for the next run (still being written)"
            if result["files_waiting"]
            else ""
        )
        + f"; {result['entries_loaded']} entries loaded, "
        f"{result['entries_rejected']} rejected; {result['rejects']} new reject(s) -> {root}"
    )
