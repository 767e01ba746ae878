"""Realistic synthetic digests, deterministic by seed: for crash tests and benchmarks.

`python -m flows.digests.synthetic OUT --digests 2000 --entries 50 --seed 7` writes
OUT/<date>/<cat>.md files in the real layouts (new, old, plain, mixed) with the real oddities
(raw `|` in titles, `$…$` TeX, empty summaries, `论文标题：` prefixes, UPDATED/CROSS LISTED
suffixes, rss links, 4-digit pre-2015 IDs, old-style IDs, tab runs, control characters).
"""

from __future__ import annotations

import argparse
import random
from datetime import date, timedelta
from pathlib import Path

WORDS = [
    "learning",
    "neural",
    "graph",
    "diffusion",
    "language",
    "model",
    "robust",
    "efficient",
    "transformer",
    "attention",
    "causal",
    "sparse",
    "quantum",
    "optimal",
    "adaptive",
    "federated",
    "contrastive",
    "bayesian",
    "kernel",
    "policy",
    "reinforcement",
    "vision",
    "segmentation",
    "retrieval",
    "reasoning",
    "benchmark",
    "theory",
    "scalable",
]
HANZI = "提出了一种新的方法用于解决问题并在多个数据集上取得效果本文研究模型学习表示能力实验结果表明"
CATEGORIES = ("cs.AI", "cs.CL", "cs.CV", "cs.LG", "stat.ML", "econ.EM", "q-fin.ST", "quant-ph")
TYPES = ("new", "cross", "replace", "replace-cross")


def _title(rng: random.Random) -> str:
    words = [
        rng.choice(WORDS).capitalize() if i == 0 else rng.choice(WORDS)
        for i in range(rng.randint(4, 12))
    ]
    roll = rng.random()
    if roll < 0.03:
        words.insert(2, "$\\mathcal{O}(n^2)$")
    elif roll < 0.04:
        words.insert(3, "|")  # a raw pipe, as real titles have
    return " ".join(words)


def _zh(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(HANZI) for _ in range(n)) + "。"


def _arxiv_id(rng: random.Random) -> str:
    roll = rng.random()
    month = f"{rng.randint(1, 12):02d}"
    if roll < 0.01:  # old scheme, 1991-2007
        archive = rng.choice(["hep-th", "math", "astro-ph"])
        return f"{archive}/0{rng.randint(0, 6)}{month}{rng.randint(0, 999):03d}"
    if roll < 0.03:  # 4-digit numbers, 2007-2014
        return f"1{rng.randint(0, 4)}{month}.{rng.randint(0, 9999):04d}"
    return f"{rng.randint(15, 26)}{rng.randint(1, 12):02d}.{rng.randint(0, 99999):05d}"


def digest_text(rng: random.Random, entries: int, layout: str) -> str:
    """One synthetic digest of `entries` entries in `layout`."""
    table = ["# 摘要", "", "| Ref | Title | Summary |", "| --- | --- | --- |"]
    details = ["", "# 详细", ""]
    for ref in range(1, entries + 1):
        kind = rng.choice(("new", "old", "plain")) if layout == "mixed" else layout
        ident, title, version = _arxiv_id(rng), _title(rng), rng.randint(1, 4)
        summary = "" if rng.random() < 0.01 else _zh(rng, rng.randint(20, 60))
        if kind == "old":
            url = f"http://arxiv.org/abs/{ident}"
            shown = title + "."  # the 2023 feed added a period
            suffix = rng.choice(["", " UPDATED", " CROSS LISTED"]) if version > 1 else ""
            en_title = f"{title}. (arXiv:{ident}v{version} [{rng.choice(CATEGORIES)}]{suffix})"
            abstract = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 150)))
        else:
            host = "rss.arxiv.org" if rng.random() < 0.02 else "arxiv.org"
            url, shown, en_title = f"https://{host}/abs/{ident}", title, title
            abstract = " ".join(rng.choice(WORDS) for _ in range(rng.randint(40, 150)))
            if kind == "new":
                abstract = (
                    f"arXiv:{ident}v{version} Announce Type: {rng.choice(TYPES)}  "
                    f"Abstract: {abstract}"
                )
        if rng.random() < 0.01:
            abstract = abstract.replace(" ", "\t\t", 3)
        table.append(f"| [^{ref}] | [{shown}]({url}) | {summary} |")
        zh_title = _zh(rng, rng.randint(8, 20))
        if rng.random() < 0.02:
            zh_title = "论文标题：" + zh_title
        if rng.random() < 0.005:
            zh_title += "\x08"
        details += [f"[^{ref}]: {zh_title}", "", f"    {en_title}", "", f"    [{url}]({url})", ""]
        if summary:
            details += [f"    {summary}", "", "    ", ""]
        details += [f"    {_zh(rng, rng.randint(60, 200))}", "", f"    {abstract[:1000]}", "    "]
    return "\n".join(table + details) + "\n"


def generate(out: Path, digests: int, entries: int, seed: int) -> list[Path]:
    """Write `digests` files of about `entries` entries each; returns their paths."""
    rng = random.Random(seed)
    paths = []
    start = date(2024, 1, 1)
    layouts = ("new", "old", "plain", "mixed")
    for i in range(digests):
        day = start + timedelta(days=i // len(CATEGORIES))
        category = CATEGORIES[i % len(CATEGORIES)]
        path = out / day.isoformat() / f"{category}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        count = max(0, int(rng.gauss(entries, entries / 4)))
        path.write_text(digest_text(rng, count, rng.choice(layouts)), encoding="utf-8")
        paths.append(path)
    return paths


def main() -> None:
    """Write a synthetic corpus (see `--help`)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--digests", type=int, default=100)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    paths = generate(args.out, args.digests, args.entries, args.seed)
    print(f"{len(paths)} digests in {args.out}")


if __name__ == "__main__":
    main()
