"""A run whose Prefect server dies: the command says so in one line within the watch's limit
and ends, its exit saying whether the run committed; nothing floods the terminal."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import ROOT
from helpers import count, sql

from flows.digests.synthetic import generate
from warehouse.store import WarehouseError

pytestmark = pytest.mark.slow
WATCH = 3


def children_serving(parent: int) -> list[int]:
    """The `prefect server start` processes `parent` started."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == parent and b"server\0start" in command:
            found.append(int(entry.name))
    return found


def cli_env(tmp_path: Path, watch: int = WATCH) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")} | {
        "PREFECT_HOME": str(tmp_path / "prefect"),  # no managed server: a temporary one
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "ARXIV_DIGESTS_SERVER_WATCH_SECONDS": str(watch),
        "ARXIV_DIGESTS_BATCH_FILES": "10",
        "PYTHONPATH": str(ROOT),
    }


def kill_server_of(process: subprocess.Popen) -> tuple[int, str, float]:
    """Kill the temporary server `process` started; its exit, output and time to end."""
    servers = children_serving(process.pid)
    assert servers, "no temporary server"
    for pid in servers:
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    output = process.communicate(timeout=60)[0].decode()
    return process.returncode, output, time.monotonic() - killed


@pytest.mark.parametrize("seed", [1, 2])
def test_a_dead_server_ends_the_command_in_one_line(tmp_path, seed):
    generate(tmp_path / "inbox", 300, 40, seed=seed)
    wh = tmp_path / "wh"
    command = [sys.executable, "-m", "flows", "ingest", str(tmp_path / "inbox"), "--no-enrich"]
    process = subprocess.Popen(
        [*command, "-q", "-w", str(wh)],
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 180
    while not (wh / "catalog.sqlite").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(random.Random(seed).uniform(0, 1.5))
    code, output, took = kill_server_of(process)
    assert took < WATCH + 30, output
    assert "Traceback" not in output and len(output.splitlines()) <= 6, output
    if code == 0:  # it had committed: its rows are there
        assert count(wh, "digest_entries") > 0
        assert sql(wh, "SELECT count(*) FROM runs") == [(1,)]
    else:
        assert code == 1, output
        assert "stopped answering" in output and "nothing of it was committed" in output, output
        assert sql(wh, "SELECT count(*) FROM digest_entries") == [(0,)]


def test_a_dead_server_after_the_load_committed_exits_0_saying_so(tmp_path, api):
    generate(tmp_path / "inbox", 20, 40, seed=3)
    api()
    wh = tmp_path / "wh"
    # A loaded machine's server can be slow to answer for a few seconds: a longer watch, so
    # only the kill below ends the run (the one-line test above takes either outcome).
    watch = 4 * WATCH
    env = cli_env(tmp_path, watch) | {"ARXIV_DIGESTS_ARXIV_DELAY_SECONDS": "0.5"}  # long enrich
    command = [sys.executable, "-m", "flows", "ingest", str(tmp_path / "inbox"), "-q"]
    process = subprocess.Popen(
        [*command, "-w", str(wh)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # the load committed: its runs row is there
        assert process.poll() is None, process.communicate()[0].decode()
        time.sleep(0.2)
        with contextlib.suppress(WarehouseError, duckdb.Error):  # a catalog being made
            if sql(wh, "SELECT count(*) FROM runs") == [(1,)]:
                break
    code, output, took = kill_server_of(process)
    assert took < watch + 30 and "Traceback" not in output, output
    assert code == 0 and "committed its load" in output, output
    loaded = sql(wh, "SELECT entries_loaded FROM runs")[0][0]
    assert loaded > 0 and count(wh, "digest_entries") == loaded
