"""The alternative a user would otherwise write: dlt loading the same parsed entries into
DuckDB, merging on (digest_id, ref). It reuses our parser so that both sides load identical
rows, and yields Arrow tables (dlt's fastest path) in batches of 100 files."""

import sys
from datetime import UTC, datetime
from pathlib import Path

import dlt

from flows.digest_files import discover, read_batch


def main(corpus: Path, database: Path, work: Path) -> None:
    files, _ = discover([corpus])
    now = datetime.now(UTC)

    @dlt.resource(
        name="digest_entries", write_disposition="merge", primary_key=("digest_id", "ref")
    )
    def entries():
        for start in range(0, len(files), 100):
            batch = read_batch(files[start : start + 100], set(), "dlt", now)
            yield batch.entries.drop_columns(["_raw", "_source"])

    pipeline = dlt.pipeline(
        pipeline_name="bench",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="digests",
        pipelines_dir=str(work),
    )
    pipeline.run(entries())


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
