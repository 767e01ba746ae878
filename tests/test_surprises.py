"""No surprises: each mistake a newcomer makes, through the real CLI, is one line on stderr
with the right exit code, no traceback, and nothing created; a schedule never overlaps
itself."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Event, Thread

import pytest
from conftest import ROOT
from helpers import cli_output, one_line, sql

from flows.digests.synthetic import generate
from flows.pipeline.ingest import ingest_flow

CLI = [sys.executable, "-m", "flows"]


cli = cli_output


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = os.environ | {"PYTHONPATH": str(ROOT)} | (env or {})
    return subprocess.run(
        [*CLI, *args], env=environ, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, prefect) -> Path:
    root = tmp_path_factory.mktemp("surprises")
    generate(root / "inbox", 2, 20, seed=27)
    ingest_flow(paths=[str(root / "inbox")], warehouse=str(root / "wh"), enrich=False)
    return root / "wh"


@pytest.mark.parametrize(
    ("variable", "value", "expects"),
    [
        ("SCHEDULE_CRON", "not a cron", "cron expression"),
        ("SCHEDULE_CRON", "61 * * * *", "cron expression"),
        ("ARXIV_API_URL", "notaurl", "http(s)://"),
        ("ARXIV_API_URL", "ftp://example.org/api", "http(s)://"),
        ("DASK_ADDRESS", "127.0.0.1:8786", "tcp://host:8786"),
        ("RETENTION_DAYS", "inf", "finite"),
        ("SERVER_PORT", "70000", "65535"),
    ],
)
def test_every_setting_is_checked_when_settings_load(monkeypatch, variable, value, expects):
    monkeypatch.setenv(f"ARXIV_DIGESTS_{variable}", value)
    for command in (["config"], ["status"], ["serve"]):
        line = one_line(*cli(*command))
        assert f"ARXIV_DIGESTS_{variable}={value!r}" in line and expects in line, line


def test_a_malformed_api_url_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_API_URL", "notaurl")
    generate(tmp_path / "inbox", 1, 5, seed=1)
    started = time.monotonic()
    line = one_line(*cli("ingest", str(tmp_path / "inbox"), "-w", str(tmp_path / "wh")))
    assert time.monotonic() - started < 2 and "ARXIV_DIGESTS_ARXIV_API_URL" in line
    assert not (tmp_path / "wh").exists()


@pytest.mark.parametrize(
    ("args", "expects"),
    [
        (["serve", "--cron", "not a cron"], "--cron 'not a cron'"),
        (["serve", "--interval", "-5"], "--interval -5"),
        (["server", "start", "--port", "0"], "--port 0"),
        (["serve", "--inbox", "/no/such/inbox"], "the inbox /no/such/inbox is not a folder"),
    ],
)
def test_serve_options_are_checked(args, expects):
    assert expects in one_line(*cli(*args), expected=2)


def test_usage_mistakes_are_one_line(loaded):
    for args in (["runs", "--last", "-3"], ["status", "--format", "xml"], ["nosuch"]):
        result = run(*args, "-w", str(loaded)) if args[0] != "nosuch" else run(*args)
        line = one_line(result.returncode, result.stderr, expected=2)
        assert "--help" in line, line


def test_an_unreachable_dask_scheduler_fails_at_once_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("ARXIV_DIGESTS_DASK_ADDRESS", "tcp://127.0.0.1:1")
    generate(tmp_path / "inbox", 1, 5, seed=1)
    line = one_line(*cli("ingest", str(tmp_path / "inbox"), "-w", str(tmp_path / "wh")))
    assert "Dask scheduler at tcp://127.0.0.1:1" in line and "warehouse" not in line
    assert not (tmp_path / "wh").exists()


def test_no_command_makes_a_warehouse_it_does_not_write(tmp_path):
    wh = tmp_path / "wh"
    line = one_line(*cli("ingest", str(tmp_path / "no" / "such"), "-w", str(wh)), 2)
    assert "no such file or folder" in line and "no digest files (*.md, *.markdown" in line
    for command in (["migrate"], ["check"], ["sql", "SELECT 1"], ["status"], ["runs"], ["enrich"]):
        assert "no warehouse at" in one_line(*cli(*command, "-w", str(wh)))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "paper.pdf").write_bytes(b"%PDF")
    line = one_line(*cli("ingest", str(inbox), "-w", str(wh)), 0)
    looked = "*.md, *.markdown, *.txt, *.jsonl"
    assert f"no digest files ({looked}; hidden files skipped) in {inbox}" in line
    assert not wh.exists()


def test_unknown_variables_are_warned_of_with_a_true_hint(loaded, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("ARXIV_DIGESTS_WAREHOUS=/elsewhere\n")
    monkeypatch.setenv("ARXIV_DIGESTS_FOO", "1")
    _, output = cli("status", "-w", str(loaded))
    assert "ARXIV_DIGESTS_FOO is not a setting and is ignored; `arxiv-digests config`" in output
    assert "ARXIV_DIGESTS_WAREHOUS is not a setting" in output
    assert "did you mean ARXIV_DIGESTS_WAREHOUSE?" in output


def test_config_prints_unset_as_unset_and_masks_secrets(loaded, monkeypatch):
    code, output = cli("config")
    assert code == 0 and "ARXIV_DIGESTS_CATALOG=  # unset;" in output
    assert "None" not in output
    monkeypatch.setenv("ARXIV_DIGESTS_CATALOG", "postgresql://reader:s3cret@127.0.0.1:1/lake")
    for command in (["config"], ["attach", "-w", str(loaded)]):
        result = run(*command, env={"ARXIV_DIGESTS_CATALOG": os.environ["ARXIV_DIGESTS_CATALOG"]})
        assert result.returncode == 0, result.stderr
        assert "s3cret" not in result.stdout + result.stderr
        assert "reader" in result.stdout
    assert "PGPASSWORD" in result.stderr


def test_server_start_on_a_port_in_use_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = str(taken.getsockname()[1])
        result = run("server", "start", "--port", port, env={"PREFECT_HOME": str(tmp_path)})
    line = one_line(result.returncode, result.stderr)
    assert f"port {port}" in line and "in use" in line


def test_runs_and_status_read_well(loaded):
    code, output = cli("runs", "-w", str(loaded))
    assert code == 0 and " ingest " in output and " ok " in output
    result = run("status", "--format", "json", "-w", str(loaded))
    keys = set(json.loads(result.stdout))
    assert keys == {
        "rows_per_table", "rejects_by_rule", "enrichment", "digest_dates", "generators", "last_runs"
    }  # fmt: skip
    run_id = sql(loaded, "SELECT run_id FROM runs")[0][0]
    code, output = cli("runs", "show", run_id, "-w", str(loaded))
    durations = [line for line in output.splitlines() if line.startswith("parse_seconds")]
    assert durations and len(durations[0].split()[1].split(".")[1]) == 3, durations


def test_sql_reads_ducklake_history_and_refuses_truly(loaded):
    code, output = cli("sql", "SELECT count(*) FROM ducklake_snapshots('lake')", "-w", str(loaded))
    assert code == 0, output
    line = one_line(*cli("sql", "COPY (SELECT 1) TO 'x.csv'", "-w", str(loaded)))
    assert "read-only" in line and "COPY" in line


def test_sql_writes_lists_and_structs_to_csv_as_json(loaded, tmp_path):
    out = tmp_path / "p.csv"
    query = "SELECT [1, 2] AS ids, {'name': 'A', 'affiliations': ['X']} AS author"
    code, output = cli("sql", query, "-o", str(out), "-w", str(loaded))
    assert code == 0, output
    assert out.read_text().splitlines()[1] == (
        '"[1, 2]","{""name"": ""A"", ""affiliations"": [""X""]}"'
    )


def test_time_travel_to_an_expired_run_says_so(loaded, tmp_path, monkeypatch, prefect):
    import shutil

    wh = Path(shutil.copytree(loaded, tmp_path / "wh"))
    first = sql(wh, "SELECT run_id FROM runs")[0][0]
    generate(tmp_path / "more", 1, 10, seed=9)
    ingest_flow(paths=[str(tmp_path / "more")], warehouse=str(wh), enrich=False)
    monkeypatch.setenv("ARXIV_DIGESTS_RETENTION_DAYS", "0")
    assert cli("maintain", "--grace", "0", "-w", str(wh))[0] == 0
    line = one_line(*cli("sql", "--as-of", first, "SELECT 1", "-w", str(wh)))
    assert f"run {first} is older than the warehouse's history" in line


class _SlowApi(BaseHTTPRequestHandler):
    """An arXiv API that takes 7 s to fail: each run's enrich stage outlasts the interval.
    `asked` is set when a request arrives: a run is in flight, waiting for its answer."""

    asked = Event()

    def do_GET(self) -> None:
        self.asked.set()
        time.sleep(7)
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.slow
def test_interrupted_runs_show_as_interrupted(tmp_path, monkeypatch):
    api = ThreadingHTTPServer(("127.0.0.1", 0), _SlowApi)
    Thread(target=api.serve_forever, daemon=True).start()
    env = {
        "ARXIV_DIGESTS_ARXIV_API_URL": f"http://127.0.0.1:{api.server_address[1]}/api/query",
        "ARXIV_DIGESTS_ARXIV_MAX_ATTEMPTS": "1",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    generate(tmp_path / "inbox", 1, 10, seed=5)
    wh = tmp_path / "wh"
    process = subprocess.Popen(
        [*CLI, "ingest", str(tmp_path / "inbox"), "-q", "-w", str(wh)],
        env=os.environ | {"PYTHONPATH": str(ROOT)} | env,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # until the load has committed: the run is enriching
        with contextlib.suppress(Exception):  # no catalog, or no tables declared yet
            if sql(wh, "SELECT count(*) FROM runs") == [(1,)]:
                break
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    api.shutdown()
    assert sql(wh, "SELECT status FROM runs") == [("running",)]
    ingest_flow_env = {k: v for k, v in env.items() if k != "PREFECT_HOME"}
    for name, value in ingest_flow_env.items():
        monkeypatch.setenv(name, value)
    result = run("ingest", str(tmp_path / "inbox"), "--no-enrich", "-q", "-w", str(wh), env=env)
    assert result.returncode == 0, result.stderr
    statuses = sql(wh, "SELECT status, message FROM runs ORDER BY started_at")
    assert statuses[0] == ("interrupted", "stopped before its last stage committed")
    assert statuses[1][0] == "ok"
    output = cli("runs", "-w", str(wh))[1]
    assert "interrupted" in output.splitlines()[-1]


@pytest.mark.slow
def test_a_schedule_never_overlaps_itself(tmp_path):
    """A run every 5 s of a flow that takes about 8: one run at a time, no ERROR line."""
    api = ThreadingHTTPServer(("127.0.0.1", 0), _SlowApi)
    Thread(target=api.serve_forever, daemon=True).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "ARXIV_DIGESTS_SERVER_PORT": port,
        "ARXIV_DIGESTS_ARXIV_API_URL": f"http://127.0.0.1:{api.server_address[1]}/api/query",
        "ARXIV_DIGESTS_ARXIV_MAX_ATTEMPTS": "1",
        "ARXIV_DIGESTS_ARXIV_BACKOFF_SECONDS": "0",
        "ARXIV_DIGESTS_ARXIV_DELAY_SECONDS": "0",
    }
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    generate(tmp_path / "inbox", 1, 10, seed=7)
    wh = tmp_path / "wh"
    serving = subprocess.Popen(
        [*CLI, "serve", "--interval", "5", "--inbox", str(tmp_path / "inbox"), "-w", str(wh)],
        env=environ | {"PYTHONPATH": str(ROOT)} | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []  # what serve printed, as it printed it
    reader = Thread(target=lambda: lines.extend(iter(serving.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        done = "SELECT 1 FROM runs WHERE status = 'ok'"
        while time.monotonic() < deadline:
            if (wh / "catalog.sqlite").exists() and len(_while_made(wh, done)) >= 3:
                break
            time.sleep(1)
        _SlowApi.asked.clear()
        assert _SlowApi.asked.wait(30), "no run asked the API after the third"
    finally:
        serving.send_signal(signal.SIGINT)
        serving.wait(timeout=60)
        reader.join(timeout=10)
        subprocess.run([*CLI, "server", "stop"], env=environ | env, check=False)
        api.shutdown()
    output = "".join(lines)  # the run in flight when serve stopped included
    spans = sql(wh, "SELECT started_at, ended_at FROM runs WHERE status = 'ok' ORDER BY 1")
    assert len(spans) >= 3, output
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(spans))
    assert "ERROR" not in output and "Traceback" not in output, output
    assert output.count("1 arXiv API request(s)") >= 3, output
    # The run in flight when serve stopped: one line of ours, no Prefect ERROR line.
    assert output.count("was stopped by a signal (serve stopping)") == 1, output
    assert output.splitlines()[-1] == "arxiv-digests: stopped serving ingest-digests/daily"


def _while_made(wh: Path, query: str) -> list[tuple]:
    """`query`'s rows, or none while the first run is still declaring the tables."""
    from warehouse.store import WarehouseError

    try:
        return sql(wh, query)
    except WarehouseError as exc:
        assert "is making them now" in str(exc), exc
        return []


def test_a_catalog_that_refuses_the_connection_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("ARXIV_DIGESTS_CATALOG", "postgresql://reader:s3cret@127.0.0.1:1/lake")
    generate(tmp_path / "inbox", 1, 5, seed=1)
    started = time.monotonic()
    line = one_line(*cli("ingest", str(tmp_path / "inbox"), "-w", str(tmp_path / "wh")))
    assert time.monotonic() - started < 5
    assert "Connection refused" in line and "PostgreSQL server is up" in line
    assert "s3cret" not in line and not (tmp_path / "wh").exists()


def test_mistakes_before_a_run_are_one_line_and_make_nothing(tmp_path):
    import subprocess

    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "cs.AI.md").write_text("# cs.AI\n")
    line = one_line(*cli("ingest", str(inbox), "-w", str(afile)))
    assert "is a file, not a folder" in line, line
    assert afile.read_text() == "mine"
    wh = tmp_path / "wh"
    line = one_line(*cli("ingest", "git+https://127.0.0.1:9/nothing.git", "-w", str(wh)), 2)
    assert "git ls-remote failed" in line and "nothing loaded" in line, line
    assert not wh.exists()
    repo = tmp_path / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    line = one_line(*cli("ingest", str(repo), "-w", str(wh)), 0)
    assert f"is a git repository: `git+file://{repo}` reads its history" in line, line
    assert not wh.exists()


def _serving(wh: Path) -> list[int]:
    """Pids of `serve --child` processes serving into `wh`."""
    pids = []
    for proc in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            words = (proc / "cmdline").read_bytes().split(b"\0")
            if b"--child" in words and str(wh).encode() in words:
                pids.append(int(proc.name))
    return pids


@pytest.mark.slow
def test_serve_killed_by_kill_9_leaves_no_schedule_running(tmp_path):
    """kill -9 (or the OOM killer) on `serve` cannot stop the runner it supervises: the runner
    notices within seconds and stops itself and its runs, instead of serving on as an orphan
    beside the next `serve`."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    env = {"PREFECT_HOME": str(tmp_path / "prefect"), "ARXIV_DIGESTS_SERVER_PORT": port}
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    environ |= {"PYTHONPATH": str(ROOT)} | env
    generate(tmp_path / "inbox", 1, 10, seed=7)
    wh = tmp_path / "wh"
    serving = subprocess.Popen(
        [*CLI, "serve", "--interval", "3", "--inbox", str(tmp_path / "inbox"), "-w", str(wh)],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not _serving(wh):
            time.sleep(0.5)
        assert _serving(wh), "serve never started its runner"
        serving.kill()
        serving.wait(timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and _serving(wh):
            time.sleep(0.5)
        left = _serving(wh)
        for pid in left:  # clean up before failing
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        assert left == [], "the runner served on after serve was killed"
    finally:
        subprocess.run([*CLI, "server", "stop"], env=environ, check=False, capture_output=True)


def _power_cut(serving: subprocess.Popen, wh: Path, prefect_home: Path) -> None:
    """Everything dies at once, as in a power cut: serve, its runner, its runs, the server."""
    pids = [serving.pid, *_serving(wh)]
    with contextlib.suppress(OSError, ValueError):
        pids.append(int((prefect_home / "arxiv-digests" / "server.pid").read_text().split()[0]))
    for pid in pids:
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    serving.wait(timeout=10)


@pytest.mark.slow
def test_serve_after_a_power_cut_mid_run_runs_again_and_catches_up_once(tmp_path):
    """A run killed with everything else holds the deployment's one-run slot for ever: every
    later scheduled run was cancelled. The next serve marks it crashed (one line), turns the
    runs missed meanwhile into one catch-up run (one line), and runs again."""
    api = ThreadingHTTPServer(("127.0.0.1", 0), _SlowApi)
    Thread(target=api.serve_forever, daemon=True).start()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    home = tmp_path / "prefect"
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PYTHONPATH": str(ROOT),
        "PREFECT_HOME": str(home),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "ARXIV_DIGESTS_SERVER_PORT": port,
        "ARXIV_DIGESTS_ARXIV_API_URL": f"http://127.0.0.1:{api.server_address[1]}/api/query",
        "ARXIV_DIGESTS_ARXIV_MAX_ATTEMPTS": "1",
    }
    generate(tmp_path / "inbox", 1, 10, seed=7)
    wh, out = tmp_path / "wh", tmp_path / "serve.txt"
    command = [*CLI, "serve", "--interval", "3", "--inbox", str(tmp_path / "inbox"), "-w", str(wh)]

    def serve() -> subprocess.Popen:
        assert subprocess.run([*CLI, "server", "start"], env=environ, check=False).returncode == 0
        with out.open("w") as sink:
            return subprocess.Popen(
                command, env=environ, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )

    try:
        _SlowApi.asked.clear()
        first = serve()
        assert _SlowApi.asked.wait(120), "no run asked the API"
        _power_cut(first, wh, home)
        time.sleep(7)  # runs scheduled every 3 s are missed meanwhile
        restarted_at = sql(wh, "SELECT max(started_at) FROM runs")[0][0]
        second = serve()
        deadline = time.monotonic() + 120
        newer = f"SELECT count(*) FROM runs WHERE status = 'ok' AND started_at > '{restarted_at}'"
        while time.monotonic() < deadline and not sql(wh, newer)[0][0]:
            time.sleep(1)
        second.send_signal(signal.SIGINT)
        second.wait(timeout=30)
    finally:
        subprocess.run([*CLI, "server", "stop"], env=environ, check=False, capture_output=True)
        api.shutdown()
    output = out.read_text()
    assert sql(wh, newer)[0][0] >= 1, output
    assert "1 run(s) left running by a serve that died: marked crashed" in output, output
    assert "were missed while nothing served: one run catches up for all of them" in output
    assert "ERROR" not in output and "Traceback" not in output, output
