"""`make bench`, the second family: the whole `data` branch of dw-dengwei/daily-arXiv-ai-enhanced
(its AI-enhanced JSONL and its Markdown, every version) through `ingest git+file://…@data`,
enrichment off, then a re-run with nothing new, against a reference timed in the same run:
`git log --raw` of the branch, `git cat-file --batch` of every digest version, `json.loads` of
every JSONL line and a count of the Markdown's `### [N]` headings, in one process.

The repository is BENCH_AI_REPO (default data/bench/daily-arXiv-ai-enhanced.git, mirrored from
GitHub when missing); the runs read a bare copy. Writes data/bench/ai.json and the section of
docs/benchmarks.md between AI_START and AI_END."""

from __future__ import annotations

import json
import os
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from git_backfill import DATA, VENV, bare_copy, git, measure, saved, splice  # noqa: E402

import warehouse  # noqa: E402
from flows.operations import server  # noqa: E402

UPSTREAM = "https://github.com/dw-dengwei/daily-arXiv-ai-enhanced"
AI_START, AI_END = "<!-- ai:start -->", "<!-- ai:end -->"
HEADING = re.compile(rb"(?m)^#{2,4}[ \t]*\[[0-9]+\][ \t]*\[")
DAY = re.compile(r"\d{4}-\d\d-\d\d")


def reference(repo: Path) -> dict[str, float | int]:
    """What the branch costs anyone: list it, read every digest version, parse each plainly."""
    started = time.perf_counter()
    out = git(
        repo, "log", "--raw", "--no-abbrev", "--format=", "-z", "data", "--", "*.jsonl", "*.md"
    )
    fields, blobs = out.split(b"\0"), {}
    for meta, path in zip(fields[::2], fields[1::2], strict=False):
        blob, name = meta.split()[-2].decode(), path.decode()
        digest = "_AI_enhanced_" in name or (name.endswith(".md") and DAY.search(name))
        if digest and set(blob) != {"0"}:
            blobs.setdefault(blob, name)
    batch = git(repo, "cat-file", "--batch", stdin="\n".join(blobs).encode() + b"\n")
    read = time.perf_counter()
    records = with_id = headings = at = 0
    for name in blobs.values():
        end = batch.index(b"\n", at)
        size = int(batch[at:end].split()[2])
        data, at = batch[end + 1 : end + 1 + size], end + 2 + size
        if not name.endswith(".jsonl"):
            headings += len(HEADING.findall(data))
            continue
        for line in data.split(b"\n"):
            if line.strip():
                records += 1
                try:
                    value = json.loads(line)
                except ValueError:
                    continue
                with_id += isinstance(value, dict) and bool(value.get("id"))
    done = time.perf_counter()
    return {
        "seconds": round(done - started, 3), "read_seconds": round(read - started, 3),
        "parse_seconds": round(done - read, 3), "versions": len(blobs), "bytes": len(batch),
        "records": records, "records_with_id": with_id, "headings": headings,
    }  # fmt: skip


CHECKS = {
    "by_layout": "SELECT layout, count(*) FROM digest_entries GROUP BY 1 ORDER BY 1",
    "row_rejects": "SELECT count(*) FROM rejects WHERE line IS NOT NULL",
    "generators": "SELECT generator, date_source, count(*) FROM digests GROUP BY ALL ORDER BY ALL",
    "undated": "SELECT count(*) FROM digests WHERE digest_date IS NULL",
    "pairs": """
        WITH e AS (SELECT d.digest_date, e.* FROM digest_entries e JOIN digests d USING (digest_id))
        SELECT count(*), count(*) FILTER (WHERE j.title <> m.title
                 OR j.summary_zh IS DISTINCT FROM m.summary_zh
                 OR j.abstract_excerpt IS DISTINCT FROM m.abstract_excerpt
                 OR j.ai_fields IS DISTINCT FROM m.ai_fields)
        FROM e j JOIN e m USING (digest_date, arxiv_id)
        WHERE j.layout = 'ai_jsonl' AND m.layout = 'ai_markdown'""",
    "stages": "SELECT round(discover_seconds, 2), round(parse_seconds, 2), "
    "round(validate_seconds, 2), round(load_seconds, 2) FROM runs ORDER BY started_at LIMIT 1",
}


def checks(wh: Path) -> dict[str, list]:
    with warehouse.connect(wh) as con:
        return {name: [list(r) for r in con.sql(q).fetchall()] for name, q in CHECKS.items()}


def main() -> None:
    work = DATA / "ai-work"
    repo, copy = bare_copy("BENCH_AI_REPO", "daily-arXiv-ai-enhanced.git", UPSTREAM, work)
    ref = reference(copy)
    cli, wh = str(VENV / "arxiv-digests"), work / "wh"
    run = [cli, "ingest", f"git+file://{copy}@data", "--no-enrich", "-q", "-w", str(wh)]
    managed = server.spawn(server._free_port(0), work / "server.log", tied=True)
    os.environ["PREFECT_API_URL"] = managed.url
    try:
        trivial_command = [str(VENV / "python"), "bench/trivial_flow.py"]
        measure(*trivial_command)  # warm-up
        trivial = statistics.median(measure(*trivial_command)["seconds"] for _ in range(3))
        backfill = measure(*run)
        again = measure(*run)
    finally:
        del os.environ["PREFECT_API_URL"]
        server.stop_process(managed.pid)
    commits = int(git(copy, "rev-list", "--count", "data"))
    result = {
        "repository": str(repo), "commits": commits, "reference": ref,
        "trivial_seconds": round(trivial, 3), "backfill": backfill, "nothing_new": again,
        "checks": checks(wh),
    }  # fmt: skip
    (DATA / "ai.json").write_text(json.dumps(result, indent=1))
    splice(AI_START, AI_END, ai_lines())
    print("\n".join(ai_lines()))


def ai_lines() -> list[str]:
    """The section of docs/benchmarks.md, from data/bench/ai.json (none before a run)."""
    r = saved("ai.json")
    if r is None:
        return []
    ref, c, fixed = r["reference"], r["checks"], r["trivial_seconds"]
    back, again = r["backfill"], r["nothing_new"]
    layouts = dict(c["by_layout"])
    pairs, differing = c["pairs"][0]
    return [
        AI_START,
        "## The second family: daily-arXiv-ai-enhanced's `data` branch",
        "",
        f"`arxiv-digests ingest git+file://…@data` on a bare copy of {r['repository']} "
        f"({r['commits']:,} commits on `data`), enrichment off, managed server up "
        "(bench/ai_backfill.py). The reference, in the same run: `git log --raw` of the branch, "
        "`git cat-file --batch` of every digest version, `json.loads` of every JSONL line and a "
        f"count of the Markdown's `### [N]` headings, in one process. Fixed cost: {fixed:.2f} s.",
        "",
        "| | wall s | peak RSS MB, largest process | process tree MB |",
        "|---|---|---|---|",
        f"| reference: read {ref['read_seconds']} s + parse {ref['parse_seconds']} s | "
        f"{ref['seconds']:.2f} | | |",
        f"| the whole branch | {back['seconds']:.2f} | {back['peak_rss_mb']} | "
        f"{back['tree_peak_mb']} |",
        f"| a re-run with nothing new | {again['seconds']:.2f} | {again['peak_rss_mb']} | "
        f"{again['tree_peak_mb']} |",
        "",
        f"- whole branch / (2 x reference + fixed cost): "
        f"**{back['seconds'] / (2 * ref['seconds'] + fixed):.2f}**; stages (s): walk "
        f"{c['stages'][0][0]}, read and parse {c['stages'][0][1]}, validate "
        f"{c['stages'][0][2]}, load {c['stages'][0][3]}.",
        f"- {ref['versions']:,} digest versions ({ref['bytes'] / 1e6:,.0f} MB). JSONL: "
        f"**{layouts.get('ai_jsonl', 0):,} records loaded + {c['row_rejects'][0][0]:,} row "
        f"rejects** against {ref['records']:,} lines `json.loads` reads "
        f"({ref['records_with_id']:,} with an `id`); Markdown: "
        f"**{layouts.get('ai_markdown', 0):,} papers** against {ref['headings']:,} headings.",
        f"- {pairs:,} papers in both renderings of a day; {differing} differ in title, TL;DR, "
        "abstract or AI fields.",
        "- digests by generator and date source: "
        + ", ".join(f"{g} / {s}: {n:,}" for g, s, n in c["generators"])
        + f"; {c['undated'][0][0]} undated. The crawl-only files are never read.",
        AI_END,
    ]


if __name__ == "__main__":
    main()
