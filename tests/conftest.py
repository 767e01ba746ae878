"""Shared fixtures: the real corpus, one Prefect test harness per session, and a fresh
warehouse per test."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from arxiv_server import ArxivServer
from hypothesis import settings

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


# Tests marked `corpus` read the digests, tests marked `answers` the recorded answers. Without
# them those tests skip, with one line saying how to get them, and the rest runs alone.
HAVE_CORPUS = (CORPUS / "MANIFEST.tsv").is_file() and DIGESTS.is_dir()
HAVE_ANSWERS = (API_RESPONSES.parent / "SOURCES.tsv").is_file() and API_RESPONSES.is_dir()
MISSING = (
    f"the real corpus or recorded answers are not at {SHARED}: `make corpus` fetches the "
    "digests from their public repositories (or set ARXIV_DIGESTS_TEST_SHARED to where both are)"
)


# Hypothesis profiles: `make check` runs a few examples per property (the inner loop), `make
# test` the full counts each test names (`examples`). HYPOTHESIS_PROFILE chooses; default ci.
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.register_profile("ci", deadline=None, print_blob=True)
settings.register_profile("check", deadline=None, print_blob=True)
settings.load_profile(PROFILE)


def examples(ci: int) -> int:
    """How many examples a property test tries: `ci` in the whole gate, a 20th (at least 20)
    in the inner loop."""
    return ci if PROFILE == "ci" else max(20, ci // 20)


def manifest() -> list[dict[str, str]]:
    """The corpus's manifest rows (none without the corpus: its tests skip)."""
    if not HAVE_CORPUS:
        return []
    with open(CORPUS / "MANIFEST.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def corpus_bytes(name: str) -> bytes:
    """A digest of the corpus, for module-level samples (empty without the corpus)."""
    return (DIGESTS / name).read_bytes() if HAVE_CORPUS else b""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "corpus: reads the real digests (../shared/corpus)")
    config.addinivalue_line("markers", "answers: reads the recorded API answers (../shared)")
    config.addinivalue_line("markers", "slow: left out of `make check` (servers, whole runs)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The slow tests first: on several workers the longest start at once, not last and alone.
    items.sort(key=lambda item: "slow" not in item.keywords)
    skip = pytest.mark.skip(reason=MISSING)
    for item in items:
        if ("corpus" in item.keywords and not HAVE_CORPUS) or (
            "answers" in item.keywords and not HAVE_ANSWERS
        ):
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    skipped = terminalreporter.stats.get("skipped", [])
    if not (HAVE_CORPUS and HAVE_ANSWERS) and skipped:
        terminalreporter.write_line(f"{len(skipped)} test(s) skipped: {MISSING}")


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
