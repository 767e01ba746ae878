"""The second generator family, daily-arXiv-ai-enhanced, beside the first: detection per file,
its JSONL and Markdown read to the same fields, its hostile lines each one reject, and both
families side by side in one inbox and one repository."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from ai_days import fork_markdown, forked, jsonl, markdown, papers
from helpers import sql
from test_git_source import Repo, digest

from flows.digests.ai_enhanced import parse_jsonl
from flows.digests.ai_markdown import parse_markdown
from flows.digests.families import (
    AI_ENHANCED_JSONL,
    AI_ENHANCED_MARKDOWN,
    CN_CHAT_ARXIV,
    family_of,
    is_crawl_only,
)
from flows.digests.guard import Limits
from flows.pipeline.ingest import ingest_flow
from warehouse.aggregates import report_rows

FIELDS = ("arxiv_id", "title", "summary_zh", "title_zh", "abstract_excerpt", "abstract_zh")


def test_each_family_is_told_by_its_name_and_first_bytes():
    records = papers(1, 3)
    assert family_of("2025-03-19_AI_enhanced_Chinese.jsonl", jsonl(records)) is AI_ENHANCED_JSONL
    assert family_of("2025-03-19.md", markdown(records)) is AI_ENHANCED_MARKDOWN
    assert family_of("notes.md", markdown(forked(records), fork=True)) is AI_ENHANCED_MARKDOWN
    assert family_of("cs.AI.md", digest(1)) is CN_CHAT_ARXIV
    assert family_of("README.md", b"# Data Branch\n### not a paper\n") is CN_CHAT_ARXIV
    assert is_crawl_only("2025-03-19.jsonl") and is_crawl_only("data/x.JSONL")
    assert not is_crawl_only("2025-03-19_AI_enhanced_English.jsonl")
    assert not is_crawl_only("2025-03-19.md")


def _by_id(entries: list[dict]) -> dict[str, tuple]:
    return {e["arxiv_id"]: tuple(e[f] for f in FIELDS) for e in entries}


@pytest.mark.parametrize("fork", [False, True])
def test_the_jsonl_and_its_markdown_give_the_same_fields(fork):
    records = forked(papers(2, 12)) if fork else papers(2, 12)
    from_jsonl, problems, seen = parse_jsonl(jsonl(records).decode())
    assert (problems, seen) == ([], 12)
    from_md, problems, seen = parse_markdown(markdown(records, fork).decode())
    assert (problems, seen) == ([], 12)
    assert _by_id(from_md) == _by_id(from_jsonl)
    first = from_jsonl[0]
    r = records[0]
    assert first["title"] == r["title"]  # TeX kept
    assert first["summary_zh"] == r["AI"]["tldr"]
    assert first["abstract_excerpt"] == " ".join(r["summary"].split())  # a line break: a space
    assert first["listed_authors"] == r["authors"] and first["listed_categories"] == r["categories"]
    assert first["listed_category"] == r["categories"][0] == from_md[0]["listed_category"]
    ai = dict(first["ai_fields"])
    assert ai["novelty"] == "key 0" and ai["method"] == r["AI"]["method"]  # a new key is kept
    assert dict(first["record_fields"])["comment"] == "8 pages"
    assert {"tldr", "title_translation", "translation"}.isdisjoint(ai)
    if fork:
        assert first["title_zh"] == "中文标题" + r["id"] and first["abstract_zh"] == "中文摘要。"
        assert dict(from_md[0]["ai_fields"])["keywords"] == ai["keywords"] == "graph; video"
    # No template markup is left in a value.
    for entry in from_md:
        for value in [*(entry[f] for f in FIELDS), *dict(entry["ai_fields"]).values()]:
            assert value is None or not any(m in value for m in ("**", "<details", "> "))


@pytest.mark.parametrize("template", ["bold", "quoted", "korean", "headings", "extra"])
def test_forks_templates_give_the_jsonls_fields(template):
    records = forked(papers(8, 6))
    from_jsonl, _, _ = parse_jsonl(jsonl(records).decode())
    from_md, problems, seen = parse_markdown(fork_markdown(records, template).decode())
    assert (problems, seen) == ([], 6)
    shown = ("title_zh", "abstract_zh") if template == "quoted" else ()
    for j, m in zip(from_jsonl, from_md, strict=True):
        for f in ("arxiv_id", "title", "summary_zh", "abstract_excerpt", *shown):
            assert m[f] == j[f], (template, f)
        assert m["listed_authors"] == j["listed_authors"]
        if template != "headings":
            assert m["listed_category"] == j["listed_category"]
        ai, jai = dict(m["ai_fields"]), dict(j["ai_fields"])
        assert {k: ai[k] for k in ("motivation", "method", "result", "conclusion")} == {
            k: jai[k] for k in ("motivation", "method", "result", "conclusion")
        }
    first = dict(from_md[0]["ai_fields"])
    if template == "extra":  # a fork's own fields, kept by their labels
        assert first["domain"] == "vision" and first["reader_relevance"] == "strong"
        assert first["与视频交叉"] == "无" and first["importance"] == "high"
    if template == "quoted":
        assert first["keywords"] == "graph; video" and first["updated"] == "2025-03-19"


def test_forks_that_move_the_link_or_the_labels():
    records = forked(papers(13, 4))
    by_jsonl = {e["arxiv_id"]: e for e in parse_jsonl(jsonl(records).decode())[0]}
    for template in ("table", "scored", "original"):
        entries, problems, seen = parse_markdown(fork_markdown(records, template).decode())
        assert (problems, seen) == ([], 4), template
        for m in entries:
            j = by_jsonl[m["arxiv_id"]]
            assert (m["title"], m["listed_authors"]) == (j["title"], j["listed_authors"])
            ai = dict(m["ai_fields"])
            if template == "table":  # the link below, the table's rows by their labels
                assert m["url"] == j["url"] and m["summary_zh"] == j["summary_zh"]
                assert ai["解决什么问题"] == dict(j["ai_fields"])["motivation"]
                assert "维度" not in ai and m["listed_category"] is None
            if template == "scored":  # no TL;DR here: the layman's summary is its own field
                assert ai["大白话"] == j["summary_zh"] and m["summary_zh"] is None
                assert m["abstract_excerpt"] == j["abstract_excerpt"]
                assert m["listed_category"] == j["listed_category"]
            if template == "original":
                assert m["abstract_excerpt"] == j["abstract_excerpt"]
                assert m["abstract_zh"] == j["abstract_zh"] and ai["selection_reason"] == "相关"


def test_older_days_task_is_the_summary():
    [entry], _, _ = parse_jsonl(jsonl(papers(3, 1, old=True)).decode())
    assert entry["summary_zh"] == papers(3, 1, old=True)[0]["AI"]["task"]
    assert "task" not in dict(entry["ai_fields"])


HOSTILE = [
    ("[" * 10_000 + "]" * 10_000, "malformed_record", "nested too deep"),
    ('{"id": "2501.00001", "title": "' + "x" * (2 * 1024 * 1024) + '"}', "record_too_large", ""),
    ('{"id": "2501.00002", "n": 1' + "0" * 100_000 + "}", "malformed_record", "too long to read"),
    ('{"id": "2501.00003", "title": "Inf", "n": 1e999999}', None, ""),
    ("this is not JSON {", "malformed_record", "not a JSON object"),
    ('{"title": "no id at all"}', "no_arxiv_id", "no `id`"),
    ('["2501.00004"]', "malformed_record", "a JSON list"),
]


def test_each_hostile_record_is_one_reject_with_its_line_and_the_others_load():
    good = [json.dumps(r, ensure_ascii=False) for r in papers(4, 3)]
    lines = [good[0], *(h[0] for h in HOSTILE), good[1], "", good[2]]
    started = time.perf_counter()
    entries, problems, seen = parse_jsonl("\n".join(lines))
    assert time.perf_counter() - started < 5  # linear: no hostile line costs more than a read
    assert seen == len(lines) - 1  # the blank line is no record
    expected = [(i + 2, rule) for i, (_, rule, _) in enumerate(HOSTILE) if rule]
    assert [(p.line, p.rule) for p in problems] == expected
    for problem, (_, _rule, words) in zip(problems, [h for h in HOSTILE if h[1]], strict=True):
        assert words in problem.message and problem.raw is not None
        assert len(problem.raw) <= 10_000
    loaded = [e["arxiv_id"] for e in entries]
    assert loaded == [
        json.loads(good[0])["id"],
        "2501.00003",
        *(json.loads(g)["id"] for g in good[1:]),
    ]


@pytest.mark.parametrize(
    "line",
    ["### [1] [" + "](x" * 300_000, "**" + "a:" * 300_000, "x | " * 300_000, "> " * 300_000],
)
def test_a_hostile_markdown_line_costs_a_read(line):
    good = markdown(papers(9, 2)).decode()
    started = time.perf_counter()
    entries, problems, seen = parse_markdown(f"{good}\n{line}\n{good}")
    assert time.perf_counter() - started < 2
    assert len(entries) == 4 and seen == 4 + line.startswith("###")
    assert [p.rule for p in problems] == (["not_arxiv_url"] if line.startswith("###") else [])


def test_a_jsonl_digest_may_pass_the_markdown_size_limit():
    limits = Limits(max_bytes=1000)
    data = jsonl(papers(5, 20))
    assert len(data) > 1000
    parsed = AI_ENHANCED_JSONL.parse("2025-01-02_AI_enhanced_Chinese.jsonl", data, limits)
    assert parsed.readable and len(parsed.entries) == 20
    too_big = CN_CHAT_ARXIV.parse("cs.AI.md", digest(1, 40), limits)
    assert not too_big.readable and too_big.problems[0].rule == "file_too_large"


@pytest.mark.slow
def test_both_families_in_one_inbox_and_one_repository(tmp_path, prefect):
    day1, day2 = papers(6, 8), forked(papers(7, 5, old=True))
    files = {
        "data/2025-03-19_AI_enhanced_Chinese.jsonl": jsonl(day1),
        "data/2025-03-19.md": markdown(day1),
        "data/2025-03-19.jsonl": jsonl(day1),  # the crawl: never loaded
        "data/2025-03-20_AI_enhanced_Chinese.jsonl": jsonl(day2),
        "data/2025-03-20.md": markdown(day2, fork=True),
        "data/README.md": b"# Data Branch\n",
        "cs.AI.md": digest(1),
    }
    repo = Repo(tmp_path / "repo")
    repo.git("checkout", "-q", "-b", "data")
    repo.commit("2025-03-21", files)  # committed days after the dates the names give
    inbox = repo.path
    for source in (str(inbox), f"git+file://{repo.path}@data"):
        wh = tmp_path / ("folder" if "git" not in source else "git")
        result = ingest_flow(paths=[source], warehouse=str(wh), enrich=False)
        assert any(line.startswith("1 crawl-only file(s) skipped") for line in result["lines"])
        assert result["files_new"] == 5 and result["entries_rejected"] == 0
        # A README in a folder is a file reject (not a digest); on a history, not a version.
        assert result["files_rejected"] == (0 if "git" in source else 1)
        assert sql(wh, "SELECT generator, count(*) FROM digests GROUP BY 1 ORDER BY 1") == [
            ("cn-chat-arxiv", 1), ("daily-arxiv-ai-enhanced", 4)
        ]  # fmt: skip
        dated = """SELECT DISTINCT digest_date::VARCHAR, date_source FROM digests
                   WHERE generator <> 'cn-chat-arxiv' ORDER BY 1"""
        assert sql(wh, dated) == [("2025-03-19", "path"), ("2025-03-20", "path")]
        assert sql(wh, "SELECT count(*) FROM digest_entries") == [(2 * 8 + 2 * 5 + 4,)]
        counts = """SELECT digest_date::VARCHAR, entries, papers FROM daily_counts
                    WHERE category IS NULL ORDER BY 1"""
        assert sql(wh, counts) == [("2025-03-19", 16, 8), ("2025-03-20", 10, 5)]
        same = """SELECT count(*) FROM digest_entries j JOIN digest_entries m USING (arxiv_id)
                  WHERE j.layout = 'ai_jsonl' AND m.layout = 'ai_markdown'
                    AND j.title = m.title AND j.summary_zh = m.summary_zh
                    AND j.title_zh IS NOT DISTINCT FROM m.title_zh"""
        assert sql(wh, same) == [(13,)]
        # The report counts a paper once a day, under the category the digest lists for it.
        per_day, _ = report_rows(wh)
        day_one = [r for r in per_day["papers_per_day"] if str(r["day"]) == "2025-03-19"]
        assert sum(r["papers"] for r in day_one) == 8 and "unknown" not in str(day_one)
        novelty = "SELECT ai_fields['novelty'] FROM digest_entries WHERE ref = 1 AND line = 1"
        assert sql(wh, novelty) == [("key 0",), ("key 0",)]


@pytest.fixture
def ai_inbox(tmp_path):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    day = forked(papers(10, 12))
    (inbox / "2025-04-01_AI_enhanced_Chinese.jsonl").write_bytes(jsonl(day))
    (inbox / "2025-04-01.md").write_bytes(fork_markdown(day, "quoted"))
    (inbox / "2025-04-02.md").write_bytes(markdown(papers(11, 7)))
    return inbox


@pytest.mark.slow
def test_reparse_and_replay_take_the_family_of_each_digest(
    tmp_path, prefect, ai_inbox, monkeypatch
):
    import dataclasses

    import flows.digests.ai_enhanced as ai_enhanced
    import flows.digests.parsed as parsed
    from flows.pipeline.reparse import reparse
    from flows.pipeline.replay import replay
    from schemas.tables import DIGEST_ENTRIES
    from warehouse.lake import Lake, Warehouse

    fresh, old = tmp_path / "fresh", tmp_path / "old"
    ingest_flow(paths=[str(ai_inbox)], warehouse=str(fresh), enrich=False)
    entries = "SELECT * EXCLUDE (digest_id) FROM digest_entries ORDER BY ALL"
    # Older code: the TL;DR was one more AI field, and no title could start with an A-F.
    monkeypatch.setattr(ai_enhanced, "AI_COLUMNS", {"translation": "abstract_zh"})
    columns = tuple(
        dataclasses.replace(c, pattern=r"^[^A-F]") if c.name == "title" else c
        for c in DIGEST_ENTRIES.columns
    )
    strict = dataclasses.replace(DIGEST_ENTRIES, columns=columns)
    monkeypatch.setattr(parsed, "DIGEST_ENTRIES", strict)
    ingest_flow(paths=[str(ai_inbox)], warehouse=str(old), enrich=False)
    rejected = sql(old, "SELECT count(*) FROM rejects WHERE rule = 'pattern:title'")[0][0]
    assert 0 < rejected < 31 and sql(old, "SELECT count(summary_zh) FROM digest_entries") == [(0,)]
    monkeypatch.undo()

    # Replay moves the rejected rows, each to the line its reject kept (ref = line).
    replayed = Path(shutil.copytree(old, tmp_path / "replayed", symlinks=True))
    with Lake(Warehouse(replayed)) as lake:
        assert replay(lake, "20991231T000000Z-replay").moved == rejected
    moved = "SELECT * EXCLUDE (digest_id) FROM digest_entries WHERE title < 'G' ORDER BY ALL"
    assert len(sql(replayed, moved)) == rejected and sql(replayed, moved) == sql(fresh, moved)

    with Lake(Warehouse(old)) as lake:
        done = reparse(lake, "20991231T000000Z-reparse", Limits())
    assert done.updated + done.loaded == 31  # every row changed, the rejected ones load now
    assert sql(old, entries) == sql(fresh, entries)
    assert sql(old, "SELECT count(*) FROM rejects WHERE resolved_by IS NULL") == [(0,)]


@pytest.mark.slow
def test_the_family_from_an_object_store_prefix(s3, prefect, ai_inbox, tmp_path):
    from test_object_store import same_tables

    bucket, client = s3.bucket(), s3.client()
    (ai_inbox / "2025-04-01.jsonl").write_bytes(b'{"id": "2501.00001"}\n')  # the crawl
    for path in sorted(ai_inbox.iterdir()):
        client.put_object(Bucket=bucket, Key=f"data/{path.name}", Body=path.read_bytes())
    local, remote = tmp_path / "from-folder", tmp_path / "from-bucket"
    ingest_flow(paths=[str(ai_inbox)], warehouse=str(local), enrich=False)
    first = ingest_flow(paths=[f"s3://{bucket}/data"], warehouse=str(remote), enrich=False)
    assert (first["files_new"], first["entries_loaded"]) == (3, 31)
    assert any(line.startswith("1 crawl-only file(s) skipped") for line in first["lines"])
    assert same_tables(remote, local, skip=("runs", "seen_files", "digests")) == []
    query = "SELECT file_name, generator, digest_date, date_source FROM digests ORDER BY ALL"
    assert sql(remote, query) == sql(local, query)
    assert {g for _, g, _, _ in sql(remote, query)} == {"daily-arxiv-ai-enhanced"}


ODD_DAY = """# AI-Enhanced arXiv Daily 2025-06-09

### [Oldest Days Had No Index](https://arxiv.org/abs/2503.15617)
*Ada Lovelace,Henry M. Cathey, Jr.*

Task: 最早的日子用 task 字段。

<details>
  <summary>Details</summary>
Abstract: Abstracts were wrapped as arXiv sends them, and a line may start
>200 bps into video, or say
Results: 5 wins.

</details>

### [2] [A Link Rendered Inside The Link]([https://arxiv.org/abs/](https://arxiv.org/abs/)2506.05566)
> *{title_translation}*

*Grace Hopper* | **Main category: cs.AR**

### [3] [A Bare ID For A Link](2503.05714)
> *两行的
标题翻译*

Main category: N/A

TL;DR: 只有一个 ID。
"""


def test_the_oddities_of_real_forks_days_are_read():
    entries, problems, seen = parse_markdown(ODD_DAY)
    assert (problems, seen) == ([], 3)
    old, nested, bare = entries
    assert (old["arxiv_id"], old["summary_zh"]) == ("2503.15617", "最早的日子用 task 字段。")
    assert old["listed_authors"] == ["Ada Lovelace", "Henry M. Cathey, Jr."]
    assert old["abstract_excerpt"] == (
        "Abstracts were wrapped as arXiv sends them, and a line may start >200 bps into video, "
        "or say Results: 5 wins."
    )
    assert (nested["arxiv_id"], nested["url"]) == ("2506.05566", "https://arxiv.org/abs/2506.05566")
    assert nested["title"] == "A Link Rendered Inside The Link" and nested["title_zh"] is None
    assert nested["listed_category"] == "cs.AR" and nested["listed_authors"] == ["Grace Hopper"]
    assert (bare["arxiv_id"], bare["url"]) == ("2503.05714", "https://arxiv.org/abs/2503.05714")
    assert bare["title_zh"] == "两行的 标题翻译" and bare["listed_category"] is None
    assert family_of("2025-06-09.md", ODD_DAY.encode()) is AI_ENHANCED_MARKDOWN
