"""The enrich stage: work the queue (`enrichment`, its rules in `flows.enrichment.queue`)
through the arXiv API, and store the papers.

Entries never wait on the API: they are published first, and every distinct arxiv_id gets an
`enrichment` row (`pending` until the API answers). A paper already enriched is not asked for
again unless a digest announces a newer version than the one we hold.
"""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from flows.digests.rejects import WHOLE_ROW, Where, failure_rejects
from flows.enrichment.api import Answer, ApiError, ArxivApi, ArxivClient, BadIdError, Limiter
from flows.enrichment.queue import answers_table
from flows.enrichment.recorded import RecordedArxiv
from flows.settings import Settings
from schemas.ids import versionless
from schemas.tables import PAPER_AUTHORS, PAPER_CATEGORIES, PAPERS, REJECTS
from schemas.validate import validate
from warehouse import queue as statements
from warehouse.lake import Lake
from warehouse.queue import pending_count, record_answers
from warehouse.writes import replace_papers

if TYPE_CHECKING:
    import arxiv

log = logging.getLogger(__name__)


def _collapse(text: str | None) -> str | None:
    return " ".join(text.split()) if text and text.strip() else None


def paper_row(result: arxiv.Result, fetched_at: datetime) -> dict[str, Any]:
    """An API result as a `papers` row."""
    ident, version = versionless(result.entry_id)
    return {
        "arxiv_id": ident,
        "latest_version": version or 1,
        "title": _collapse(result.title),
        "abstract": _collapse(result.summary),
        "authors": [
            {"name": _collapse(a.name), "affiliations": [x for x in a.affiliation if x.strip()]}
            for a in result.authors
        ],
        "primary_category": result.primary_category or None,
        "categories": [
            c for c in dict.fromkeys([result.primary_category, *result.categories]) if c
        ],
        "published": result.published,
        "updated": result.updated,
        "doi": _collapse(result.doi),
        "journal_ref": _collapse(result.journal_ref),
        "comment": _collapse(result.comment),
        "pdf_url": result.pdf_url,
        "fetched_at": fetched_at,
    }


def _explode(papers: pa.Table, column: str) -> tuple[pa.Array, pa.Array, pa.Array]:
    """A list column -> (parent row of each item, the items, 1-based position in its list)."""
    lists = papers.column(column).combine_chunks()
    parents = pc.list_parent_indices(lists)
    starts = pc.subtract(lists.offsets[:-1], lists.offsets[0])
    positions = pc.add(
        pc.subtract(pa.array(range(len(parents)), pa.int64()), pc.take(starts, parents)), 1
    )
    return parents, pc.list_flatten(lists), positions


def flatten(papers: pa.Table) -> tuple[pa.Table, pa.Table]:
    """papers -> (paper_authors, paper_categories), one row per list item, in Arrow."""
    parents, authors, positions = _explode(papers, "authors")
    paper_authors = pa.table(
        {
            "arxiv_id": pc.take(papers.column("arxiv_id"), parents),
            "position": positions,
            "name": authors.field("name"),
            "affiliations": authors.field("affiliations"),
        }
    )
    parents, categories, _ = _explode(papers, "categories")
    paper_categories = pa.table(
        {
            "arxiv_id": pc.take(papers.column("arxiv_id"), parents),
            "category": categories,
            "is_primary": pc.equal(categories, pc.take(papers.column("primary_category"), parents)),
        }
    )
    return paper_authors.cast(PAPER_AUTHORS.schema), paper_categories.cast(PAPER_CATEGORIES.schema)


@dataclass
class EnrichStats:
    """What an enrich stage did: requests, papers, what is still pending, and its rejects."""

    requests: int = 0
    enriched: int = 0
    pending: int = 0
    warning: str | None = None
    rejects: list[dict[str, Any]] = field(default_factory=list)


class Batcher:
    """Works the due IDs through the API: retries with exponential back-off, isolates malformed
    IDs, confirms the run's absences once, together at the end (ceil(absent / 100) requests,
    not one per batch that had one), and stops early when the API is unreachable or the time
    budget is spent (what is left stays pending for the next run)."""

    def __init__(
        self,
        api: ArxivClient,
        settings: Settings,
        sleep: Callable[[float], None],
        budget: float | None = None,
    ):
        self.api, self.settings, self.sleep = api, settings, sleep
        self.found: dict[str, arxiv.Result] = {}
        self.outcome: dict[str, tuple[str, str | None]] = {}  # id -> (state, error)
        seconds = settings.arxiv_max_seconds if budget is None else budget
        self.deadline = time.monotonic() + seconds
        self.stopped: str | None = None
        self.absent: list[str] = []  # left out of a first answer: asked once more at the end
        self.pause_at = float("inf")  # no new request after this: the answers get committed

    def clear(self, pause_at: float = float("inf")) -> None:
        """Forget the answers of the IDs worked so far (committed), keeping the deadline; ask
        for nothing new after `pause_at`."""
        self.found, self.outcome, self.absent = {}, {}, []
        self.pause_at = pause_at

    def asked(self) -> set[str]:
        """The IDs asked for since `clear`."""
        return {*self.found, *self.outcome, *self.absent}

    def run(self, ids: list[str]) -> None:
        """Work `ids` through the API in batches, then confirm the absent ones, until done or
        stopped."""
        size = self.settings.arxiv_batch_size
        for confirming, todo in ((False, ids), (True, self.absent)):
            for start in range(0, len(todo), size):
                if self.stopped:
                    return
                if not confirming and start and time.monotonic() >= self.pause_at:
                    break  # the rest come back due: asked after this commit
                self._work(todo[start : start + size], confirming)

    def _request(self, ids: list[str], confirming: bool) -> Answer | None:
        """One logical request with retries. None: give up on these IDs for this run."""
        attempts = self.settings.arxiv_max_attempts
        for attempt in range(1, attempts + 1):
            unreachable = False
            try:
                answer = self.api.fetch(ids)
            except ApiError as exc:
                error, unreachable = exc.reason, exc.unreachable
                if unreachable and attempt >= 2:
                    self.stopped = f"arXiv API unreachable ({error})"
                    break
            else:
                # An empty answer for IDs we believe in is suspect (arXiv sometimes serves
                # empty pages): retried once after a back-off before it is believed.
                if answer.results or confirming or attempt >= 2 or self.api.final:
                    return answer
                error = "empty answer for IDs that should exist"
            for ident in ids:
                self.outcome[ident] = ("pending", error)
            backoff = min(
                self.settings.arxiv_backoff_seconds * 2 ** (attempt - 1),
                self.settings.arxiv_backoff_max_seconds,
            )
            if unreachable:  # a down network is checked once more, not waited out
                backoff = self.settings.arxiv_delay_seconds
            if attempt == attempts or time.monotonic() + backoff > self.deadline:
                self.stopped = self.stopped or f"arXiv API failing ({error})"
                break
            log.info("arXiv API: %s; retrying in %.0f s", error, backoff)
            self.sleep(backoff)
        return None

    def _work(self, ids: list[str], confirming: bool) -> None:
        while ids and not self.stopped:
            if time.monotonic() >= self.deadline:  # checked before every request
                self.stopped = "the enrich stage's time budget is spent"
                return
            try:
                answer = self._request(ids, confirming)
            except BadIdError as exc:
                bad = exc.bad_id if exc.bad_id in ids else (ids[0] if len(ids) == 1 else None)
                if bad is None:  # the 400 names no ID of ours: halve until it does
                    middle = len(ids) // 2
                    self._work(ids[:middle], confirming)
                    ids = ids[middle:]
                    continue
                self.outcome[bad] = ("failed", exc.message)
                ids = [i for i in ids if i != bad]
                continue
            if answer is None:
                return
            missing = [i for i in ids if i not in answer.results]
            for ident in ids:
                if ident in answer.results:
                    self.found[ident] = answer.results[ident]
                    self.outcome[ident] = ("enriched", None)
            if not confirming and not self.api.final:
                self.absent += missing  # one confirming request before not_found
            else:
                for ident in missing:
                    self.outcome[ident] = ("not_found", "the API does not know this ID")
            return


# Answers are committed once ARXIV_DIGESTS_ARXIV_COMMIT_SECONDS have passed since the last
# commit (after every request at arXiv's polite 3 s: a Ctrl-C or a kill loses the one request
# in flight), and at most this many requests apart (a fast local API).
REQUESTS_PER_COMMIT = 20


class Enrichment:
    """One enrich stage across its commits: the client, its time budget, and the IDs it asked
    for that are still pending (not asked again in the same stage)."""

    def __init__(
        self,
        settings: Settings,
        client: ArxivClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        budget: float | None = None,
        limit: int | None = None,
    ):
        self.settings = settings
        self.api = client or client_for(settings)
        self.batcher = Batcher(self.api, settings, sleep, budget)
        self.retried: set[str] = set()  # asked, and still pending
        self.left = limit  # IDs it may still ask for (None: no limit)

    @property
    def stopped(self) -> str | None:
        """Why the stage stopped early (unreachable, failing, out of time), or None."""
        return self.batcher.stopped

    def next_ids(self, lake: Lake, now: datetime) -> list[str]:
        """The next IDs to ask for: due, not asked in this stage, within the limit."""
        most = REQUESTS_PER_COMMIT * self.settings.arxiv_batch_size
        if self.left is not None:
            most = min(most, self.left)
        if most <= 0 or self.stopped:
            return []
        due = statements.due_ids(lake, now, most + len(self.retried))
        fresh = [i for i in due if i not in self.retried][:most]
        if self.left is not None:
            self.left -= len(fresh)
        return fresh

    def work(self, lake: Lake, run_id: str, ids: list[str], now: datetime) -> EnrichStats:
        """Ask for `ids`, store what came back and record each ID's outcome, inside the
        caller's transaction."""
        self.batcher.clear(time.monotonic() + self.settings.arxiv_commit_seconds)
        before = self.api.requests
        self.batcher.run(ids)
        if self.left is not None:  # the IDs not asked come back due, and count then
            self.left += len(set(ids) - self.batcher.asked())
        stats = _store(lake, run_id, self.batcher, now, self.settings)
        stats.requests = self.api.requests - before
        self.retried.update(
            i for i, (state, _) in self.batcher.outcome.items() if state == "pending"
        )
        return stats


def enrich(
    lake: Lake,
    run_id: str,
    settings: Settings,
    client: ArxivClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> EnrichStats:
    """Ask `client` (default: the one the settings name) for every due ID of the queue within
    the time budget, store what it answered and record the outcome of each ID, all inside the
    caller's transaction (the flows commit as they go: `Enrichment`)."""
    session = Enrichment(settings, client, sleep)
    total = EnrichStats()
    now = datetime.now(UTC)
    while ids := session.next_ids(lake, now):
        done = session.work(lake, run_id, ids, now)
        total.requests += done.requests
        total.enriched += done.enriched
        total.rejects += done.rejects
    return finish(lake, session, total)


def finish(lake: Lake, session: Enrichment, stats: EnrichStats) -> EnrichStats:
    """The stage's closing figures: what waits, and why it stopped early if it did."""
    stats.pending = pending_count(lake)
    if session.stopped:
        stats.warning = f"{session.stopped}: {stats.pending} paper(s) wait for the next run"
    return stats


def _store(
    lake: Lake, run_id: str, batcher: Batcher, now: datetime, settings: Settings
) -> EnrichStats:
    """The answers of a batcher's IDs stored: papers, rejects, each ID's outcome."""
    stats = EnrichStats()
    fetched = pa.Table.from_pylist(
        [paper_row(r, now) for r in batcher.found.values()], schema=PAPERS.schema
    )
    valid, invalid = validate(PAPERS, fetched)
    for ident, message in zip(*invalid.select(["arxiv_id", "_message"]).columns, strict=True):
        batcher.outcome[ident.as_py()] = ("failed", message.as_py())
    where = Where("enrich", run_id, now)
    stats.rejects += failure_rejects(where, invalid, source="arxiv_id", raw=WHOLE_ROW)
    if valid.num_rows:
        papers = valid.select(PAPERS.column_names)
        replace_papers(lake, papers, *flatten(papers))
    stats.enriched = valid.num_rows
    if batcher.outcome:
        retry_at = now + timedelta(seconds=settings.arxiv_backoff_seconds)
        ids, versions = valid.column("arxiv_id"), valid.column("latest_version")
        held = dict(zip(ids.to_pylist(), versions.to_pylist(), strict=True))
        record_answers(lake, answers_table(batcher.outcome, held), now, retry_at)
    return stats


def rejects_table(stats: EnrichStats) -> pa.Table:
    """The enrich stage's rejects as a `rejects` table."""
    return pa.Table.from_pylist(stats.rejects, schema=REJECTS.schema)


def client_for(settings: Settings) -> ArxivClient:
    """The live API at `ARXIV_DIGESTS_ARXIV_API_URL`, or, for a `file://` folder, the recorded
    answers in it (offline: tests, demos)."""
    url = settings.arxiv_api_url
    if url.startswith("file://"):
        return RecordedArxiv(Path(urllib.parse.urlparse(url).path))
    limiter = Limiter(settings.arxiv_delay_seconds)
    return ArxivApi(url, settings.arxiv_timeout_seconds, limiter, settings.arxiv_contact)
