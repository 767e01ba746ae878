"""Time the enrich stage's writes for N refreshed papers in a full warehouse: the papers,
their authors and categories, and their queue rows, in one transaction (what a run that
fetches N papers writes). Prints JSON: seconds, bytes of new files, papers held.

    python bench/refresh.py WAREHOUSE N
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fill_papers import papers_for

from flows.enrichment.enrich import flatten
from flows.enrichment.queue import answers_table
from warehouse.connection import scalar
from warehouse.lake import Lake, Warehouse
from warehouse.queue import record_answers
from warehouse.writes import replace_papers


def data_bytes(store: Warehouse) -> int:
    return sum(p.stat().st_size for p in Path(store.data_location).rglob("*") if p.is_file())


def main(root: str, n: int) -> None:
    store = Warehouse(root)
    with store.lock(60, "bench/refresh.py"), Lake(store) as lake:
        held = int(scalar(lake.con, "SELECT count(*) FROM papers"))
        ids = lake.query(f"SELECT arxiv_id FROM papers ORDER BY hash(arxiv_id) LIMIT {n}")
        fresh = papers_for(ids.column("arxiv_id").combine_chunks(), seed=11)
        outcome = {i: ("enriched", None) for i in fresh.column("arxiv_id").to_pylist()}
        before, now = data_bytes(store), datetime.now(UTC)
        started = time.perf_counter()
        with lake.transaction("bench: refresh"):
            replace_papers(lake, fresh, *flatten(fresh))
            answers = answers_table(outcome, dict.fromkeys(outcome, 2))
            record_answers(lake, answers, now, now + timedelta(seconds=30))
        seconds = time.perf_counter() - started
    written = data_bytes(store) - before
    print(json.dumps({"papers": n, "held": held, "seconds": round(seconds, 3), "bytes": written}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
