"""`make bench`, search over a generator's whole history (after bench/git_backfill.py, whose
warehouse of qhduan/cn-chat-arxiv it reads and never writes).

- Known-item questions built from real entries (seeded): two words of a paper's English title;
  two words of its Chinese title (two-character pieces: most Chinese words are two characters
  long); two adjacent ones written together. Found: the paper among the first 10 answers, for
  `search` and for `ILIKE` over the same columns (every word somewhere in them; no ranking).
- Latency: the whole `search` command against the whole `sql "select 1"` (95th percentile), and
  `warehouse.search` on an open connection (median).
- The index's cost: a copy of the warehouse without it, indexed whole by its next writer (what
  every run does for its new rows, at once), against the backfill; its size per 100,000
  entries. Writes data/bench/search.json and its section of docs/benchmarks.md.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from git_backfill import DATA, VENV, measure, saved  # noqa: E402

import warehouse  # noqa: E402

START, END = "<!-- search:start -->", "<!-- search:end -->"
COLUMNS = ("title", "title_zh", "summary_zh", "abstract_excerpt", "abstract_zh")
# The backfill before the index (docs/benchmarks.md of release 0.5, same machine): no bench can
# run the code of two releases in one run, so this one figure is carried over.
BACKFILL_BEFORE_S = 23.71
STOP = {"a", "an", "and", "for", "of", "on", "the", "to", "in", "with", "via", "by", "from"}


def questions(con, count: int, seed: int) -> list[tuple[str, str, str]]:
    """(kind, query, arxiv_id) for `count` papers drawn at random."""
    rng = random.Random(seed)
    papers = con.execute(
        "SELECT arxiv_id, any_value(title), any_value(title_zh) FROM digest_entries "
        "WHERE title_zh IS NOT NULL GROUP BY 1 ORDER BY 1"
    ).fetchall()
    out: list[tuple[str, str, str]] = []
    for arxiv_id, title, title_zh in rng.sample(papers, count):
        words = [w for w in re.findall(r"[A-Za-z]{3,}", title) if w.lower() not in STOP]
        if len(words) >= 2:
            out.append(("English words", " ".join(rng.sample(words, 2)), arxiv_id))
        han = "".join(re.findall(r"[\u4e00-\u9fff]+", title_zh))
        pieces = [han[i : i + 2] for i in range(0, len(han) - 1, 2)]
        if len(pieces) >= 2:
            out.append(("Chinese words", " ".join(rng.sample(pieces, 2)), arxiv_id))
            at = rng.randrange(len(pieces) - 1)
            out.append(("Chinese phrase", pieces[at] + pieces[at + 1], arxiv_id))
    return out


def ilike_top10(plain, query: str) -> list[str]:
    """The first 10 papers whose columns hold every word of `query` (ILIKE, no ranking), over
    one row per paper (`plain`: an in-memory copy of the columns, so that the comparison costs
    minutes, not the scan of every entry for each question)."""
    words = query.split()
    where = " AND ".join("(" + " OR ".join(f"{c} ILIKE ?" for c in COLUMNS) + ")" for _ in words)
    params = [f"%{w}%" for w in words for _ in COLUMNS]
    rows = plain.execute(f"SELECT arxiv_id FROM papers WHERE {where} LIMIT 10", params).fetchall()
    return [r[0] for r in rows]


def found_rates(wh: Path, count: int = 300, ilike: int = 100) -> tuple[dict, list[float]]:
    """For each kind of question: asked, found by `search`; and, for its first `ilike`
    questions, asked and found by ILIKE."""
    import duckdb

    with warehouse.connect(wh) as con:
        columns = ", ".join(f"any_value({c}) AS {c}" for c in COLUMNS)
        papers = con.execute(
            f"SELECT arxiv_id, {columns} FROM digest_entries GROUP BY 1"
        ).to_arrow_table()
        plain = duckdb.connect()
        plain.register("papers", papers)
        rates: dict[str, dict[str, int]] = {}
        seconds: list[float] = []
        for kind, query, arxiv_id in questions(con, count, seed=39):
            started = time.perf_counter()
            top = warehouse.search(con, query, limit=10).column("arxiv_id").to_pylist()
            seconds.append(time.perf_counter() - started)
            tally = rates.setdefault(kind, {"asked": 0, "search": 0, "ilike_asked": 0, "ilike": 0})
            tally["asked"] += 1
            tally["search"] += arxiv_id in top
            if tally["ilike_asked"] < ilike:
                tally["ilike_asked"] += 1
                tally["ilike"] += arxiv_id in ilike_top10(plain, query)
    return rates, seconds


def command_seconds(*args: str, times: int = 20) -> list[float]:
    out = []
    for _ in range(times):
        started = time.perf_counter()
        subprocess.run([str(VENV / "arxiv-digests"), *args], capture_output=True, check=True)
        out.append(time.perf_counter() - started)
    return out


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20)[-1]


def index_cost(wh: Path) -> dict[str, float]:
    """Index the whole history again on a copy without the index, as its next writer does."""
    copy = DATA / "search-work" / "wh"
    shutil.rmtree(copy.parent, ignore_errors=True)
    shutil.copytree(wh, copy)
    drop = "from warehouse.lake import Lake, Warehouse\nimport sys\n" + (
        "with Lake(Warehouse(sys.argv[1])) as lake, lake.transaction('drop the index'):\n"
        "    lake.execute('DROP TABLE search_terms; DROP TABLE search_texts')\n"
    )
    subprocess.run([str(VENV / "python"), "-c", drop, str(copy)], check=True, cwd=ROOT)
    reopen = "from warehouse.lake import Lake, Warehouse\nimport sys\nLake(Warehouse(sys.argv[1]))"
    return measure(str(VENV / "python"), "-c", reopen, str(copy))


def index_bytes(wh: Path) -> int:
    return sum(
        f.stat().st_size for name in ("search_terms", "search_texts")
        for f in (wh / "data" / "main" / name).rglob("*") if f.is_file()
    )  # fmt: skip


def main() -> None:
    git = saved("git.json")
    wh = DATA / "git-work" / "wh"
    if git is None or not wh.exists():
        raise SystemExit("run bench/git_backfill.py first: it makes the warehouse searched here")
    with warehouse.connect(wh) as con:
        entries = con.execute("SELECT count(*) FROM digest_entries").fetchone()[0]
    rates, python_seconds = found_rates(wh)
    cli = command_seconds("search", "diffusion 视频生成", "-w", str(wh))
    plain = command_seconds("sql", "select 1", "-w", str(wh))
    cost = index_cost(wh)
    subprocess.run(
        [str(VENV / "arxiv-digests"), "maintain", "--grace", "0", "-w", str(wh)], check=True
    )
    with warehouse.connect(wh) as con:
        after = []
        for _, query, _ in questions(con, 100, seed=39):
            started = time.perf_counter()
            warehouse.search(con, query, limit=10)
            after.append(time.perf_counter() - started)
    cli_after = command_seconds("search", "diffusion 视频生成", "-w", str(wh))
    result = {
        "entries": entries, "found": rates, "backfill_before_s": BACKFILL_BEFORE_S,
        "python_median_ms": 1000 * statistics.median(python_seconds),
        "search_p95": p95(cli), "select1_p95": p95(plain),
        "search_median": statistics.median(cli), "select1_median": statistics.median(plain),
        "index": cost, "backfill": git["backfill"], "index_bytes": index_bytes(wh),
        "python_median_ms_maintained": 1000 * statistics.median(after),
        "search_p95_maintained": p95(cli_after),
    }  # fmt: skip
    (DATA / "search.json").write_text(json.dumps(result, indent=1))
    splice(result)
    print("\n".join(lines(result)))


def lines(r: dict) -> list[str]:
    per_100k = r["index_bytes"] / r["entries"] * 100_000 / 1e6
    index_s, backfill_s = r["index"]["seconds"], r["backfill"]["seconds"]
    extra = 100 * (backfill_s - r["backfill_before_s"]) / r["backfill_before_s"]
    slower = r["search_p95"] - r["select1_p95"]
    out = [
        START,
        "## Search over qhduan/cn-chat-arxiv's whole history",
        "",
        f"The warehouse of the git-history bench above ({r['entries']:,} entries), searched by "
        "`bench/search_bench.py`. Known-item questions from 300 papers drawn at random "
        "(seed 39): the paper among the first 10 answers.",
        "",
        "| question | asked | `search` | `ILIKE` over the same columns |",
        "|---|---|---|---|",
    ]
    for kind, t in r["found"].items():
        out.append(
            f"| {kind} | {t['asked']} | {100 * t['search'] / t['asked']:.1f} % | "
            f"{100 * t['ilike'] / t['ilike_asked']:.1f} % (of the first {t['ilike_asked']}) |"
        )
    out += [
        "",
        f"- a whole `search` command: 95th percentile {r['search_p95']:.2f} s against "
        f'{r["select1_p95"]:.2f} s for a whole `sql "select 1"` (**+{slower:.2f} s**; '
        f"medians {r['search_median']:.2f} s and {r['select1_median']:.2f} s).",
        f"- `warehouse.search` on an open connection: median **{r['python_median_ms']:.1f} ms** "
        "right after the backfill (its index in one file per batch), "
        f"**{r['python_median_ms_maintained']:.1f} ms** after `maintain` (one sorted file); "
        f"the whole command then: 95th percentile {r['search_p95_maintained']:.2f} s.",
        f"- the backfill with the index: {backfill_s:.1f} s, against {r['backfill_before_s']} s "
        "before it (release 0.5's figure on this machine: no bench runs two releases at once): "
        f"**+{extra:.0f} %** (target at most 20 %). Indexing the whole history at once (a copy "
        f"without the index, opened by a writer): {index_s:.1f} s, peak "
        f"{r['index']['peak_rss_mb']:.0f} MB.",
        "- the index (search_terms and search_texts, zstd Parquet): "
        f"{r['index_bytes'] / 1e6:.1f} MB, **{per_100k:.1f} MB per 100,000 entries**.",
        END,
    ]
    return out


def splice(result: dict) -> None:
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text(encoding="utf-8")
    block = "\n".join(lines(result))
    if START in text:
        text = text[: text.index(START)] + block + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
