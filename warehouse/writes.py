"""The writer's named statements beyond appending rows (`Lake.insert`): a run's `runs` row
committed with its stage, fetched papers replacing their earlier rows, and the rejects a
replay resolves. Each runs inside the writer's open transaction."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa

from schemas.tables import GIT_SOURCES, PAPER_AUTHORS, PAPER_CATEGORIES, PAPERS, RUNS
from warehouse.lake import Lake
from warehouse.store import WriteConflict


def commit_run(lake: Lake, row: dict[str, Any], message: str) -> bool:
    """Commit the open transaction with `row` as its run's `runs` row (written, or replacing
    the row an earlier stage of the run wrote). False: another writer committed first, and
    nothing of the transaction was kept."""
    lake.execute("DELETE FROM runs WHERE run_id = ?", [row["run_id"]])
    if not lake.store.catalog.shared:  # one writer at a time: a `running` row is a dead run's
        lake.execute(
            "UPDATE runs SET status = 'interrupted', message = coalesce(message, "
            "'stopped before its last stage committed') WHERE status = 'running'"
        )
    lake.insert(RUNS, pa.Table.from_pylist([row], schema=RUNS.schema))
    try:
        lake.commit(message)
    except WriteConflict:
        return False
    return True


def replace_papers(lake: Lake, papers: pa.Table, authors: pa.Table, categories: pa.Table) -> None:
    """Put fetched papers into `papers`, `paper_authors` and `paper_categories`, in place of
    their earlier rows: a delete of those rows and an insert of the new ones, so a run writes
    in proportion to the papers it fetched, not to the papers held."""
    ids = pa.table({"arxiv_id": papers.column("arxiv_id")})
    for table, new in ((PAPERS, papers), (PAPER_AUTHORS, authors), (PAPER_CATEGORIES, categories)):
        lake.execute(
            f'DELETE FROM "{table.name}" WHERE arxiv_id IN (SELECT arxiv_id FROM _ids)', _ids=ids
        )
        lake.insert(table, new)


# Rejects that stand for one table row: in a file (a digest and a line), with raw text.
REPLAYABLE = """
SELECT reject_id, digest_id, source, line, raw FROM rejects
WHERE resolved_by IS NULL AND raw IS NOT NULL AND digest_id IS NOT NULL AND line IS NOT NULL
  AND stage IN ('parse', 'validate')
ORDER BY source, line
"""


def replayable_rejects(lake: Lake) -> pa.Table:
    """Every unresolved reject of one table row, with its raw text, in file order."""
    return lake.query(REPLAYABLE)


def not_loaded(lake: Lake, entries: pa.Table) -> pa.Table:
    """The `entries` whose key (digest, ref) `digest_entries` does not hold yet."""
    return lake.query(
        "SELECT v.* FROM _valid v ANTI JOIN digest_entries e USING (digest_id, ref)",
        _valid=entries,
    )


def resolve_rejects(lake: Lake, reject_ids: pa.Table, run_id: str) -> None:
    """Mark the rejects in `reject_ids` (a `_reject_id` column) resolved by `run_id`."""
    lake.execute(
        "UPDATE rejects SET resolved_by = ? WHERE reject_id IN (SELECT _reject_id FROM _m)",
        [run_id],
        _m=reject_ids.select(["_reject_id"]),
    )


def record_positions(lake: Lake, positions: pa.Table) -> None:
    """Record the commit each git source was walked to (`git_sources`), in place of the one
    recorded before for the same source and revision."""
    if not positions.num_rows:
        return
    lake.execute(
        "DELETE FROM git_sources WHERE (source, rev) IN (SELECT (source, rev) FROM _p)",
        _p=positions.select(["source", "rev"]),
    )
    lake.insert(GIT_SOURCES, positions)


def date_undated(lake: Lake, places: list[str], day: date) -> int:
    """Give `day` (`date_source` 'given') to the digests with no date first read from one
    of `places` (a file, or anything under a folder); returns how many."""
    where = " OR ".join(["source_path = ? OR starts_with(source_path, ?)"] * len(places))
    params: list[Any] = [p for place in places for p in (place, place.rstrip("/") + "/")]
    if not places:
        return 0
    found = lake.query(
        f"SELECT count(*) AS n FROM digests WHERE digest_date IS NULL AND ({where})", params
    )
    count = int(found.column("n")[0].as_py())
    if count:
        lake.execute(
            "UPDATE digests SET digest_date = ?, date_source = 'given' "
            f"WHERE digest_date IS NULL AND ({where})",
            [day, *params],
        )
    return count
