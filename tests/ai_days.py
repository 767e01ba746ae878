"""Synthetic days of the daily-arXiv-ai-enhanced family: a day's AI-enhanced JSONL and its
Markdown, rendered with the upstream's template or a fork's (a translated title in a quote,
bold labels, keywords), with the seeded papers written by hand here."""

from __future__ import annotations

import json
import random
from typing import Any

WORDS = ["graph", "neural", "diffusion", "video", "retrieval", "agent", "policy"]
WORDS += ["sparse", "kernel", "language"]
ZH = "图神经网络扩散模型视频检索智能体策略稀疏核语言"


def papers(seed: int, count: int, old: bool = False) -> list[dict[str, Any]]:
    """`count` records as the generator writes them (`task` for `tldr` on `old` days)."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        words = rng.sample(WORDS, 4)
        ai = {
            ("task" if old else "tldr"): "".join(rng.sample(ZH, 12)),
            "motivation": "".join(rng.sample(ZH, 10)),
            "method": "".join(rng.sample(ZH, 10)),
            "result": "".join(rng.sample(ZH, 10)),
            "conclusion": "".join(rng.sample(ZH, 10)),
            "novelty": f"key {i}",  # a key the generator added later: kept
        }
        ident = f"2501.{rng.randrange(10000, 99999)}"
        out.append(
            {
                "id": ident,
                "categories": rng.sample(["cs.CV", "cs.CL", "cs.AI", "cs.LG"], 2),
                "pdf": f"https://arxiv.org/pdf/{ident}",
                "abs": f"https://arxiv.org/abs/{ident}",
                "authors": [f"Author {rng.randrange(100)}", f"Writer {rng.randrange(100)}"],
                "title": " ".join(words).title() + f" with $O(n^{i % 3 + 1})$ cost",
                "comment": f"{i + 8} pages",
                "summary": f"We study {words[0]}\nand {words[1]}.\n  Results: {words[2]} wins.",
                "AI": ai,
            }
        )
    return out


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()


def markdown(records: list[dict[str, Any]], fork: bool = False) -> bytes:
    """The day rendered as the upstream's `to_md` does (or as a fork's template)."""
    lines = ["<div id=toc></div>", "", "# Table of Contents", ""]
    by_cat: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_cat.setdefault(r["categories"][0], []).append(r)
    lines += [f"- [{c}](#{c}) [Total: {len(rs)}]" for c, rs in by_cat.items()]
    n = 0
    for cat, rs in by_cat.items():
        lines += ["", "", f"<div id='{cat}'></div>", "", f"# {cat} [[Back]](#toc)", ""]
        for r in rs:
            n += 1
            lines += _fork(r, n) if fork else _upstream(r, n)
    return ("\n".join(lines) + "\n").encode()


def _upstream(r: dict[str, Any], n: int) -> list[str]:
    ai = r["AI"]
    return [
        f"### [{n}] [{r['title']}]({r['abs']})",
        f"*{','.join(r['authors'])}*",
        "",
        f"Main category: {r['categories'][0]}",
        "",
        f"TL;DR: {ai.get('tldr') or ai.get('task')}",
        "", "", "<details>", "  <summary>Details</summary>",
        f"Motivation: {ai['motivation']}",
        "",
        f"Method: {ai['method']}",
        "",
        f"Result: {ai['result']}",
        "",
        f"Conclusion: {ai['conclusion']}",
        "",
        f"Abstract: {r['summary']}",
        "", "</details>", "", "",
    ]  # fmt: skip


def _fork(r: dict[str, Any], n: int) -> list[str]:
    ai = r["AI"]
    return [
        f"### [{n}] [{r['title']}]({r['abs']})",
        f"> {ai['title_translation']}" if "title_translation" in ai else "",
        f"*{', '.join(r['authors'])}*",
        "",
        f"**Category:** {r['categories'][0]}  ",
        f"**Keywords:** {'; '.join(ai.get('keywords', []))}",
        "",
        f"> **TL;DR:** {ai.get('tldr') or ai.get('task')}",
        "", "<details>", "  <summary>Details</summary>", "",
        f"**Motivation:** {ai['motivation']}",
        "",
        f"**Method:** {ai['method']}",
        "",
        f"**Result:** {ai['result']}",
        "",
        f"**Conclusion:** {ai['conclusion']}",
        "",
        f"**Abstract:** {r['summary']}",
        "",
        f"> **摘要翻译:** {ai['translation']}" if "translation" in ai else "",
        "", "</details>", "",
    ]  # fmt: skip


def forked(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same records with a fork's AI keys: translations and keywords."""
    out = []
    for r in records:
        ai = dict(r["AI"], title_translation="中文标题" + r["id"], translation="中文摘要。")
        ai["keywords"] = ["graph", "video"]
        out.append(dict(r, AI=ai))
    return out


# Templates in the styles forks use (written here): bold labels; a quoted translated title and
# fields on the authors' line; labels in another language with the English in parentheses,
# as list items; sub-headings above their text; fields apart on one line and a fork's own.
FORK_TEMPLATES = {
    "bold": "### [{idx}] [{title}]({url})\n\n*{authors}*\n\n**Main category:** {cate}\n\n"
    "**TL;DR:** {tldr}\n\n<details>\n  <summary>Details</summary>\n\n"
    "**Motivation:** {motivation}\n\n**Method:** {method}\n\n**Result:** {result}\n\n"
    "**Conclusion:** {conclusion}\n\n**Abstract:** {summary}\n\n</details>\n",
    "quoted": "### [{idx}] [{title}]({url})\n> *{title_translation}*\n\n"
    "*{authors}* | **Category: {cate}** | **Updated: 2025-03-19**\n\n"
    "**Keywords:** {keywords}\n\n> **TL;DR:** {tldr}\n\n<details>\n  <summary>Details"
    "</summary>\n\n**Motivation:** {motivation}\n\n**Method:** {method}\n\n"
    "**Result:** {result}\n\n**Conclusion:** {conclusion}\n\n**Abstract:** {summary}\n\n"
    "> **摘要翻译:** {translation}\n\n</details>\n",
    "korean": "### [{idx}] [{title}]({url})\n*{authors}*\n\n분류 (Category): {cate}\n\n"
    "**핵심 요약 (TL;DR)**: {tldr}\n\n<details>\n  <summary>상세 (Details)</summary>\n\n"
    "- **연구 동기 (Motivation)**: {motivation}\n- **방법 (Method)**: {method}\n"
    "- **결과 (Result)**: {result}\n- **결론 (Conclusion)**: {conclusion}\n\n"
    "**원문 초록 (Abstract)**: {summary}\n\n</details>\n",
    "headings": "### [{idx}] [{title}]({url})\n*{authors}*\n\n#### 🧩 TL;DR\n{tldr}\n\n---\n\n"
    "#### 📘 In detail\n**Motivation:** {motivation}\n\n**Method:** {method}\n\n"
    "**Result:** {result}\n\n**Conclusion:** {conclusion}\n\n---\n\n#### 📄 Abstract\n"
    "{summary}\n",
    "extra": "### [{idx}] [{title}]({url})\n*{authors}*\n\nMain category: {cate} | Domain: "
    "vision | Importance: high\n\nTL;DR: {tldr}\n\nReader Relevance: strong\n\n<details>\n"
    "  <summary>Details</summary>\nMotivation: {motivation}\n\nMethod: {method}\n\n"
    "Result: {result}\n\nConclusion: {conclusion}\n\n与视频交叉: 无\n\n"
    "Abstract (英文): {summary}\n\n</details>\n",
    # No link in the heading (a score and a tag there), the fields in a table, the link below.
    "table": "### [{idx}] [8.5] [必读] {title}\n*{authors}* | {cate}, cs.LG\n\n"
    "> **TL;DR**: {tldr}\n\n| 维度 | 内容 |\n|------|------|\n| 🎯 解决什么问题 | {motivation} |\n"
    "| 🔧 核心方法 | {method} |\n| 📊 关键结果 | {result} |\n\n"
    "[📄 arXiv]({url}) | [📥 PDF]({url})\n",
    # A score before the authors, Chinese labels, the abstract under a sub-heading.
    "scored": "### [{idx}] [{title}]({url})\n**7.5** | *{authors}*\n\n**💡 大白话**: {tldr}\n\n"
    "**📊 主类别**: {cate}\n\n<details>\n  <summary><b>📖 详细分析</b></summary>\n\n"
    "#### 🔍 问题与洞察\n- **根本问题**: {motivation}\n\n#### 📄 原文摘要\n{summary}\n\n"
    "</details>\n",
    # `Original abstract:` and a full-width colon.
    "original": "### [{idx}] [{title}]({url})\n*{authors}*\n\nMain category: {cate}\n\n"
    "Selection reason: 相关\n\nTL;DR: {tldr}\n\n\n<details>\n  <summary>Details</summary>\n"
    "Motivation: {motivation}\n\nMethod: {method}\n\nResult: {result}\n\n"
    "Conclusion: {conclusion}\n\n中文摘要：{translation}\n\nOriginal abstract: {summary}\n\n"
    "</details>\n",
}


def fork_markdown(records: list[dict[str, Any]], template: str) -> bytes:
    """The day rendered with one of `FORK_TEMPLATES`, under a contents list."""
    lines = ["<div id=toc></div>", "", "# Table of Contents", "", "# cs.CV [[Back]](#toc)", ""]
    for n, r in enumerate(records, 1):
        ai = r["AI"]
        lines.append(
            FORK_TEMPLATES[template].format(
                idx=n,
                title=r["title"],
                url=r["abs"],
                authors=", ".join(r["authors"]),
                cate=r["categories"][0],
                tldr=ai.get("tldr") or ai.get("task"),
                motivation=ai["motivation"],
                method=ai["method"],
                result=ai["result"],
                conclusion=ai["conclusion"],
                summary=r["summary"],
                title_translation=ai.get("title_translation", ""),
                translation=ai.get("translation", ""),
                keywords="; ".join(ai.get("keywords", [])),
            )
        )
    return "\n".join(lines).encode()
