"""Give every queued paper synthetic arXiv metadata, so that the analyst queries run on
full-size `papers`, `paper_authors` and `paper_categories` tables.

Asking the API for a million IDs at arXiv's 3 s spacing would take eight hours, so the rows are
made here, in Arrow, and go through the enrich stage's own last steps: schema validation,
`flatten`, and inserts into the lake in one transaction. Deterministic (seeded).

    python bench/fill_papers.py WAREHOUSE
"""

from __future__ import annotations

import random
import sys
from datetime import UTC, datetime

import pyarrow as pa
import pyarrow.compute as pc

from flows.enrichment.enrich import flatten
from schemas.tables import ENRICHMENT, PAPER_AUTHORS, PAPER_CATEGORIES, PAPERS
from schemas.validate import validate
from warehouse.lake import Lake, Warehouse

CATEGORIES = [
    "cs.AI", "cs.CL", "cs.CV", "cs.LG", "cs.RO", "cs.IR", "cs.CR", "stat.ML", "math.OC",
    "eess.IV", "eess.SP", "quant-ph", "physics.optics", "q-bio.NC", "econ.EM", "hep-th",
]  # fmt: skip
AUTHOR_POOL = 20_000  # distinct author names: a few papers each, some prolific


def submitted(arxiv_id: str, now: datetime) -> datetime:
    """Mid-month of the month an arXiv ID was issued in (YYMM in both ID styles), or now for
    the synthetic IDs of months still to come."""
    yymm = arxiv_id.split("/")[-1][:4]
    year = int(yymm[:2])
    issued = datetime(1900 + year if year >= 91 else 2000 + year, int(yymm[2:]), 15, tzinfo=UTC)
    return min(issued, now)


def papers_for(ids: pa.Array, seed: int = 7) -> pa.Table:
    rng = random.Random(seed)
    n = len(ids)
    counts = [rng.choice((1, 2, 3, 3, 4, 5, 6, 8)) for _ in range(n)]
    offsets = [0]
    for k in counts:
        offsets.append(offsets[-1] + k)
    # Skewed: low-numbered authors write many papers, as real prolific authors do.
    picks = [int(AUTHOR_POOL * rng.random() ** 2) for _ in range(offsets[-1])]
    pool = pa.array([f"Author {i:05d}" for i in range(AUTHOR_POOL)])
    names = pc.take(pool, pa.array(picks, pa.int32()))
    no_affiliations = pa.ListArray.from_arrays(
        pa.array([0] * (len(picks) + 1), pa.int32()), pa.array([], pa.string())
    )
    authors = pa.ListArray.from_arrays(
        pa.array(offsets, pa.int32()),
        pa.StructArray.from_arrays([names, no_affiliations], ["name", "affiliations"]),
    )
    primary = [rng.choice(CATEGORIES) for _ in range(n)]
    categories = [[p, *rng.sample(CATEGORIES, rng.choice((0, 0, 1, 2)))] for p in primary]
    now = datetime.now(UTC)
    dates = pa.array(
        [submitted(i, now) for i in ids.to_pylist()], PAPERS.schema.field("updated").type
    )
    table = pa.table(
        {
            "arxiv_id": ids,
            "latest_version": pa.array([1] * n, pa.int32()),
            "title": pc.binary_join_element_wise("Synthetic paper ", ids, ""),
            "abstract": pa.array(["A synthetic abstract for the benchmark."] * n),
            "authors": authors,
            "primary_category": pa.array(primary),
            "categories": pa.array([list(dict.fromkeys(c)) for c in categories]),
            "published": dates,
            "updated": dates,
            "doi": pa.nulls(n, pa.string()),
            "journal_ref": pa.nulls(n, pa.string()),
            "comment": pa.nulls(n, pa.string()),
            "pdf_url": pc.binary_join_element_wise("https://arxiv.org/pdf/", ids, ""),
            "fetched_at": pa.array([now] * n, PAPERS.schema.field("fetched_at").type),
        }
    )
    return table.cast(PAPERS.schema)


def main(root: str) -> None:
    store = Warehouse(root)
    with store.lock(60, "bench/fill_papers.py"), Lake(store) as lake:
        ids = lake.read(ENRICHMENT, ["arxiv_id"]).column("arxiv_id").combine_chunks()
        papers, invalid = validate(PAPERS, papers_for(ids))
        if invalid.num_rows:
            rules = invalid.group_by("_rule").aggregate([("_rule", "count")]).to_pylist()
            raise SystemExit(f"{invalid.num_rows} synthetic papers fail the schema: {rules}")
        authors, categories = flatten(papers)
        with lake.transaction("bench: synthetic papers"):
            lake.insert(PAPERS, papers)
            lake.insert(PAPER_AUTHORS, authors)
            lake.insert(PAPER_CATEGORIES, categories)
            lake.execute("UPDATE enrichment SET state = 'enriched', enriched_version = 1")
    print(f"{papers.num_rows} papers, {authors.num_rows} authors, {categories.num_rows} categories")


if __name__ == "__main__":
    main(sys.argv[1])
