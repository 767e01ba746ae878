"""Shared fixtures: the real corpus, one Prefect test harness per session, and a fresh
warehouse per test."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from arxiv_server import ArxivServer

ROOT = Path(__file__).resolve().parent.parent
# The real corpus and recorded answers sit beside the project (../shared), as on CI.
SHARED = Path(os.environ.get("ARXIV_DIGESTS_TEST_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
DIGESTS = CORPUS / "digests"
API_RESPONSES = SHARED / "arxiv-api" / "responses"
EXAMPLES = ROOT / "examples" / "inbox"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")
# Tests write their inputs a moment before they load them: no quiet window, except in the
# tests of the window itself (which set it).
os.environ.setdefault("ARXIV_DIGESTS_QUIET_SECONDS", "0")


def manifest() -> list[dict[str, str]]:
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.fixture(scope="session")
def prefect() -> Iterator[None]:
    """One temporary Prefect API for every flow test (starting one costs seconds)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture
def api(monkeypatch):
    """Start a server; point the product at it with fast, still-bounded settings."""
    servers = []

    def start(**kwargs):
        state = ArxivServer(**kwargs)
        server, url = state.start()
        servers.append(server)
        monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_API_URL", url)
        return state

    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_DELAY_SECONDS", "0.05")
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_BACKOFF_SECONDS", "0.05")
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("ARXIV_DIGESTS_ARXIV_MAX_ATTEMPTS", "3")
    yield start
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 server on 127.0.0.1 for the whole session."""
    from services import S3Server

    server = S3Server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres():
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the whole session."""
    from services import Postgres

    cluster = Postgres()
    yield cluster
    cluster.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """The standard AWS variables pointing at the S3 server, for this process and the
    commands it starts."""
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return s3_server
