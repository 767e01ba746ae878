"""Search: the index is written with the rows it indexes, so a search answers from exactly the
snapshot it reads; ranking finds a paper by words of its titles, English or Chinese; the CLI,
Python and SQL answer alike; `check` finds an index that does not match and `maintain`
mends it."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from helpers import cli_output, one_line, sql

import warehouse
from flows.digests.synthetic import generate
from flows.pipeline.ingest import ingest_flow
from warehouse.check import check
from warehouse.lake import Lake, Warehouse
from warehouse.maintain import maintain
from warehouse.search import SearchError
from warehouse.writes import replace_papers

ROW = (
    "| [^{n}] | [{title}](http://arxiv.org/abs/{id}) | {summary} |",
    "[^{n}]: {title_zh}\n\n    {title} (arXiv:{id}v1 [cs.CL])\n\n"
    "    [http://arxiv.org/abs/{id}](http://arxiv.org/abs/{id})\n\n    {summary}\n\n    \n\n"
    "    {abstract_zh}\n\n    {abstract}\n",
)


def digest(*papers: dict[str, str]) -> str:
    """A cn-chat-arxiv digest (the 2023 layout) of `papers`."""
    table = [ROW[0].format(n=n, **p) for n, p in enumerate(papers, 1)]
    details = [ROW[1].format(n=n, **p) for n, p in enumerate(papers, 1)]
    head = "# 摘要\n\n| Ref | Title | Summary |\n| --- | --- | --- |\n"
    return head + "\n".join(table) + "\n\n# 详细\n\n" + "\n".join(details)


def paper(arxiv_id: str, title: str, title_zh: str, words: str = "") -> dict[str, str]:
    return {
        "id": arxiv_id,
        "title": title,
        "title_zh": title_zh,
        "summary": f"提出{title_zh}的方法。",
        "abstract_zh": f"我们研究{title_zh}。",
        "abstract": f"We study {title.lower()} {words}.",
    }


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, prefect) -> Path:
    """Synthetic digests of every layout, and one of papers with known words."""
    root = tmp_path_factory.mktemp("search")
    generate(root / "inbox", 6, 25, seed=41)
    known = digest(
        paper(
            "2401.00001", "Zeolite Diffusion Models for Video Generation", "用于视频生成的扩散模型"
        ),
        paper("2401.00002", "Graph Neural Networks at Scale", "大规模图神经网络", "zeolite"),
        paper("2401.00003", "Protein Folding with Transformers", "基于变换器的蛋白质折叠"),
    )
    (root / "inbox" / "2024-03-05").mkdir(parents=True, exist_ok=True)
    (root / "inbox" / "2024-03-05" / "cs.CL.md").write_text(known, encoding="utf-8")
    ingest_flow(paths=[str(root / "inbox")], warehouse=str(root / "wh"), enrich=False)
    return root / "wh"


@pytest.fixture
def wh(loaded, tmp_path) -> Path:
    return Path(shutil.copytree(loaded, tmp_path / "wh", symlinks=True))


def ids(result: pa.Table) -> list[str]:
    return [str(i) for i in result.column("arxiv_id").to_pylist()]


def test_words_of_a_title_find_the_paper_first_in_either_language(loaded):
    with warehouse.connect(loaded) as con:
        assert ids(warehouse.search(con, "video diffusion"))[0] == "2401.00001"
        assert ids(warehouse.search(con, "视频 扩散"))[0] == "2401.00001"
        assert ids(warehouse.search(con, "扩散模型"))[0] == "2401.00001"  # written together
        assert ids(warehouse.search(con, "蛋白质 folding"))[0] == "2401.00003"
        # Stemmed: "network" finds "Networks"; a title match outranks an abstract's.
        assert ids(warehouse.search(con, "zeolite network"))[0] == "2401.00002"
        assert ids(warehouse.search(con, "zeolite")) == ["2401.00001", "2401.00002"]


def test_a_row_has_its_snippet_dates_and_days(loaded):
    row = warehouse.search(loaded, "用于视频生成", limit=1).to_pylist()[0]
    assert row["arxiv_id"] == "2401.00001"
    assert row["title_zh"] == "用于视频生成的扩散模型"
    assert "«用于视频生成»" in row["snippet"]
    assert (row["first_date"], row["last_date"], row["days"]) == (
        date(2024, 3, 5),
        date(2024, 3, 5),
        1,
    )
    english = warehouse.search(loaded, "generation", limit=1).to_pylist()[0]
    assert "«Generation»" in english["snippet"] or "«generation»" in english["snippet"]


def test_filters_keep_only_the_papers_their_digests_mention(loaded):
    both = ["2401.00001", "2401.00002"]
    assert ids(warehouse.search(loaded, "zeolite", since=date(2024, 3, 5))) == both
    assert ids(warehouse.search(loaded, "zeolite", until=date(2024, 3, 4))) == []
    assert ids(warehouse.search(loaded, "zeolite", until=date(2024, 3, 5))) == both
    assert ids(warehouse.search(loaded, "zeolite", category="cs.CL")) == both
    assert ids(warehouse.search(loaded, "zeolite", category="hep-th")) == []
    assert ids(warehouse.search(loaded, "zeolite", generator="cn-chat-arxiv")) == both
    assert ids(warehouse.search(loaded, "zeolite", generator="daily-arxiv-ai-enhanced")) == []
    assert len(warehouse.search(loaded, "model method", limit=3)) == 3


def test_the_cli_python_and_sql_answer_alike(loaded):
    code, out = cli_output("search", "扩散 video", "--warehouse", str(loaded), "-f", "json")
    assert code == 0, out
    rows = json.loads(out[: out.rindex("]") + 1])
    assert list(rows[0]) == [
        "arxiv_id", "title", "title_zh", "score", "snippet", "first_date", "last_date", "days"
    ]  # fmt: skip
    python = warehouse.search(loaded, "扩散 video").to_pylist()
    assert [r["arxiv_id"] for r in rows] == [r["arxiv_id"] for r in python]
    joined = sql(
        loaded,
        "SELECT s.arxiv_id, e.title FROM search('扩散 video', lim := 1) s "
        "JOIN digest_entries e USING (arxiv_id)",
    )
    assert joined == [("2401.00001", "Zeolite Diffusion Models for Video Generation")]
    code, out = cli_output("search", "?!", "--warehouse", str(loaded))
    assert "nothing to search for" in one_line(code, out)


def test_a_query_with_no_word_is_one_line(loaded):
    with pytest.raises(SearchError, match="nothing to search for"):
        warehouse.search(loaded, "- , ·")


def test_fresh_rows_are_found_right_after_the_run_that_loaded_them(wh, tmp_path):
    inbox = tmp_path / "more" / "2024-03-06"
    inbox.mkdir(parents=True)
    fresh = paper("2401.00009", "Quasicrystal Tilings Revisited", "准晶体铺砌再探")
    (inbox / "math.CO.md").write_text(digest(fresh), encoding="utf-8")
    with warehouse.connect(wh) as before:
        assert ids(warehouse.search(before, "quasicrystal")) == []
        ingest_flow(paths=[str(inbox)], warehouse=str(wh), enrich=False)
        assert ids(warehouse.search(before, "quasicrystal")) == []  # its snapshot, as it was
    assert ids(warehouse.search(wh, "quasicrystal")) == ["2401.00009"]
    assert ids(warehouse.search(wh, "准晶体"))[:1] == ["2401.00009"]
    assert check(Warehouse(wh)).damage == []


def _papers(authors: list[str]) -> tuple[pa.Table, pa.Table, pa.Table]:
    from schemas.tables import PAPER_AUTHORS, PAPER_CATEGORIES, PAPERS

    now = pa.scalar(0, pa.timestamp("us", tz="UTC"))
    row = {
        "arxiv_id": "2401.00003", "latest_version": 1, "title": "Protein Folding",
        "abstract": "x", "authors": [{"name": a, "affiliations": []} for a in authors],
        "primary_category": "q-bio.BM", "categories": ["q-bio.BM"], "published": now.as_py(),
        "updated": now.as_py(), "fetched_at": now.as_py(),
    }  # fmt: skip
    papers = pa.Table.from_pylist([row], PAPERS.schema)
    people = [{"arxiv_id": "2401.00003", "position": i, "name": a} for i, a in enumerate(authors)]
    kinds = [{"arxiv_id": "2401.00003", "category": "q-bio.BM", "is_primary": True}]
    return (
        papers,
        pa.Table.from_pylist(people, PAPER_AUTHORS.schema),
        pa.Table.from_pylist(kinds, PAPER_CATEGORIES.schema),
    )


def test_an_enriched_papers_authors_are_found_and_replaced(wh):
    with Lake(Warehouse(wh)) as lake, lake.transaction("papers"):
        replace_papers(lake, *_papers(["Ada Lovelace", "Alan Turing"]))
    assert ids(warehouse.search(wh, "lovelace")) == ["2401.00003"]
    with Lake(Warehouse(wh)) as lake, lake.transaction("papers again"):
        replace_papers(lake, *_papers(["Grace Hopper"]))
    assert ids(warehouse.search(wh, "lovelace")) == []  # no longer in the tables
    assert ids(warehouse.search(wh, "hopper")) == ["2401.00003"]
    assert check(Warehouse(wh)).damage == []


def test_check_finds_an_index_that_does_not_match_and_maintain_mends_it(wh):
    before = warehouse.search(wh, "扩散 video").to_pylist()
    with Lake(Warehouse(wh)) as lake, lake.transaction("lose postings"):
        lake.execute("DELETE FROM search_terms WHERE arxiv_id = '2401.00001'")
        lake.execute("DELETE FROM search_texts WHERE arxiv_id = '2401.00003'")
    damage = check(Warehouse(wh)).damage
    assert len(damage) == 1 and "the search index does not match the tables" in damage[0]
    assert "`arxiv-digests maintain`" in damage[0]
    with Lake(Warehouse(wh)) as lake:
        done = maintain(lake, retention_days=7, grace_seconds=3600)
    assert done.reindexed >= 1
    assert check(Warehouse(wh)).damage == []
    after = warehouse.search(wh, "扩散 video").to_pylist()
    assert [(r["arxiv_id"], r["score"]) for r in after] == [
        (r["arxiv_id"], r["score"]) for r in before
    ]


def test_maintain_merges_the_index_into_sorted_files_with_the_same_answers(wh, tmp_path):
    for day in range(3):  # three more runs: three more files of postings
        inbox = tmp_path / f"more{day}" / f"2024-04-0{day + 1}"
        generate(inbox.parent, 1, 10, seed=day)
        ingest_flow(paths=[str(inbox.parent)], warehouse=str(wh), enrich=False)
    files = "SELECT count(*) FROM ducklake_list_files('lake', 'search_terms')"
    before, answers = sql(wh, files)[0][0], warehouse.search(wh, "model 方法").to_pylist()
    with Lake(Warehouse(wh)) as lake:
        maintain(lake, retention_days=7, grace_seconds=0)
    assert sql(wh, files)[0][0] < before
    assert warehouse.search(wh, "model 方法").to_pylist() == answers
    terms = sql(wh, "SELECT term FROM search_terms")
    assert [t for (t,) in terms] == sorted(t for (t,) in terms)  # one file, sorted by term


def test_a_lake_made_before_the_index_gets_it_from_its_first_writer(wh):
    with Lake(Warehouse(wh)) as lake, lake.transaction("as before release 0.6"):
        lake.execute("DROP TABLE search_terms; DROP TABLE search_texts")
    with Lake(Warehouse(wh)):
        pass
    assert ids(warehouse.search(wh, "扩散模型"))[:1] == ["2401.00001"]
    assert check(Warehouse(wh)).damage == []


KILLED = """
import sys
from flows.pipeline.ingest import ingest_flow
ingest_flow(paths=[sys.argv[1]], warehouse=sys.argv[2], enrich=False)
"""


def test_a_run_killed_at_any_moment_leaves_search_answering_from_committed_rows(
    wh, tmp_path, prefect
):
    """A run killed mid-commit (kill -9 at random moments of several runs) never leaves a
    search answering with rows the tables do not have, nor missing rows they have."""
    from prefect.settings import PREFECT_API_URL

    rng = random.Random(7)
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    for trial in range(4):
        inbox = tmp_path / f"inbox{trial}"
        generate(inbox, 6, 60, seed=100 + trial)
        process = subprocess.Popen(
            [sys.executable, "-c", KILLED, str(inbox), str(wh)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            process.wait(timeout=rng.uniform(2.0, 9.0))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _assert_search_matches_tables(wh)


def _assert_search_matches_tables(wh: Path) -> None:
    """Every paper the index knows is in the tables and every paper of the tables is found by
    its own title, and `check` finds the index as the tables are."""
    with warehouse.connect(wh) as con:
        indexed = {
            r for (r,) in con.execute("SELECT DISTINCT arxiv_id FROM search_texts").fetchall()
        }
        held = {
            r for (r,) in con.execute("SELECT DISTINCT arxiv_id FROM digest_entries").fetchall()
        }
        assert indexed == held
        sample = con.execute(
            "SELECT arxiv_id, any_value(title) FROM digest_entries GROUP BY 1 ORDER BY 1 LIMIT 3"
        ).fetchall()
        for arxiv_id, title in sample:
            assert arxiv_id in ids(warehouse.search(con, title, limit=50))
    assert [d for d in check(Warehouse(wh)).damage if "search index" in d] == []


def test_a_reparse_that_changes_texts_changes_the_index_with_them(wh, monkeypatch):
    """A parser whose Chinese titles change: the old words are no longer found, the new are,
    in the reparse's one commit; `check` finds the index as the tables are."""
    import flows.digests.parse as parse
    from flows.digests.guard import Limits
    from flows.pipeline.reparse import reparse

    plain = parse.detail_fields

    def renamed(block, table_summary):
        fields = plain(block, table_summary)
        if fields.get("title_zh") == "基于变换器的蛋白质折叠":
            fields["title_zh"] = "氨基酸链的空间结构"
        return fields

    monkeypatch.setattr(parse, "detail_fields", renamed)
    with Lake(Warehouse(wh)) as lake:
        reparse(lake, "20991231T000000Z-reparse", Limits())
    title_terms = sql(
        wh,
        "SELECT term FROM search_terms WHERE arxiv_id = '2401.00003' AND field = 'title_zh' "
        "ORDER BY term",
    )
    assert [t for (t,) in title_terms] == sorted(["氨基", "基酸", "酸链", "链的", "的空", "空间",
                                                   "间结", "结构"])  # fmt: skip
    assert ids(warehouse.search(wh, "氨基酸链"))[:1] == ["2401.00003"]
    assert ids(warehouse.search(wh, "protein folding"))[:1] == ["2401.00003"]  # unchanged
    assert check(Warehouse(wh)).damage == []
