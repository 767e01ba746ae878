"""Hostile lines parse in time linear in their size, and a per-file guard turns anything larger
or slower than its limits into a reject. Times are compared as ratios measured side by side,
never against a fixed number of seconds."""

from __future__ import annotations

import functools
import time

from conftest import examples
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from flows.digests.guard import Limits
from flows.digests.parse import parse_digest, parse_text

SIZE = 120_000  # characters per hostile line: a quadratic pattern takes seconds at this size
ROW = "| [^1] | [A title](https://arxiv.org/abs/2403.15603) | 一句话总结 |"
LINK = "    [A title](https://arxiv.org/abs/2403.15603)"
# The pieces the patterns of a digest look for, to be repeated into lines that make a
# backtracking pattern try every split.
PIECES = [
    "|",
    "[",
    "(",
    "[^",
    "](",
    "]",
    ")",
    "[^1]",
    "(arXiv:",
    "（arXiv：",
    "](h) |",
    " ",
    "a",
    "\t",
]


def place(line: str, where: str) -> str:
    """A digest with `line` as its table row, its detail block's title, or its abstract."""
    table = "# 摘要\n\n| Ref | Title | Summary |\n|---|---|---|\n"
    if where == "row":
        return table + line + "\n"
    if where == "title":
        return f"{table}{ROW}\n\n# 详细\n\n[^1]: {line}\n\n{LINK}\n\n    摘要\n\n    Abstract\n"
    return f"{table}{ROW}\n\n# 详细\n\n[^1]: 标题\n\n{LINK}\n\n    {line}\n\n    {line}\n"


def seconds_per_char(text: str) -> float:
    best = min(_timed(text) for _ in range(3))
    return best / len(text)


def _timed(text: str) -> float:
    started = time.perf_counter()
    parse_text(text)
    return time.perf_counter() - started


@functools.cache
def plain(where: str) -> float:
    """The same place filled with ordinary words: the yardstick for that place."""
    words = ("word " * (SIZE // 5))[:SIZE]
    line = f"| [^1] | [{words}](https://arxiv.org/abs/2403.15603) | {words} |"
    return seconds_per_char(place(line if where == "row" else words, where))


# No shrinking: a quadratic example takes seconds per try, and the failing one is printed.
@settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate],
)
@given(
    pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=4),
    prefix=st.sampled_from(["", "| [^1] | [", "| [^1] | [a](", "[^1]: ", "arXiv:2403.1 "]),
    where=st.sampled_from(["row", "title", "abstract"]),
    end=st.sampled_from(["x", " |", ")"]),
)
@example(pieces=["](", "a"], prefix="| [^1] | [", where="row", end=" |")  # no `)`
@example(pieces=["(arXiv:"], prefix="", where="title", end=")")  # a title suffix never closed
@example(pieces=["(arXiv:", " "], prefix="", where="abstract", end="x")
@example(pieces=["|"], prefix="", where="row", end="x")
@example(pieces=["[^"], prefix="| [^1] | [", where="row", end=" |")
def test_hostile_lines_parse_in_linear_time(pieces, prefix, where, end):
    unit = "".join(pieces)
    line = prefix + unit * (SIZE // len(unit)) + end
    ratio = seconds_per_char(place(line, where)) / plain(where)
    if ratio >= 5:  # measured again beside a fresh yardstick: another test's load is not ours
        ratio = min(ratio, seconds_per_char(place(line, where)) / plain.__wrapped__(where))
    # A plain line of the same length is the yardstick; quadratic matching was 1,000x slower.
    assert ratio < 5, f"{ratio:.1f}x plain: {prefix!r} + {unit!r} * n + {end!r} in the {where}"


def test_the_attack_from_the_report_is_linear():
    """`| [^1] | [` + `](h) |` * k + `x` took 4 s at 48 KB and grew with the square of k."""
    rates = []
    for k in (4_000, 32_000):
        line = "| [^1] | [" + "](h) |" * k + "x"
        rates.append(seconds_per_char(place(line, "row")))
    assert rates[1] / rates[0] < 3  # 8x the input: per-character time must not grow with it


def test_a_file_over_the_size_limit_is_rejected_unparsed():
    data = place(ROW, "abstract").encode()
    parsed = parse_digest(data, Limits(max_bytes=len(data) - 1))
    assert not parsed.readable and parsed.entries == []
    assert [p.rule for p in parsed.problems] == ["file_too_large"]
    assert f"{len(data):,} bytes" in parsed.problems[0].message
    assert parse_digest(data, Limits(max_bytes=len(data))).readable


def test_a_file_over_its_time_budget_is_rejected():
    data = ("# 摘要\n| Ref | Title | Summary |\n" + (ROW + "\n") * 20_000).encode()
    parsed = parse_digest(data, Limits(seconds=0.001))
    assert not parsed.readable
    assert [p.rule for p in parsed.problems] == ["parse_timeout"]
    assert "ARXIV_DIGESTS_PARSE_TIMEOUT_SECONDS" in parsed.problems[0].message
    assert len(parse_digest(data, Limits(seconds=60)).entries) == 20_000


def test_the_size_guard_rejects_a_file_unread(tmp_path):
    from datetime import UTC, datetime

    from flows.digests.parsed import validate_batch
    from flows.digests.read import read_batch

    big = tmp_path / "big.md"
    big.write_text(place(ROW, "abstract") * 3)
    small = tmp_path / "small.md"
    small.write_text(place(ROW, "abstract"))
    limits = Limits(max_bytes=small.stat().st_size)
    now = datetime.now(UTC)
    batch = read_batch([big, small], set(), "run", now, limits=limits)
    assert (batch.files_rejected, batch.files_new) == (1, 1)
    valid = validate_batch(batch, "run", now)
    rejects = [(r["source"], r["stage"], r["rule"]) for r in valid.rejects.to_pylist()]
    assert rejects == [(str(big), "read", "file_too_large")]
    assert batch.seen.column("source_path").to_pylist() == []  # settled files only: too new
