"""`arxiv-digests report`: the warehouse as one static HTML page with charts.

Every chart is an aggregate query over the warehouse (`warehouse.aggregates`), drawn as a
Vega-Lite spec by altair and rendered to inline SVG by vl-convert, at build time and without a
browser or the network: the page has no script, style sheet or font from elsewhere and opens
offline. Its size does not grow with the warehouse (aggregates, and a bounded list of the latest
entries). It is written beside its final name and renamed into place, so a reader never sees
half a page."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flows.common.atomic import replaced
from flows.digests.names import undated_note
from warehouse.aggregates import report_rows

if TYPE_CHECKING:
    from warehouse.store import Warehouse


@dataclass(frozen=True)
class Chart:
    """One panel: its query, and how to draw its rows (mark and encodings, in altair's
    terms)."""

    title: str
    query: str  # the name of its query in `warehouse.aggregates.REPORT_QUERIES`
    mark: str
    encode: dict[str, str]
    empty: str  # what the panel says when the query gives no rows
    time_format: str = "%Y-%m-%d"  # axis labels of an x that is a time
    titles: tuple[tuple[str, str], ...] = ()  # axis and legend titles in words, by field


CHARTS = (
    Chart(
        "Papers per day, by primary category",
        "papers_per_day",
        "bar",
        {"x": "day:O", "y": "papers:Q", "color": "category:N"},
        "No dated digests yet: digests whose path names a date (2026-11-24/cs.AI.md), or loaded "
        "from a git history, appear here.",
        titles=(("day", "digest date"), ("category", "primary category")),
    ),
    Chart(
        "Top categories by month",
        "categories_by_month",
        "line",
        {"x": "month:O", "y": "papers:Q", "color": "category:N"},
        "No dated digests yet.",
        titles=(("month", "month"), ("category", "primary category")),
    ),
    Chart(
        "Enrichment coverage after each run",
        "coverage",
        "line",
        {"x": "run:T", "y": "value:Q", "color": "state:N"},
        "No runs yet.",
        "%Y-%m-%d %H:%M",
        titles=(("run", "run started"), ("value", "papers"), ("state", "papers")),
    ),
    Chart(
        "Enrichment now",
        "enrichment",
        "bar",
        {"x": "papers:Q", "y": "state:N", "color": "state:N"},
        "No papers queued yet.",
    ),
    Chart(
        "Rejects by rule, per run",
        "rejects_by_rule",
        "bar",
        {"x": "run:N", "y": "rejects:Q", "color": "rule:N"},
        "No rejects: everything read so far loaded.",
        titles=(("rule", "rule broken"),),
    ),
    Chart(
        "Run durations by stage (last 30 runs)",
        "stage_seconds",
        "bar",
        {"x": "run:N", "y": "seconds:Q", "color": "stage:N"},
        "No runs yet.",
    ),
    Chart(
        "Top authors of enriched papers",
        "top_authors",
        "bar",
        {"x": "papers:Q", "y": "author:N"},
        "No enriched papers yet: `arxiv-digests enrich` fetches them from the arXiv API.",
        titles=(("papers", "papers"),),
    ),
)
# The coverage chart is drawn from a long table: one row per run and state.
_LONG = {"Enrichment coverage after each run": ("run", ["enriched", "pending"], "state")}


def _drawn(chart: Chart, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A query's rows as the chart draws them: long where it needs, times as ISO text."""
    if chart.title in _LONG:
        key, values, label = _LONG[chart.title]
        rows = [{key: r[key], label: v, "value": r[v]} for r in rows for v in values]
    for row in rows:  # Vega-Lite reads ISO dates; Decimal and others as text
        for name, value in row.items():
            if name == "month" and hasattr(value, "strftime"):
                row[name] = value.strftime("%Y-%m")  # a month drawn as one, however many
            elif hasattr(value, "isoformat"):
                row[name] = value.isoformat()
    return rows


# Days or months drawn one band each up to this many; more are drawn on a time axis.
MANY_DAYS = 60
# Counts: an axis of whole numbers (no 0.5 paper).
_COUNTS = ("papers", "rejects", "value")


def svg(chart: Chart, rows: list[dict[str, Any]]) -> str:
    """A chart's rows drawn as inline SVG (Vega-Lite by altair, rendered by vl-convert)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec(chart, rows))


def spec(chart: Chart, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A chart's Vega-Lite spec: titles in words, counts on whole-number axes, bars longest
    first, days and months one band each (a time axis past MANY_DAYS)."""
    import altair as alt

    data = alt.Data(values=rows)  # type: ignore[no-untyped-call]  # altair's own typing gap
    # Lines get a point on each value: one month of data is still drawn.
    options = {"point": True} if chart.mark == "line" else {}
    mark = getattr(alt.Chart(data), f"mark_{chart.mark}")(**options)
    titles = dict(chart.titles)
    encode: dict[str, Any] = {}
    for channel, shorthand in chart.encode.items():
        field = shorthand.split(":")[0]
        if shorthand.endswith(":O") and len({r[field] for r in rows}) > MANY_DAYS:
            shorthand = f"{field}:T"  # too many to label each: a time axis
        kind = {"x": alt.X, "y": alt.Y, "color": alt.Color}[channel]
        axis: dict[str, Any] = {}
        if shorthand.endswith(":T"):
            axis["format"] = chart.time_format
        if field in _COUNTS and shorthand.endswith(":Q"):
            axis.update(tickMinStep=1, format="d")
        extra: dict[str, Any] = {"title": titles.get(field, field)}
        if channel == "y" and shorthand.endswith(":N") and chart.encode["x"].endswith(":Q"):
            extra["sort"] = "-x"  # the longest bar first
        if axis:
            extra["axis"] = alt.Axis(**axis)
        encode[channel] = kind(shorthand, **extra)
    # Horizontal bars get a fixed height each, so one bar is not a wall of colour.
    height = alt.Step(22) if chart.encode["y"].endswith(":N") else 260
    drawn: dict[str, Any] = mark.encode(**encode).properties(width=640, height=height).to_dict()
    return drawn


def _panel(chart: Chart, rows: list[dict[str, Any]]) -> str:
    title = f"<h2>{html.escape(chart.title)}</h2>"
    if not rows:
        return f'<section class="panel empty">{title}<p>{html.escape(chart.empty)}</p></section>'
    return f'<section class="panel chart">{title}{svg(chart, rows)}</section>'


def _latest(rows: list[tuple[Any, ...]]) -> str:
    if not rows:
        return (
            '<section class="panel empty"><h2>Latest digests</h2><p>No digests yet.</p></section>'
        )
    parts, current, left = ['<section class="panel"><h2>Latest digests</h2>'], None, ""
    for digest_id, name, day, category, ref, ident, title, title_zh, summary, _url, n in rows:
        if digest_id != current:
            if current is not None:
                parts.append("</ol>" + left)
            shown = sum(1 for r in rows if r[0] == digest_id and r[4] is not None)
            more = (n or 0) - shown
            left = f'<p class="more">… and {more} more entries</p>' if more > 0 else ""
            said = [str(x) for x in (day, category) if x]
            label = " · ".join(said) if said else name  # a date and a category say more
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
    parts.append("</ol>" + left + "</section>")
    return "".join(parts)


STYLE = """
body { font-family: "Noto Sans CJK SC", "Noto Sans", sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; }
.note { background: #fff6db; padding: 0.5em 0.8em; }
.panel { margin: 1.5em 0; } .empty p { color: #777; font-style: italic; }
.zh { color: #444; } .summary { color: #666; font-size: 0.9em; margin-bottom: 0.6em; }
"""


def _undated(rows: list[dict[str, Any]]) -> str:
    """The note on the digests the time charts leave out: they have no date."""
    digests = rows[0]["digests"] if rows else 0
    if not digests:
        return ""
    return f'<p class="note">{html.escape(undated_note(digests, rows[0]["entries"]))}</p>'


def page(
    rows: dict[str, list[dict[str, Any]]],
    latest: list[tuple[Any, ...]],
    built: datetime,
    source: str = "the warehouse",
) -> str:
    """The whole page: each chart drawn from its query's `rows`, then the `latest` digests."""
    panels = [_panel(chart, _drawn(chart, rows[chart.query])) for chart in CHARTS]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>arXiv digests</title>"
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<style>{STYLE}</style></head><body><h1>arXiv digests</h1>"
        f"<p>Built {built:%Y-%m-%d %H:%M} UTC from {html.escape(source)}.</p>"
        + _undated(rows["undated"])
        + "".join(panels)
        + _latest(latest)
        + "</body></html>\n"
    )


def build(root: Path | Warehouse, out: Path) -> Path:
    """Write `out/index.html` from the warehouse at `root`; returns its path."""
    rows, latest = report_rows(root)
    location = str(getattr(root, "location", root))
    text = page(rows, latest, datetime.now(UTC), f"the warehouse {location}")
    out.mkdir(parents=True, exist_ok=True)
    target = out / "index.html"
    with replaced(target) as stream:
        stream.write(text.encode("utf-8"))
    return target
