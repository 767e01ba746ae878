"""Reject rows: one shape for everything that could not be loaded, whatever stage found it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flows.digests.discover import UNDECODABLE_NAME
from flows.digests.text import RAW_LIMIT, FileProblem, Problem, problem_line


def reject_row(
    *,
    source: str,
    stage: str,
    rule: str,
    message: str,
    run_id: str,
    now: datetime,
    digest_id: str | None = None,
    line: int | None = None,
    raw: str | None = None,
) -> dict[str, Any]:
    """One `rejects` row."""
    # The id is a function of what was rejected, not of the run: the same bad input seen by
    # ten runs is one reject.
    basis = "\x1f".join([digest_id or source, stage, rule, str(line), raw or ""])
    return {
        "reject_id": hashlib.sha256(basis.encode()).hexdigest(),
        "digest_id": digest_id,
        "source": source,
        "line": line,
        "stage": stage,
        "rule": rule,
        "message": message,
        "raw": raw,
        "rejected_at": now,
        "run_id": run_id,
    }


@dataclass(frozen=True)
class Where:
    """Who a batch of rejects belongs to: the stage that found them, the run, and when."""

    stage: str
    run_id: str
    now: datetime


def problem_rejects(
    where: Where, source: str, problems: list[Problem], digest_id: str | None = None
) -> list[dict[str, Any]]:
    """The reject rows of a file's problems (its warnings are not rejects)."""
    return [
        reject_row(
            source=source,
            stage=where.stage,
            rule=p.rule,
            message=p.message,
            run_id=where.run_id,
            now=where.now,
            digest_id=digest_id,
            line=p.line,
            raw=p.raw,
        )
        for p in problems
        if p.severity == "reject"
    ]


WHOLE_ROW = "*"  # as `raw`: the failed row itself, as text


def failure_rejects(
    where: Where,
    failed: pa.Table,
    source: str,
    digest: str | None = None,
    line: str | None = None,
    raw: str | None = None,
) -> list[dict[str, Any]]:
    """The reject rows of rows that failed validation (`schemas.validate`: with `_rule` and
    `_message`). `source`, `digest`, `line` and `raw` name the columns that hold each one's
    file (or ID), digest, line and raw text."""
    return [
        reject_row(
            source=row[source] or "?",
            stage=where.stage,
            rule=row["_rule"],
            message=row["_message"],
            run_id=where.run_id,
            now=where.now,
            digest_id=row[digest] if digest else None,
            line=row[line] if line else None,
            raw=str(row)[:RAW_LIMIT] if raw == WHOLE_ROW else (row[raw] if raw else None),
        )
        for row in failed.to_pylist()
    ]


def name_rejects(problems: list[FileProblem], run_id: str, now: datetime) -> list[dict[str, Any]]:
    """The reject rows of files whose names cannot be recorded (see `discover`)."""
    unnamed = [p for p in problems if p.problem.rule == UNDECODABLE_NAME]
    where = Where("read", run_id, now)
    return [row for p in unnamed for row in problem_rejects(where, p.path, [p.problem])]


def validation_problems(rejects: pa.Table) -> list[str]:
    """The lines of a batch's validation rejects (its read and parse problems are printed from
    the parser's own list, warnings included)."""
    rows = rejects.filter(pc.equal(rejects.column("stage"), "validate"))
    columns = ["source", "line", "rule", "message"]
    return [problem_line(*r.values()) for r in rows.select(columns).to_pylist()]


def unknown(rejects: pa.Table, known: set[str]) -> pa.Table:
    """The rows of `rejects` not in the warehouse yet (the same bad input seen by an earlier
    run is one reject, not one per run)."""
    if not known or not rejects.num_rows:
        return rejects
    seen = pc.is_in(rejects.column("reject_id"), value_set=pa.array(list(known), pa.string()))
    return rejects.filter(pc.invert(seen))
