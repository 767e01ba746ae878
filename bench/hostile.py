"""Parsing time per MB: plain digests against adversarial ones of the same size.

Each adversarial file repeats one hostile line (unclosed brackets, nested `](`, runs of `|`,
`[`, `(` and `[^`, unclosed title suffixes) in the three places a digest has text: table rows,
detail titles and abstracts. Prints a JSON object: MB/s of each kind and its time per MB over
plain's (target at most 3x)."""

from __future__ import annotations

import json
import re
import sys
import time

from flows.digests.parse import parse_digest

MB = 1024 * 1024
ROW = "| [^{n}] | [A plain title about {n}](https://arxiv.org/abs/2403.{n:05d}) | 一句话总结 |"
HOSTILE = {
    "unclosed link": "| [^1] | [" + "](a" * 2000 + " |",
    "link cells": "| [^1] | [" + "](h) |" * 2000 + "x",
    "brackets": "| [^1] | " + "[" * 6000 + " |",
    "pipes": "|" * 6000,
    "footnotes": "| [^1] | [" + "[^" * 3000 + "](x |",
    "title suffixes": "(arXiv:" * 900 + ")",
    "parentheses": "(" * 6000 + " |",
}


def plain(size: int) -> bytes:
    rows, blocks, n = [], [], 1
    while sum(map(len, rows)) + sum(map(len, blocks)) < size:
        rows.append(ROW.format(n=n))
        blocks.append(
            f"[^{n}]: 一个标题\n\n    A plain title\n\n"
            f"    [link](https://arxiv.org/abs/2403.{n:05d})\n\n    一句话总结\n\n"
            "    摘要的中文翻译"
            * 20
            + "\n\n    arXiv:2403.00001v1 Announce Type: new Abstract: "
            + "words " * 150
        )
        n += 1
    return (
        "# 摘要\n\n| Ref | Title | Summary |\n|---|---|---|\n"
        + "\n".join(rows)
        + "\n\n# 详细\n\n"
        + "\n\n".join(blocks)
        + "\n"
    ).encode()


def hostile(line: str, size: int) -> bytes:
    """`line` as table rows, and as the title and abstracts of real entries' detail blocks
    (each its own ref, so that every block is parsed), to `size` bytes."""
    rows, blocks, n, total = [], [], 1, 0
    while total < size:
        rows += [line, ROW.format(n=n)]
        blocks.append(
            f"[^{n}]: {line}\n\n    [l](https://arxiv.org/abs/2403.{n:05d})\n\n"
            f"    {line}\n\n    {line}\n"
        )
        total += 4 * len(line.encode()) + 200
        n += 1
    head = "# 摘要\n\n| Ref | Title | Summary |\n|---|---|---|\n"
    return (head + "\n".join(rows) + "\n\n# 详细\n\n" + "\n".join(blocks)).encode()


def seconds_per_mb(data: bytes) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        parse_digest(data)
        best = min(best, time.perf_counter() - started)
    return best / (len(data) / MB)


# The row pattern before this round, kept to show what the attack cost.
OLD_ROW = re.compile(
    r"^\|\s*\[\^(?P<ref>\d+)\]\s*\|\s*\[(?P<title>.*?)\]\((?P<url>[^)\s]+)\)\s*\|(?P<summary>.*)\|\s*$"
)


def attack_seconds(k: int = 8000) -> dict[str, float]:
    """The attack from the report (`| [^1] | [` + `](h) |` * k + `x`, 48 KB) on one line."""
    line = "| [^1] | [" + "](h) |" * k + "x"
    started = time.perf_counter()
    OLD_ROW.match(line)
    old = time.perf_counter() - started
    started = time.perf_counter()
    parse_digest(("# 摘要\n| Ref | Title | Summary |\n" + line).encode())
    return {
        "bytes": len(line),
        "old_pattern_s": round(old, 3),
        "parser_s": round(time.perf_counter() - started, 5),
    }


def main(size: int = 4 * MB) -> None:
    base = seconds_per_mb(plain(size))
    kinds = {name: seconds_per_mb(hostile(line, size)) for name, line in HOSTILE.items()}
    result = {
        "size_mb": round(size / MB, 1),
        "plain_mb_per_s": round(1 / base, 2),
        "attack": attack_seconds(),
        "hostile": {
            name: {"mb_per_s": round(1 / s, 2), "x_plain": round(s / base, 2)}
            for name, s in kinds.items()
        },
    }
    json.dump(result, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
