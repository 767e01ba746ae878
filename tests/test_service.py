"""Operations through the real CLI, as an operator meets them: the managed Prefect server and a
schedule that fires, Ctrl-C to a process group, and one line for each systemic failure."""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import DIGESTS, EXAMPLES, ROOT
from helpers import VOLATILE, count, sql, table_hashes, tmpfs

from flows.digests.synthetic import generate
from schemas import TABLES
from warehouse.lake import Warehouse

CLI = [sys.executable, "-m", "flows"]


@pytest.fixture
def home(tmp_path) -> dict[str, str]:
    """An environment with a Prefect home of its own and no Prefect server configured."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ARXIV_"))}
    # A free port, not Prefect's 4200: another server (a user's, a parallel test's) may hold it.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    return environ | {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PYTHONPATH": str(ROOT),
        "ARXIV_DIGESTS_SERVER_PORT": port,
    }


def cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line or environment mentions `text`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            seen = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if text.encode() in seen and state != "Z":
            found.append(int(entry.name))
    return found


def gone(text: str, within: float) -> bool:
    """No process mentions `text` any more, within `within` seconds."""
    deadline = time.monotonic() + within
    while processes_mentioning(text):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


@pytest.mark.slow
def test_the_managed_server_runs_a_schedule_and_stops_clean(tmp_path, home):
    inbox, wh = tmp_path / "inbox", tmp_path / "wh"
    inbox.mkdir()
    started = cli("server", "start", env=home)
    try:
        assert started.returncode == 0 and "UI at http://127.0.0.1:" in started.stdout, started
        assert cli("server", "status", env=home).returncode == 0
        output = serve_until_loaded(inbox, wh, home)
        # Its load committed; stopped while enriching (the real API is out of reach here), the
        # run still says `running`, until the next run finds it interrupted.
        loaded = "SELECT count(*) FROM runs WHERE status IN ('ok', 'running')"
        assert sql(wh, loaded)[0][0] >= 1, output
    finally:
        stopped = cli("server", "stop", env=home)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert cli("server", "status", env=home).returncode == 1
    assert gone(home["PREFECT_HOME"], within=10)


def serve_until_loaded(inbox: Path, wh: Path, env: dict[str, str]) -> str:
    """`serve --interval 5` until a scheduled run loads a digest dropped into the inbox (60 s
    at most), then Ctrl-C to its process group: it must stop within 10 s, cleanly."""
    serve = subprocess.Popen(
        [*CLI, "serve", "--interval", "5", "--inbox", str(inbox), "-w", str(wh)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        time.sleep(3)
        (inbox / "cs.CL.md").write_text((EXAMPLES / "2026-11-23" / "cs.CL.md").read_text())
        deadline, loaded = time.monotonic() + 60, 0
        while time.monotonic() < deadline and not loaded:
            time.sleep(1)
            if Warehouse(wh).exists():
                try:
                    loaded = count(wh, "digest_entries")
                except Exception:  # the first run may still be declaring its tables
                    loaded = 0
    finally:
        stop_at = time.monotonic()
        os.killpg(serve.pid, signal.SIGINT)  # Ctrl-C in the terminal that runs it
        try:
            output, _ = serve.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(serve.pid, signal.SIGKILL)
            raise
    assert loaded == 2, f"no scheduled run loaded the digest within 60 s: {output}"
    assert time.monotonic() - stop_at < 10, output
    assert "Traceback" not in output and "stopped serving" in output, output
    deadline = time.monotonic() + 10  # nothing of it is left but the managed server
    while len(processes_mentioning(env["PREFECT_HOME"])) > 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(processes_mentioning(env["PREFECT_HOME"])) == 1
    return output


@pytest.mark.slow
def test_ctrl_c_to_the_process_group_stops_a_run_cleanly(tmp_path, home, prefect):
    """SIGINT (once SIGTERM) to the whole process group of an ingest of 400 digests, at
    random moments: the CLI exits within 10 s with 130 (143) and one line, leaves no
    process, and the next run's tables equal an undisturbed run's. The last trial runs on a
    temporary server of its own."""
    from prefect.settings import PREFECT_API_URL

    source, inbox, wh = tmp_path / "generated", tmp_path / "inbox", tmp_path / "wh"
    generate(source, 400, 30, seed=5)
    os.rename(source, inbox)
    harness = home | {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
    rng = random.Random(1201)
    command = [*CLI, "ingest", str(inbox), "--no-enrich", "-q", "-w", str(wh)]
    interrupted = 0
    for trial in range(7):
        env = (home if trial == 6 else harness) | {"ARXIV_DIGESTS_BATCH_FILES": "20"}
        process = subprocess.Popen(
            command,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        time.sleep(rng.uniform(1, 4) if trial == 6 else rng.uniform(1.0, 3.0))
        sent = time.monotonic()
        sig = signal.SIGTERM if trial == 3 else signal.SIGINT  # as `kill` or a supervisor
        os.killpg(process.pid, sig)
        _out, err = process.communicate(timeout=30)
        assert time.monotonic() - sent < 10, err
        if process.returncode == 0:  # it had finished: the next trial gets the whole load again
            shutil.rmtree(wh)
            continue
        assert process.returncode == 128 + sig, (process.returncode, err)
        interrupted += 1
        lines = [line for line in err.splitlines() if line.strip()]
        ours = [line for line in lines if line.startswith("arxiv-digests: interrupted")]
        assert len(ours) == 1, err
        assert "Traceback" not in err and "EventsWorker" not in err, err
        with pytest.raises(ProcessLookupError):
            os.killpg(process.pid, 0)  # not one process of its group is left
        if trial == 6:  # its temporary server is gone too, within the 10 s
            assert gone(home["PREFECT_HOME"], within=10 - (time.monotonic() - sent))
    assert interrupted >= 5
    done = cli("ingest", str(inbox), "--no-enrich", "-q", "-w", str(wh), env=harness)
    assert done.returncode == 0, done.stderr
    clean = tmp_path / "clean"
    cli("ingest", str(inbox), "--no-enrich", "-q", "-w", str(clean), env=harness)
    stopped, undisturbed = table_hashes(wh, VOLATILE), table_hashes(clean, VOLATILE)
    for name in TABLES:
        if name not in ("runs", "seen_files"):
            assert stopped[name] == undisturbed[name], name


def one_line(result: subprocess.CompletedProcess, code: int, *words: str) -> str:
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert "Traceback" not in output and "ERROR" not in output, output
    ours = [line for line in result.stderr.splitlines() if line.startswith("arxiv-digests:")]
    assert len(ours) == 1, output
    for word in words:
        assert word in ours[0], ours[0]
    return ours[0]


@pytest.fixture
def harness_env(home, prefect) -> dict[str, str]:
    from prefect.settings import PREFECT_API_URL

    return home | {"PREFECT_API_URL": str(PREFECT_API_URL.value())}


def test_a_warehouse_that_is_a_file(tmp_path, harness_env):
    target = tmp_path / "file"
    target.write_text("x")
    result = cli("ingest", str(EXAMPLES), "-w", str(target), "--no-enrich", env=harness_env)
    one_line(result, 1, str(target), "not a folder")


@pytest.fixture
def mounted(tmp_path):
    """A small tmpfs of our own (the tests run as root, who writes through permissions)."""
    with tmpfs(tmp_path / "mnt", "16m") as point:  # the corpus's warehouse with its index fits
        yield point


@pytest.mark.slow
@pytest.mark.corpus
def test_a_read_only_warehouse(mounted, harness_env):
    wh = mounted / "wh"
    assert (
        cli("ingest", str(EXAMPLES), "-w", str(wh), "--no-enrich", env=harness_env).returncode == 0
    )
    subprocess.run(["mount", "-o", "remount,ro", str(mounted)], check=True)
    result = cli("ingest", str(DIGESTS), "-w", str(wh), "--no-enrich", env=harness_env)
    one_line(result, 1, str(wh))
    assert count(wh, "digest_entries") == 5  # readers still read it


@pytest.mark.slow
@pytest.mark.corpus
def test_a_full_disk(mounted, harness_env, tmp_path):
    wh = mounted / "wh"
    filler = mounted / "filler"
    filler.write_bytes(b"\0" * (16 * 1024 * 1024 - 400 * 1024))  # leave a little room
    result = cli("ingest", str(DIGESTS), "-w", str(wh), "--no-enrich", env=harness_env)
    line = one_line(result, 1)
    assert "disk is full" in line or "space" in line, line
    filler.unlink()
    again = cli("ingest", str(DIGESTS), "-w", str(wh), "--no-enrich", env=harness_env)
    assert again.returncode == 0, again.stderr
    assert count(wh, "digest_entries") == 2641


@pytest.mark.slow
def test_a_failed_run_on_a_temporary_server_ends_with_its_one_line(home):
    """With no server up, a failed run's queued logs and events are sent before its temporary
    server stops: nothing follows the one-line error (Prefect printed `--- Error logging to
    API ---` there). /proc, a filesystem with no space at all, is not a full disk."""
    result = cli("ingest", str(EXAMPLES), "-w", "/proc/nope/wh", "--no-enrich", env=home)
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert all(line.startswith("arxiv-digests:") for line in lines), result.stderr
    assert "starting a temporary one" in lines[0]
    assert len(lines) == 2 and "/proc/nope/wh" in lines[1], result.stderr
    assert "full" not in lines[1], lines[1]


@pytest.mark.slow
def test_a_locked_warehouse_names_its_holder(tmp_path, harness_env):
    store = Warehouse(tmp_path / "wh")
    env = harness_env | {"ARXIV_DIGESTS_LOCK_TIMEOUT_SECONDS": "2"}
    with store.lock(60, "run X (pid 1)"):
        result = cli("ingest", str(EXAMPLES), "-w", str(store.root), "--no-enrich", env=env)
    one_line(result, 1, "run X (pid 1)", "ARXIV_DIGESTS_LOCK_TIMEOUT_SECONDS")
    waiting = [line for line in result.stderr.splitlines() if "waiting up to 2 s" in line]
    assert len(waiting) == 1 and "run X (pid 1)" in waiting[0]


def test_an_invalid_setting_names_the_variable(tmp_path, home):
    env = home | {"ARXIV_DIGESTS_BATCH_FILES": "abc"}
    result = cli("ingest", str(EXAMPLES), "-w", str(tmp_path / "wh"), env=env, timeout=60)
    one_line(result, 1, "ARXIV_DIGESTS_BATCH_FILES='abc'", "integer")


def test_an_unknown_variable_is_a_warning_with_the_closest_name(tmp_path, home):
    env = home | {"ARXIV_DIGESTS_BATCH_FILE": "10"}
    result = cli("config", env=env, timeout=60)
    assert result.returncode == 0
    warnings = [line for line in result.stderr.splitlines() if "ARXIV_DIGESTS_BATCH_FILE " in line]
    assert len(warnings) == 1 and "did you mean ARXIV_DIGESTS_BATCH_FILES?" in warnings[0]


@pytest.mark.slow
@pytest.mark.corpus
def test_a_file_name_that_cannot_be_decoded_is_a_reject(tmp_path, harness_env):
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    bad = os.path.join(os.fsencode(inbox), b"caf\xe9.md")
    with open(bad, "wb") as handle:
        handle.write((DIGESTS / "000_35d916e6e3a253ef.txt").read_bytes())
    (inbox / "good.md").write_bytes((EXAMPLES / "2026-11-23" / "cs.CL.md").read_bytes())
    wh = tmp_path / "wh"
    result = cli("ingest", str(inbox), "-w", str(wh), "--no-enrich", env=harness_env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "caf\\xe9.md" in result.stderr and "undecodable_name" in result.stderr
    assert count(wh, "digest_entries") == 2
    rejects = sql(wh, "SELECT source, stage, rule FROM rejects")
    assert rejects == [(f"{inbox}/caf\\xe9.md", "read", "undecodable_name")]
    assert sql(wh, "SELECT files_seen, files_rejected FROM runs") == [(2, 1)]


def test_kill_9_of_the_cli_leaves_no_temporary_server(tmp_path, home):
    process = subprocess.Popen(
        [*CLI, "ingest", str(EXAMPLES), "-w", str(tmp_path / "wh"), "--no-enrich", "-q"],
        env=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(processes_mentioning(home["PREFECT_HOME"])) < 2:
        time.sleep(0.2)  # until its temporary server is up
    assert len(processes_mentioning(home["PREFECT_HOME"])) >= 2
    process.kill()
    process.wait()
    assert gone(home["PREFECT_HOME"], within=10)
