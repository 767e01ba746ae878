"""A local HTTP server that speaks the arXiv API protocol (`/api/query?id_list=…`) for any ID
list, in the formats of the recorded answers (current and legacy server), with switchable
faults. It keeps a log of every request it answered, for tests to count and time."""

from __future__ import annotations

import html
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# The server's own ID check (arxiv-base's loose regex, see BEHAVIOR.md §5).
_WELL_FORMED = re.compile(r"^(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?$")

NEW_HEAD = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/UY2mqR74Vu/gU683o8Kx4P2K0xU</id>
  <title>arXiv Query: search_query=&amp;id_list={ids}&amp;start=0&amp;max_results={n}</title>
  <updated>2026-04-12T22:10:19Z</updated>
  <link href="https://arxiv.org/api/query?search_query=&amp;id_list={ids}" type="application/atom+xml"/>
  <opensearch:itemsPerPage>{n}</opensearch:itemsPerPage>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
"""
NEW_ENTRY = """  <entry>
    <id>http://arxiv.org/abs/{id}v{version}</id>
    <title>{title}</title>
    <updated>2024-03-25T17:59:46Z</updated>
    <link href="https://arxiv.org/abs/{id}v{version}" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/{id}v{version}" rel="related" type="application/pdf" title="pdf"/>
    <summary>{summary}</summary>
    <category term="{primary}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="stat.ML" scheme="http://arxiv.org/schemas/atom"/>
    <published>2024-03-22T17:59:46Z</published>
    <arxiv:comment>20 pages, 3 figures</arxiv:comment>
    <arxiv:primary_category term="{primary}"/>
    <author>
      <name>Caprice Stanley</name>
      <arxiv:affiliation>University of Kentucky</arxiv:affiliation>
    </author>
    <author>
      <name>Tobias Windisch</name>
    </author>
  </entry>
"""
OLD_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <link href="http://arxiv.org/api/query?search_query%3D%26id_list%3D{ids}" rel="self" type="application/atom+xml"/>
  <title type="html">ArXiv Query: search_query=&amp;id_list={ids}&amp;start=0&amp;max_results={n}</title>
  <id>http://arxiv.org/api/bNB5RPNlUYbELau5YJ4IzaIq1x8</id>
  <updated>2019-01-04T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{total}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{n}</opensearch:itemsPerPage>
"""
OLD_ENTRY = """  <entry>
    <id>http://arxiv.org/abs/{id}v{version}</id>
    <updated>2017-10-24T00:21:32Z</updated>
    <published>2017-10-24T00:21:32Z</published>
    <title>{title}</title>
    <summary>  {summary}
</summary>
    <author>
      <name>Hiroshi Ishiguro</name>
      <arxiv:affiliation xmlns:arxiv="http://arxiv.org/schemas/atom">Osaka University</arxiv:affiliation>
    </author>
    <arxiv:doi xmlns:arxiv="http://arxiv.org/schemas/atom">10.1186/s12984-017-0305-3</arxiv:doi>
    <link title="doi" href="http://dx.doi.org/10.1186/s12984-017-0305-3" rel="related"/>
    <arxiv:journal_ref xmlns:arxiv="http://arxiv.org/schemas/atom">Journal of NeuroEngineering and Rehabilitation 14 (2017) 110</arxiv:journal_ref>
    <link href="http://arxiv.org/abs/{id}v{version}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{id}v{version}" rel="related" type="application/pdf"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="{primary}" scheme="http://arxiv.org/schemas/atom"/>
    <category term="{primary}" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
"""
ERROR_400 = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
  <id>https://arxiv.org/</id>
  <title>arXiv Search Results</title>
  <updated>2026-04-12T22:10:19Z</updated>
  <opensearch:totalResults>1</opensearch:totalResults>
  <entry>
    <id>https://arxiv.org/api/errors#incorrect_id_format_for_{id}</id>
    <title>Error</title>
    <summary>incorrect id format for {id}</summary>
    <updated>2026-04-12T22:10:19Z</updated>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>
"""


@dataclass
class Request:
    at: float  # time.monotonic() when the request arrived
    ids: list[str]
    status: int  # 0 while being answered; -1 if the client hung up first
    user_agent: str = ""


@dataclass
class ArxivServer:
    """`known`: id -> latest version (None: every well-formed ID exists, version 1)."""

    known: dict[str, int] | None = None
    generation: str = "new"
    faults: list[str] = field(default_factory=list)  # consumed one per request
    hang_seconds: float = 5.0
    log: list[Request] = field(default_factory=list)
    primaries: dict[str, str] = field(default_factory=dict)  # id -> primary (default cs.LG)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def feed(self, ids: list[str], blank_titles: bool = False) -> bytes:
        head, entry = (NEW_HEAD, NEW_ENTRY) if self.generation == "new" else (OLD_HEAD, OLD_ENTRY)
        found = []
        for ident in ids:
            base = re.sub(r"v\d+$", "", ident)
            version = 1 if self.known is None else self.known.get(base)
            if version is None:
                continue  # unknown IDs are silently left out, as the real API does
            found.append(
                entry.format(
                    id=base,
                    version=version,
                    title="" if blank_titles else html.escape(f"Paper {base}: a study of  things"),
                    summary=html.escape(f"We study {base}.\n  It is   interesting."),
                    primary=self.primaries.get(
                        base, "cs.LG" if "/" not in base else base.split("/")[0]
                    ),
                )
            )
        text = head.format(ids=html.escape(",".join(ids)), n=len(ids), total=len(found))
        return (text + "".join(found) + "</feed>\n").encode()

    def start(self) -> tuple[ThreadingHTTPServer, str]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}/api/query"


def _handler(state: ArxivServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/atom+xml") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            query = parse_qs(urlparse(self.path).query)
            ids = [i for i in ",".join(query.get("id_list", [""])).split(",") if i]
            agent = self.headers.get("User-Agent", "")
            request = Request(
                time.monotonic(), ids, 0, agent
            )  # logged on arrival; status when sent
            with state.lock:
                fault = state.faults.pop(0) if state.faults else None
                state.log.append(request)
            status = 200
            bad = next((i for i in ids if not _WELL_FORMED.match(i)), None)
            if fault == "bad_id_400" and ids:
                bad = ids[0]
            try:
                if bad is not None:
                    status = 400
                    self._send(400, ERROR_400.format(id=html.escape(bad)).encode())
                elif fault in ("503", "429", "500"):
                    status = int(fault)
                    self._send(status, b"<html><body>Rate exceeded.</body></html>", "text/html")
                elif fault == "hang":
                    time.sleep(state.hang_seconds)
                    self._send(200, state.feed(ids))
                elif fault == "truncate":
                    body = state.feed(ids)
                    self._send(200, body[: len(body) // 2])
                elif fault == "empty":
                    self._send(200, ArxivServer(known={}).feed(ids))
                elif fault == "bomb":  # billion laughs: must not be expanded
                    lol = '<!ENTITY a0 "lol">' + "".join(
                        f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10)
                    )
                    body = (
                        state.feed(ids)
                        .replace(b"<feed", f"<!DOCTYPE feed [{lol}]>\n<feed".encode(), 1)
                        .replace(b"<summary>", b"<summary>&a9;", 1)
                    )
                    self._send(200, body)
                elif fault == "huge":  # 100 MB: read no further than the client's cap
                    self.send_response(200)
                    self.send_header("Content-Type", "application/atom+xml")
                    self.end_headers()
                    head = state.feed(ids)[:200]
                    self.wfile.write(head)
                    block = b" " * (1024 * 1024)
                    for _ in range(100):
                        self.wfile.write(block)
                elif fault == "wrong_ids":
                    self._send(200, state.feed([f"2101.{n:05d}" for n in range(len(ids))]))
                elif fault == "drip":  # a byte at a time, each read within the timeout
                    self.send_response(200)
                    self.send_header("Content-Type", "application/atom+xml")
                    self.end_headers()
                    for byte in state.feed(ids):
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.05)
                elif fault == "future":
                    self._send(200, state.feed(ids).replace(b"<published>2024", b"<published>2099"))
                elif fault == "blank_title":
                    self._send(200, state.feed(ids, blank_titles=True))
                elif fault == "html":
                    self._send(
                        200, b"<!DOCTYPE html><html><body>Maintenance</body></html>", "text/html"
                    )
                else:
                    self._send(200, state.feed(ids))
            except OSError:  # the client gave up (timeout): what a real server sees too
                status = -1
            finally:
                request.status = status

    return Handler
