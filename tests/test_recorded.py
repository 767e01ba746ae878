"""Enrichment against the recorded real answers of the arXiv API (../shared/arxiv-api),
replayed by the recorded client: the papers hold what the API said, old and new server alike."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from conftest import API_RESPONSES
from helpers import sql

from flows.enrichment.recorded import RecordedArxiv
from flows.pipeline.ingest import ingest_flow

pytestmark = [pytest.mark.corpus, pytest.mark.answers]  # the corpus and the recorded answers

UNKNOWN = ["2403.15603", "2411.00001"]  # valid IDs no recording holds


@pytest.fixture(scope="module")
def answers() -> RecordedArxiv:
    return RecordedArxiv(API_RESPONSES)


@pytest.fixture
def recorded(monkeypatch):
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_API_URL", API_RESPONSES.as_uri())


def digest_of(ids: list[str], folder: Path) -> Path:
    rows = [
        f"| [^{n}] | [Paper {i}](https://arxiv.org/abs/{i}) | 总结 |" for n, i in enumerate(ids, 1)
    ]
    path = folder / "recorded.md"
    path.write_text("# 摘要\n\n| Ref | Title | Summary |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    return path


def collapse(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
@pytest.mark.usefixtures("prefect", "recorded")
def test_recorded_answers_fill_the_papers(tmp_path, answers, monkeypatch):
    counted = RecordedArxiv(API_RESPONSES)
    monkeypatch.setattr("flows.enrichment.enrich.client_for", lambda settings: counted)
    known = sorted(answers.entries)
    wh = tmp_path / "wh"
    result = ingest_flow(paths=[str(digest_of(known + UNKNOWN, tmp_path))], warehouse=str(wh))
    # The floor: one request per 100 IDs; recorded answers are final, so the absent IDs are
    # not asked for again (the live API's are confirmed together, see below).
    assert counted.requests == math.ceil((len(known) + 2) / 100)
    assert [len(ids) for ids in counted.asked] == [100, 36]
    assert result["papers_enriched"] == len(known) == 134
    states = dict(sql(wh, "SELECT arxiv_id, state FROM enrichment"))
    assert states == {**dict.fromkeys(known, "enriched"), **dict.fromkeys(UNKNOWN, "not_found")}
    authors = dict(
        sql(wh, "SELECT arxiv_id, list(name ORDER BY position) FROM paper_authors GROUP BY 1")
    )  # one query: a connection per paper cost a minute
    for ident, title, abstract, primary, doi in sql(
        wh, "SELECT arxiv_id, title, abstract, primary_category, doi FROM papers"
    ):
        said = answers.entries[ident]
        assert title == collapse(said.title) and abstract == collapse(said.summary)
        assert primary == said.primary_category and doi == said.doi
        assert authors[ident] == [a.name for a in said.authors]


@pytest.mark.slow
@pytest.mark.usefixtures("prefect", "recorded")
def test_old_and_new_server_answers(tmp_path, answers):
    """astro-ph/9812133 comes from the legacy server (32 authors with affiliations), 1605.08386
    from the current one (with a comment)."""
    wh = tmp_path / "wh"
    ingest_flow(
        paths=[str(digest_of(["astro-ph/9812133", "1605.08386"], tmp_path))], warehouse=str(wh)
    )
    authors = sql(
        wh,
        "SELECT count(*), count(*) FILTER (len(affiliations) > 0) FROM paper_authors "
        "WHERE arxiv_id = 'astro-ph/9812133'",
    )
    assert authors[0][0] == 32 and authors[0][1] > 0
    comment = sql(wh, "SELECT comment FROM papers WHERE arxiv_id = '1605.08386'")[0][0]
    assert comment == collapse(answers.entries["1605.08386"].comment)
    again = ingest_flow(paths=[str(tmp_path / "recorded.md")], warehouse=str(wh))
    assert again["api_requests"] == 0  # known papers are not asked for again


def test_an_id_the_server_refuses_gets_its_400(answers):
    from flows.enrichment.api import BadIdError

    with pytest.raises(BadIdError) as refused:
        answers.fetch(["1605.08386", "abc"])
    assert refused.value.bad_id == "abc"
    assert re.search("incorrect id format for abc", str(refused.value))


def _neighbour(ident: str, taken: set[str]) -> str:
    """A valid new-style ID just after `ident` that no recording holds."""
    head, number = ident.split(".")
    n = int(number)
    while f"{head}.{n:0{len(number)}d}" in taken:
        n += 1
    return f"{head}.{n:0{len(number)}d}"


@pytest.mark.usefixtures("prefect", "recorded")
def test_absences_across_batches_are_confirmed_together(tmp_path, answers, monkeypatch):
    """Five batches of 20 IDs (queued in ID order), each with one absent ID: five requests,
    then one that confirms all five, not a confirming request per batch. (The live API's
    answers are not final: the recordings stand in for it here.)"""
    counted = RecordedArxiv(API_RESPONSES)
    counted.final = False
    monkeypatch.setattr("flows.enrichment.enrich.client_for", lambda settings: counted)
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_BATCH_SIZE", "20")
    known = sorted(i for i in answers.entries if "/" not in i)[:95]
    absent = [_neighbour(known[19 * b + 9], set(answers.entries)) for b in range(5)]
    wh = tmp_path / "wh"
    ingest_flow(paths=[str(digest_of(known + absent, tmp_path))], warehouse=str(wh))
    batches = [sorted(known + absent)[s : s + 20] for s in range(0, 100, 20)]
    assert all(len(set(b) & set(absent)) == 1 for b in batches)  # one absent ID in each
    assert counted.requests == 5 + 1, counted.asked
    assert counted.asked[-1] == absent
    states = dict(sql(wh, "SELECT arxiv_id, state FROM enrichment"))
    assert [states[i] for i in absent] == ["not_found"] * 5


@pytest.mark.usefixtures("prefect", "recorded")
def test_ids_the_recordings_lack_are_not_found_at_once(tmp_path, answers, monkeypatch):
    """Recorded answers are final: an ID they lack is not_found after one request, with no
    back-off and no confirming request (it took minutes of back-off before)."""
    counted = RecordedArxiv(API_RESPONSES)
    monkeypatch.setattr("flows.enrichment.enrich.client_for", lambda settings: counted)
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_BACKOFF_SECONDS", "600")
    known = sorted(i for i in answers.entries if "/" not in i)[:3]
    wh = tmp_path / "wh"
    result = ingest_flow(paths=[str(digest_of(known + UNKNOWN, tmp_path))], warehouse=str(wh))
    assert counted.requests == 1 and result["api_requests"] == 1
    states = dict(sql(wh, "SELECT arxiv_id, state FROM enrichment"))
    assert [states[i] for i in UNKNOWN] == ["not_found"] * 2
    assert [states[i] for i in known] == ["enriched"] * 3
