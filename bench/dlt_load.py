"""The alternative a user would otherwise write: dlt loading the same parsed entries into
DuckDB, merging on (digest_id, ref). It reuses our parser so that both sides load identical
rows, and yields Arrow tables (dlt's fastest path) in batches of 100 files. The seconds spent
in our parser are written to `parse_seconds` (argv[4]): they are ours, not dlt's."""

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dlt

from flows.digests.discover import discover
from flows.digests.read import read_batch


def main(corpus: Path, database: Path, work: Path, parse_seconds: Path) -> None:
    files, _ = discover([corpus])
    now = datetime.now(UTC)
    parsing = 0.0

    @dlt.resource(
        name="digest_entries", write_disposition="merge", primary_key=("digest_id", "ref")
    )
    def entries():
        nonlocal parsing
        for start in range(0, len(files), 100):
            started = time.perf_counter()
            batch = read_batch(files[start : start + 100], set(), "dlt", now)
            parsing += time.perf_counter() - started
            yield batch.entries.drop_columns(["_raw", "_source"])

    pipeline = dlt.pipeline(
        pipeline_name="bench",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="digests",
        pipelines_dir=str(work),
    )
    pipeline.run(entries())
    parse_seconds.write_text(json.dumps(round(parsing, 3)))


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:5]))
