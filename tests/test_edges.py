"""Nothing lost at the edges: a lost or foreign catalog, a reader that tries to write, a
planted link, a row with a huge number, a file caught mid-write, bytes flipped in a page.
Each attack goes through the real CLI or `warehouse.connect()`; then the warehouse's files
are hashed unchanged (or the run converged), with one line and no traceback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import ROOT, examples
from helpers import cli_output, count, one_line, sql, tmpfs, tree_hash
from hypothesis import given, settings
from hypothesis import strategies as st
from prefect.settings import PREFECT_API_URL, temporary_settings
from typer.testing import CliRunner

import warehouse
from flows.cli import app
from flows.digests.parse import ROW_RULES, parse_digest
from flows.digests.parsed import parse_files, validate_batch
from flows.digests.read import still_written
from flows.digests.synthetic import generate
from flows.pipeline.ingest import ingest_flow
from schemas.ids import MAX_REF, MAX_VERSION
from warehouse.readonly import ReadOnlyViolation

cli = cli_output


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, prefect) -> Path:
    """A warehouse of synthetic digests, large enough for DuckLake to write Parquet files."""
    root = tmp_path_factory.mktemp("edges")
    generate(root / "inbox", 6, 60, seed=26)
    ingest_flow(paths=[str(root / "inbox")], warehouse=str(root / "wh"), enrich=False)
    assert list((root / "wh" / "data").rglob("*.parquet"))
    return root / "wh"


@pytest.fixture
def wh(loaded, tmp_path) -> Path:
    """A copy of the loaded warehouse, to attack."""
    return Path(shutil.copytree(loaded, tmp_path / "wh", symlinks=True))


def data_files(wh: Path) -> list[Path]:
    return sorted(p for p in (wh / "data").rglob("*.parquet"))


COMMANDS = [
    ["ingest", "{inbox}", "--no-enrich", "-q"],
    ["maintain", "--grace", "0"],
    ["check"],
    ["sql", "SELECT count(*) FROM digest_entries"],
    ["status"],
    ["export", "{out}"],
    ["rejects", "replay"],
    ["report", "--out", "{out}"],
]


def run_every_command(wh: Path, inbox: Path, out: Path) -> list[str]:
    lines = []
    for command in COMMANDS:
        args = [a.format(inbox=inbox, out=out) for a in command]
        lines.append(one_line(*cli(*args, "-w", str(wh))))
    return lines


@pytest.mark.parametrize("loss", ["deleted", "emptied"])
def test_a_lost_catalog_stops_every_command_and_nothing_is_deleted(wh, tmp_path, loss):
    catalog = wh / "catalog.sqlite"
    catalog.unlink() if loss == "deleted" else catalog.write_bytes(b"")
    before = tree_hash(wh)
    inbox = tmp_path / "inbox"
    generate(inbox, 1, 10, seed=1)
    for line in run_every_command(wh, inbox, tmp_path / "out"):
        assert "catalog" in line and "restore" in line, line
    assert tree_hash(wh) == before
    assert not (tmp_path / "out").exists()


def test_a_new_catalog_named_for_an_existing_warehouse_makes_nothing(wh, tmp_path, monkeypatch):
    new = tmp_path / "new-catalog.sqlite"
    monkeypatch.setenv("ARXIV_DIGESTS_CATALOG", str(new))
    before = tree_hash(wh)
    for line in run_every_command(wh, tmp_path, tmp_path / "out"):
        assert "missing or empty" in line, line
    assert tree_hash(wh) == before and not new.exists()


@pytest.mark.slow
def test_another_lakes_catalog_stops_every_command(wh, tmp_path, prefect):
    other = tmp_path / "other"
    ingest_flow(paths=[str(tmp_path / "none")], warehouse=str(other), enrich=False)
    shutil.copy(other / "catalog.sqlite", wh / "catalog.sqlite")  # an empty lake's catalog
    before = tree_hash(wh)
    for line in run_every_command(wh, tmp_path, tmp_path / "out"):
        assert "not the one the data" in line, line
    assert tree_hash(wh) == before


@pytest.mark.parametrize("where", ["/etc", "/", "occupied"])
def test_a_new_warehouse_only_in_a_new_or_empty_folder(tmp_path, where, monkeypatch):
    folder = Path(where) if where.startswith("/") else tmp_path / where
    if where == "occupied":
        folder.mkdir()
        (folder / "notes.txt").write_text("mine")
    before = sorted(os.listdir(folder))
    generate(tmp_path / "inbox", 1, 10, seed=2)
    # No Prefect API anywhere (whichever tests ran before in this process): the refusal comes
    # before a temporary server would start, so the command prints it alone.
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        line = one_line(*cli("ingest", str(tmp_path / "inbox"), "--no-enrich", "-w", str(folder)))
    assert ("system folder" in line) or ("not empty" in line), line
    assert sorted(os.listdir(folder)) == before


INTERRUPTED_COMMIT = """
import os, sqlite3, sys
con = sqlite3.connect(sys.argv[1], isolation_level=None)
con.execute("PRAGMA cache_size = 1")  # pages reach the file before the commit: a torn file
con.execute("BEGIN IMMEDIATE")
con.execute("CREATE TABLE half_written (x)")
for _ in range(500):
    con.execute("INSERT INTO half_written VALUES (randomblob(2000))")
con.execute("DELETE FROM ducklake_snapshot")
os._exit(9)  # killed mid-commit: the journal is left beside the catalog
"""


def test_a_writer_killed_mid_commit_leaves_readers_the_last_commit_and_writes_nothing(wh):
    expected = {t: count(wh, t) for t in ("digests", "digest_entries", "runs")}
    catalog = wh / "catalog.sqlite"
    subprocess.run([sys.executable, "-c", INTERRUPTED_COMMIT, str(catalog)], check=False)
    assert (wh / "catalog.sqlite-journal").stat().st_size > 0
    before = tree_hash(wh)
    assert {t: count(wh, t) for t in expected} == expected  # warehouse.connect()
    code, output = cli("status", "-w", str(wh))
    assert code == 0 and "half_written" not in output, output
    code, output = cli("check", "-w", str(wh))  # a hot journal is not damage
    assert code == 0 and "a writer was stopped while it committed" in output, output
    assert "restore" not in output, output
    assert tree_hash(wh) == before  # the reader rolled back its own copy, not the catalog
    assert not list(Path(tempfile.gettempdir()).glob("arxiv-digests-catalog-*"))
    generate(wh.parent / "more", 1, 10, seed=3)
    code, output = cli("ingest", str(wh.parent / "more"), "--no-enrich", "-q", "-w", str(wh))
    assert code == 0, output  # the next writer recovers the catalog as SQLite does
    assert not (wh / "catalog.sqlite-journal").exists()
    assert count(wh, "runs") == expected["runs"] + 1


def test_a_connection_open_when_a_writer_is_killed_mid_commit_reads_on(wh):
    """A dashboard's connection outlives a writer killed mid-commit: its next queries read the
    same snapshot again (from a private rolled-back copy), write nothing and leave nothing."""
    query = "SELECT (SELECT count(*) FROM digest_entries), (SELECT count(*) FROM runs)"
    con = warehouse.connect(wh)
    expected = con.execute(query).fetchall()
    subprocess.run([sys.executable, "-c", INTERRUPTED_COMMIT, str(wh / "catalog.sqlite")])
    assert (wh / "catalog.sqlite-journal").stat().st_size > 0
    before = tree_hash(wh)
    assert con.execute(query).fetchall() == expected
    assert con.sql(query).fetchall() == expected
    assert tree_hash(wh) == before
    con.close()
    del con
    assert not list(Path(tempfile.gettempdir()).glob("arxiv-digests-catalog-*"))


def test_connect_refuses_every_write(wh, tmp_path):
    target, logs = data_files(wh)[0], tmp_path / "logs"
    logs.mkdir()
    before = tree_hash(wh)
    con = warehouse.connect(wh)
    attacks = [
        lambda: con.execute(f"COPY (SELECT 42 AS x) TO '{target}' (FORMAT parquet)"),
        lambda: con.execute(
            f"COPY (SELECT 42 AS x) TO '{target}' (FORMAT parquet, USE_TMP_FILE false)"
        ),
        lambda: con.execute(f"ATTACH '{wh}/data/x.db' AS x"),
        lambda: con.execute("CREATE TABLE t AS SELECT 1"),
        lambda: con.execute(f"EXPORT DATABASE '{wh}/data/export'"),
        lambda: con.execute("SET enable_external_access = true"),
        lambda: con.execute("SELECT * FROM ducklake_merge_adjacent_files('lake')"),
        lambda: con.execute(
            "SELECT * FROM query('SELECT * FROM ducklake_merge_adjacent_files(''lake'')')"
        ),
        lambda: con.execute("SELECT * FROM query_table('digests')"),
        lambda: con.execute("SELECT * FROM ducklake_flush_inlined_data('lake')"),
        lambda: con.sql("SELECT 42 AS x").to_parquet(str(target)),
        lambda: con.sql("SELECT 42 AS x").write_csv(str(wh / "data" / "x.csv")),
        lambda: con.table("digests").insert_into("digests"),
        lambda: con.table("digests").filter("digest_id IN (SELECT * FROM query('SELECT 1'))"),
        lambda: con.sql("SELECT 1 AS x").query("t", f"COPY t TO '{target}'"),
        lambda: con.register("x", None),
        lambda: con.execute(  # hidden SQL, serialized: a checkpoint
            "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('CHECKPOINT'))"
        ),
        lambda: con.execute(
            "SELECT * FROM ducklake_set_option('lake', 'data_inlining_row_limit', 0)"
        ),
        lambda: con.execute(
            f"SELECT * FROM enable_logging(storage = 'file', storage_path = '{logs}')"
        ),
        lambda: con.execute("SELECT current_setting('s3_secret_access_key')"),
        lambda: con.execute("SELECT * FROM duckdb_secrets()"),
        lambda: con.sql("SELECT 1 AS x").filter("x = write_log('x')"),
    ]
    for attack in attacks:
        with pytest.raises(ReadOnlyViolation):
            attack()
    # What a reader may do still works, through the same connection.
    assert con.execute("SELECT count(*) FROM digest_entries").fetchone()[0] > 0
    assert con.sql("SELECT count(*) AS n FROM papers").fetchall() == [(0,)]
    assert con.table("digests").filter("entry_count > 0").count("*").fetchone()[0] == 6
    assert len(con.sql("SELECT * FROM ducklake_snapshots('lake')").fetchall()) >= 2
    assert con.execute("SELECT count(*) FROM ducklake_options('lake')").fetchone()[0] > 0
    assert con.execute("SELECT sum(x) FROM range(4) t(x)").fetchone() == (6,)
    con.close()
    assert tree_hash(wh) == before and list(logs.iterdir()) == []


@pytest.mark.parametrize(
    "query",
    [
        "SELECT * FROM query('SELECT * FROM ducklake_merge_adjacent_files(''lake'')')",
        "SELECT * FROM ducklake_flush_inlined_data('lake')",
        "COPY (SELECT 1) TO 'x.parquet'",
        "SELECT * FROM json_execute_serialized_sql(json_serialize_sql('CHECKPOINT'))",
        "SELECT * FROM ducklake_set_option('lake', 'parquet_compression', 'gzip')",
        "SELECT * FROM enable_logging(storage = 'file', storage_path = '.')",
    ],
)
def test_sql_refuses_the_write_paths_in_one_line(wh, query):
    before = tree_hash(wh)
    line = one_line(*cli("sql", query, "-w", str(wh)))
    assert "refused" in line, line
    assert tree_hash(wh) == before


def test_a_planted_link_is_never_followed(wh, tmp_path):
    target = data_files(wh)[0]
    before = tree_hash(wh)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".result.csv.partial").symlink_to(target)
    (out / ".index.html.partial").symlink_to(target)
    (out / "result.csv").symlink_to(target)  # the output name itself: it leads into the lake
    code, output = cli("sql", "SELECT 'x' AS x", "-o", str(out / "result.csv"), "-w", str(wh))
    assert "inside the warehouse" in one_line(code, output, 2)
    (out / "result.csv").unlink()
    code, output = cli("sql", "SELECT 'x' AS x", "-o", str(out / "result.csv"), "-w", str(wh))
    assert code == 0, output
    code, output = cli("report", "--out", str(out), "-w", str(wh))
    assert code == 0, output
    assert tree_hash(wh) == before
    assert (out / "result.csv").read_text() == '"x"\n"x"\n'
    assert not (out / "result.csv").is_symlink()
    assert [p.name for p in out.iterdir() if p.name.endswith(".partial")] == [
        ".index.html.partial",
        ".result.csv.partial",
    ]  # the planted links, untouched; no temporary file of ours left behind


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("missing/result.csv", "does not exist"),
        ("folder.csv", "it is a folder"),
        ("x" * 300 + ".csv", "File name too long"),
    ],
)
def test_sql_output_that_cannot_be_written_is_one_line(wh, tmp_path, name, expected):
    (tmp_path / "folder.csv").mkdir()
    line = one_line(*cli("sql", "SELECT 1", "-o", str(tmp_path / name), "-w", str(wh)))
    assert expected in line, line


POISON = """# 摘要

| Ref | Title | Summary |
| --- | --- | --- |
| [^1] | [A good paper](https://arxiv.org/abs/2401.00001v1) | 好 |
| [^2] | [Huge version](https://arxiv.org/abs/2401.00003v2147483648) | 坏 |
| [^99999999999] | [Huge ref](https://arxiv.org/abs/2401.00004v1) | 坏 |
| [^3] | [Many digits](https://arxiv.org/abs/2401.00005v{digits}) | 坏 |

# 详细

[^1]: 好论文
    A good paper
[^99999999999]: 坏
    Huge ref
"""


@pytest.mark.slow
def test_one_poison_row_is_one_reject_and_the_run_goes_on(tmp_path, prefect):
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    generate(inbox, 2, 20, seed=4)
    (inbox / "poison.md").write_text(POISON.format(digits="9" * 5000), encoding="utf-8")
    result = ingest_flow(paths=[str(inbox)], warehouse=str(wh), enrich=False)
    rules = sql(wh, "SELECT rule, line FROM rejects ORDER BY line")
    assert rules == [
        ("version_out_of_range", 6),
        ("ref_out_of_range", 7),
        ("version_out_of_range", 8),
        ("detail_ref_out_of_range", 14),
    ]
    poison = sql(wh, "SELECT entry_count FROM digests WHERE file_name = 'poison.md'")
    assert poison == [(4,)]
    assert result["entries_rejected"] == 3
    assert count(wh, "digest_entries") == result["entries_seen"] - 3
    again = ingest_flow(paths=[str(inbox)], warehouse=str(wh), enrich=False)
    assert again["status"] == "ok" and again["files_skipped"] == 3


def test_validate_names_each_poison_row_in_one_line(tmp_path):
    path = tmp_path / "poison.md"
    path.write_text(POISON.format(digits="1" * 30), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{path}:6: version_out_of_range:" in result.output
    assert f"{path}:7: ref_out_of_range:" in result.output
    assert "3 rejected" in result.output


def test_bytes_flipped_inside_a_page_are_found_by_check(wh, tmp_path):
    assert cli("check", "-w", str(wh))[0] == 0
    target = max(data_files(wh), key=lambda p: p.stat().st_size)
    data = bytearray(target.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    target.write_bytes(bytes(data))  # the same size: DuckLake's records still match
    code, output = cli("check", "-w", str(wh))
    assert code == 1 and f"{target}: its bytes changed since it was written" in output, output
    before = tree_hash(wh)
    line = one_line(*cli("maintain", "--grace", "0", "-w", str(wh)))
    assert "its bytes changed" in line and "nothing was merged" in line
    assert tree_hash(wh) == before


@pytest.mark.slow
def test_a_file_still_being_written_is_left_for_the_next_run(tmp_path, monkeypatch, prefect):
    monkeypatch.setenv("ARXIV_DIGESTS_QUIET_SECONDS", "2")
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    [whole] = generate(tmp_path / "source", 1, 40, seed=5)
    text = whole.read_bytes()
    inbox.mkdir()
    target = inbox / "cs.AI.md"
    stop = threading.Event()

    def writer() -> None:  # the generator, appending as it goes, until the run has ended
        with open(target, "wb") as out:
            for start in range(0, len(text), 512):
                out.write(text[start : start + 512])
                out.flush()
                if stop.wait(0.05):
                    break
            out.write(text[out.tell() :])
            out.flush()
            while not stop.wait(0.05):  # a slow machine's run starts late: still at work
                os.utime(target)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        code, output = cli("ingest", str(inbox), "--no-enrich", "-w", str(wh))
    finally:
        stop.set()
        thread.join()
    assert code == 0, output
    assert f"{target}: warning still_being_written:" in output, output
    assert "left for the next run" in output and "Traceback" not in output
    assert count(wh, "digests") == 0 and count(wh, "digest_entries") == 0
    assert sql(wh, "SELECT files_waiting FROM runs") == [(1,)]
    settled = time.time() - 10
    os.utime(target, (settled, settled))
    code, output = cli("ingest", str(inbox), "--no-enrich", "-w", str(wh))
    assert code == 0, output
    assert target.read_bytes() == text
    assert count(wh, "digests") == 1
    seen = parse_digest(text).rows_seen
    assert sql(wh, "SELECT entry_count FROM digests") == [(seen,)]
    assert count(wh, "digest_entries") + count(wh, "rejects") >= seen > 20


@pytest.mark.slow
def test_a_file_written_whole_just_now_is_loaded_after_the_quiet_window(
    tmp_path, monkeypatch, prefect
):
    monkeypatch.setenv("ARXIV_DIGESTS_QUIET_SECONDS", "1")
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    fresh, future = generate(inbox, 2, 20, seed=6)
    ahead = time.time() + 3600  # a clock ahead of ours: waited for once, never for ever
    os.utime(future, (ahead, ahead))
    code, output = cli("ingest", str(inbox), "--no-enrich", "-w", str(wh))
    assert code == 0 and "still_being_written" not in output, output
    assert sql(wh, "SELECT files_new, files_waiting FROM runs") == [(2, 0)]
    assert count(wh, "digests") == 2 and fresh.exists()


def test_a_file_changed_while_it_was_read_is_named(tmp_path):
    path = tmp_path / "d.md"
    path.write_text("one")
    settled = time.time() - 10
    os.utime(path, (settled, settled))
    before = path.stat()
    assert still_written(path, before, path.read_bytes()) is None
    path.write_text("one and two")  # between the read and the check after it
    problem = still_written(path, before, b"one")
    assert problem is not None and "changed while it was read" in problem.message


@pytest.mark.slow
def test_readers_opening_during_ten_commits_see_whole_runs_and_no_damage(tmp_path, prefect):
    wh, out, stop = tmp_path / "wh", tmp_path / "reader.jsonl", tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "long_reader.py"), str(wh), str(out), str(stop), "1"],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        for run in range(10):
            generate(tmp_path / f"inbox{run}", 2, 30, seed=100 + run)
            ingest_flow(paths=[str(tmp_path / f"inbox{run}")], warehouse=str(wh), enrich=False)
    finally:
        stop.touch()
        assert reader.wait(timeout=60) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    errors = [line["error"] for line in lines if "error" in line]
    answers = [line["answer"] for line in lines if "answer" in line]
    assert errors == [], errors[:3]
    assert len(answers) > 10 and all(a[0] == a[1] for a in answers)
    # Fresh connections saw the runs commit one by one, never more than there was.
    seen = [a[0] for a in answers]
    assert seen == sorted(seen) and len(set(seen)) >= 3
    assert seen[-1] <= count(wh, "digest_entries")


@pytest.mark.slow
def test_ctrl_c_on_a_long_query_exits_130_at_once(wh):
    query = "SELECT count(*) FROM range(100000000000) a"
    process = subprocess.Popen(
        [sys.executable, "-m", "flows", "sql", query, "-w", str(wh)],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(3)  # the query is running (start-up takes about 1 s)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=10)
    assert time.monotonic() - sent < 5
    assert process.returncode == 130
    assert stderr.strip().splitlines() == [
        "arxiv-digests: interrupted by SIGINT: nothing half-done was kept"
    ]


@pytest.mark.slow
def test_an_api_that_never_answers_fails_in_one_line(tmp_path):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # accepts connections, never answers
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/api"
    env = os.environ | {"PYTHONPATH": str(ROOT), "PREFECT_API_URL": url}
    generate(tmp_path / "inbox", 1, 10, seed=3)
    inbox, wh = str(tmp_path / "inbox"), str(tmp_path / "wh")
    try:
        result = subprocess.run(
            [sys.executable, "-m", "flows", "ingest", inbox, "-w", wh],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        silent.close()
    line = one_line(result.returncode, result.stderr)
    assert "did not answer its health check" in line and url in line


def test_settings_that_cannot_load_are_one_line(wh, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes(b"ARXIV_DIGESTS_RETENTION_DAYS=3\n\xff\xfe\n")
    assert "is not UTF-8 text" in one_line(*cli("status", "-w", str(wh)))
    (tmp_path / ".env").unlink()
    for value in ("inf", "1e308", "nan"):
        monkeypatch.setenv("ARXIV_DIGESTS_RETENTION_DAYS", value)
        line = one_line(*cli("maintain", "-w", str(wh)))
        assert f"ARXIV_DIGESTS_RETENTION_DAYS='{value}'" in line, line


@pytest.fixture
def full(tmp_path) -> Iterator[Path]:
    """A 3 MB tmpfs of our own (the tests run as root, as CI does)."""
    with tmpfs(tmp_path / "full", "3m") as point:
        yield point


@pytest.mark.slow
def test_commands_on_a_full_disk_are_one_line_and_leave_nothing(full, prefect):
    wh = full / "wh"
    generate(full / "inbox", 2, 30, seed=8)
    ingest_flow(paths=[str(full / "inbox")], warehouse=str(wh), enrich=False)
    generate(full / "more", 3, 30, seed=9)
    with open(full / "filler", "wb") as filler, contextlib.suppress(OSError):
        while True:
            filler.write(b"\0" * 65536)
    before = tree_hash(wh)
    for command in (["report", "--out", str(full / "report")], ["export", str(full / "x")]):
        line = one_line(*cli(*command, "-w", str(wh)))
        assert "full" in line or "space" in line, line
    for command in (["maintain", "--grace", "0"], ["rejects", "replay"]):
        output = cli(*command, "-w", str(wh))[1]
        assert "Traceback" not in output and len(output.strip().splitlines()) == 1, output
    assert tree_hash(wh) == before
    assert not (full / "x").exists()
    runs = sql(wh, "SELECT * FROM runs")
    line = one_line(*cli("ingest", str(full / "more"), "--no-enrich", "-w", str(wh)))
    assert "is full" in line and " new" not in line, line  # no count of what did not load
    assert sql(wh, "SELECT * FROM runs") == runs
    assert not (full / "report").exists() or list((full / "report").iterdir()) == []


# Numbers as the digits a digest spells them: small, at the bounds, and past what any column
# (or Python's int(), at 4,300 digits) holds.
NUMBERS = st.one_of(
    st.integers(0, 10**40).map(str),
    st.sampled_from(["0", "1", "999", "1000", str(2**31 - 1), str(2**31), "0007", "9" * 5000]),
)


def value(digits: str) -> int:
    return int(digits) if len(digits) < 30 else 10**30


@settings(max_examples=examples(150), deadline=None)
@given(ref=NUMBERS, version=NUMBERS, detail_version=NUMBERS, old_version=NUMBERS)
def test_huge_numbers_in_every_numeric_field_are_rejects_never_failures(
    ref, version, detail_version, old_version
):
    """Every number a digest gives (the row's ref, the link's version, the abstract's and the
    old title's versions, the detail block's ref) at any size: the batch still validates and
    converts to its tables, and the row is an entry with the numbers or a reject saying why."""
    text = (
        "# 摘要\n\n| Ref | Title | Summary |\n| --- | --- | --- |\n"
        f"| [^{ref}] | [A title](https://arxiv.org/abs/2401.00001v{version}) | 摘要 |\n"
        "| [^12] | [Old](http://arxiv.org/abs/2301.00002v1) | 旧 |\n\n# 详细\n\n"
        f"[^{ref}]: 标题\n    A title\n\n"
        f"    arXiv:2401.00001v{detail_version} Announce Type: new Abstract: Words.\n"
        f"[^12]: 旧\n    Old. (arXiv:2301.00002v{old_version} [cs.RO])\n"
    )
    parsed = parse_digest(text.encode())
    assert parsed.rows_seen == 2
    rejected = [p for p in parsed.problems if p.rule in ROW_RULES]
    assert len(parsed.entries) + len(rejected) == 2
    for entry in parsed.entries:
        assert 0 <= entry["ref"] <= MAX_REF
        assert entry["arxiv_version"] is None or 1 <= entry["arxiv_version"] <= MAX_VERSION
    first = [e for e in parsed.entries if e["arxiv_id"] == "2401.00001"]
    a_version = not version.startswith("0")  # arXiv's versions start at v1, unpadded
    announced = not detail_version.startswith("0") and value(detail_version) <= MAX_VERSION
    if value(ref) > MAX_REF:
        assert first == [] and any(p.rule == "ref_out_of_range" for p in rejected)
    elif a_version and value(version) > MAX_VERSION:
        assert first == [] and any(p.rule == "version_out_of_range" for p in rejected)
    elif a_version and announced and value(detail_version) != value(version):
        # The abstract announces another version than the link: a reject, never a pick.
        assert first == [] and any(p.rule == "abstract_mismatch" for p in rejected)
    elif a_version:
        assert [e["arxiv_version"] for e in first] == [value(version)]
    batch = parse_files([(Path("d.md"), "0" * 64, text.encode())], "run", datetime.now(UTC))
    valid = validate_batch(batch, "run", datetime.now(UTC))
    assert valid.entries.num_rows + valid.entries_rejected == 2


def test_a_lake_whose_first_run_died_before_its_tables_says_so_then_loads(tmp_path, prefect):
    """A first run killed after DuckLake made its catalog but before the tables were declared
    (seen under load in the crash test): readers get one line, the next run makes the tables."""
    from conftest import EXAMPLES

    from warehouse.connection import open_connection
    from warehouse.store import Warehouse, WarehouseError

    wh = tmp_path / "wh"
    store = Warehouse(wh)
    store.prepare()
    open_connection(store, read_only=False).close()  # the catalog, with no table yet
    assert (wh / "catalog.sqlite").stat().st_size > 0
    line = one_line(*cli_output("sql", "SELECT count(*) FROM digests", "-w", str(wh)))
    assert "has no tables yet" in line and "arxiv-digests ingest" in line
    with pytest.raises(WarehouseError, match="has no tables yet"):
        warehouse.connect(wh)
    # While a first run holds the lock, it is making them: a reader is told to wait instead.
    making = r"first run \(a run of pid 4242\) is making"
    with store.lock(5, "a run of pid 4242"), pytest.raises(WarehouseError, match=making):
        warehouse.connect(wh)
    ingest_flow(paths=[str(EXAMPLES)], warehouse=str(wh), enrich=False)
    assert count(wh, "digest_entries") == 5


@pytest.mark.parametrize("inside", ["data/exported", "data", "."])
def test_an_export_into_the_warehouse_is_refused_before_anything_is_written(
    wh, tmp_path, monkeypatch, inside
):
    before, folder = tree_hash(wh), (wh / inside).resolve()
    line = one_line(*cli("export", str(folder), "-w", str(wh)))
    assert "inside the warehouse" in line and "export to a folder outside it" in line, line
    assert tree_hash(wh) == before
    monkeypatch.setenv("ARXIV_DIGESTS_EXPORT_DIR", str(folder))
    generate(tmp_path / "more", 1, 5, seed=8)
    code, output = cli("ingest", str(tmp_path / "more"), "--no-enrich", "-w", str(wh))
    assert code == 1 and "inside the warehouse" in output, output
    assert "Traceback" not in output and tree_hash(wh) == before


def test_a_failed_stage_counts_nothing_it_did_not_commit(tmp_path):
    from datetime import UTC, datetime

    from flows.pipeline.run_stats import RunStats
    from flows.pipeline.stages import Shell, committed
    from flows.settings import Settings
    from warehouse.lake import Lake, Warehouse

    stats = RunStats(run_id="20990101T000000Z-failed", started_at=datetime.now(UTC))
    stats.files_new = 1  # from a stage committed before

    def load() -> None:
        stats.files_new += 200
        stats.entries_loaded += 4000
        stats.note(["inbox/cs.AI.md:3: a problem line"])
        raise OSError(28, "No space left on device")

    with Lake(Warehouse(tmp_path / "wh")) as lake, pytest.raises(OSError):
        committed(lake, stats, "load", load, Settings(), Shell(lambda line: None))
    assert (stats.files_new, stats.entries_loaded, stats.status) == (1, 0, "failed")
    assert stats.problems == ["inbox/cs.AI.md:3: a problem line"]
    row = sql(tmp_path / "wh", "SELECT status, files_new, entries_loaded FROM runs")
    assert row == [("failed", 1, 0)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_the_cli_still_loads_is_one_line(sig):
    """A signal that arrives before the commands are imported (a second or more on a loaded
    machine) ends the CLI as one later would: one line and 128 + the signal, not Python's
    KeyboardInterrupt traceback or a silent death by SIGTERM."""
    loading = (
        "import os, signal, flows.common.lean as lean\n"
        f"lean.without_pandas = lambda: os.kill(os.getpid(), {int(sig)})\n"
        "from flows.__main__ import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", loading, "status"],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 128 + sig, (done.returncode, done.stderr)
    assert done.stderr.splitlines() == [
        f"arxiv-digests: interrupted by {sig.name}: nothing half-done was kept"
    ]


def test_a_fifo_in_place_of_the_lock_cannot_hang_a_reader(tmp_path):
    """Who holds the writer lock is read without blocking: a FIFO planted as `.lock` would
    hang a read-only open for ever."""
    from warehouse.store import Warehouse

    os.mkfifo(tmp_path / ".lock")
    previous = signal.signal(signal.SIGALRM, signal.default_int_handler)
    signal.alarm(5)
    try:
        assert Warehouse(tmp_path).writer() is None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
