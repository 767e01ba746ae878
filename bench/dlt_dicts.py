"""dlt's default path, as most dlt users write it: rows as Python dicts from a plain regex
parser of the table rows (bench/plain_parser.py), merged into DuckDB on (digest_id, ref).

    python bench/dlt_dicts.py CORPUS DATABASE WORK
"""

import sys
from pathlib import Path

import dlt
from plain_parser import files, rows


def main(corpus: Path, database: Path, work: Path) -> None:
    @dlt.resource(
        name="digest_entries", write_disposition="merge", primary_key=("digest_id", "ref")
    )
    def entries():
        for path in files(corpus):
            yield from rows(path)

    pipeline = dlt.pipeline(
        pipeline_name="bench_dicts",
        destination=dlt.destinations.duckdb(str(database)),
        dataset_name="digests",
        pipelines_dir=str(work),
    )
    pipeline.run(entries())


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:4]))
