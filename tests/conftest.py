"""Shared fixtures: the real corpus, one Prefect test harness per session, and a fresh
warehouse per test."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The real corpus and recorded answers sit beside the project (../shared), as on CI.
SHARED = Path(os.environ.get("ARXIV_DIGESTS_TEST_SHARED", ROOT.parent / "shared"))
CORPUS = SHARED / "corpus"
DIGESTS = CORPUS / "digests"
API_RESPONSES = SHARED / "arxiv-api" / "responses"
EXAMPLES = ROOT / "examples" / "inbox"

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


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
