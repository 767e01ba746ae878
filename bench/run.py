"""`make bench`: the product against dlt on the same synthetic corpus; writes docs/benchmarks.md.

Scale with BENCH_DIGESTS (default 2000 digests of about 50 entries: 100,000 entries). Results of
every scale run so far are kept in data/bench/results-*.json and all appear in the report.
BENCH_TEAM=0 leaves out the runs past one machine (bench/team.py); their section keeps the
figures of data/bench/team-*.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from ai_backfill import ai_lines
from git_backfill import git_lines

import warehouse
from flows.operations import server

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "bench"
VENV = ROOT / ".venv" / "bin"
BENCH_VENV = ROOT / ".venv-bench" / "bin"
REPEATS = 5  # runs of the trivial flow and of one new digest, of which the median is reported
BACKFILLS = 3  # loads of the whole corpus into a fresh warehouse, each paired with a trivial flow


def measure(*command: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "measure.py"), "--", *command],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return json.loads(out.stdout)


def script_json(script: str, *args: str) -> dict:
    """What a bench script run with the product's Python prints, as JSON."""
    done = subprocess.run(
        [str(VENV / "python"), f"bench/{script}", *args],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return json.loads(done.stdout)


def median(runs: list[dict[str, float]]) -> dict[str, float]:
    """The run with the median wall time."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def query_ms(wh: Path, sql: str) -> float:
    with warehouse.connect(wh) as con:
        con.execute(sql).fetchall()  # warm: the first query opens the files
        times = []
        for _ in range(5):
            started = time.perf_counter()
            con.execute(sql).fetchall()
            times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1)


def main() -> None:
    digests = int(os.environ.get("BENCH_DIGESTS", "2000"))
    per = int(os.environ.get("BENCH_ENTRIES_PER_DIGEST", "50"))
    corpus = corpus_of(digests, per)
    work = DATA / f"work-{digests}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    cli = str(VENV / "arxiv-digests")

    measure(str(VENV / "python"), "bench/trivial_flow.py")  # warm-up: Prefect's database
    # Prefect's start-up varies by about a second from run to run: medians of REPEATS.
    trivial = median(
        [measure(str(VENV / "python"), "bench/trivial_flow.py") for _ in range(REPEATS)]
    )
    # Own time is a difference of two wall times that each drift by about a second: each load
    # is paired with a trivial flow run just before it, and the median difference is taken.
    loads, own = [], []
    for _ in range(BACKFILLS):
        shutil.rmtree(work / "wh", ignore_errors=True)
        before = measure(str(VENV / "python"), "bench/trivial_flow.py")
        loads.append(
            measure(cli, "ingest", str(corpus), "--no-enrich", "-q", "-w", str(work / "wh"))
        )
        own.append(loads[-1]["seconds"] - before["seconds"])
    product = median(loads)
    product["own_seconds"] = round(statistics.median(own), 3)
    for key in ("peak_rss_mb", "tree_peak_mb"):  # memory: the highest of the loads
        product[key] = max(load[key] for load in loads)
    dlt = measure(
        str(BENCH_VENV / "python"),
        "bench/dlt_load.py",
        str(corpus),
        str(work / "dlt.duckdb"),
        str(work / "dlt"),
        str(work / "dlt-parse.json"),
    )
    dlt["parse_seconds"] = json.loads((work / "dlt-parse.json").read_text())
    # dlt's default path: dict rows from a plain regex over the table rows (issue 17, target 1).
    dlt_dicts = measure(
        str(BENCH_VENV / "python"),
        "bench/dlt_dicts.py",
        str(corpus),
        str(work / "dlt-dicts.duckdb"),
        str(work / "dlt-dicts"),
    )
    # The same plain regex over the same files in one process: the parse stage's reference;
    # and the parse stage's own work in one process, with the parser's time counted apart.
    reference = script_json("plain_parser.py", str(corpus))
    parse_floor = script_json("parse_floor.py", str(corpus))

    with warehouse.connect(work / "wh") as con:
        entries = con.execute("SELECT count(*) FROM digest_entries").fetchall()[0][0]
        stages = con.execute(
            "SELECT discover_seconds, parse_seconds, validate_seconds, load_seconds, "
            "enrich_seconds FROM runs"
        ).fetchall()[0]
        some_id = con.execute("SELECT arxiv_id FROM digest_entries LIMIT 1").fetchall()[0][0]
    with duckdb.connect(str(work / "dlt.duckdb"), read_only=True) as con:
        dlt_entries = con.execute("SELECT count(*) FROM digests.digest_entries").fetchall()[0][0]

    # Full-size papers tables for the analyst queries (synthetic metadata: see fill_papers.py).
    filled = subprocess.run(
        [str(VENV / "python"), "bench/fill_papers.py", str(work / "wh")],
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    papers = int(filled.stdout.split()[0])
    # A run that fetches papers writes what it fetched, not what the warehouse holds.
    refresh = {}
    for n in (100, 1000):
        done = subprocess.run(
            [str(VENV / "python"), "bench/refresh.py", str(work / "wh"), str(n)],
            check=True,
            cwd=ROOT,
            capture_output=True,
            text=True,
            env=os.environ | {"PYTHONPATH": f"{ROOT}:{ROOT / 'bench'}"},
        )
        refresh[str(n)] = json.loads(done.stdout)

    started = time.perf_counter()
    subprocess.run(
        [cli, "report", "--out", str(work / "report"), "-w", str(work / "wh")],
        check=True,
        capture_output=True,
    )
    page = {
        "seconds": round(time.perf_counter() - started, 2),
        "bytes": (work / "report" / "index.html").stat().st_size,
    }
    incremental = one_new_digest(work, per, seeds=range(99, 99 + REPEATS), inbox=None)
    # The scheduled case: the new digest arrives in an inbox that still holds every file
    # already loaded, which each run walks (the unchanged ones are skipped unread).
    inbox = one_new_digest(work, per, seeds=range(199, 199 + REPEATS), inbox=corpus)
    # The same daily run against a Prefect server that is already up (`arxiv-digests server
    # start`), paired with a trivial flow against that server.
    managed = server.spawn(server._free_port(0), work / "managed-server.log", tied=True)
    os.environ["PREFECT_API_URL"] = managed.url
    try:
        measure(str(VENV / "python"), "bench/trivial_flow.py")  # warm-up
        with_server = one_new_digest(work, per, seeds=range(299, 299 + REPEATS), inbox=None)
        # The whole corpus into a fresh warehouse with that server up, against dlt's paths.
        managed_load = measure(
            cli, "ingest", str(corpus), "--no-enrich", "-q", "-w", str(work / "wh-managed")
        )
    finally:
        del os.environ["PREFECT_API_URL"]
        server.stop_process(managed.pid)

    queries = {
        "papers per primary category per month": (
            "SELECT primary_category, date_trunc('month', published) AS month, count(*) "
            "FROM papers GROUP BY ALL"
        ),
        "digests that mention one arXiv ID": (
            f"SELECT * FROM paper_mentions WHERE arxiv_id = '{some_id}'"
        ),
        "20 authors with most papers in cs.CV": (
            "SELECT a.name, count(*) AS papers FROM paper_authors a "
            "JOIN paper_categories c USING (arxiv_id) WHERE c.category = 'cs.CV' "
            "GROUP BY a.name ORDER BY papers DESC, a.name LIMIT 20"
        ),
    }
    result = {
        "digests": digests,
        "repeats": REPEATS,
        "backfills": BACKFILLS,
        "entries": entries,
        "dlt_entries": dlt_entries,
        "papers": papers,
        "trivial": trivial,
        "product": product,
        "dlt": dlt,
        "incremental": incremental,
        "inbox": inbox,
        "managed": with_server,
        "stages": dict(
            zip(["discover", "parse", "validate", "load", "enrich"], stages, strict=True)
        ),
        "queries_ms": {name: query_ms(work / "wh", sql) for name, sql in queries.items()},
        "refresh": refresh,
        "report": page,
        "floor": floor(corpus, work / "wh"),
        "dlt_dicts": dlt_dicts,
        "reference_parse": reference,
        "parse_floor": parse_floor,
        "cores": os.cpu_count(),
        "managed_load": managed_load,
    }
    (DATA / f"results-{entries}.json").write_text(json.dumps(result, indent=1))
    if os.environ.get("BENCH_TEAM", "1") != "0":  # 0: the team section keeps its last figures
        measure_team(corpus, digests * per)
    measure_hostile()
    report(sorted(DATA.glob("results-*.json"), key=lambda p: int(p.stem.split("-")[1])))
    shutil.rmtree(work, ignore_errors=True)


def one_new_digest(work: Path, per: int, seeds: range, inbox: Path | None) -> dict[str, float]:
    """Runs that each load one new digest (read with `inbox`, when given), each paired with a
    trivial flow run just before it: Prefect's start-up drifts by a second over a bench, and
    the pair's difference cancels the drift. The median run, with the median difference and
    the median of the flows' own times (their `runs` rows)."""
    runs, differences = [], []
    for seed in seeds:
        new = work / f"new-{seed}"
        generate = [
            "-m",
            "flows.digests.synthetic",
            str(new),
            "--digests",
            "1",
            "--entries",
            str(per),
        ]
        subprocess.run([str(VENV / "python"), *generate, "--seed", str(seed)], check=True, cwd=ROOT)
        inputs = [str(new)] if inbox is None else [str(inbox), str(new)]
        before = measure(str(VENV / "python"), "bench/trivial_flow.py")
        runs.append(
            measure(
                str(VENV / "arxiv-digests"),
                "ingest",
                *inputs,
                "--no-enrich",
                "-q",
                "-w",
                str(work / "wh"),
            )
        )
        differences.append(runs[-1]["seconds"] - before["seconds"])
    result = median(runs)
    result["over_trivial"] = round(statistics.median(differences), 3)
    with warehouse.connect(work / "wh") as con:
        flow_seconds = con.execute(
            "SELECT median(epoch(ended_at) - epoch(started_at)) FROM "
            f"(SELECT * FROM runs ORDER BY started_at DESC LIMIT {len(seeds)})"
        ).fetchall()[0][0]
    result["flow_seconds"] = round(flow_seconds, 3)
    return result


def floor(corpus: Path, root: Path) -> dict[str, float]:
    """Work that no loader of these files can skip, timed alone in this process: reading and
    hashing every file, and encoding the loaded entries as Parquet once."""
    started = time.perf_counter()
    for path in sorted(corpus.rglob("*.md")):
        hashlib.sha256(path.read_bytes()).hexdigest()
    read = time.perf_counter() - started
    with warehouse.connect(root) as con:
        entries = con.execute("SELECT * FROM digest_entries").to_arrow_table()
    started = time.perf_counter()
    pq.write_table(entries, root.parent / "floor.parquet", compression="zstd")
    encode = time.perf_counter() - started
    return {"read and hash the files": round(read, 3), "encode the entries": round(encode, 3)}


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory} GiB; Python {platform.python_version()}, "
        f"prefect {version('prefect')}, pyarrow {version('pyarrow')}, "
        f"duckdb {version('duckdb')}; dlt from bench/requirements.txt"
    )


def tree(measured: dict[str, float]) -> str:
    return str(measured.get("tree_peak_mb", "n/a"))


def ratio(r: dict, key: str) -> str:
    if key not in r["product"] or key not in r["dlt"]:
        return "n/a"
    return f"{r['product'][key] / r['dlt'][key]:.2f}"


def inbox_line(r: dict) -> list[str]:
    if "inbox" not in r:
        return []
    i = r["inbox"]
    return [
        f"- the same, with the new digest in an inbox that also holds all {r['digests']:,} "
        f"files already loaded (median of {r.get('repeats', REPEATS)}): {i['seconds']} s; "
        f"paired with a trivial flow, **{i['over_trivial']:+.2f} s** (target at most +0.5 s "
        "at 1M); the flow's own work "
        f"{i['flow_seconds']} s; peak RSS {i['peak_rss_mb']} MB."
    ]


def parser_share(r: dict, own: float) -> list[str]:
    """Lines on what parsing is of each side's time: dlt's side runs our parser too."""
    if "parse_seconds" not in r["dlt"]:
        return []
    dlt_parse = r["dlt"]["parse_seconds"]
    stages = sum(seconds for stage, seconds in r["stages"].items() if stage != "parse")
    rest = r["dlt"]["seconds"] - dlt_parse
    floor = r["floor"]
    return [
        f"- dlt's process spent {dlt_parse:.2f} s in our parser (reading, hashing, parsing "
        f"the files), {rest:.2f} s in the rest. Were parsing free on both sides, own time / "
        f"dlt time would be **{(own - r['stages']['parse']) / rest:.3f}** (own time less the "
        f"parse stage; target at most 0.2), or {stages / rest:.3f} (the flow's other stages "
        f"alone, {stages:.2f} s).",
        "- work no loader can skip, timed alone: "
        + "; ".join(f"{k} {v:.2f} s" for k, v in floor.items())
        + f"; together {sum(floor.values()):.2f} s, against a tenth of dlt's time, "
        f"{r['dlt']['seconds'] / 10:.2f} s, or {rest / 10:.2f} s without its parsing.",
    ]


def managed_line(r: dict) -> list[str]:
    m = r.get("managed")
    if not m:
        return []
    return [
        f"- the same one new digest with the managed Prefect server already up (median of "
        f"{r.get('repeats', REPEATS)}): **{m['seconds']} s** wall (target at most 4 s); paired "
        f"with a trivial flow against that server, **{m['over_trivial']:+.2f} s** (target at "
        f"most +1 s); the flow's own work {m.get('flow_seconds', 'n/a')} s; peak RSS "
        f"{m['peak_rss_mb']} MB."
    ]


def dicts_lines(r: dict, own: float) -> list[str]:
    """Against dlt's default path (dict rows from a plain regex, merged), and the parse stage
    against that regex alone in one process (issue 17, targets 1 and 3)."""
    if "dlt_dicts" not in r:
        return []
    d, ref, managed = r["dlt_dicts"], r["reference_parse"], r["managed_load"]
    return [
        f"- dlt's default path (bench/dlt_dicts.py: a plain regex over the table rows, dict "
        f"rows, merged on (digest_id, ref)): {d['seconds']} s, peak RSS {d['peak_rss_mb']} MB "
        f"(tree {tree(d)} MB). Against it, the whole corpus with the managed server up: "
        f"{managed['seconds']} s, **{d['seconds'] / managed['seconds']:.1f}x** faster (target "
        f"at least 5x); own time (above) **{d['seconds'] / max(own, 1e-3):.1f}x** faster "
        f"(target at least 12x); process tree {managed['tree_peak_mb']} MB, "
        f"**{managed['tree_peak_mb'] / d['tree_peak_mb']:.2f}x** dlt's (target at most 0.5).",
        f"- the plain regex alone over the same files, one process: {ref['seconds']} s for "
        f"{ref['rows']:,} rows. The load waited {r['stages']['parse']:.2f} s for the parse (a "
        "batch parses while the one before it loads, so the stage's figure is no longer its "
        "cost: its work in one process follows).",
        *floor_lines(r),
    ]


def floor_lines(r: dict) -> list[str]:
    """The parse stage's floor (bench/parse_floor.py): its work with the parser's own time
    taken out, against the plain regex timed in the same process."""
    if "parse_floor" not in r:
        return []
    f, cores = r["parse_floor"], r["cores"]
    per = 1e6 / f["entries"]
    rest, whole = (f[k] / cores / f["plain_seconds"] for k in ("floor_seconds", "stage_seconds"))
    budget = 0.75 * cores * f["plain_seconds"] - f["floor_seconds"]  # parse_text's share
    need = (
        f"parse_text would have to take at most {budget * per:.1f} µs an entry, "
        f"{f['parse_text_seconds'] / budget:.1f}x less than now"
        if budget > 0
        else "no parser is fast enough: the rest alone is over the target"
    )
    return [
        f"- the parse stage's work in one process (bench/parse_floor.py, alternated with the "
        f"plain regex, {f['plain_seconds']} s): {f['stage_seconds']} s, "
        f"{f['stage_seconds'] * per:.1f} µs an entry, of which `parse_text` "
        f"{f['parse_text_seconds'] * per:.1f} µs; the rest (stat, read, hash, decode, Arrow "
        f"rows, validation) {f['floor_seconds'] * per:.1f} µs. Spread perfectly over "
        f"{cores} cores, the rest alone is **{rest:.2f}x** the plain regex and the whole "
        f"stage {whole:.2f}x; to reach 0.75x, {need}.",
    ]


def refresh_line(r: dict) -> list[str]:
    """What a run that fetches papers writes, against the papers held."""
    if not r.get("refresh"):
        return []
    parts = [
        f"{n} papers {v['seconds']:.2f} s and {v['bytes'] / 1e6:.2f} MB written"
        for n, v in r["refresh"].items()
    ]
    held = next(iter(r["refresh"].values()))["held"]
    return [
        f"- storing refreshed papers into {held:,} held (one transaction): "
        + "; ".join(parts)
        + "."
    ]


def corpus_of(digests: int, per: int) -> Path:
    """The synthetic corpus of `digests` files of about `per` entries, made once."""
    corpus = DATA / f"corpus-{digests}x{per}"
    if not corpus.exists():
        generate = ["-m", "flows.digests.synthetic", str(corpus), "--digests", str(digests)]
        subprocess.run(
            [str(VENV / "python"), *generate, "--entries", str(per), "--seed", "7"],
            check=True,
            cwd=ROOT,
        )
    return corpus


def measure_team(corpus: Path, entries: int) -> None:
    """The same load on a Dask cluster and into moto's S3 (bench/team.py)."""
    subprocess.run(
        [str(VENV / "python"), "bench/team.py", str(corpus), str(entries)], check=True, cwd=ROOT
    )


TEAM_START, TEAM_END = "<!-- team:start -->", "<!-- team:end -->"


def team_lines() -> list[str]:
    files = sorted(DATA.glob("team-*.json"), key=lambda p: int(p.stem.split("-")[1]))
    lines = [TEAM_START]
    for path in files:
        measured = json.loads(path.read_text())
        rows = measured["runs"]
        base = next(iter(rows.values()))
        each = "once" if measured["repeats"] == 1 else f"median of {measured['repeats']}"
        lines += [
            f"## Past one machine: {int(path.stem.split('-')[1]):,} entries",
            "",
            f"The whole-corpus load, enrichment off, {each} each (bench/team.py), with a "
            "Prefect server already up: on this machine's process pool or on a Dask cluster "
            "of 2 worker processes (`dask worker --nworkers 2`, on the same 2 cores), into a "
            "local folder or a bucket of moto's S3 server on 127.0.0.1.",
            "",
            "| setup | wall s | / local | peak RSS MB, flow | process tree MB | beside it, MB |",
            "|---|---|---|---|---|---|",
        ]
        for name, r in rows.items():
            beside = (
                f"Dask workers' peak {r['workers_peak_mb']}"
                if "workers_peak_mb" in r
                else f"S3 server's peak {r['s3_server_peak_mb']}"
                if "s3_server_peak_mb" in r
                else ""
            )
            lines.append(
                f"| {name} | {r['seconds']} | {r['seconds'] / base['seconds']:.2f} | "
                f"{r['peak_rss_mb']} | {r['tree_peak_mb']} | {beside} |"
            )
        lines.append("")
    if files:
        lines += [
            "On one machine of 2 cores neither can win: the Dask workers share the cores the "
            "local pool would use, and add a scheduler hop and a pickle of each batch's Arrow "
            "tables; the bucket adds HTTP round trips to a server on the same cores. What the "
            "rows show is the price of each (the same run on more machines is what they are "
            "for), and that memory stays bounded: the flow process holds at most 4 batches in "
            "flight with Dask, and each worker its own batch.",
            "",
        ]
    return [*lines, TEAM_END, ""]


def splice_team() -> None:
    """Only the team section of docs/benchmarks.md rewritten (`--team`): the other sections
    keep the figures of the runs that made them."""
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    block = "\n".join(team_lines())
    if TEAM_START in text:
        head, rest = text.split(TEAM_START, 1)
        text = head + block + rest.split(TEAM_END, 1)[1].lstrip("\n")
    else:
        head, rest = text.split("## Parsing hostile input", 1)
        text = head + block + "\n## Parsing hostile input" + rest
    path.write_text(text)


def measure_hostile() -> None:
    """Parsing time per MB, plain against adversarial input (bench/hostile.py), and the
    enrichment requests of a run against the floor (bench/api_requests.py)."""
    for script, name in (("hostile.py", "hostile.json"), ("api_requests.py", "requests.json")):
        done = subprocess.run(
            [str(VENV / "python"), f"bench/{script}"], check=True, cwd=ROOT, capture_output=True
        )
        (DATA / name).write_bytes(done.stdout)


def requests_lines() -> list[str]:
    path = DATA / "requests.json"
    if not path.exists():
        return []
    r = json.loads(path.read_text())
    return [
        "## Enrichment requests per run",
        "",
        f"{r['ids']:,} IDs to enrich, {r['absent']} of which the local protocol server leaves "
        "out, one in every few batches (bench/api_requests.py): "
        f"**{r['requests']} requests**, against the floor of ceil(IDs / 100) + "
        f"ceil(absent / 100) = {r['floor']}.",
        "",
    ]


def hostile_lines() -> list[str]:
    path = DATA / "hostile.json"
    if not path.exists():
        return []
    h = json.loads(path.read_text())
    worst = max(v["x_plain"] for v in h["hostile"].values())
    attack = h["attack"]
    return [
        "## Parsing hostile input",
        "",
        f"Time per MB of {h['size_mb']} MB digests made of one adversarial line repeated (as "
        "table rows, detail titles and abstracts), against plain digests of the same size "
        f"({h['plain_mb_per_s']} MB/s), best of 3 (bench/hostile.py):",
        "",
        "| input | MB/s | time per MB / plain's |",
        "|---|---|---|",
        *(f"| {k} | {v['mb_per_s']} | {v['x_plain']} |" for k, v in h["hostile"].items()),
        "",
        f"- worst adversarial / plain: **{worst}** (target at most 3).",
        f"- the attack from the report, one {attack['bytes']:,}-byte line: "
        f"{attack['old_pattern_s']} s with the row pattern before this round, "
        f"{attack['parser_s'] * 1000:.2f} ms through today's parser.",
        "",
    ]


def report(files: list[Path]) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (bench/run.py); do not edit by hand.",
        "",
        f"Machine: {machine()}.",
        "",
    ]
    results = [json.loads(path.read_text()) for path in files]
    for r in results:
        own = r["product"].get("own_seconds", r["product"]["seconds"] - r["trivial"]["seconds"])
        paired = "own_seconds" in r["product"]
        loads = f", median of {r['backfills']}" if paired else ""
        own_label = (
            "median difference from a trivial flow just before" if paired else "minus trivial"
        )
        repeats = r.get("repeats", REPEATS)
        lines += [
            f"## {r['entries']:,} entries ({r['digests']:,} synthetic digests), enrichment off",
            "",
            "| | wall s | entries/s | peak RSS MB, largest process | peak RSS MB, process tree |",
            "|---|---|---|---|---|",
            f"| trivial Prefect flow (median of {repeats}) | {r['trivial']['seconds']} | | "
            f"{r['trivial']['peak_rss_mb']} | {tree(r['trivial'])} |",
            f"| arxiv-digests ingest (whole process{loads}) | {r['product']['seconds']} | "
            f"{r['entries'] / r['product']['seconds']:,.0f} | {r['product']['peak_rss_mb']} | "
            f"{tree(r['product'])} |",
            f"| arxiv-digests own time ({own_label}) | {own:.2f} | "
            f"{r['entries'] / max(own, 1e-3):,.0f} | | |",
            f"| dlt merge into DuckDB | {r['dlt']['seconds']} | "
            f"{r['dlt_entries'] / r['dlt']['seconds']:,.0f} | {r['dlt']['peak_rss_mb']} | "
            f"{tree(r['dlt'])} |",
            "",
            f"- own time / dlt time: **{own / r['dlt']['seconds']:.3f}** (target at most 0.4); "
            f"whole process / dlt: {r['product']['seconds'] / r['dlt']['seconds']:.3f}.",
            f"- peak RSS / dlt's: **{ratio(r, 'peak_rss_mb')}** largest process, "
            f"**{ratio(r, 'tree_peak_mb')}** process tree (target at most 0.5).",
            "- stages (s): " + ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items()) + ".",
            *parser_share(r, own),
            f"- one new digest into this warehouse (median of {repeats} runs, one new digest "
            "each): "
            f"{r['incremental']['seconds']} s, "
            f"{r['incremental']['seconds'] - r['trivial']['seconds']:+.2f} s over the trivial "
            "flow (target at most +1 s); the flow's own work in it (its `runs` row, from start "
            f"to end): {r['incremental'].get('flow_seconds', 'n/a')} s; "
            + (
                f"paired with a trivial flow run just before each, the median difference is "
                f"**{r['incremental']['over_trivial']:+.2f} s**; "
                if "over_trivial" in r["incremental"]
                else ""
            )
            + f"peak RSS "
            f"{r['incremental']['peak_rss_mb']} MB.",
            *inbox_line(r),
            *managed_line(r),
            *dicts_lines(r, own),
            f"- analyst queries through the catalog, {r.get('papers', 0):,} papers "
            f"{'(synthetic, see below)' if r.get('papers') else '(none: stand-ins)'}; "
            "median of 5, ms: " + "; ".join(f"{k} {v}" for k, v in r["queries_ms"].items()) + ".",
            *refresh_line(r),
            *(
                [
                    f"- `arxiv-digests report` on this warehouse: {r['report']['seconds']} s "
                    f"(the whole command), a page of {r['report']['bytes'] / 1024:,.0f} KB."
                ]
                if "report" in r
                else []
            ),
            "",
        ]
    if len(results) >= 2:
        small, large = results[0], results[-1]
        lines += [
            f"## Memory from {small['entries']:,} to {large['entries']:,} entries",
            "",
            *(
                f"- {label}: {small['product'][key]} MB -> {large['product'][key]} MB, "
                f"**{(large['product'][key] / small['product'][key] - 1) * 100:+.0f}%** "
                "(target at most +10%)."
                for label, key in (
                    ("largest process", "peak_rss_mb"),
                    ("process tree", "tree_peak_mb"),
                )
                if key in small["product"] and key in large["product"]
            ),
            "",
        ]
    lines += team_lines() + git_lines() + ai_lines() + hostile_lines() + requests_lines()
    lines.append((ROOT / "bench" / "ANALYSIS.md").read_text())
    (ROOT / "docs" / "benchmarks.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    if sys.argv[1:] == ["--report"]:  # docs/benchmarks.md again from the saved results
        report(sorted(DATA.glob("results-*.json"), key=lambda p: int(p.stem.split("-")[1])))
    elif sys.argv[1:] == ["--hostile"]:  # only the parsing of hostile input, then the report
        measure_hostile()
        report(sorted(DATA.glob("results-*.json"), key=lambda p: int(p.stem.split("-")[1])))
    elif sys.argv[1:] == ["--team"]:  # only the runs past one machine, then the report
        digests = int(os.environ.get("BENCH_DIGESTS", "2000"))
        measure_team(corpus_of(digests, 50), digests * 50)
        splice_team()
    else:
        main()
