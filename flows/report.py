"""`arxiv-digests report`: the warehouse as one static HTML page with charts.

Every chart is an aggregate query over the warehouse, drawn as a Vega-Lite spec by altair and
rendered to inline SVG by vl-convert, at build time and without a browser or the network: the
page has no script, style sheet or font from elsewhere and opens offline. Its size does not
grow with the warehouse (aggregates, and a bounded list of the latest entries). It is written
beside its final name and renamed into place, so a reader never sees half a page."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import warehouse
from flows.atomic import replaced

if TYPE_CHECKING:
    from warehouse.lake import Warehouse
    from warehouse.readonly import ReadOnlyConnection

TOP_CATEGORIES = 8  # the rest of the categories are drawn together as `other`
LATEST_DIGESTS = 5
ENTRIES_PER_DIGEST = 30


@dataclass(frozen=True)
class Chart:
    """One panel: a query, and how to draw its rows (mark and encodings, in altair's terms)."""

    title: str
    query: str
    mark: str
    encode: dict[str, str]
    empty: str  # what the panel says when the query gives no rows
    time_format: str = "%Y-%m-%d"  # axis labels of an x that is a time


# `_categories` names each entry's primary category (from `papers`, else the digest's own),
# the top ones kept and the rest `other`.
_CATEGORIES = f"""
WITH mentions AS (
  SELECT d.digest_date AS day, coalesce(p.primary_category, d.category, 'unknown') AS category,
         e.arxiv_id
  FROM digest_entries e JOIN digests d USING (digest_id) LEFT JOIN papers p USING (arxiv_id)
  WHERE d.digest_date IS NOT NULL
), top AS (
  SELECT category FROM mentions GROUP BY category ORDER BY count(*) DESC, category
  LIMIT {TOP_CATEGORIES}
)
SELECT day, CASE WHEN category IN (SELECT category FROM top) THEN category ELSE 'other' END
       AS category, arxiv_id
FROM mentions
"""

CHARTS = (
    Chart(
        "Papers per day, by primary category",
        f"WITH c AS ({_CATEGORIES}) SELECT day, category, count(DISTINCT arxiv_id) AS papers "
        "FROM c GROUP BY ALL ORDER BY day",
        "bar",
        {"x": "day:T", "y": "papers:Q", "color": "category:N"},
        "No dated digests yet: digests whose path names a date (2026-11-24/cs.AI.md) appear here.",
    ),
    Chart(
        "Top categories by month",
        f"WITH c AS ({_CATEGORIES}) SELECT date_trunc('month', day) AS month, category, "
        "count(DISTINCT arxiv_id) AS papers FROM c WHERE category <> 'other' GROUP BY ALL "
        "ORDER BY month",
        "line",
        {"x": "month:T", "y": "papers:Q", "color": "category:N"},
        "No dated digests yet.",
    ),
    Chart(
        "Enrichment coverage after each run",
        "SELECT started_at AS run, sum(papers_enriched) OVER (ORDER BY started_at) AS enriched, "
        "papers_pending AS pending FROM runs WHERE status = 'ok' ORDER BY started_at",
        "line",
        {"x": "run:T", "y": "value:Q", "color": "state:N"},
        "No runs yet.",
        "%Y-%m-%d %H:%M",
    ),
    Chart(
        "Enrichment now",
        "SELECT state, count(*) AS papers FROM enrichment GROUP BY ALL ORDER BY state",
        "bar",
        {"x": "papers:Q", "y": "state:N", "color": "state:N"},
        "No papers queued yet.",
    ),
    Chart(
        "Rejects by rule, per run",
        "SELECT run_id AS run, rule, count(*) AS rejects FROM rejects GROUP BY ALL ORDER BY run",
        "bar",
        {"x": "run:N", "y": "rejects:Q", "color": "rule:N"},
        "No rejects: everything read so far loaded.",
    ),
    Chart(
        "Run durations by stage (last 30 runs)",
        "SELECT run_id AS run, stage, seconds FROM (SELECT * FROM runs ORDER BY started_at DESC "
        "LIMIT 30) UNPIVOT (seconds FOR stage IN (discover_seconds, parse_seconds, "
        "validate_seconds, load_seconds, enrich_seconds)) ORDER BY run",
        "bar",
        {"x": "run:N", "y": "seconds:Q", "color": "stage:N"},
        "No runs yet.",
    ),
    Chart(
        "Top authors of enriched papers",
        "SELECT name AS author, count(*) AS papers FROM paper_authors GROUP BY ALL "
        "ORDER BY papers DESC, author LIMIT 15",
        "bar",
        {"x": "papers:Q", "y": "author:N"},
        "No enriched papers yet: `arxiv-digests enrich` fetches them from the arXiv API.",
    ),
)
# The coverage chart is drawn from a long table: one row per run and state.
_LONG = {"Enrichment coverage after each run": ("run", ["enriched", "pending"], "state")}


def _rows(con: ReadOnlyConnection, chart: Chart) -> list[dict[str, Any]]:
    result = con.execute(chart.query)
    names = [d[0] for d in result.description or []]
    rows = [dict(zip(names, r, strict=True)) for r in result.fetchall()]
    if chart.title in _LONG:
        key, values, label = _LONG[chart.title]
        rows = [{key: r[key], label: v, "value": r[v]} for r in rows for v in values]
    for row in rows:  # Vega-Lite reads ISO dates; Decimal and others as text
        for name, value in row.items():
            if hasattr(value, "isoformat"):
                row[name] = value.isoformat()
    return rows


def svg(chart: Chart, rows: list[dict[str, Any]]) -> str:
    """A chart's rows drawn as inline SVG (Vega-Lite by altair, rendered by vl-convert)."""
    import altair as alt
    import vl_convert

    data = alt.Data(values=rows)  # type: ignore[no-untyped-call]  # altair's own typing gap
    mark = getattr(alt.Chart(data), f"mark_{chart.mark}")()
    encode: dict[str, Any] = dict(chart.encode)
    if encode["x"].endswith(":T"):
        encode["x"] = alt.X(encode["x"], axis=alt.Axis(format=chart.time_format))
    # Horizontal bars get a fixed height each, so one bar is not a wall of colour.
    height = alt.Step(22) if encode["y"].endswith(":N") else 260
    spec = mark.encode(**encode).properties(width=640, height=height).to_dict()
    return vl_convert.vegalite_to_svg(spec)


def _panel(chart: Chart, rows: list[dict[str, Any]]) -> str:
    title = f"<h2>{html.escape(chart.title)}</h2>"
    if not rows:
        return f'<section class="panel empty">{title}<p>{html.escape(chart.empty)}</p></section>'
    return f'<section class="panel chart">{title}{svg(chart, rows)}</section>'


LATEST = f"""
SELECT d.digest_id, d.file_name, d.digest_date, e.ref, e.arxiv_id, e.title, e.title_zh,
       e.summary_zh, e.url
FROM (SELECT * FROM digests ORDER BY ingested_at DESC, digest_date DESC NULLS LAST, file_name
      LIMIT {LATEST_DIGESTS}) d
LEFT JOIN digest_entries e USING (digest_id)
QUALIFY row_number() OVER (PARTITION BY d.digest_id ORDER BY e.ref) <= {ENTRIES_PER_DIGEST}
ORDER BY d.digest_date DESC NULLS LAST, d.file_name, e.ref
"""


def _latest(con: ReadOnlyConnection) -> str:
    rows = con.execute(LATEST).fetchall()
    if not rows:
        return (
            '<section class="panel empty"><h2>Latest digests</h2><p>No digests yet.</p></section>'
        )
    parts, current = ['<section class="panel"><h2>Latest digests</h2>'], None
    for digest_id, name, day, ref, ident, title, title_zh, summary, _url in rows:
        if digest_id != current:
            if current is not None:
                parts.append("</ol>")
            label = f"{name} ({day})" if day else name
            parts.append(f"<h3>{html.escape(label)}</h3><ol>")
            current = digest_id
        if ref is None:
            parts.append("<li>(no entries)</li>")
            continue
        link = f"https://arxiv.org/abs/{ident}"
        parts.append(
            f'<li value="{ref}"><a href="{html.escape(link)}">{html.escape(title)}</a>'
            f'<div class="zh">{html.escape(title_zh or "")}</div>'
            f'<div class="summary">{html.escape(summary or "")}</div></li>'
        )
    parts.append("</ol></section>")
    return "".join(parts)


STYLE = """
body { font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; }
.panel { margin: 1.5em 0; } .empty p { color: #777; font-style: italic; }
.zh { color: #444; } .summary { color: #666; font-size: 0.9em; margin-bottom: 0.6em; }
"""


def page(con: ReadOnlyConnection, built: datetime) -> str:
    """The whole page, every panel filled from `con`."""
    panels = [_panel(chart, _rows(con, chart)) for chart in CHARTS]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>arXiv digests</title>"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<style>{STYLE}</style></head><body><h1>arXiv digests</h1>"
        f"<p>Built {built:%Y-%m-%d %H:%M} UTC from the warehouse.</p>"
        + "".join(panels)
        + _latest(con)
        + "</body></html>\n"
    )


def build(root: Path | Warehouse, out: Path) -> Path:
    """Write `out/index.html` from the warehouse at `root`; returns its path."""
    with warehouse.connect(root) as con:
        text = page(con, datetime.now(UTC))
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    with replaced(target) as stream:
        stream.write(text.encode("utf-8"))
    return target
