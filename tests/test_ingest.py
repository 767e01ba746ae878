"""The ingest flow on Prefect, end to end: corpus, re-runs, hostile inputs, crash leftovers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import DIGESTS, EXAMPLES, manifest
from helpers import count, counts, sql, table_hash

from flows.common.spill import run_folder
from flows.digests.discover import discover
from flows.digests.synthetic import generate
from flows.pipeline.ingest import ingest_flow
from schemas import TABLES
from warehouse.connection import open_connection
from warehouse.lake import ALIAS, Warehouse, WarehouseLocked

pytestmark = pytest.mark.usefixtures("prefect")


def ingest(paths: list[Path], warehouse: Path) -> dict:
    return ingest_flow(paths=[str(p) for p in paths], warehouse=str(warehouse), enrich=False)


@pytest.fixture(scope="module")
def corpus_warehouse(tmp_path_factory, prefect) -> tuple[Path, dict, dict]:
    wh = tmp_path_factory.mktemp("corpus") / "warehouse"
    first = ingest([DIGESTS], wh)
    second = ingest([DIGESTS], wh)
    return wh, first, second


@pytest.mark.slow
@pytest.mark.corpus
def test_corpus_loads_every_entry(corpus_warehouse):
    wh, first, _ = corpus_warehouse
    assert first["files_new"] == 46 and first["files_rejected"] == 0
    assert first["entries_seen"] == first["entries_loaded"] == 2641
    assert count(wh, "digest_entries") == 2641
    assert count(wh, "digests") == 46
    assert count(wh, "rejects") == 0
    per_file = dict(sql(wh, "SELECT file_name, entry_count FROM digests"))
    loaded = dict(
        sql(
            wh,
            "SELECT file_name, count(*) FROM digest_entries JOIN digests "
            "USING (digest_id) GROUP BY 1",
        )
    )
    for row in manifest():
        assert per_file[row["file"]] == int(row["table_rows"]), row["file"]
        assert loaded.get(row["file"], 0) == int(row["table_rows"]), row["file"]


@pytest.mark.corpus
def test_entries_carry_the_files_ids_and_titles(corpus_warehouse):
    wh, _, _ = corpus_warehouse
    rows = sql(
        wh,
        "SELECT e.arxiv_id, e.arxiv_version, e.title, e.layout, e.announce_type, "
        "e.listed_category, e.line FROM digest_entries e JOIN digests d "
        "USING (digest_id) WHERE d.file_name = '000_35d916e6e3a253ef.txt' ORDER BY ref",
    )
    assert rows[0] == (
        "2403.15603",
        1,
        "Forward Learning for Gradient-based Black-box Saliency Map Generation",
        "new",
        "cross",
        None,
        5,
    )
    assert rows[6] == (
        "2401.12963",
        1,
        "AutoRT: Embodied Foundation Models for Large Scale Orchestration of Robotic Agents",
        "old",
        "new",  # the old layout's title carries no marker: a new submission
        "cs.RO",
        11,
    )
    layouts = dict(sql(wh, "SELECT layout, count(*) FROM digest_entries GROUP BY 1"))
    assert layouts == {"new": 567, "old": 1401, "early": 20, "plain": 653}
    digest = sql(
        wh,
        "SELECT layout_new, layout_old, layout_early, layout_plain, digest_date, "
        "category, encoding FROM digests WHERE file_name = '000_35d916e6e3a253ef.txt'",
    )
    assert digest == [(5, 3, 0, 1, None, None, "utf-8")]


@pytest.mark.corpus
def test_rerun_adds_nothing_and_runs_show_the_skips(corpus_warehouse):
    wh, _first, second = corpus_warehouse
    assert second["files_new"] == 0 and second["files_skipped"] == 46
    assert second["entries_loaded"] == 0
    runs = sql(
        wh,
        "SELECT files_seen, files_new, files_skipped, entries_loaded, status "
        "FROM runs ORDER BY started_at",
    )
    assert runs == [(46, 46, 0, 2641, "ok"), (46, 0, 46, 0, "ok")]


@pytest.mark.corpus
def test_catalog_opens_from_another_directory(corpus_warehouse, tmp_path):
    wh, _, _ = corpus_warehouse
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        assert count(wh, "digest_entries") == 2641
        assert (
            sql(wh, "SELECT count(*) FROM paper_mentions WHERE arxiv_id = '2403.15603'")[0][0] >= 1
        )
    finally:
        os.chdir(cwd)


def lake_files(wh: Path, table: str) -> int:
    with open_connection(Warehouse(wh), read_only=True) as con:
        query = f"SELECT count(*) FROM ducklake_list_files('{ALIAS}', ?)"
        return int(con.execute(query, [table]).fetchone()[0])


@pytest.mark.corpus
def test_a_run_writes_one_digests_file_and_a_file_per_batch_of_entries(tmp_path, monkeypatch):
    """Every later run reads the `digests` keys: a run leaves them in one file, however many
    batches it had."""
    monkeypatch.setenv("ARXIV_DIGESTS_BATCH_FILES", "10")
    wh = tmp_path / "wh"
    result = ingest([DIGESTS], wh)
    assert result["files_new"] == 46 and count(wh, "digests") == 46
    assert lake_files(wh, "digests") == 1
    assert lake_files(wh, "digest_entries") == 5  # 46 files / 10


def test_a_batch_is_bounded_by_bytes_as_well_as_by_files(tmp_path, monkeypatch):
    """A batch's bytes are held a few times over while it loads: with a bound no two of the
    files fit under, each file is a batch (a file of entries) of its own."""
    paths = generate(tmp_path / "inbox", 4, 40, seed=4)
    monkeypatch.setenv("ARXIV_DIGESTS_BATCH_BYTES", str(max(p.stat().st_size for p in paths)))
    wh = tmp_path / "wh"
    result = ingest([tmp_path / "inbox"], wh)
    assert result["files_new"] == 4 and result["entries_loaded"] == count(wh, "digest_entries")
    assert lake_files(wh, "digest_entries") == 4


def test_examples_fill_date_and_category(tmp_path):
    wh = tmp_path / "wh"
    ingest([EXAMPLES], wh)
    rows = sql(
        wh,
        "SELECT strftime(digest_date, '%Y-%m-%d'), category, entry_count FROM digests "
        "ORDER BY 1, 2",
    )
    assert rows == [
        ("2026-11-23", "cs.CL", 2),
        ("2026-11-24", "cs.LG", 2),
        ("2026-11-24", "hep-th", 1),
    ]


@pytest.mark.slow
@pytest.mark.corpus
def test_changed_content_at_the_same_path_is_a_new_digest(tmp_path):
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    inbox.mkdir()
    target = inbox / "cs.AI.md"
    shutil.copy(DIGESTS / "000_35d916e6e3a253ef.txt", target)
    ingest([inbox], wh)
    shutil.copy(DIGESTS / "004_c109e4a675c9705c.txt", target)
    result = ingest([inbox], wh)
    assert result["files_new"] == 1
    assert count(wh, "digests") == 2
    assert count(wh, "digest_entries") == 9 + 22
    assert sql(wh, "SELECT DISTINCT category FROM digests") == [("cs.AI",)]


@pytest.mark.slow
@pytest.mark.corpus
def test_an_unchanged_file_is_skipped_unread_and_a_touched_one_is_read(tmp_path):
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    inbox.mkdir()
    for name in ("000_35d916e6e3a253ef.txt", "004_c109e4a675c9705c.txt"):
        shutil.copy(DIGESTS / name, inbox / name)
    old = os.stat(inbox / "000_35d916e6e3a253ef.txt").st_mtime_ns - 3600 * 10**9
    for path in inbox.iterdir():
        os.utime(path, ns=(old, old))
    fresh = inbox / "fresh.md"
    fresh.write_bytes((DIGESTS / "05d96446db73941c.md").read_bytes())
    # Written "now" as the run sees it, however long the run takes to start on a loaded machine.
    ahead = time.time_ns() + 60 * 10**9
    os.utime(fresh, ns=(ahead, ahead))
    assert ingest([inbox], wh)["files_new"] == 3
    recorded = sql(wh, "SELECT source_path, epoch_us(modified_at) FROM seen_files ORDER BY 1")
    # The file written within the settling time of the run's start may still be being
    # written: it is not recorded.
    assert recorded == [
        (str(inbox / "000_35d916e6e3a253ef.txt"), old // 1000),
        (str(inbox / "004_c109e4a675c9705c.txt"), old // 1000),
    ]

    # Same size, same time, other bytes: not read, so its new content is not seen.
    target = inbox / "000_35d916e6e3a253ef.txt"
    data = target.read_bytes()
    target.write_bytes(data.replace(b"2403.15603", b"2403.15699"))
    assert len(target.read_bytes()) == len(data)
    os.utime(target, ns=(old, old))
    second = ingest([inbox], wh)
    assert (second["files_new"], second["files_skipped"], second["entries_loaded"]) == (0, 3, 0)

    os.utime(target, ns=(old + 10**9, old + 10**9))  # touched: read, and its content is new
    third = ingest([inbox], wh)
    assert (third["files_new"], third["files_skipped"], third["entries_loaded"]) == (1, 2, 9)
    assert sql(wh, "SELECT count(*) FROM digest_entries WHERE arxiv_id = '2403.15699'") == [(1,)]


@pytest.mark.slow
@pytest.mark.corpus
def test_files_loaded_before_seen_files_existed_are_recorded_on_their_next_read(tmp_path):
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    inbox.mkdir()
    target = inbox / "a.md"
    shutil.copy(DIGESTS / "000_35d916e6e3a253ef.txt", target)
    os.utime(target, (1_700_000_000, 1_700_000_000))
    ingest([inbox], wh)
    with open_connection(Warehouse(wh), read_only=False) as con:  # as before the table
        con.execute("DELETE FROM seen_files")
    first = ingest([inbox], wh)  # reads the file, knows its content, records it
    assert (first["files_new"], first["files_skipped"]) == (0, 1)
    assert count(wh, "seen_files") == 1
    data = target.read_bytes()
    target.write_bytes(data.replace(b"2403.15603", b"2403.15699"))  # same size, same time
    os.utime(target, (1_700_000_000, 1_700_000_000))
    second = ingest([inbox], wh)
    assert (second["files_new"], second["files_skipped"], count(wh, "digests")) == (0, 1, 1)


@pytest.mark.slow
def test_a_column_declared_later_is_added_to_the_lake_without_losing_rows(tmp_path):
    wh = tmp_path / "wh"
    ingest([EXAMPLES], wh)
    with open_connection(Warehouse(wh), read_only=False) as con:  # as if `category` came later
        con.execute("ALTER TABLE digests DROP COLUMN category")
    result = ingest([EXAMPLES], wh)  # declares it again: old rows have it null
    assert result["files_skipped"] == 3
    assert sql(wh, "SELECT count(*), count(category) FROM digests") == [(3, 0)]


def test_discover_walks_folders_as_rglob_did(tmp_path):
    inbox = tmp_path / "in"
    for rel in ("b/2.md", "a/1.MD", "a-c/3.txt", "a/x/4.markdown", ".hidden/5.md", "a/.6.md"):
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        (inbox / rel).write_text("x")
    (inbox / "a" / "notes.pdf").write_text("x")
    (tmp_path / "elsewhere.md").write_text("x")
    (inbox / "linked.md").symlink_to(tmp_path / "elsewhere.md")
    (inbox / "linked-folder").symlink_to(inbox / "a")  # not followed
    (inbox / "broken.md").symlink_to(tmp_path / "missing.md")
    files, problems = discover([inbox])
    # The order of the walk this replaced: sorted(rglob("*")), then filtered and resolved.
    assert files == [
        tmp_path / "in/a/1.MD",
        tmp_path / "in/a/x/4.markdown",
        tmp_path / "in/a-c/3.txt",
        tmp_path / "in/b/2.md",
        tmp_path / "elsewhere.md",
    ]
    assert problems == []


def hostile_inbox(root: Path) -> Path:
    sample = (DIGESTS / "000_35d916e6e3a253ef.txt").read_bytes()
    text = sample.decode()
    inbox = root / "inbox"
    inbox.mkdir()
    (inbox / "crlf.md").write_bytes(sample.replace(b"\n", b"\r\n"))
    (inbox / "bom.md").write_bytes(b"\xef\xbb\xbf" + sample.replace(b"2403.15603", b"2403.15604"))
    (inbox / "gbk.md").write_bytes(text.replace("2403", "2404").encode("gbk", errors="replace"))
    (inbox / "latin1.md").write_bytes(
        text.replace("2403", "2405").encode("utf-8").replace("显著".encode(), b"\xe9\xe9")
    )
    cut = text.index("| [^4]") + 40
    (inbox / "cut.md").write_text(text[:cut].replace("2403", "2406"))
    (inbox / "junk.md").write_bytes(bytes(range(256)) * 64)
    (inbox / "empty.md").write_bytes(b"")
    (inbox / "bad-id.md").write_text(
        # An ID arXiv never issued, in the link and in the abstract's announcement alike.
        text.replace("2402.17376", "2413.17376").replace("2403", "2407")
    )
    return inbox


@pytest.mark.slow
@pytest.mark.corpus
def test_hostile_inputs_become_rejects_not_crashes(tmp_path):
    inbox, wh = hostile_inbox(tmp_path), tmp_path / "wh"
    result = ingest([inbox], wh)
    assert result["files_seen"] == 8
    assert result["files_new"] == 6 and result["files_rejected"] == 2
    rejects = sql(wh, "SELECT source, line, stage, rule FROM rejects ORDER BY source, line")
    names = [(Path(s).name, line, stage, rule) for s, line, stage, rule in rejects]
    assert names == [
        ("bad-id.md", 6, "validate", "pattern:arxiv_id"),
        ("cut.md", 8, "parse", "malformed_row"),
        ("empty.md", None, "read", "empty_file"),
        ("junk.md", None, "read", "binary_file"),
    ]
    # Rows seen = rows loaded + rows rejected, for the run and in the tables.
    assert result["entries_seen"] == result["entries_loaded"] + result["entries_rejected"]
    assert result["entries_seen"] == 9 * 5 + 4
    assert count(wh, "digest_entries") == result["entries_loaded"] == 9 * 4 + 3 + 8
    raw = sql(wh, "SELECT raw FROM rejects WHERE rule = 'pattern:arxiv_id'")[0][0]
    assert "2413.17376" in raw
    problems = "\n".join(result["problems"])
    assert f"{inbox / 'junk.md'}: binary_file:" in problems
    assert f"{inbox / 'cut.md'}:8: malformed_row:" in problems
    # Re-running the same hostile inbox changes nothing (but the record of runs and reads).
    data = [name for name in TABLES if name not in ("runs", "seen_files")]
    before = {name: table_hash(wh, name) for name in data}
    again = ingest([inbox], wh)
    assert again["rejects"] == 0 and again["entries_loaded"] == 0
    assert {name: table_hash(wh, name) for name in data} == before


def test_second_writer_is_refused_with_the_holders_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ARXIV_DIGESTS_LOCK_TIMEOUT_SECONDS", "0.5")
    store = Warehouse(tmp_path / "wh")
    with store.lock(1, "run X (pid 1)"), pytest.raises(WarehouseLocked, match="run X"):
        ingest_flow(paths=[str(EXAMPLES)], warehouse=str(store.root), enrich=False)


@pytest.mark.slow
def test_catalog_has_every_table_even_when_empty(tmp_path):
    wh = tmp_path / "wh"
    ingest([tmp_path / "missing"], wh)
    assert counts(wh) == dict.fromkeys(TABLES, 0) | {"runs": 1}


@pytest.mark.corpus
def test_parse_workers_load_exactly_what_one_process_does(tmp_path):
    """The corpus, a second copy of a digest and two copies of a binary file in one batch:
    worker processes give the same rows, skips and rejects as parsing in the flow's process."""
    from datetime import UTC, datetime

    from flows.digests.discover import discover
    from flows.digests.pool import ParsePool
    from flows.digests.read import read_batch

    files, _ = discover([DIGESTS])
    shutil.copy(files[0], tmp_path / "copy.md")
    junk = bytes(range(256)) * 40
    (tmp_path / "junk-a.md").write_bytes(junk)
    (tmp_path / "junk-b.md").write_bytes(junk)
    paths = files + sorted(tmp_path.iterdir())
    now = datetime.now(UTC)

    def load(pool: ParsePool | None):
        batch = read_batch(paths, set(), "run", now, pool)
        tables = {
            "digests": batch.digests.sort_by("source_path").to_pylist(),
            "entries": batch.entries.sort_by([("_source", "ascending"), ("line", "ascending")]),
            "rejects": sorted((r["source"], r["rule"], r["line"]) for r in batch.rejects),
        }
        tables["entries"] = tables["entries"].to_pylist()
        tally = (batch.files_new, batch.files_skipped, batch.files_rejected, batch.entries_seen)
        return tables, tally

    alone, alone_tally = load(None)
    with ParsePool(2) as pool:
        pooled, pooled_tally = load(pool)
        assert pool._pool is not None  # the workers really parsed
    assert pooled_tally == alone_tally == (len(files), 1, 2, 2641)
    assert pooled == alone
    assert [r[:2] for r in alone["rejects"] if "junk" in r[0]] == [
        (str(tmp_path / "junk-a.md"), "binary_file"),
        (str(tmp_path / "junk-b.md"), "binary_file"),
    ]


@pytest.mark.corpus
def test_parse_workers_and_the_command_line_load_neither_the_cli_nor_pandas():
    """A spawned worker first runs the script that started its parent: the `arxiv-digests`
    script must not import the command line (typer, pydantic, every command's module), let
    alone Prefect. pyarrow would import pandas (about 50 MB a process) to convert rows: it
    is kept out of the workers and the command line's process."""
    import importlib
    from datetime import UTC, datetime

    from flows.digests.discover import discover
    from flows.digests.parsed import parse_files
    from flows.digests.pool import ParsePool

    script = Path(sys.executable).parent / "arxiv-digests"
    as_a_worker_does = (
        "import runpy, sys; runpy.run_path(sys.argv[1], run_name='__mp_main__'); "
        "print(sorted(m for m in ('prefect', 'typer', 'flows.cli', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", as_a_worker_does, str(script)],
        text=True,
        capture_output=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"
    the_command_line = (
        "import sys; sys.argv = ['arxiv-digests', '--help']\n"
        "from flows.__main__ import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "try:\n    import pandas\nexcept ImportError as exc:\n    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", the_command_line], text=True, capture_output=True, check=True
    )
    assert out.stdout.splitlines()[-1] == "arxiv-digests does not use pandas"
    importlib.import_module("pandas")  # installed here (the tests read Parquet with it)

    files, _ = discover([DIGESTS])
    todo = [(p, f"{i:064x}", p.read_bytes()) for i, p in enumerate(files[:4])]
    with ParsePool(2) as pool:
        parsed = pool.parse(todo, "run", datetime.now(UTC))  # rows converted in the worker too
        assert pool._pool is not None
        assert (
            sum(b.entries.num_rows for b in parsed)
            == parse_files(todo, "run", datetime.now(UTC)).entries.num_rows
            > 0
        )
        with pytest.raises(ModuleNotFoundError, match="does not use pandas"):
            pool._pool.submit(importlib.import_module, "pandas").result()


@pytest.mark.corpus
def test_a_dead_parse_worker_is_replaced_by_the_flows_own_process(caplog):
    """A worker killed (OOM killer, kill -9) mid-run costs no rows: its slice is parsed in
    the flow's process, and the pool is not used again."""
    import signal
    from datetime import UTC, datetime

    from flows.digests.discover import discover
    from flows.digests.parsed import parse_files
    from flows.digests.pool import ParsePool
    from flows.digests.read import read_batch

    files, _ = discover([DIGESTS])
    now = datetime.now(UTC)
    todo = [(p, f"{i:064x}", p.read_bytes()) for i, p in enumerate(files)]
    expected = parse_files(todo, "run", now)
    with ParsePool(2) as pool:
        read_batch(files[:45], set(), "run", now, pool)  # starts the worker
        assert pool._pool is not None
        for process in list(pool._pool._processes.values()):
            os.kill(process.pid, signal.SIGKILL)
            process.join()
        parsed = pool.parse(todo, "run", now)
        assert pool.workers == 1
    assert sum(b.entries.num_rows for b in parsed) == expected.entries.num_rows == 2641
    assert sum(b.files_new for b in parsed) == expected.files_new
    assert "parse worker process died" in caplog.text


def test_only_a_file_whose_path_size_and_time_all_match_is_skipped(tmp_path):
    """`unchanged` joins the stats with `seen_files` on all three: a file that differs in any
    one of them is read again, and one that cannot be stat'ed is kept for reading to report."""
    import pyarrow as pa

    from flows.digests.discover import unchanged
    from schemas.tables import SEEN_FILES

    files = {name: tmp_path / f"{name}.md" for name in ("same", "resized", "touched", "moved")}
    for path in files.values():
        path.write_text("x")
    os.utime(files["touched"], ns=(1_000_000_000, 1_000_000_000))
    stats = {name: path.stat() for name, path in files.items()}
    modified = [s.st_mtime_ns // 1000 + (name == "touched") for name, s in stats.items()]
    seen = pa.table(
        {
            "source_path": [
                str(tmp_path / "elsewhere.md" if name == "moved" else path)
                for name, path in files.items()
            ],
            "size_bytes": [s.st_size + (name == "resized") for name, s in stats.items()],
            "modified_at": pa.array(modified).cast(SEEN_FILES.schema.field("modified_at").type),
        }
    )
    gone = tmp_path / "gone.md"
    rest, skipped = unchanged([gone, *files.values()], seen)
    assert skipped == 1
    assert rest == [gone, files["resized"], files["touched"], files["moved"]]


def test_a_runs_spill_folder_goes_with_it_and_so_do_those_of_runs_killed_outright(
    tmp_path, monkeypatch
):
    """A run spills what it gathers to a temporary folder: removed when it ends, even by
    Ctrl-C; one left by a run killed with -9 (its process gone) is removed by the next."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    orphan = tmp_path / f"arxiv-digests-run-{int(ended.stdout)}-k9"
    orphan.mkdir()
    (orphan / "spill-0.arrows").write_bytes(b"left by kill -9")
    running = tmp_path / f"arxiv-digests-run-{os.getpid()}-other"  # a live run's
    running.mkdir()
    unrelated = tmp_path / "arxiv-digests-run-notes"
    unrelated.mkdir()
    with pytest.raises(KeyboardInterrupt), run_folder() as folder:
        assert folder.parent == tmp_path and folder.is_dir()
        (folder / "spill-1.arrows").write_bytes(b"rows")
        raise KeyboardInterrupt
    assert not folder.exists()
    assert not orphan.exists()
    assert running.is_dir() and unrelated.is_dir()


def test_a_ctrl_c_to_the_process_group_is_the_runs_not_a_workers(tmp_path):
    """Ctrl-C reaches every process of the group: a parse worker leaves it to the run (which
    ends the pool) instead of dying with its own KeyboardInterrupt traceback. In a process of
    its own, as a command's: a worker spawned under pytest inherits pytest's signals."""
    script = tmp_path / "interrupt_a_worker.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "from datetime import UTC, datetime\n"
        "from pathlib import Path\n"
        "from flows.digests.discover import discover\n"
        "from flows.digests.pool import ParsePool\n"
        "if __name__ == '__main__':\n"
        "    files, _ = discover([Path(sys.argv[1])])\n"
        "    todo = [(p, f'{i:064x}', p.read_bytes()) for i, p in enumerate(files)]\n"
        "    with ParsePool(2) as pool:\n"
        "        first = pool.parse(todo, 'run', datetime.now(UTC))\n"
        "        worker = next(iter(pool._pool._processes.values()))\n"
        "        os.kill(worker.pid, signal.SIGINT)\n"
        "        time.sleep(1)\n"
        "        again = pool.parse(todo, 'run', datetime.now(UTC))\n"
        "        rows = [sum(b.entries.num_rows for b in p) for p in (first, again)]\n"
        "        print(worker.is_alive(), *rows)\n"
    )
    done = subprocess.run(
        [sys.executable, str(script), str(EXAMPLES)],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).parent.parent)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == ["True", "5", "5"], done.stdout + done.stderr
    assert "KeyboardInterrupt" not in done.stderr and "died" not in done.stderr, done.stderr
