"""Where the parser's time and memory go (issue 36), on synthetic digests and on real ones.

Two inputs: the synthetic corpus `make bench` loads (2,000 digests) and every tenth version of
qhduan/cn-chat-arxiv's history (BENCH_GIT_REPO's bare copy, as bench/git_backfill.py makes
it). For each, in this one process: microseconds per entry of `parse_digest` (decode and
parse), the same under cProfile with the functions that take the most of it, and the bytes
tracemalloc sees allocated at the peak of a file's parse against the file's size. Writes
data/bench/parse_profile.json and its section of docs/benchmarks.md."""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from git_backfill import DATA, blobs_of, git, splice
from run import corpus_of

from flows.digests.parse import parse_digest

START, END = "<!-- parse-profile -->", "<!-- /parse-profile -->"
TOP = 10  # functions listed per input


def synthetic() -> list[bytes]:
    corpus = corpus_of(2000, 50)
    return [p.read_bytes() for p in sorted(corpus.rglob("*.md"))]


def real(every: int = 10) -> list[bytes]:
    """Every `every`-th digest version of the history's bare copy (made by git_backfill)."""
    repo = DATA / "git-work" / "source.git"
    listed = git(repo, "rev-list", "--objects", "--all").decode().splitlines()
    blobs = [line.split(" ", 1)[0] for line in listed if line.endswith(".md")][::every]
    found = blobs_of(
        git(repo, "cat-file", "--batch", stdin="".join(f"{b}\n" for b in blobs).encode())
    )
    return [data for data in found if b"[^1]" in data]


def profile(files: list[bytes]) -> dict:
    started = time.perf_counter()
    entries = sum(len(parse_digest(data).entries) for data in files)
    seconds = time.perf_counter() - started
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [parse_digest(data) for data in files])
    stats = pstats.Stats(profiler)
    total = sum(row[2] for row in stats.stats.values())  # type: ignore[attr-defined]
    rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:TOP]  # type: ignore[attr-defined]
    functions = [
        {
            "function": f"{Path(file).name}:{name}" if file != "~" else name,
            "calls_per_entry": round(row[1] / entries, 2),
            "share": round(row[2] / total, 3),
        }
        for (file, _, name), row in rows
    ]
    peaks = []
    for data in files[:: max(1, len(files) // 200)]:
        tracemalloc.start()
        parse_digest(data)
        peaks.append(tracemalloc.get_traced_memory()[1] / len(data))
        tracemalloc.stop()
    return {
        "files": len(files),
        "bytes": sum(len(d) for d in files),
        "entries": entries,
        "us_per_entry": round(seconds / entries * 1e6, 1),
        "functions": functions,
        "peak_bytes_per_file_byte": round(sorted(peaks)[len(peaks) // 2], 2),
    }


def lines(result: dict) -> list[str]:
    out = [START, "## Where the parser's time goes (bench/parse_profile.py)", ""]
    for name, r in result.items():
        out += [
            f"**{name}**: {r['files']:,} files, {r['bytes'] / 1e6:.0f} MB, {r['entries']:,} "
            f"entries; `parse_digest` (decode and parse) **{r['us_per_entry']} µs an entry**; "
            f"at the peak of a file's parse, {r['peak_bytes_per_file_byte']}x the file's bytes "
            "allocated (median; tracemalloc).",
            "",
            "| function (own time, cProfile) | calls an entry | share |",
            "|---|---:|---:|",
            *(
                f"| `{f['function']}` | {f['calls_per_entry']} | {f['share']:.1%} |"
                for f in r["functions"]
            ),
            "",
        ]
    return [*out, END]


def main() -> None:
    result = {"synthetic digests": profile(synthetic())}
    if (DATA / "git-work" / "source.git").exists():
        result["qhduan/cn-chat-arxiv, every tenth version"] = profile(real())
    (DATA / "parse_profile.json").write_text(json.dumps(result, indent=1))
    splice(START, END, lines(result))
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
