"""The private parts of libraries the arXiv client uses, each wrapped in one place
(`flows/enrichment/api.py`): these tests fail loudly when an upgrade of `arxiv`, `requests` or
urllib3 moves one of them."""

from __future__ import annotations

import logging
import socket

import arxiv
import pytest
import requests
from arxiv_server import ArxivServer
from conftest import API_RESPONSES

from flows.enrichment.api import feed_of, format_url, socket_of


def test_the_arxiv_package_still_formats_our_request_url():
    client = arxiv.Client(page_size=100, delay_seconds=0, num_retries=0)
    client.query_url_format = "http://127.0.0.1:1/api/query?{}"
    search = arxiv.Search(id_list=["2403.15603", "hep-th/9901001"], max_results=2)
    url = format_url(client, search, 2)
    assert url.startswith("http://127.0.0.1:1/api/query?")
    assert "id_list=2403.15603%2Chep-th%2F9901001" in url and "max_results=2" in url


@pytest.mark.answers
def test_the_arxiv_package_still_parses_a_feed():
    body = (API_RESPONSES / "new2026_idlist_1605.08386_single_entry_comment.xml").read_bytes()
    feed = feed_of(body)
    assert not feed.malformed
    assert [r.entry_id for r in feed.results] == ["http://arxiv.org/abs/1605.08386v1"]
    assert isinstance(feed.results[0], arxiv.Result)


@pytest.mark.answers
def test_an_error_entry_is_left_out_without_a_warning(caplog: pytest.LogCaptureFixture):
    # arXiv answers a malformed ID with an entry whose ID is an error page: the package skips
    # it with a WARNING the terminal would show; the client handles that answer itself.
    body = (
        API_RESPONSES / "old2019_idlist_INVALIDID_malformed_HTTP400_error_entry.xml"
    ).read_bytes()
    with caplog.at_level(logging.DEBUG):
        feed = feed_of(body)
    assert feed.results == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    # A real entry that lacks a field is still reported.
    real = (API_RESPONSES / "new2026_idlist_1605.08386_single_entry_comment.xml").read_bytes()
    with caplog.at_level(logging.DEBUG):
        assert (
            feed_of(real.replace(b"<published>", b"<x>").replace(b"</published>", b"</x>")).results
            == []
        )
    assert any("missing <published>" in r.getMessage() for r in caplog.records)


def test_the_connection_socket_is_still_where_we_look():
    server, url = ArxivServer().start()
    try:
        response = requests.get(f"{url}?id_list=1605.08386", stream=True, timeout=5)
        sock = socket_of(response)
        assert isinstance(sock, socket.socket) and sock.fileno() >= 0
        response.close()
    finally:
        server.shutdown()
