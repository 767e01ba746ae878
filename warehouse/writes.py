"""The writer's named statements beyond appending rows (`Lake.insert`): a run's `runs` row
committed with its stage, fetched papers replacing their earlier rows, and the rejects a
replay resolves. Each runs inside the writer's open transaction."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa

from schemas.tables import (
    DIGEST_ENTRIES,
    GIT_SOURCES,
    PAPER_AUTHORS,
    PAPER_CATEGORIES,
    PAPERS,
    RUNS,
)
from warehouse.checksums import changed, recorded
from warehouse.files import snapshot_files
from warehouse.index import resync_papers
from warehouse.lake import Lake
from warehouse.location import filesystem
from warehouse.store import WarehouseDamaged, WriteConflict


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
    resync_papers(lake, ids, papers=True)


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


def digests_without_bytes(lake: Lake) -> pa.Table:
    """The digests the raw layer lacks (loaded before it existed): id and source_path."""
    return lake.query(
        "SELECT digest_id, source_path FROM digests ANTI JOIN digest_bytes USING (digest_id) "
        "ORDER BY digest_id"
    )


def kept_digests(lake: Lake) -> list[str]:
    """Every digest the raw layer holds, in id order."""
    table = lake.query("SELECT digest_id FROM digest_bytes ORDER BY digest_id")
    return [str(d) for d in table.column("digest_id").to_pylist()]


def kept_bytes(lake: Lake, ids: list[str]) -> pa.Table:
    """The bytes (and source_path) of the digests `ids`."""
    return lake.query(
        "SELECT b.digest_id, d.source_path, b.data FROM digest_bytes b JOIN digests d "
        "USING (digest_id) WHERE b.digest_id IN (SELECT digest_id FROM _ids) ORDER BY 1",
        _ids=pa.table({"digest_id": pa.array(ids, pa.string())}),
    )


_ENTRY_COLUMNS = ", ".join(f'"{c}"' for c in DIGEST_ENTRIES.column_names)


def entry_changes(lake: Lake, entries: pa.Table, ids: pa.Table) -> tuple[pa.Table, pa.Table]:
    """For digests `ids` parsed again into `entries`: the rows of `entries` that
    `digest_entries` does not hold as they are (changed or new), and the keys (digest_id,
    ref) it holds that `entries` no longer has (rows that fail now)."""
    scope = "FROM digest_entries WHERE digest_id IN (SELECT digest_id FROM _ids)"
    differ = lake.query(
        f"SELECT {_ENTRY_COLUMNS} FROM _new EXCEPT SELECT {_ENTRY_COLUMNS} {scope}",
        _new=entries.select(DIGEST_ENTRIES.column_names),
        _ids=ids,
    )
    gone = lake.query(
        f"SELECT digest_id, ref {scope} EXCEPT SELECT digest_id, ref FROM _new",
        _new=entries.select(["digest_id", "ref"]),
        _ids=ids,
    )
    return differ, gone


def held_keys(lake: Lake, keys: pa.Table) -> int:
    """How many of the keys (digest_id, ref) `digest_entries` holds."""
    found = lake.query(
        "SELECT count(*) AS n FROM digest_entries e SEMI JOIN _k USING (digest_id, ref)",
        _k=keys,
    )
    return int(found.column("n")[0].as_py())


def replace_entries(lake: Lake, rows: pa.Table, gone: pa.Table) -> None:
    """Put `rows` in place of the entries with their keys, and remove the keys `gone`."""
    keys = pa.concat_tables([rows.select(["digest_id", "ref"]), gone.select(["digest_id", "ref"])])
    papers = lake.query(  # whose texts change: the rows' papers, and the papers of keys gone
        "SELECT arxiv_id FROM _r UNION SELECT arxiv_id FROM digest_entries e SEMI JOIN _g "
        "USING (digest_id, ref)",
        _r=rows.select(["arxiv_id"]),
        _g=gone.select(["digest_id", "ref"]),
    )
    lake.execute(
        "DELETE FROM digest_entries WHERE EXISTS (SELECT 1 FROM _k WHERE "
        "_k.digest_id = digest_entries.digest_id AND _k.ref = digest_entries.ref)",
        _k=keys,
    )
    lake.insert(DIGEST_ENTRIES, rows)
    resync_papers(lake, papers, papers=False)


_DERIVED = ("encoding", "entry_count", "layout_new", "layout_old", "layout_early", "layout_plain")


def update_digests(lake: Lake, digests: pa.Table) -> int:
    """Give the digests their derived columns (encoding, counts) as parsed again; how many
    changed."""
    differ = " OR ".join(f'd."{c}" IS DISTINCT FROM n."{c}"' for c in _DERIVED)
    changed = lake.query(
        f"SELECT n.* FROM _d n JOIN digests d USING (digest_id) WHERE {differ}",
        _d=digests.select(["digest_id", *_DERIVED]),
    )
    if changed.num_rows:
        sets = ", ".join(f'"{c}" = n."{c}"' for c in _DERIVED)
        lake.execute(
            f"UPDATE digests SET {sets} FROM _d n WHERE digests.digest_id = n.digest_id",
            _d=changed,
        )
    return int(changed.num_rows)


def resolve_loaded_rejects(lake: Lake, rows: pa.Table, run_id: str) -> int:
    """Mark resolved by `run_id` the unresolved row rejects at the (digest, line) of `rows`."""
    where = (
        "resolved_by IS NULL AND stage IN ('parse', 'validate') AND EXISTS (SELECT 1 FROM _r "
        "WHERE _r.digest_id = rejects.digest_id AND _r.line = rejects.line)"
    )
    keys = rows.select(["digest_id", "line"])
    found = lake.query(f"SELECT count(*) AS n FROM rejects WHERE {where}", _r=keys)
    lake.execute(f"UPDATE rejects SET resolved_by = ? WHERE {where}", [run_id], _r=keys)
    return int(found.column("n")[0].as_py())


def resolve_read_rejects(lake: Lake, sources: list[str], run_id: str) -> int:
    """Mark resolved by `run_id` the unresolved rejects of versions that could not be read
    once and were read now (`sources`: their paths as shown)."""
    if not sources:
        return 0
    where = (
        "resolved_by IS NULL AND stage = 'read' AND rule = 'unreadable' AND source IN "
        "(SELECT source FROM _r)"
    )
    read = pa.table({"source": pa.array(sources, pa.string())})
    found = lake.query(f"SELECT count(*) AS n FROM rejects WHERE {where}", _r=read)
    if found.column("n")[0].as_py():
        lake.execute(f"UPDATE rejects SET resolved_by = ? WHERE {where}", [run_id], _r=read)
    return int(found.column("n")[0].as_py())


def refuse_changed_files(lake: Lake, consequence: str) -> None:
    """WarehouseDamaged, naming the first, when a file of the lake's snapshot no longer has
    the hash recorded when it was written: a command that would copy its rows into new files
    (merge, reparse) would give the damage a new, matching hash."""
    fs = filesystem(lake.store.data_location)[0]
    damage = changed(snapshot_files(lake.con), recorded(lake.con), fs)
    if damage:
        more = f" (and {len(damage) - 1} more)" if len(damage) > 1 else ""
        raise WarehouseDamaged(f"{damage[0]}{more}; {consequence}")
