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
