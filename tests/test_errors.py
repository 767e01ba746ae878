"""Every error the product raises on purpose shares one base, and survives pickling (a parse
worker process or a Prefect result hands it on) with its message and its context."""

from __future__ import annotations

import pickle

import pytest

from flows.digests.guard import ParseTimeout
from flows.enrichment.api import ApiError, BadIdError
from flows.operations.server import ServerError
from schemas.errors import ArxivDigestsError
from warehouse.extensions import ExtensionMissing
from warehouse.lake import WarehouseDamaged, WarehouseError, WarehouseLocked
from warehouse.query import ReadOnlyViolation

ERRORS = [
    ApiError("http://127.0.0.1/api", "HTTP 503", unreachable=True),
    BadIdError("http://127.0.0.1/api", "2403.1", "HTTP 400: incorrect id format for 2403.1"),
    ParseTimeout(512),
    ServerError("no free port"),
    ExtensionMissing("no ducklake wheel"),
    WarehouseError("cannot write"),
    WarehouseLocked("held by run x"),
    WarehouseDamaged("data/x.parquet is missing"),
    ReadOnlyViolation("refused: COPY"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_errors_share_a_base_and_survive_pickling(error):
    assert isinstance(error, ArxivDigestsError)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error)
    assert str(again) == str(error) and again.context == error.context
    for name, value in error.context.items():
        assert getattr(again, name) == value


def test_context_is_kept_on_the_instance():
    error = ApiError("http://127.0.0.1/api", "HTTP 503", unreachable=True)
    assert (error.url, error.reason, error.unreachable) == (
        "http://127.0.0.1/api",
        "HTTP 503",
        True,
    )
    assert str(error) == "HTTP 503 (http://127.0.0.1/api)"
    assert ParseTimeout(7).line == 7
