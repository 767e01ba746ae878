"""The warehouse on an S3-compatible object store (moto's S3 server on 127.0.0.1), with its
catalog in a local SQLite file or in PostgreSQL (a throwaway cluster): the same tables as a
local folder, every command working on it, two writers at once, and kill -9 trials."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DIGESTS, ROOT
from helpers import (
    VOLATILE,
    Killer,
    assert_consistent,
    assert_consistent_after_a_kill,
    copy_into,
    count,
    counts,
    plain_counts,
    sql,
    table_hashes,
)
from test_crash import latest_versions

import warehouse
from flows.digests.synthetic import generate
from flows.pipeline.ingest import ingest_flow
from schemas import TABLES
from warehouse.lake import Warehouse, WarehouseError

pytestmark = pytest.mark.usefixtures("prefect")
CLI = [sys.executable, "-m", "flows"]


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, check=False)


def same_tables(left: Warehouse | Path, right: Warehouse | Path, skip=("runs",)) -> list[str]:
    """The tables whose rows differ (times and run ids aside)."""
    mine, theirs = table_hashes(left, VOLATILE), table_hashes(right, VOLATILE)
    return [name for name in TABLES if name not in skip and mine[name] != theirs[name]]


def ingest_into(remote: Warehouse, monkeypatch, paths: list[Path], **options):
    """An in-process ingest run into `remote`, with its catalog set as a user sets it (and
    unset after, so that local warehouses keep their own)."""
    with monkeypatch.context() as scoped:
        scoped.setenv("ARXIV_DIGESTS_CATALOG", remote.catalog.target)
        return ingest_flow(paths=[str(p) for p in paths], warehouse=remote.location, **options)


def command_env(catalog: str) -> dict[str, str]:
    """What a command started by a test gets: the AWS variables (set by the `s3` fixture),
    the catalog, the harness's Prefect API."""
    from prefect.settings import PREFECT_API_URL

    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return environ | {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PYTHONPATH": str(ROOT),
        "ARXIV_DIGESTS_CATALOG": catalog,
    }


@pytest.fixture(params=["sqlite", "postgres"])
def catalog(request, tmp_path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "catalog" / "lake.sqlite")
    return str(request.getfixturevalue("postgres").database())


@pytest.fixture(scope="module")
def folder_corpus(tmp_path_factory, prefect) -> Path:
    """The corpus in a folder warehouse, enriched by a fake API where every paper exists: what
    each catalog's warehouse on the bucket is compared with (loaded once for both)."""
    from arxiv_server import ArxivServer

    server, url = ArxivServer().start()
    local = tmp_path_factory.mktemp("folder") / "local"
    try:
        with pytest.MonkeyPatch.context() as scoped:
            scoped.setenv("ARXIV_DIGESTS_ARXIV_API_URL", url)
            scoped.setenv("ARXIV_DIGESTS_ARXIV_DELAY_SECONDS", "0.05")
            ingest_flow(paths=[str(DIGESTS)], warehouse=str(local))
    finally:
        server.shutdown()
    return local


@pytest.mark.slow
@pytest.mark.corpus
def test_same_tables_on_the_object_store(s3, catalog, api, folder_corpus, tmp_path, monkeypatch):
    api()  # every paper exists, so enrichment fills papers, authors and categories
    local = folder_corpus
    bucket = s3.bucket()
    remote = Warehouse(f"s3://{bucket}/team/lake", catalog)
    result = ingest_into(remote, monkeypatch, [DIGESTS])
    assert result["entries_loaded"] == 2641 and result["papers_enriched"] == 2614

    assert same_tables(remote, local) == []
    assert counts(remote) == counts(local)
    assert_consistent(remote)
    # The data is in the bucket, under the prefix; nothing of it on local disk.
    keys = s3.keys(bucket)
    # Under the prefix: the data, which lake it belongs to (`.lake-id`), its writers' records.
    others = [k for k in keys if k != "team/lake/.lake-id" and not k.startswith("team/lake/data/")]
    assert (
        keys
        and others
        and all(k.startswith("team/lake/.writers/") and k.endswith(".json") for k in others)
    ), others
    assert "team/lake/.lake-id" in keys
    assert any(k.endswith(".parquet") for k in keys)
    if not catalog.startswith("postgresql://"):  # beside the catalog: its writer lock only
        assert {p.name for p in Path(catalog).parent.iterdir()} == {"lake.sqlite", ".lock"}

    # The commands, as a user runs them on it.
    env = command_env(catalog)
    where = ["-w", remote.location]
    the_reading_commands_work(remote, env)
    query = "SELECT count(*) AS n, count(DISTINCT arxiv_id) AS ids FROM digest_entries"
    done = cli("sql", query, "--format", "csv", *where, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["n,ids", "2641,2614"]
    done = cli("check", *where, env=env)
    assert done.returncode == 0 and done.stdout.startswith("ok:"), done.stdout + done.stderr
    out = tmp_path / "export"
    done = cli("export", str(out), *where, env=env)
    assert done.returncode == 0, done.stderr
    for table in ("digest_entries", "papers", "paper_authors", "enrichment"):
        assert plain_counts(out, table) == (count(local, table), count(local, table))
    # search: the same answers on the bucket as on the folder, from the CLI and the shell
    title = sql(local, "SELECT title FROM digest_entries ORDER BY digest_id, ref LIMIT 1")[0][0]
    done = cli("search", title, "-f", "json", "-n", "5", *where, env=env)
    assert done.returncode == 0, done.stderr
    expected = warehouse.search(local, title, limit=5).to_pylist()
    assert [(r["arxiv_id"], r["score"]) for r in json.loads(done.stdout)] == [
        (r["arxiv_id"], r["score"]) for r in expected
    ]
    again = ingest_into(remote, monkeypatch, [DIGESTS])
    assert (again["files_new"], again["entries_loaded"], again["api_requests"]) == (0, 0, 0)
    assert same_tables(remote, local) == []
    # maintain compacts the lake's small files on the bucket; the rows stay the same
    files_before = len(s3.keys(bucket))
    done = cli("maintain", "--grace", "0", *where, env=env)
    assert done.returncode == 0 and done.stdout.startswith("merged "), done.stderr
    assert same_tables(remote, local) == [] and len(s3.keys(bucket)) <= files_before


def the_reading_commands_work(remote: Warehouse, env: dict[str, str]) -> None:
    """status, enrich (nothing left to ask) and the DuckDB shell's attach, on the bucket."""
    import json

    where = ["-w", remote.location]
    done = cli("status", "--format", "json", *where, env=env)
    assert done.returncode == 0, done.stderr
    rows = {r["table_name"]: r["rows"] for r in json.loads(done.stdout)["rows_per_table"]}
    assert (rows["digest_entries"], rows["papers"]) == (2641, 2614)
    done = cli("enrich", *where, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("0 arXiv API request(s): 0 paper(s) enriched, 0 pending")
    attach = cli("attach", *where, env=env).stdout
    assert "testing" not in attach  # the credentials are the shell's getenv(), not printed
    shell = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "duckdb"),
            "-csv",
            "-c",
            attach + " SELECT count(*) FROM digest_entries;"
            " SELECT count(*) > 0 AS found FROM search('language model');",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    words = shell.stdout.split()  # after the secret's "Success"
    assert words[words.index("count_star()") + 1] == "2641", shell.stdout + shell.stderr
    assert words[-2:] == ["found", "true"], shell.stdout + shell.stderr


@pytest.mark.slow
@pytest.mark.corpus
def test_damage_on_the_object_store_is_reported_not_repaired(s3, tmp_path, monkeypatch):
    bucket = s3.bucket()
    catalog = str(tmp_path / "lake.sqlite")
    remote = Warehouse(f"s3://{bucket}/wh", catalog)
    ingest_into(remote, monkeypatch, [DIGESTS], enrich=False)
    victim = next(k for k in s3.keys(bucket) if k.endswith(".parquet"))
    s3.client().put_object(Bucket=bucket, Key=victim, Body=b"PAR1 torn")
    before = sorted(s3.keys(bucket))
    done = cli("check", "-w", remote.location, env=command_env(catalog))
    assert done.returncode == 1
    assert f"s3://{bucket}/{victim}: 9 bytes where the catalog recorded" in done.stderr
    with pytest.raises(WarehouseError, match="9 bytes where the catalog recorded"):
        ingest_into(remote, monkeypatch, [DIGESTS], enrich=False)
    assert sorted(s3.keys(bucket)) == before  # nothing deleted to "recover"


@pytest.mark.slow
@pytest.mark.corpus
def test_an_object_store_warehouse_needs_a_catalog_and_a_bucket(s3, tmp_path):
    env = command_env("") | {"ARXIV_DIGESTS_CATALOG": ""}
    done = cli("ingest", str(DIGESTS), "-w", "s3://anything/x", "-q", env=env)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "arxiv-digests: s3://anything/x needs a catalog outside the bucket: set "
        "ARXIV_DIGESTS_CATALOG to a local file (one machine) or to postgresql://... (a team)"
    )
    env = command_env(str(tmp_path / "c.sqlite"))
    done = cli("ingest", str(DIGESTS), "-w", "s3://no-such-bucket/x", "-q", env=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(
        "arxiv-digests: the bucket no-such-bucket of s3://no-such-bucket/x does not exist"
    ), done.stderr
    assert "Traceback" not in done.stderr


WRITER_TRIALS = 5


@pytest.mark.slow
def test_two_writers_at_once_equal_one_sequential_run(s3, postgres, api, tmp_path):
    """Two ingest processes, overlapping inboxes, one warehouse on the object store with a
    PostgreSQL catalog: DuckLake's conflict check makes one of them do its stage again, and
    the tables equal one sequential run's."""
    source = tmp_path / "generated"
    digests = generate(source, 240, 25, seed=5)
    api(known=latest_versions(digests))
    folders = {name: tmp_path / name for name in ("a", "shared", "b")}
    copy_into(digests[:80], source, folders["a"], settled=True)
    copy_into(digests[80:160], source, folders["shared"], settled=True)
    copy_into(digests[160:], source, folders["b"], settled=True)
    sequential = tmp_path / "sequential"
    ingest_flow(paths=[str(p) for p in folders.values()], warehouse=str(sequential))
    conflicts = 0
    for trial in range(WRITER_TRIALS):
        catalog = postgres.database()
        remote = Warehouse(f"s3://{s3.bucket()}/lake", catalog)
        env = command_env(catalog)
        writers = [
            subprocess.Popen(
                [
                    *CLI,
                    "ingest",
                    str(folders[x]),
                    str(folders["shared"]),
                    "-w",
                    remote.location,
                    "-q",
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for x in ("a", "b")
        ]
        outputs = [w.communicate(timeout=600) for w in writers]
        for writer, (_out, err) in zip(writers, outputs, strict=True):
            assert writer.returncode == 0, err
            assert "Traceback" not in err
        conflicts += sum("another run committed to" in err for _, err in outputs)
        assert same_tables(remote, sequential, skip=("runs",)) == [], f"trial {trial}"
        assert_consistent(remote)
        assert sql(remote, "SELECT count(*), sum(files_new) FROM runs") == [(2, 240)]
    print(f"\ntwo writers: {WRITER_TRIALS} trials, {conflicts} stage(s) done again on conflict")
    assert conflicts >= 1  # the runs did overlap: the conflict path was taken


CRASH_TRIALS = 6


@pytest.mark.slow
def test_kill_9_on_the_object_store_converges(s3, postgres, api, tmp_path, monkeypatch):
    """kill -9 at random moments of runs writing to the object store (PostgreSQL catalog):
    after each kill every table reads and nothing of an uncommitted run is visible; a final
    run gives exactly what an undisturbed run gives."""
    rng = random.Random(20261202)
    source, inbox = tmp_path / "generated", tmp_path / "inbox"
    digests = generate(source, 180, 25, seed=13)
    api(known=latest_versions(digests))
    catalog = postgres.database()
    remote = Warehouse(f"s3://{s3.bucket()}/lake", catalog)
    env = command_env(catalog) | {"ARXIV_DIGESTS_BATCH_FILES": "10"}
    command = [*CLI, "ingest", str(inbox), "-q", "-w", remote.location]
    killer, per_trial = Killer(rng, run_seconds=10.0), len(digests) // CRASH_TRIALS
    for trial in range(CRASH_TRIALS):
        copy_into(digests[trial * per_trial : (trial + 1) * per_trial], source, inbox)
        killer.run(command, env)
        assert_consistent_after_a_kill(remote)
    ingest_into(remote, monkeypatch, [inbox])
    assert_consistent(remote)
    clean = tmp_path / "clean"
    ingest_flow(paths=[str(inbox)], warehouse=str(clean))
    assert same_tables(remote, clean, skip=("runs", "seen_files")) == []
    assert count(remote, "digest_entries") == count(clean, "digest_entries") > 0
    assert sql(remote, "SELECT count(*) FROM enrichment WHERE state <> 'enriched'") == [(0,)]
    print(f"\nobject-store crash test: {CRASH_TRIALS} trials, {killer.killed} killed mid-run")
    assert killer.killed >= 2


@pytest.mark.slow
@pytest.mark.corpus
def test_an_inbox_on_the_object_store(s3, tmp_path):
    """Digests under an s3:// prefix load as the same files in a folder do, and a second run
    skips every object unchanged since it was read (by the listing's size and time)."""
    bucket = s3.bucket()
    client = s3.client()
    for path in sorted(p for p in DIGESTS.iterdir() if p.is_file()):
        client.put_object(Bucket=bucket, Key=f"inbox/{path.name}", Body=path.read_bytes())
    client.put_object(Bucket=bucket, Key="inbox/.hidden/x.md", Body=b"not read")
    client.put_object(Bucket=bucket, Key="elsewhere/y.md", Body=b"not read")
    local, remote = tmp_path / "from-folder", tmp_path / "from-bucket"
    ingest_flow(paths=[str(DIGESTS)], warehouse=str(local), enrich=False)
    time.sleep(2.1)  # the objects settle: a run records them, and the next skips them
    first = ingest_flow(paths=[f"s3://{bucket}/inbox"], warehouse=str(remote), enrich=False)
    assert (first["files_new"], first["entries_loaded"]) == (46, 2641)
    assert same_tables(remote, local, skip=("runs", "seen_files", "digests")) == []
    columns = "file_name, size_bytes, entry_count, digest_date, category"
    query = f"SELECT digest_id, {columns} FROM digests ORDER BY ALL"
    assert sql(remote, query) == sql(local, query)
    sources = sql(remote, "SELECT DISTINCT source_path FROM digests ORDER BY 1")
    assert sources[0][0].startswith(f"s3://{bucket}/inbox/") and len(sources) == 46
    again = ingest_flow(paths=[f"s3://{bucket}/inbox"], warehouse=str(remote), enrich=False)
    assert (again["files_new"], again["files_skipped"], again["entries_loaded"]) == (0, 46, 0)
    done = cli(
        "validate",
        f"s3://{bucket}/inbox/05d96446db73941c.md",
        f"s3://{bucket}/missing",
        env=command_env(""),
    )
    assert f"s3://{bucket}/missing: missing_path: no such object or prefix" in done.stdout
    assert done.stderr.startswith("1 file(s): ")
