"""`make bench`, a generator's git history: the whole backfill of a real repository (enrichment
off), a re-run with nothing new, then one new commit, each against a reference timed in the
same run: `git log --raw` of the history, `git cat-file --batch` of every version and the plain
single-process regex parse (bench/plain_parser.py) of them.

The repository is BENCH_GIT_REPO (default data/bench/cn-chat-arxiv.git, mirrored from
https://github.com/qhduan/cn-chat-arxiv when missing). It is never written: the runs read a
bare copy (hard links), which alone gets the new commit. Writes data/bench/git.json and the
section of docs/benchmarks.md between GIT_START and GIT_END."""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from plain_parser import ROW  # noqa: E402

import warehouse  # noqa: E402
from flows.digests.synthetic import digest_text  # noqa: E402
from flows.operations import server  # noqa: E402

DATA = ROOT / "data" / "bench"
VENV = ROOT / ".venv" / "bin"
UPSTREAM = "https://github.com/qhduan/cn-chat-arxiv"
GIT_START, GIT_END = "<!-- git:start -->", "<!-- git:end -->"
SPECS = ["--", "*.md", "*.markdown", "*.txt"]


def git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    return done.stdout


# The backfill again with its batches bounded by count only, as before release 0.4.
UNBOUNDED = {"ARXIV_DIGESTS_BATCH_BYTES": str(2**50)}


def measure(*command: str, env: dict[str, str] | None = None) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "measure.py"), "--", *command],
        capture_output=True, text=True, check=True, cwd=ROOT, env={**os.environ, **(env or {})},
    )  # fmt: skip
    return json.loads(out.stdout)


def blobs_of(batch: bytes) -> Iterator[bytes]:
    """Each object's bytes in what `git cat-file --batch` printed."""
    at = 0
    while at < len(batch):
        header_end = batch.index(b"\n", at)
        size = int(batch[at:header_end].split()[2])
        yield batch[header_end + 1 : header_end + 1 + size]
        at = header_end + 2 + size


def reference(repo: Path) -> dict[str, float | int]:
    """What the history costs anyone: list it, read every version, parse each plainly."""
    started = time.perf_counter()
    log = git(repo, "log", "--raw", "--no-abbrev", "-c", "--root", "--format=C %H %ct", *SPECS)
    listed = time.perf_counter()
    first: dict[str, int] = {}  # blob -> the earliest commit time that brought it
    stamp = 0
    for line in log.decode().splitlines():
        if line.startswith("C "):
            stamp = int(line.split()[2])
        elif line.startswith(":") and line.split("\t")[0].split()[-2] != "0" * 40:
            blob = line.split("\t")[0].split()[-2]
            first[blob] = min(first.get(blob, stamp), stamp)
    batch = git(repo, "cat-file", "--batch", stdin="\n".join(first).encode() + b"\n")
    read = time.perf_counter()
    rows = sum(
        1 for data in blobs_of(batch) for _ in ROW.finditer(data.decode("utf-8", errors="replace"))
    )
    parsed = time.perf_counter()
    return {
        "log_seconds": round(listed - started, 3),
        "cat_file_seconds": round(read - listed, 3),
        "parse_seconds": round(parsed - read, 3),
        "seconds": round(parsed - started, 3),
        "versions": len(first),
        "bytes": len(batch),
        "table_rows": rows,
        "first_commit": first,  # type: ignore[dict-item]
    }


def new_commit(repo: Path) -> None:
    """One commit on the copy's default branch: a new version of cs.AI.md (50 entries)."""
    text = digest_text(random.Random(2026), 50, "new").encode()
    blob = git(repo, "hash-object", "-w", "--stdin", stdin=text).decode().strip()
    index = repo / "bench-index"
    env = {"GIT_INDEX_FILE": str(index)}
    for args in (["read-tree", "HEAD"], ["update-index", "--add", "--cacheinfo",
                                          f"100644,{blob},cs.AI.md"]):  # fmt: skip
        subprocess.run(["git", "-C", str(repo), *args], env=os.environ | env, check=True)
    tree = subprocess.run(
        ["git", "-C", str(repo), "write-tree"], env=os.environ | env, check=True,
        capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    commit = git(repo, "commit-tree", tree, "-p", "HEAD", "-m", "bench: one more day")
    git(repo, "update-ref", "HEAD", commit.decode().strip())
    index.unlink()


def checks(wh: Path, ref: dict) -> dict[str, int]:
    """The warehouse against the reference: versions with entries, rows, dates."""
    with warehouse.connect(wh) as con:
        entries = con.sql("SELECT count(*) FROM digest_entries").fetchone()[0]
        rejected = con.sql("SELECT count(*) FROM rejects WHERE line IS NOT NULL").fetchone()[0]
        digests = con.sql(
            "SELECT count(*), count(*) FILTER (WHERE entry_count > 0), "
            "count(*) FILTER (WHERE category IS NULL OR date_source <> 'commit') FROM digests"
        ).fetchone()
        stages = con.sql(
            "SELECT round(discover_seconds, 2), round(parse_seconds, 2), "
            "round(validate_seconds, 2), round(load_seconds, 2) FROM runs"
        ).fetchone()
        kept = con.sql("SELECT sum(octet_length(data)) FROM digest_bytes").fetchone()[0]
        stored = con.sql(
            "SELECT sum(data_file_size_bytes) FROM ducklake_list_files('lake', 'digest_bytes')"
        ).fetchone()[0]
        rows = con.sql(
            "SELECT split_part(split_part(source_path, '@', -1), ':', 1) AS c, digest_date "
            "FROM digests"
        ).fetchall()
    times = dict(
        line.split()
        for line in git(Path(ref["repo"]), "log", "--format=%H %ct", "--all").decode().splitlines()
    )
    off = sum(
        1
        for commit, day in rows
        if abs((datetime.fromtimestamp(int(times[commit]), UTC).date() - day).days) > 1
    )
    return {
        "stages": list(stages), "raw_bytes": int(kept or 0), "raw_stored": int(stored or 0),
        "digests": digests[0], "digests_with_entries": digests[1], "undated_or_uncategorised":
        digests[2], "entries": entries, "row_rejects": rejected, "dates_off": off,
    }  # fmt: skip


def bare_copy(setting: str, default: str, upstream: str, work: Path) -> tuple[Path, Path]:
    """The repository a bench reads (`setting`, else mirrored from `upstream` into `default`)
    and a bare copy of it in a fresh `work` folder, which alone the runs touch."""
    repo = Path(os.environ.get(setting, DATA / default))
    if not repo.exists():
        subprocess.run(["git", "clone", "--mirror", "-q", upstream, str(repo)], check=True)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    copy = work / "source.git"
    subprocess.run(["git", "clone", "--bare", "-q", "--local", str(repo), str(copy)], check=True)
    return repo, copy


def main() -> None:
    work = DATA / "git-work"
    repo, copy = bare_copy("BENCH_GIT_REPO", "cn-chat-arxiv.git", UPSTREAM, work)
    ref = reference(copy)
    ref["repo"] = str(copy)  # type: ignore[assignment]
    commits = int(git(copy, "rev-list", "--count", "HEAD"))
    cli, wh = str(VENV / "arxiv-digests"), work / "wh"
    run = [cli, "ingest", f"git+file://{copy}", "--no-enrich", "-q", "-w", str(wh)]
    managed = server.spawn(server._free_port(0), work / "server.log", tied=True)
    os.environ["PREFECT_API_URL"] = managed.url
    try:
        trivial_command = [str(VENV / "python"), "bench/trivial_flow.py"]
        measure(*trivial_command)  # warm-up
        trivial = statistics.median(measure(*trivial_command)["seconds"] for _ in range(3))
        backfill = measure(*run)
        found = checks(wh, ref)
        again = measure(*run)
        new_commit(copy)
        one_more = measure(*run)
        unbounded = measure(*run[:-1], str(work / "wh-unbounded"), env=UNBOUNDED)
    finally:
        del os.environ["PREFECT_API_URL"]
        server.stop_process(managed.pid)
    del ref["first_commit"]
    result = {
        "repository": str(repo), "commits": commits,
        "reference": ref, "trivial_seconds": round(trivial, 3), "backfill": backfill,
        "nothing_new": again, "one_new_commit": one_more, "checks": found,
        "unbounded": unbounded,
    }  # fmt: skip
    (DATA / "git.json").write_text(json.dumps(result, indent=1))
    splice()
    print("\n".join(git_lines()))


def saved(name: str) -> dict | None:
    """A bench's saved results (data/bench/NAME), or None before its first run."""
    path = DATA / name
    return json.loads(path.read_text()) if path.exists() else None


def git_lines() -> list[str]:
    """The section of docs/benchmarks.md, from data/bench/git.json (none before a run)."""
    r = saved("git.json")
    if r is None:
        return []
    ref, c, fixed = r["reference"], r["checks"], r["trivial_seconds"]
    back, again, one = r["backfill"]["seconds"], r["nothing_new"]["seconds"], r["one_new_commit"]
    return [
        GIT_START,
        "## A generator's git history: qhduan/cn-chat-arxiv",
        "",
        f"`arxiv-digests ingest git+file://…` on a bare copy of {r['repository']} "
        f"({r['commits']:,} commits), enrichment off, with the managed Prefect server up "
        "(bench/git_backfill.py). The reference, timed in the same run: `git log --raw` of the "
        "history, `git cat-file --batch` of every version and the plain regex parse of them in "
        "one process. One run's fixed cost is a trivial Prefect flow against the same server "
        f"(median of 3): {fixed:.2f} s.",
        "",
        "| | wall s | peak RSS MB, largest process | process tree MB |",
        "|---|---|---|---|",
        f"| reference: git log {ref['log_seconds']} s + cat-file {ref['cat_file_seconds']} s "
        f"+ plain parse {ref['parse_seconds']} s | {ref['seconds']:.2f} | | |",
        f"| the whole backfill | {back:.2f} | {r['backfill']['peak_rss_mb']} | "
        f"{r['backfill']['tree_peak_mb']} |",
        f"| a re-run with nothing new | {again:.2f} | {r['nothing_new']['peak_rss_mb']} | "
        f"{r['nothing_new']['tree_peak_mb']} |",
        f"| one new commit | {one['seconds']:.2f} | {one['peak_rss_mb']} | {one['tree_peak_mb']} |",
        "",
        f"- backfill / (2 x reference + fixed cost): **{back / (2 * ref['seconds'] + fixed):.2f}**"
        f" (target at most 1); backfill less the fixed cost / reference: "
        f"{(back - fixed) / ref['seconds']:.2f}.",
        f"- the backfill's stages (s): discover (the walk) {c['stages'][0]}, waiting for read "
        f"and parse {c['stages'][1]}, validate {c['stages'][2]}, load (with the search index) "
        f"{c['stages'][3]}. A batch parses while the one before it loads, so the parse is "
        "counted only where the load waited for it.",
        f"- the raw layer (`digest_bytes`, zstd Parquet): {c['raw_bytes'] / 1e6:,.0f} MB of "
        f"digests stored in {c['raw_stored'] / 1e6:,.1f} MB, "
        f"**{c['raw_stored'] / c['entries'] * 100_000 / 1e6:,.1f} MB per 100,000 entries** "
        f"({c['raw_bytes'] / max(c['raw_stored'], 1):.1f}x smaller than the files).",
        *_bound_line(r),
        f"- nothing new: **{again - fixed:+.2f} s** over the fixed cost (target at most +3 s); "
        f"one new commit: {one['seconds'] - fixed:+.2f} s.",
        f"- {ref['versions']:,} versions ({ref['bytes'] / 1e6:,.0f} MB) on the history; "
        f"{c['digests']:,} in `digests` (the others are files named for no category, such as "
        f"`latest_updated.txt` and `README.md`), {c['digests_with_entries']:,} with entries; "
        f"{c['entries']:,} entries loaded + {c['row_rejects']:,} row rejects against "
        f"{ref['table_rows']:,} table rows the plain regex finds; "
        f"{c['undated_or_uncategorised']} digests without a commit date or a category; "
        f"{c['dates_off']} dated more than a day away from their commit.",
        GIT_END,
    ]


def _bound_line(r: dict) -> list[str]:
    """What bounding each batch's bytes (ARXIV_DIGESTS_BATCH_BYTES) saves, in the same run."""
    if "unbounded" not in r:
        return []
    bounded, unbounded = r["backfill"], r["unbounded"]
    return [
        f"- batches bounded by bytes (16 MiB, the default) as well as by files: the largest "
        f"process peaks at **{bounded['peak_rss_mb']} MB** in {bounded['seconds']:.2f} s, "
        f"against {unbounded['peak_rss_mb']} MB in {unbounded['seconds']:.2f} s with batches "
        f"of 100 files whatever their size (up to 35 MB on this history, each held a few times "
        f"over while it loads: read, in the raw layer's table, in DuckDB's writer)."
    ]


def splice(start: str = GIT_START, end: str = GIT_END, lines: list[str] | None = None) -> None:
    """Only one section of docs/benchmarks.md rewritten (this one by default), or added
    before the hostile-input section."""
    path = ROOT / "docs" / "benchmarks.md"
    text, block = path.read_text(), "\n".join(git_lines() if lines is None else lines)
    if start in text:
        head, rest = text.split(start, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        head, rest = text.split("## Parsing hostile input", 1)
        text = head + block + "\n\n## Parsing hostile input" + rest
    path.write_text(text)


if __name__ == "__main__":
    main()
