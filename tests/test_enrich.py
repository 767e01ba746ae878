"""Enrichment against a local server that speaks the arXiv API protocol: batching, spacing,
caching, every fault, an unreachable API, and every recorded real answer."""

from __future__ import annotations

import csv
import math
import shutil
from importlib.metadata import version as release_of
from pathlib import Path

import pyarrow as pa
import pytest
from conftest import API_RESPONSES, DIGESTS, EXAMPLES, HAVE_ANSWERS, examples
from helpers import count, sql
from hypothesis import example, given, settings
from hypothesis import strategies as st

from flows.enrichment.api import ApiError, parse_answer
from flows.enrichment.enrich import paper_row
from flows.enrichment.queue import SIGHTINGS, add_sightings, newest_versions
from flows.pipeline.enriching import enrich_flow
from flows.pipeline.ingest import ingest_flow
from schemas.tables import ENRICHMENT, PAPERS
from schemas.validate import validate
from warehouse.connection import open_connection
from warehouse.lake import ALIAS, Lake, Warehouse

EXAMPLE_IDS = {"1706.03762", "2005.14165", "1512.03385", "1412.6980", "hep-th/9711200"}


def ingest(paths, warehouse: Path, enrich: bool = True) -> dict:
    return ingest_flow(paths=[str(p) for p in paths], warehouse=str(warehouse), enrich=enrich)


def states(warehouse: Path) -> dict[str, str]:
    return dict(sql(warehouse, "SELECT arxiv_id, state FROM enrichment"))


# --- recorded answers -------------------------------------------------------------------------


def recorded() -> list[dict[str, str]]:
    if not HAVE_ANSWERS:
        return []
    with open(API_RESPONSES.parent / "SOURCES.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.answers
@pytest.mark.parametrize("source", recorded(), ids=[r["file"] for r in recorded()])
def test_every_recorded_answer_parses(source):
    from datetime import UTC, datetime

    body = (API_RESPONSES / source["file"]).read_bytes()
    expected = int(
        source["parse_check(len(results), header, malformed)"].split("] ")[-1].split()[0]
    )
    if source["http_status_recorded"].startswith("400"):
        assert b"incorrect id format for" in body or b"Invalid query string" in body
        assert expected == 0
        return
    answer = parse_answer("recorded", body)
    assert len(answer.results) == expected
    rows = [paper_row(r, datetime.now(UTC)) for r in answer.results.values()]
    _valid, invalid = validate(PAPERS, pa.Table.from_pylist(rows, schema=PAPERS.schema))
    # The 2007 manual example's entry has no version (and our ids are canonical): all else passes.
    assert invalid.num_rows == 0, invalid.select(["arxiv_id", "_rule", "_message"]).to_pylist()
    for row in rows:
        assert "  " not in row["title"] and "\n" not in row["abstract"]


@pytest.mark.answers
def test_recorded_fields_are_mapped():
    from datetime import UTC, datetime

    answer = parse_answer(
        "r",
        (
            API_RESPONSES / "new2026_idlist_astro-ph_0601001_oldstyle_affiliations_journalref.xml"
        ).read_bytes(),
    )
    row = paper_row(answer.results["astro-ph/0601001"], datetime.now(UTC))
    assert row["latest_version"] == 1
    assert row["authors"][0]["affiliations"]
    assert row["journal_ref"] and row["primary_category"] == "astro-ph"
    answer = parse_answer(
        "r",
        (API_RESPONSES / "old2016_idlist_1111.2011v2_versioned_doi_journalref.xml").read_bytes(),
    )
    row = paper_row(answer.results["1111.2011"], datetime.now(UTC))
    assert row["latest_version"] == 2 and row["doi"]


@pytest.mark.answers
@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>busy</body></html>",
        b"",
        (
            API_RESPONSES / "new2026_search_all-testing_start0_max100_100entries_doi_journalref.xml"
        ).read_bytes()[:50_000]
        if HAVE_ANSWERS
        else b"(the recorded answer)",
    ],
    ids=["html", "empty", "truncated"],
)
def test_damaged_answers_are_errors_not_empty_results(body):
    with pytest.raises(ApiError):
        parse_answer("u", body)


# --- the flow against the local server ------------------------------------------------------


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.usefixtures("prefect")
def test_corpus_enrichment_is_batched_spaced_and_cached(api, tmp_path, monkeypatch):
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_DELAY_SECONDS", "0.2")
    server = api()
    wh = tmp_path / "wh"
    first = ingest([DIGESTS], wh)
    distinct = sql(wh, "SELECT count(DISTINCT arxiv_id) FROM digest_entries")[0][0]
    assert len(server.log) == first["api_requests"] == math.ceil(distinct / 100)
    agent = f"arxiv-digests/{release_of('arxiv-digests')} "  # the release, read from its metadata
    assert server.log[0].user_agent.startswith(agent), server.log[0].user_agent
    assert f"arxiv.py/{release_of('arxiv')}" in server.log[0].user_agent
    assert all(len(r.ids) <= 100 for r in server.log)
    gaps = [b.at - a.at for a, b in zip(server.log, server.log[1:], strict=False)]
    assert min(gaps) >= 0.2 - 0.005
    assert first["papers_enriched"] == distinct and first["papers_pending"] == 0
    assert count(wh, "papers") == distinct
    missing = sql(
        wh,
        "SELECT count(*) FROM (SELECT DISTINCT arxiv_id FROM digest_entries) e "
        "LEFT JOIN papers p USING (arxiv_id) WHERE p.arxiv_id IS NULL "
        "OR len(p.authors) = 0 OR len(p.categories) = 0",
    )
    assert missing == [(0,)]
    assert count(wh, "paper_authors") == 2 * distinct
    assert (
        count(wh, "paper_categories")
        == distinct
        + sql(wh, "SELECT count(*) FROM papers WHERE primary_category <> 'stat.ML'")[0][0]
        - 0 * distinct
    )
    assert set(states(wh).values()) == {"enriched"}
    assert count(wh, "enrichment") == distinct
    # A second run asks nothing.
    server.log.clear()
    again = ingest([DIGESTS], wh)
    assert again["api_requests"] == 0 and server.log == []


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
@pytest.mark.parametrize("generation", ["new", "old"])
def test_both_server_generations(api, tmp_path, generation):
    api(generation=generation)
    wh = tmp_path / "wh"
    result = ingest([EXAMPLES], wh)
    assert result["papers_enriched"] == 5
    row = sql(
        wh,
        "SELECT title, abstract, latest_version, pdf_url FROM papers "
        "WHERE arxiv_id = 'hep-th/9711200'",
    )[0]
    assert row[0] == "Paper hep-th/9711200: a study of things"
    assert row[1] == "We study hep-th/9711200. It is interesting."
    assert row[3].endswith("/pdf/hep-th/9711200v1")


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
@pytest.mark.parametrize("fault", ["503", "429", "500", "hang", "truncate", "empty", "html"])
def test_transient_faults_are_retried(api, tmp_path, fault):
    server = api(faults=[fault], hang_seconds=2)
    wh = tmp_path / "wh"
    result = ingest([EXAMPLES], wh)
    assert len(server.log) == 2  # the fault, then the retry
    assert server.log[-1].status == 200
    assert result["papers_enriched"] == 5
    assert states(wh) == dict.fromkeys(EXAMPLE_IDS, "enriched")


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
@pytest.mark.parametrize("fault", ["503", "hang", "html"])
def test_persistent_faults_leave_papers_pending_for_a_later_run(api, tmp_path, fault):
    server = api(faults=[fault] * 3, hang_seconds=2)
    wh = tmp_path / "wh"
    result = ingest([EXAMPLES], wh)
    assert len(server.log) == 3  # bounded: max attempts, then give up for this run
    assert count(wh, "digest_entries") == 5  # nothing lost
    assert result["papers_pending"] == 5 and count(wh, "papers") == 0
    assert set(states(wh).values()) == {"pending"}
    errors = {e for (e,) in sql(wh, "SELECT DISTINCT last_error FROM enrichment")}
    assert len(errors) == 1 and errors.pop()
    # Later, with the API healthy, `enrich` works the queue off. The retry is not due yet
    # (next_attempt_at = back-off), so wait it out.
    import time

    time.sleep(0.1)
    later = enrich_flow(warehouse=str(wh))
    assert later["papers_enriched"] == 5 and later["papers_pending"] == 0
    assert states(wh) == dict.fromkeys(EXAMPLE_IDS, "enriched")


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
def test_malformed_id_is_isolated_and_the_rest_resent(api, tmp_path):
    server = api(faults=["bad_id_400"])  # the server refuses the first ID of the request
    wh = tmp_path / "wh"
    ingest([EXAMPLES], wh)
    first_id = sorted(EXAMPLE_IDS)[0]
    assert [r.status for r in server.log] == [400, 200], server.log
    assert first_id not in server.log[1].ids and len(server.log[1].ids) == 4
    found = states(wh)
    assert found.pop(first_id) == "failed"
    assert set(found.values()) == {"enriched"}
    error = sql(wh, f"SELECT last_error FROM enrichment WHERE arxiv_id = '{first_id}'")[0][0]
    assert f"incorrect id format for {first_id}" in error


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
def test_unknown_ids_become_not_found_after_one_confirming_retry(api, tmp_path):
    server = api(known={"1706.03762": 7, "2005.14165": 4, "1512.03385": 1})
    wh = tmp_path / "wh"
    ingest([EXAMPLES], wh)
    assert [len(r.ids) for r in server.log] == [5, 2]
    assert states(wh) == {
        "1706.03762": "enriched",
        "2005.14165": "enriched",
        "1512.03385": "enriched",
        "1412.6980": "not_found",
        "hep-th/9711200": "not_found",
    }
    assert sql(wh, "SELECT latest_version FROM papers WHERE arxiv_id = '1706.03762'") == [(7,)]


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
def test_unreachable_api_queues_everything_and_a_later_run_catches_up(api, tmp_path, monkeypatch):
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_API_URL", "http://127.0.0.1:9/api/query")
    wh = tmp_path / "wh"
    result = ingest([EXAMPLES], wh)
    assert result["entries_loaded"] == 5 and result["status"] == "ok"
    assert result["papers_pending"] == 5
    assert set(states(wh).values()) == {"pending"} and len(states(wh)) == 5
    api()
    import time

    time.sleep(0.1)
    later = enrich_flow(warehouse=str(wh))
    assert later["papers_enriched"] == 5 and set(states(wh).values()) == {"enriched"}


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
def test_newer_version_in_a_digest_queues_a_refresh(api, tmp_path):
    versions = {
        "1706.03762": 7,
        "2005.14165": 4,
        "1512.03385": 1,
        "1412.6980": 1,
        "hep-th/9711200": 3,
    }  # as the examples announce them
    server = api(known=versions)
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    shutil.copytree(EXAMPLES, inbox)
    ingest([inbox], wh)
    server.known = versions | {"1706.03762": 8}
    newer = (inbox / "2026-11-23" / "cs.CL.md").read_text().replace("1706.03762v7", "1706.03762v8")
    (inbox / "2026-11-25-cs.CL.md").write_text(newer)
    server.log.clear()
    ingest([inbox], wh)
    assert [r.ids for r in server.log] == [["1706.03762"]]
    assert sql(wh, "SELECT latest_version FROM papers WHERE arxiv_id = '1706.03762'") == [(8,)]
    assert count(wh, "papers") == 5
    held = dict(sql(wh, "SELECT arxiv_id, enriched_version FROM enrichment"))
    assert held == versions | {"1706.03762": 8}
    # The refreshed paper's flat rows replaced its earlier ones: none doubled, none lost.
    flat = "SELECT arxiv_id, count(*) FROM {} GROUP BY 1 ORDER BY 1"
    listed = "SELECT arxiv_id, len({}) FROM papers ORDER BY 1"
    assert sql(wh, flat.format("paper_authors")) == sql(wh, listed.format("authors"))
    assert sql(wh, flat.format("paper_categories")) == sql(wh, listed.format("categories"))


def lake_files(wh: Path, table: str) -> list[tuple]:
    """The data and delete files of `table` in the newest snapshot, with their sizes."""
    with open_connection(Warehouse(wh), read_only=True) as con:
        return con.execute(
            "SELECT data_file, data_file_size_bytes, delete_file "
            f"FROM ducklake_list_files('{ALIAS}', ?) ORDER BY ALL",
            [table],
        ).fetchall()


def added_rows(wh: Path, table: str, before: list[tuple]) -> int:
    """Rows in the data files of `table` that were not there in `before`."""
    import pyarrow.parquet as pq

    new = {f[0] for f in lake_files(wh, table)} - {f[0] for f in before}
    return sum(pq.read_metadata(f).num_rows for f in new)


def snapshot(wh: Path) -> int:
    with open_connection(Warehouse(wh), read_only=True) as con:
        return int(
            con.execute(f"SELECT id FROM ducklake_current_snapshot('{ALIAS}')").fetchone()[0]
        )


def changes(wh: Path, table: str, since: int) -> list[tuple]:
    """(change_type, arxiv_id) of every row of `table` changed after snapshot `since`."""
    with open_connection(Warehouse(wh), read_only=True) as con:
        now = int(con.execute(f"SELECT id FROM ducklake_current_snapshot('{ALIAS}')").fetchone()[0])
        return con.execute(
            "SELECT change_type, arxiv_id FROM "
            f"ducklake_table_changes('{ALIAS}', 'main', ?, ?, ?) ORDER BY ALL",
            [table, since + 1, now],
        ).fetchall()


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
def test_a_digest_of_known_papers_leaves_the_queue_alone(tmp_path):
    """A run that sees only known papers changes no row of the queue; a newer announced
    version changes that one row only."""
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    shutil.copytree(EXAMPLES, inbox)
    ingest([inbox], wh, enrich=False)
    first = snapshot(wh)
    same_papers = (inbox / "2026-11-23" / "cs.CL.md").read_text() + "\n"  # new bytes, same rows
    (inbox / "2026-11-25-cs.CL.md").write_text(same_papers)
    result = ingest([inbox], wh, enrich=False)
    assert result["entries_loaded"] > 0 and changes(wh, "enrichment", first) == []
    second = snapshot(wh)
    newer = same_papers.replace("1706.03762v7", "1706.03762v8")
    (inbox / "2026-11-26-cs.CL.md").write_text(newer)
    ingest([inbox], wh, enrich=False)
    assert changes(wh, "enrichment", second) == [
        ("update_postimage", "1706.03762"),
        ("update_preimage", "1706.03762"),
    ]
    assert sql(wh, "SELECT wanted_version FROM enrichment WHERE arxiv_id = '1706.03762'") == [(8,)]
    assert count(wh, "enrichment") == len(EXAMPLE_IDS)


@pytest.mark.slow
@pytest.mark.corpus
@pytest.mark.usefixtures("prefect")
def test_a_refresh_writes_the_papers_fetched_not_the_papers_held(api, tmp_path):
    """Storing one refreshed paper into a warehouse of hundreds changes that paper's rows
    only (a delete of the old rows and an insert of the new), never the tables whole."""

    class EveryId(dict):  # the examples' versions; every other ID exists at version 1
        def get(self, key, default=None):
            return super().get(key, 1)

    versions = {"1706.03762": 7, "2005.14165": 4, "hep-th/9711200": 3}
    server = api(known=EveryId(versions))
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    shutil.copytree(EXAMPLES, inbox)
    for digest in sorted(DIGESTS.glob("*.md"))[:6]:
        shutil.copy(digest, inbox / digest.name)
    ingest([inbox], wh)
    held, since = count(wh, "papers"), snapshot(wh)
    before = {t: lake_files(wh, t) for t in ("papers", "paper_authors")}
    server.known["1706.03762"] = 8
    newer = (inbox / "2026-11-23" / "cs.CL.md").read_text().replace("1706.03762v7", "1706.03762v8")
    (inbox / "2026-11-25-cs.CL.md").write_text(newer)
    server.log.clear()
    result = ingest([inbox], wh)
    assert [r.ids for r in server.log] == [["1706.03762"]] and result["papers_enriched"] == 1
    assert held > 100 and count(wh, "papers") == held
    for table, rows in (("papers", 1), ("paper_authors", 2)):
        kinds = [kind for kind, ident in changes(wh, table, since) if ident == "1706.03762"]
        assert len(changes(wh, table, since)) == len(kinds) == 2 * rows, table
        assert added_rows(wh, table, before[table]) <= rows  # the old files stay as they are
        kept = {f[0] for f in lake_files(wh, table)}
        assert {f[0] for f in before[table]} <= kept  # no file of the table was rewritten
    version = "SELECT latest_version FROM papers WHERE arxiv_id = '1706.03762'"
    assert sql(wh, version) == [(8,)]


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
def test_answers_that_fail_the_schema_go_to_rejects(api, tmp_path):
    api(faults=["blank_title"])
    wh = tmp_path / "wh"
    result = ingest([EXAMPLES], wh)
    assert result["papers_enriched"] == 0 and count(wh, "papers") == 0
    rejects = sql(wh, "SELECT source, stage, rule FROM rejects ORDER BY source")
    assert rejects == [(i, "enrich", "required:title") for i in sorted(EXAMPLE_IDS)]
    assert set(states(wh).values()) == {"failed"}
    assert count(wh, "digest_entries") == 5


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
@pytest.mark.parametrize("fault", ["bomb", "huge", "drip", "wrong_ids"])
def test_hostile_answers_are_bounded_and_load_nothing_wrong(api, tmp_path, fault):
    import resource
    import time

    server = api(faults=[fault])
    wh = tmp_path / "wh"
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    ingest([EXAMPLES], wh)
    assert time.monotonic() - started < 60
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mb < 200
    papers = sql(wh, "SELECT arxiv_id, abstract FROM papers ORDER BY 1")
    if fault == "wrong_ids":
        # Unrequested papers are ignored; the confirming retry finds the requested ones.
        assert [p[0] for p in papers] == sorted(EXAMPLE_IDS)
        assert [len(r.ids) for r in server.log] == [5, 5]
    else:
        # The damaged answer was refused and the retry loaded the real one.
        assert [p[0] for p in papers] == sorted(EXAMPLE_IDS)
        assert all("lol" not in (abstract or "") for _, abstract in papers)
        assert len(server.log) == 2


@pytest.mark.slow
@pytest.mark.usefixtures("prefect")
def test_dates_in_the_future_are_rejected(api, tmp_path):
    api(faults=["future"])
    wh = tmp_path / "wh"
    ingest([EXAMPLES], wh)
    assert count(wh, "papers") == 0
    rules = {rule for (rule,) in sql(wh, "SELECT DISTINCT rule FROM rejects")}
    assert rules == {"future:published"}
    assert set(states(wh).values()) == {"failed"}


# --- the queue update, in the lake ----------------------------------------------------------

# Last two characters spread over the queue step's partitions; "x1" ends in no two digits.
_IDS = st.sampled_from(
    [f"2401.{i:05d}" for i in range(25)] + ["hep-th/9711200", "math/0501001", "x1"]
)
_QUEUE_ROW = st.tuples(
    st.sampled_from(["pending", "enriched", "not_found", "failed"]),
    st.none() | st.integers(1, 5),  # wanted_version
    st.none() | st.integers(1, 5),  # enriched_version
)


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    with Lake(Warehouse(tmp_path_factory.mktemp("queue"))) as opened:
        yield opened


def reference_update(queue: dict, entries: list[tuple[str, int | None]]) -> dict:
    """The queue rule, row by row: what the MERGE of `add_sightings` must compute."""
    out = {k: dict(v) for k, v in queue.items()}
    wanted: dict[str, int | None] = {}
    for ident, version in entries:
        old = wanted.get(ident)
        wanted[ident] = version if old is None else (old if version is None else max(old, version))
    for ident, want in wanted.items():
        row = out.get(ident)
        if row is None:
            out[ident] = {"state": "pending", "wanted_version": want, "enriched_version": None}
            continue
        if want is not None and want > (row["wanted_version"] or 0):
            row["wanted_version"] = want
        held = row["enriched_version"]
        if row["state"] == "enriched" and want is not None and held is not None and want > held:
            row["state"] = "pending"
    return out


@settings(max_examples=examples(150), deadline=None)
@given(
    st.dictionaries(_IDS, _QUEUE_ROW, max_size=20),
    st.lists(st.tuples(_IDS, st.none() | st.integers(1, 6)), max_size=40),
    st.integers(1, 50),
)
# A paper enriched at v2 that already wants v5, announced at v3: queued again, though the
# version it wants does not change (a case the draws can miss).
@example({"2401.00001": ("enriched", 5, 2)}, [("2401.00001", 3)], 1)
def test_queue_update_matches_the_row_by_row_rule(lake, queue_rows, entries, part_rows):
    """The queue step gives the rule's answer, and says whether anything changed, however
    many partitions of IDs it takes (`part_rows` sightings each, split into new IDs inserted
    and queued ones merged). Each example runs in a transaction of the real lake that is
    rolled back."""
    before = {
        k: {"state": s, "wanted_version": w, "enriched_version": v}
        for k, (s, w, v) in queue_rows.items()
    }
    queue = pa.Table.from_pylist(
        [{"arxiv_id": k, "attempts": 1, **row} for k, row in before.items()],
        schema=ENRICHMENT.schema,
    )
    sightings = pa.Table.from_pylist(
        [{"arxiv_id": i, "arxiv_version": v} for i, v in entries], schema=SIGHTINGS.schema
    )
    lake.begin()
    try:
        lake.insert(ENRICHMENT, queue)
        changed = add_sightings(lake, sightings, part_rows)
        updated = lake.read(ENRICHMENT)
    finally:
        lake.rollback()
    columns = ("state", "wanted_version", "enriched_version")
    got = {r["arxiv_id"]: {c: r[c] for c in columns} for r in updated.to_pylist()}
    expected = reference_update(before, entries)
    assert updated.num_rows == len(got) == len(expected)  # one row per ID
    assert got == expected
    assert (changed > 0) == (got != before)
    assert updated.schema == ENRICHMENT.schema


def test_newest_versions_keeps_one_row_per_id_with_its_highest_version():
    sightings = pa.Table.from_pylist(
        [
            {"arxiv_id": "2401.00002", "arxiv_version": None},
            {"arxiv_id": "2401.00001", "arxiv_version": 2},
            {"arxiv_id": "2401.00002", "arxiv_version": 3},
            {"arxiv_id": "2401.00001", "arxiv_version": 5},
            {"arxiv_id": "2401.00003", "arxiv_version": None},
        ],
        schema=SIGHTINGS.schema,
    )
    assert newest_versions(sightings).to_pylist() == [
        {"arxiv_id": "2401.00001", "_wanted": 5},
        {"arxiv_id": "2401.00002", "_wanted": 3},
        {"arxiv_id": "2401.00003", "_wanted": None},
    ]


def test_due_ids_come_sorted_a_commit_at_a_time_within_the_limit(lake):
    from datetime import UTC, datetime, timedelta

    from flows.enrichment.enrich import Enrichment
    from flows.settings import Settings

    now = datetime.now(UTC)
    ids = [f"2401.{i:05d}" for i in range(999, -1, -1)]
    queue = pa.Table.from_pylist(
        [{"arxiv_id": i, "state": "pending", "attempts": 0} for i in ids]
        + [
            {
                "arxiv_id": "2402.00001",
                "state": "pending",
                "attempts": 1,
                "next_attempt_at": now + timedelta(hours=1),
            },
            {"arxiv_id": "2402.00002", "state": "enriched", "attempts": 1},
        ],
        schema=ENRICHMENT.schema,
    )
    settings = Settings(arxiv_batch_size=30)  # 600 IDs between two commits
    lake.begin()
    try:
        lake.insert(ENRICHMENT, queue)
        whole = Enrichment(settings)
        first = whole.next_ids(lake, now)
        whole.retried.update(first[:5])  # asked and still pending: not asked again
        second = whole.next_ids(lake, now)
        limited = Enrichment(settings, limit=650)
        chunks = [limited.next_ids(lake, now) for _ in range(3)]
    finally:
        lake.rollback()
    assert first == sorted(ids)[:600]  # neither the one waiting nor the enriched one
    assert second == sorted(ids)[5:605]
    assert [len(c) for c in chunks] == [600, 50, 0]
