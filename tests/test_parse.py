"""The parser against every real digest (MANIFEST.tsv is the oracle), each layout and oddity,
and inputs not seen in the corpus."""

from __future__ import annotations

import re
from collections import Counter

import pytest
from conftest import DIGESTS, corpus_bytes, examples, manifest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.digests.parse import ROW_RULES, parse_digest
from flows.digests.text import clean, decode

MANIFEST = manifest()


def parse_file(name: str):
    return parse_digest((DIGESTS / name).read_bytes())


def entry(name: str, ref: int) -> dict:
    return next(e for e in parse_file(name).entries if e["ref"] == ref)


def _counts(spec: str) -> dict[str, int]:
    if spec in ("", "-"):
        return {}
    return {k: int(v) for k, v in (part.split("=") for part in spec.replace(";", " ").split())}


@pytest.mark.corpus
@pytest.mark.parametrize("row", MANIFEST, ids=[r["file"] for r in MANIFEST])
def test_every_corpus_file_matches_its_manifest(row):
    parsed = parse_file(row["file"])
    assert parsed.readable
    assert [p for p in parsed.problems if p.severity == "reject"] == []
    assert len(parsed.entries) == parsed.rows_seen == int(row["table_rows"])
    assert dict(parsed.layouts) == _counts(row["block_formats"])
    ids = {e["arxiv_id"] for e in parsed.entries}
    assert len(ids) == int(row["distinct_ids"])
    if ids:
        key = lambda i: (i.split(".")[0], i)  # noqa: E731
        assert (min(ids, key=key), max(ids, key=key)) == (row["min_id"], row["max_id"])
    # The manifest counts the 2024 layout's `Announce Type:` markers; the old layout's
    # markers (none, UPDATED, CROSS LISTED) give every old entry a type as well.
    new = [e for e in parsed.entries if e["layout"] == "new"]
    announced = Counter(e["announce_type"] for e in new if e["announce_type"])
    expected = {k: v for k, v in _counts(row["announce_types"]).items() if k != "新的摘要:"}
    assert dict(announced) == expected
    old = [e["announce_type"] for e in parsed.entries if e["layout"] in ("old", "early")]
    assert set(old) <= {"new", "replace", "cross"} and None not in old
    for e in parsed.entries:
        assert e["title"] and e["title"] == e["title"].strip()
        assert "  " not in e["title"]


@pytest.mark.corpus
def test_total_entries_of_the_corpus():
    assert sum(len(parse_file(r["file"]).entries) for r in MANIFEST) == 2641


@pytest.mark.corpus
def test_new_layout_fields():
    e = entry("000_35d916e6e3a253ef.txt", 1)
    assert e["arxiv_id"] == "2403.15603"
    assert e["arxiv_version"] == 1
    assert e["title"] == "Forward Learning for Gradient-based Black-box Saliency Map Generation"
    assert e["title_zh"] == "基于前向学习的基于梯度的黑盒显著图生成"
    assert e["announce_type"] == "cross"
    assert e["layout"] == "new"
    assert e["summary_zh"].startswith("提出了一种新颖的统一框架")
    assert e["abstract_zh"].startswith("梯度-based显著图被广泛用于")
    assert e["abstract_excerpt"].startswith("Gradient-based saliency maps are widely used")
    assert e["url"] == "https://arxiv.org/abs/2403.15603"
    assert e["line"] == 5


@pytest.mark.corpus
def test_old_layout_strips_the_feeds_period_and_reads_the_suffix():
    e = entry("000_35d916e6e3a253ef.txt", 9)
    assert e["title"] == "Towards Robust Cardiac Segmentation using Graph Convolutional Networks"
    assert (e["arxiv_version"], e["listed_category"], e["layout"]) == (2, "eess.IV", "old")
    assert e["announce_type"] == "replace"  # `(arXiv:2311.04561v2 [eess.IV] UPDATED)`
    assert e["abstract_excerpt"].startswith("Fully automatic cardiac segmentation")
    # A title ending in "?" keeps it; only the added period goes.
    q = entry("1816f16776add674.md", 4)
    assert q["title"].endswith("Generation?")


@pytest.mark.corpus
def test_plain_layout():
    e = entry("99027e241a83f01b.md", 1)
    assert e["layout"] == "plain"
    assert e["announce_type"] is None and e["listed_category"] is None
    assert e["url"].startswith("https://")


@pytest.mark.corpus
def test_early_layout_has_no_summary_in_details_but_keeps_the_tables():
    e = entry("1816f16776add674.md", 1)
    assert e["layout"] == "early"
    assert e["summary_zh"].startswith("本研究提出了一种奖励系统")
    assert e["abstract_zh"].startswith("预训练的大型语言模型的出现")
    assert e["abstract_excerpt"].startswith("The emergence of pretrained")


@pytest.mark.corpus
def test_empty_table_summary_falls_back_to_the_detail_block():
    e = entry("8b0f6809c65acdca.md", 42)
    assert e["summary_zh"] is None  # the block is missing parts too: nothing to fall back on
    assert e["abstract_excerpt"].startswith("A human decision-maker")
    e = entry("8c35c697560a7b9f.md", 56)
    assert e["abstract_zh"].startswith(
        "当只有少量的标签可用时"
    )  # `arXiv:… 公告类型：… 摘要：` removed


@pytest.mark.corpus
def test_raw_pipe_in_title_and_summary():
    e = entry("65da983834d9d7e8.md", 40)
    assert e["title"].startswith("InSaAF: Incorporating Safety through Accuracy and Fairness | Are")
    assert e["arxiv_id"] == "2402.10567"
    summaries = [x["summary_zh"] or "" for x in parse_file("9a27aa0f18b94371.md").entries]
    assert any("|" in s for s in summaries)


@pytest.mark.corpus
def test_backslash_pipe_is_tex_and_kept():
    e = entry("1c5ce261a8d46110.md", 99)
    assert "\\|\\mathbf{x}_t" in e["summary_zh"]
    assert e["title"] == (
        "Convergence Rates of Stochastic Zeroth-order Gradient Descent for \\L ojasiewicz Functions"
    )


@pytest.mark.corpus
def test_chinese_title_prefixes_and_fullwidth_suffixes_are_removed():
    titles = [e["title_zh"] or "" for e in parse_file("05d96446db73941c.md").entries]
    assert not any(t.startswith(("论文标题", "标题")) for t in titles)
    e = entry("0b5d8049c36796f2.md", 1)
    assert e["title_zh"] == "合作是你所需要的。"


@pytest.mark.corpus
def test_control_characters_are_dropped():
    for e in parse_file("1a22dbc36124a131.md").entries:
        for key, value in e.items():
            if isinstance(value, str) and key != "_raw":  # the raw text is kept as written
                assert not any(ord(ch) < 32 for ch in value), value


@pytest.mark.corpus
def test_rss_links_and_pre_2015_ids():
    assert entry("da9802726ee1d6f5.md", 1)["arxiv_id"] == "2402.00955"
    ids = {e["arxiv_id"] for e in parse_file("f5ded05b09bcb17e.md").entries}
    assert "1412.7562" in ids


@pytest.mark.corpus
def test_translated_announce_prefix_is_not_a_type():
    # The Chinese paragraph translates the prefix (`Announce Type: 新的摘要:`); the type comes
    # from the English abstract only.
    e = entry("8c35c697560a7b9f.md", 80)
    assert e["abstract_zh"].startswith("基于GAN的图像编辑任务")  # the whole prefix removed
    assert (e["announce_type"], e["layout"]) == ("new", "new")
    odd = parse_digest(SAMPLE.replace(b"Announce Type: cross", "Announce Type: 交叉".encode(), 1))
    assert (odd.entries[0]["announce_type"], odd.entries[0]["layout"]) == (None, "new")


@pytest.mark.corpus
def test_zero_entry_file_is_a_digest():
    parsed = parse_file("7a0da70decb1accd.md")
    assert parsed.readable and parsed.entries == [] and parsed.problems == []


# --- inputs not seen in the corpus ----------------------------------------------------------

SAMPLE = corpus_bytes("000_35d916e6e3a253ef.txt")
SAMPLE_TEXT = SAMPLE.decode()


def _fields(parsed):
    return [{k: v for k, v in e.items() if k not in ("line", "_raw")} for e in parsed.entries]


@pytest.mark.corpus
def test_crlf_and_bom_parse_like_the_original():
    original = parse_digest(SAMPLE)
    crlf = parse_digest(SAMPLE.replace(b"\n", b"\r\n"))
    bom = parse_digest(b"\xef\xbb\xbf" + SAMPLE)
    utf16 = parse_digest(SAMPLE_TEXT.encode("utf-16"))
    for other in (crlf, bom, utf16):
        assert _fields(other) == _fields(original)
    assert [e["line"] for e in crlf.entries] == [e["line"] for e in original.entries]
    assert (bom.encoding, utf16.encoding) == ("utf-8-sig", "utf-16")


@pytest.mark.corpus
def test_gbk_file_is_decoded():
    parsed = parse_digest(SAMPLE_TEXT.encode("gbk", errors="replace"))
    assert parsed.encoding == "gb18030"
    assert parsed.entries[0]["title_zh"] == "基于前向学习的基于梯度的黑盒显著图生成"


@pytest.mark.corpus
def test_latin1_bytes_are_replaced_with_a_warning():
    parsed = parse_digest(
        SAMPLE_TEXT.replace("Forward", "Förward").encode("utf-8").replace("ö".encode(), b"\xf6")
    )
    assert len(parsed.entries) == 9
    assert [p.rule for p in parsed.problems] == ["encoding"]
    assert parsed.problems[0].severity == "warning"
    assert parsed.entries[0]["title"].startswith("F\ufffdrward")


@pytest.mark.corpus
@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"", "empty_file"),
        (b"  \n\n", "empty_file"),
        (bytes(range(256)) * 40, "binary_file"),
        (b"\x00" * 1000 + SAMPLE[:100], "binary_file"),
        (b"just some notes\nnothing here\n", "not_a_digest"),
    ],
    ids=["empty", "blank", "binary", "nul-bytes", "not-a-digest"],
)
def test_unreadable_files_are_rejected_whole(data, rule):
    parsed = parse_digest(data)
    assert not parsed.readable
    assert parsed.entries == []
    assert [p.rule for p in parsed.problems] == [rule]


@pytest.mark.corpus
def test_file_cut_mid_row_rejects_the_cut_row_and_keeps_the_rest():
    cut = SAMPLE_TEXT.index("| [^4]") + 40
    parsed = parse_digest(SAMPLE[: len(SAMPLE_TEXT[:cut].encode())])
    assert parsed.rows_seen == 4
    assert [e["ref"] for e in parsed.entries] == [1, 2, 3]
    rejects = [p for p in parsed.problems if p.severity == "reject"]
    assert [(p.rule, p.line) for p in rejects] == [("malformed_row", 8)]
    assert rejects[0].raw.startswith("| [^4] | [LMM-Assisted")
    # The rows kept have no detail blocks (the file ends before them): loaded, with a warning.
    assert {p.rule for p in parsed.problems if p.severity == "warning"} == {"missing_detail"}


@pytest.mark.corpus
def test_file_cut_mid_details_keeps_every_row():
    cut = SAMPLE_TEXT.index("[^5]:") + 3
    parsed = parse_digest(SAMPLE_TEXT[:cut].encode())
    assert len(parsed.entries) == 9
    assert parsed.entries[3]["abstract_excerpt"].startswith("Recent advancements in Artificial")


@pytest.mark.corpus
def test_orphan_detail_block_and_non_arxiv_link_are_rejected():
    text = SAMPLE_TEXT.replace("https://arxiv.org/abs/2402.17376)", "https://example.com/x)", 1)
    text = text.replace("| [^3] |", "| [^30] |", 1)
    parsed = parse_digest(text.encode())
    rules = sorted((p.rule, p.line) for p in parsed.problems if p.severity == "reject")
    assert rules == [("not_arxiv_url", 6), ("orphan_detail", 45)]


# --- properties -----------------------------------------------------------------------------

LINES = SAMPLE_TEXT.split("\n")


@settings(max_examples=examples(300), deadline=None)
@given(st.binary(max_size=4000))
def test_any_bytes_parse_without_raising(data):
    parsed = parse_digest(data)
    row_rejects = [p for p in parsed.problems if p.rule in ROW_RULES]
    assert parsed.rows_seen == len(parsed.entries) + len(row_rejects)


@pytest.mark.corpus
@settings(max_examples=examples(2000), deadline=None)
@given(st.lists(st.sampled_from(LINES) | st.text(max_size=80), max_size=120))
def test_any_mix_of_digest_lines_keeps_every_row(lines):
    """Shuffled, duplicated and foreign lines: every table row is an entry or a reject."""
    parsed = parse_digest("\n".join(lines).encode())
    row_rejects = [p for p in parsed.problems if p.rule in ROW_RULES]
    assert parsed.rows_seen == len(parsed.entries) + len(row_rejects)
    for e in parsed.entries:
        assert isinstance(e["ref"], int) and e["url"].startswith("http")


@settings(max_examples=examples(200), deadline=None)
@given(
    st.text(
        st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="|[]()"),
        min_size=1,
        max_size=60,
    ).filter(lambda s: s.strip()),
    st.text(
        st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="|"), max_size=60
    ),
    st.integers(1, 99999),
)
def test_a_written_row_reads_back(title, summary, number):
    arxiv_id = f"2401.{number:05d}"
    row = f"| [^1] | [{title}](https://arxiv.org/abs/{arxiv_id}) | {summary} |"
    parsed = parse_digest(f"# 摘要\n\n{row}\n".encode())
    assert len(parsed.entries) == 1
    e = parsed.entries[0]
    assert e["arxiv_id"] == arxiv_id
    assert e["title"] == " ".join(title.split())
    assert e["summary_zh"] == (" ".join(summary.split()) or None)


def test_decode_prefers_utf8():
    assert decode("中文".encode())[1] == "utf-8"


@settings(max_examples=examples(3000), deadline=None)
@given(
    st.text(max_size=60)
    | st.text(" \t\u3000\xa0\x0b\x1c\x85\u200bab中", max_size=30)
    | st.text(" a中", max_size=20)  # printable, with runs of spaces
)
def test_clean_drops_control_characters_and_collapses_whitespace(text):
    """`clean` returns an already-clean field as it is without splitting it: the same result
    as dropping control characters and collapsing every run of whitespace."""
    expected = " ".join(re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text).split()) or None
    assert clean(text) == expected
