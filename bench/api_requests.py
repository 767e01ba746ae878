"""Enrichment requests per run against the floor, ceil(IDs / 100) + ceil(absent IDs / 100),
with the local protocol server of the tests leaving some IDs out. Prints JSON.

    python bench/api_requests.py
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from arxiv_server import ArxivServer

from flows.enrichment.enrich import enrich
from flows.enrichment.queue import add_sightings
from flows.settings import Settings
from warehouse.lake import Lake, Warehouse


def main(count: int = 1789, absent_every: int = 358) -> None:
    ids = [f"2401.{n:05d}" for n in range(1, count + 1)]
    absent = ids[absent_every // 2 :: absent_every]  # spread: one in every few batches
    server = ArxivServer(known={i: 1 for i in ids if i not in absent})
    http, url = server.start()
    settings = Settings(arxiv_api_url=url, arxiv_delay_seconds=0, arxiv_backoff_seconds=0)
    sightings = pa.table({"arxiv_id": ids, "arxiv_version": pa.nulls(count, pa.int32())})
    try:
        with tempfile.TemporaryDirectory() as folder, Lake(Warehouse(folder)) as lake:
            with lake.transaction("bench: queue"):
                add_sightings(lake, sightings)
            with lake.transaction("bench: enrich"):
                stats = enrich(lake, "bench", settings)
    finally:
        http.shutdown()
    floor = math.ceil(count / 100) + math.ceil(len(absent) / 100)
    print(
        json.dumps(
            {"ids": count, "absent": len(absent), "requests": stats.requests, "floor": floor}
        )
    )


if __name__ == "__main__":
    main()
