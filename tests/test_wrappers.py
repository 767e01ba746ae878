"""The wrappers around a digest's text fields (`flows.digests.wrappers`): removed in every
wording seen in real digests, text without them left alone, and, over the whole corpus, no
field keeping one."""

from __future__ import annotations

import re

import pytest
from conftest import DIGESTS, examples, manifest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from flows.digests.parse import parse_digest
from flows.digests.text import clean
from flows.digests.wrappers import (
    chinese_prefix,
    english_prefix,
    unquoted,
    without_arxiv_leftover,
)

# The translated announcement as models wrote it in 5,700 real digests (qhduan/cn-chat-arxiv),
# with the ID and the type as placeholders.
ZH_WORDINGS = [
    "arXiv:{id} 公告类型：{type} 摘要：",
    "arXiv:{id} 公告类型: {type} 摘要:",
    "arXiv:{id} 公告类型：{type}摘要：",
    "arXiv:{id} 公告类型:{type}摘要:",
    "arXiv:{id} 通告类型: {type} 摘要:",
    "arXiv:{id} 类型公告：{type} 摘要：",
    "arXiv:{id} 类型：{type} 摘要：",
    "arXiv：{id} 公告类型：{type} 摘要：",
    "arXiv: {id} 公告类型: {type} 摘要:",
    "摘要：arXiv:{id} 公告类型：{type} 摘要：",
    "arXiv:{id}宣布类型：{type} 摘要：",
    "arXiv:{id} 公告类型：{type}。摘要：",
    "《arXiv:{id} 公告类型: {type}》 摘要：",
    "论文编号：arXiv:{id} 公告类型：{type} 摘要：",
    "arXiv:{id} 公告类型：{type} ",
    "arXiv:{id} 公告类型：{type} 文摘：",
    "arXiv:{id} 公告类型：{type} 提要：",
    "arXiv:{id} 公告类型：{type} 简介：",
    "arXiv:{id} Announce Type: {type} 摘要:",
    "arXiv:{id} 发表类型：{type} 摘要：",
    "arXiv:{id} 公告类型：{type}，摘要：",
    "arXiv:{id} 公告类型：{type}",  # the type run into the text
    "ARXIV: {id} 公告类型: {type}摘要: ",
    "引文:{id} 公告类型:{type}摘要:",  # `arXiv` itself translated
    "谷歌学术：{id} 公告类型：{type} 摘要：",
]
ZH_TYPES = ["新", "交叉", "跨领域", "替换", "替换-交叉", "替换交叉", "新论文", "新的", "cross"]
IDS = st.sampled_from(["2403.06131v1", "2402.12659v2", "2311.11202v2", "hep-th/9901001v1"])
# Abstract text as it follows the prefix: it begins with words, never with a label (nor with
# a stop or a space within its first characters, where a type run into it would be ambiguous).
TEXT = st.text(
    st.sampled_from(list("研究模型数据我们提出方法的了在中") + list("abc xyz,.()")), max_size=60
).map(lambda t: "本文研究了一种" + t)


@settings(max_examples=examples(300))
@given(wording=st.sampled_from(ZH_WORDINGS), kind=st.sampled_from(ZH_TYPES), ident=IDS, text=TEXT)
def test_every_chinese_wording_is_removed_and_names_its_id(wording, kind, ident, text):
    # Where `arXiv` itself was translated, only an ID of today's shape says what follows.
    assume("arxiv" in wording.lower() or "/" not in ident)
    wrapped = clean(wording.format(id=ident, type=kind) + text)
    assert chinese_prefix(wrapped) == (clean(text), ident)


@settings(max_examples=examples(200))
@given(ident=IDS, kind=st.sampled_from(["new", "cross", "replace", "replace-cross"]), text=TEXT)
def test_the_english_announcement_is_removed_with_its_id_and_type(ident, kind, text):
    wrapped = clean(f"arXiv:{ident} Announce Type: {kind} Abstract: {text}")
    assert english_prefix(wrapped) == (clean(text), ident, kind)


@settings(max_examples=examples(200))
@given(text=TEXT)
def test_text_without_a_wrapper_is_left_alone(text):
    plain = clean(text)
    assert chinese_prefix(plain) == (plain, None)
    assert english_prefix(plain) == (plain, None, None)
    assert unquoted(plain) == plain and without_arxiv_leftover(plain) == plain


@settings(max_examples=examples(200))
@given(text=TEXT.filter(lambda t: '"' not in t), ident=IDS)
def test_quotes_and_leftovers_around_titles_are_removed(text, ident):
    plain = clean(text)
    assert unquoted(f'"{plain}"') == plain
    assert without_arxiv_leftover(f"{plain}( arXiv:{ident}[cs.CL])") == plain
    assert without_arxiv_leftover(f"{plain} (arXiv:{ident} [cs.CL])") == plain
    inner = f"引用{plain}的“豚鼠试验”"
    assert unquoted(f'"{inner}"') == inner  # other quotes inside stay


OLD = (
    "# 摘要\n\n| Ref | Title | Summary |\n| --- | --- | --- |\n"
    "| [^1] | [Old.](http://arxiv.org/abs/2301.00002) | 旧 |\n\n# 详细\n\n"
    "[^1]: 旧\n\n    Old. (arXiv:2301.00002v{v} [cs.RO]{marker})\n\n"
    "    [http://arxiv.org/abs/2301.00002](http://arxiv.org/abs/2301.00002)\n\n"
    "    旧\n\n    旧的摘要\n\n    Old words.\n"
)


@pytest.mark.parametrize(
    ("version", "marker", "expected"),
    [(1, "", "new"), (2, " UPDATED", "replace"), (2, " CROSS LISTED", "cross")],
)
def test_the_old_layouts_marker_is_its_announce_type(version, marker, expected):
    parsed = parse_digest(OLD.format(v=version, marker=marker).encode())
    (entry,) = parsed.entries
    assert (entry["layout"], entry["announce_type"]) == ("old", expected)


def test_an_abstract_announcing_another_paper_rejects_the_row():
    text = (
        "# 摘要\n\n| Ref | Title | Summary |\n| --- | --- | --- |\n"
        "| [^1] | [A title](https://arxiv.org/abs/2401.00001) | 摘要 |\n\n# 详细\n\n"
        "[^1]: 标题\n\n    A title\n\n    [https://arxiv.org/abs/2401.00001](x)\n\n"
        "    摘要一句\n\n    arXiv:2401.00009v1 公告类型：新 摘要：中文\n\n"
        "    arXiv:2401.00001v1 Announce Type: new Abstract: Words.\n"
    )
    parsed = parse_digest(text.encode())
    assert parsed.entries == []
    (problem,) = [p for p in parsed.problems if p.rule == "abstract_mismatch"]
    assert "arXiv:2401.00009v1" in problem.message and problem.line == 5
    assert "公告类型" in (problem.raw or "")  # the row and its block kept, to fix and replay


WRAPPED = re.compile(r"^(?:arXiv|摘要\s*[:：]|Abstract:)|Announce Type")


@pytest.mark.corpus
def test_no_field_of_the_corpus_keeps_a_known_wrapper():
    kept: list[str] = []
    old_without_type = 0
    for row in manifest():
        for e in parse_digest((DIGESTS / row["file"]).read_bytes()).entries:
            for name in ("abstract_excerpt", "abstract_zh"):
                if e[name] and WRAPPED.search(e[name][:120]):
                    kept.append(f"{row['file']}:{e['line']}: {name}: {e[name][:60]}")
            for name in ("title_zh", "summary_zh"):
                value = e[name] or ""
                if "(arXiv:" in value or "( arXiv" in value or value[:1] + value[-1:] == '""':
                    kept.append(f"{row['file']}:{e['line']}: {name}: {value[:60]}")
            old_without_type += e["layout"] in ("old", "early") and e["announce_type"] is None
    assert kept == [] and old_without_type == 0
