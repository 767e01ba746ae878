"""The one place that talks to the arXiv API.

URLs and feed parsing come from the `arxiv` package (pinned: 4.0.2, whose private URL builder
and parser we use); the HTTP request is ours, because the package sets no timeout, retries
everything (400s included) at a fixed delay and hides the error body. One `Limiter` per process
keeps arXiv's terms: one request in flight, at least `delay` seconds between request starts.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from schemas.errors import ArxivDigestsError
from schemas.ids import versionless

# `arxiv` and `requests` are imported where a request is made: a run that asks the API for
# nothing (no new papers, or --no-enrich) does not pay their 0.3 s of imports.
if TYPE_CHECKING:
    import arxiv
    import requests


_ERROR_ID = re.compile(r"incorrect id format for (?P<id>[^\s<]+)")


# 100 entries of the real API are about 300 KB; anything far larger is not an answer to us.
MAX_ANSWER_BYTES = 20 * 1024 * 1024


class ApiError(ArxivDigestsError):
    """A request that may succeed later (throttled, down, slow, or a damaged answer)."""

    url: str
    reason: str
    unreachable: bool

    def __init__(self, url: str, reason: str, *, unreachable: bool = False):
        super().__init__(f"{reason} ({url})", url=url, reason=reason, unreachable=unreachable)


class BadIdError(ArxivDigestsError):
    """HTTP 400: the API refused the whole request because of one malformed ID."""

    url: str
    bad_id: str | None

    def __init__(self, url: str, bad_id: str | None, message: str):
        super().__init__(message, url=url, bad_id=bad_id)


class Limiter:
    """At most one request in flight, and `delay` seconds from the end of one request to the
    start of the next: so at least `delay` between request starts, as the server sees them
    too (a connection set-up delays a request's arrival, never the next one's start)."""

    def __init__(self, delay: float):
        self.delay = delay
        self._lock = threading.Lock()
        self._last_request = float("-inf")

    def __enter__(self) -> Limiter:
        self._lock.acquire()
        wait = self._last_request + self.delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_request = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self._last_request = time.monotonic()
        self._lock.release()


@dataclass
class Answer:
    """What one request returned: the papers found, by versionless ID."""

    results: dict[str, arxiv.Result] = field(default_factory=dict)


class ArxivClient(Protocol):
    """What enrichment asks of the arXiv API: one request for up to 100 IDs at a time."""

    requests: int  # requests made so far
    # Whether an answer is final: an ID missing from it is not found, with no retry and no
    # confirming request (recorded answers say the same thing every time; the live API can
    # serve an empty page by mistake).
    final: bool

    def fetch(self, ids: list[str]) -> Answer:
        """The papers of `ids` the API knows. Raises ApiError (retry later) or BadIdError."""
        ...


class ArxivApi:
    """The live HTTP API, through the `arxiv` package's URL format and feed parser, with its
    own limiter (one request in flight, spaced by the delay)."""

    final = False

    def __init__(self, url: str, timeout: float, limiter: Limiter, contact: str):
        self.url = url
        self.timeout = timeout
        self.limiter = limiter
        self.contact = contact
        self.requests = 0

    @functools.cached_property
    def session(self) -> requests.Session:
        """One HTTP session (kept-alive connections) with the User-Agent arXiv asks for."""
        from importlib.metadata import version

        import requests

        session = requests.Session()
        session.headers["User-Agent"] = (
            f"arxiv-digests/{version('arxiv-digests')} (+{self.contact}) "
            f"arxiv.py/{version('arxiv')}"
        )
        return session

    @functools.cached_property
    def _client(self) -> arxiv.Client:
        import arxiv

        client = arxiv.Client(page_size=100, delay_seconds=0, num_retries=0)
        client.query_url_format = self.url + "?{}"
        return client

    def query_url(self, ids: list[str]) -> str:
        """The request URL for `ids`, as the `arxiv` package builds it."""
        import arxiv

        search = arxiv.Search(id_list=ids, max_results=len(ids))
        return format_url(self._client, search, len(ids))

    def _read(self, url: str, response: requests.Response) -> bytes:
        """The body, bounded in size and in total time: `timeout` alone bounds each read, so a
        server dripping a byte at a time could otherwise hold the run for ever."""
        import requests

        # A read blocks until its chunk is full, so the deadline is enforced from outside:
        # a timer closes the connection, which ends the blocked read.
        started = time.monotonic()
        watchdog = threading.Timer(self.timeout, _abort, [response])
        watchdog.start()
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise ApiError(url, f"answer larger than {MAX_ANSWER_BYTES} bytes")
                chunks.append(chunk)
        except (requests.RequestException, OSError) as exc:
            raise ApiError(url, f"answer broken off: {type(exc).__name__}") from exc
        finally:
            watchdog.cancel()
            response.close()
        if time.monotonic() - started >= self.timeout:
            raise ApiError(url, f"answer took longer than {self.timeout:g} s")
        return b"".join(chunks)

    def fetch(self, ids: list[str]) -> Answer:
        """One request for `ids`. Raises ApiError (retry later) or BadIdError (400)."""
        import requests

        url = self.query_url(ids)
        with self.limiter:
            self.requests += 1
            try:
                response = self.session.get(url, timeout=self.timeout, stream=True)
                body = self._read(url, response)
            except requests.ConnectionError as exc:
                raise ApiError(
                    url, f"cannot connect: {type(exc).__name__}", unreachable=True
                ) from exc
            except requests.RequestException as exc:
                raise ApiError(url, f"request failed: {type(exc).__name__}") from exc
        if response.status_code == 400:
            text = body.decode("utf-8", errors="replace")
            match = _ERROR_ID.search(text)
            bad = match.group("id") if match else None
            raise BadIdError(url, bad, f"HTTP 400: {match.group(0) if match else 'bad request'}")
        if response.status_code != 200:
            raise ApiError(url, f"HTTP {response.status_code}")
        return parse_answer(url, body)


# --- the private parts of libraries this module uses, each in one place -----------------------
# tests/test_arxiv_source.py fails loudly when an upgrade moves one of them.


def format_url(client: arxiv.Client, search: arxiv.Search, count: int) -> str:
    """The request URL the `arxiv` package itself would send (its query encoding, kept
    exactly), from its private `Client._format_url`: the package has no public way to build a
    URL without also sending the request through its own retry loop."""
    return str(client._format_url(search, 0, count))


class _ErrorEntries(logging.Filter):
    """The package warns that it skips an entry whose ID is one of arXiv's error pages (the
    answer to a malformed ID): the client handles those answers itself (a 400 isolates the ID,
    a missing ID is confirmed then `not_found`), so the warning is noise on the terminal."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "arxiv.org/api/errors" not in record.getMessage()


def feed_of(body: bytes) -> Any:
    """The `arxiv` package's own Atom parser (private `arxiv._feed`), so that results are the
    package's `arxiv.Result` objects, parsed as it parses them."""
    from arxiv import _feed

    if not any(isinstance(f, _ErrorEntries) for f in _feed.logger.filters):
        _feed.logger.addFilter(_ErrorEntries())
    return _feed.parse(body)


def socket_of(response: requests.Response) -> socket.socket | None:
    """The connection's socket: urllib3 hands it to http.client's response, at
    `raw._fp.fp.raw._sock` (private attributes of both)."""
    sock: Any = response.raw
    for attribute in ("_fp", "fp", "raw", "_sock"):
        sock = getattr(sock, attribute, None)
    return sock if isinstance(sock, socket.socket) else None


def _abort(response: requests.Response) -> None:
    """Shut the socket down: unlike close(), this wakes a read blocked in another thread."""
    sock = socket_of(response)
    with contextlib.suppress(OSError):
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)


def parse_answer(url: str, body: bytes) -> Answer:
    """A 200 answer -> results by ID; a damaged answer (not Atom, cut short) raises ApiError.
    The package's parser recovers silently from both, so they are checked here first."""
    head = body[:2048].lstrip()
    if b"<feed" not in head or b"http://www.w3.org/2005/Atom" not in head:
        raise ApiError(url, "answer is not an Atom feed")
    if not body.rstrip().endswith(b"</feed>"):
        raise ApiError(url, "answer is cut short (no </feed>)")
    feed = feed_of(body)
    if feed.malformed:
        raise ApiError(url, f"malformed feed: {feed.error}")
    answer = Answer()
    for result in feed.results:
        ident, _ = versionless(result.entry_id)
        answer.results[ident] = result
    return answer
