"""`arxiv-digests report`: built from a dated, enriched corpus warehouse and looked at in
Debian's headless Chromium; partial warehouses render "no data yet" panels, never errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import CORPUS, DIGESTS
from helpers import sql
from test_cli import env, run  # noqa: F401  (env is a fixture)

from flows.pipeline.enriching import enrich_flow
from flows.pipeline.ingest import ingest_flow

pytestmark = pytest.mark.corpus  # every test here reads the real corpus

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As the machine's notes say: without these, Chromium reaches for Google's hosts at start.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SOURCE = re.compile(r":(?P<category>[A-Za-z.-]+)\.md@\S+ \((?P<day>\d{4}-\d{2}-\d{2})\)")


def dated_inbox(folder: Path) -> int:
    """The corpus laid out as the digest repositories publish it: `<date>/<category>.md`, a
    folder per file so that two digests of one day and category both stay."""
    placed = 0
    for line in (CORPUS / "SOURCES.tsv").read_text().splitlines()[1:]:
        name, source = line.split("\t", 1)
        found = SOURCE.search(source)
        if found is None:
            continue
        target = folder / found["day"] / Path(name).stem / f"{found['category']}.md"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((DIGESTS / name).read_bytes())
        placed += 1
    return placed


@pytest.fixture(scope="module")
def enriched(tmp_path_factory, prefect, request):
    """The corpus, dated, loaded and enriched from a local server in the API's formats."""
    from conftest import ArxivServer

    folder = tmp_path_factory.mktemp("report")
    placed = dated_inbox(folder / "inbox")
    assert placed >= 30
    state = ArxivServer()
    server, url = state.start()
    patch = pytest.MonkeyPatch()
    for name, value in {
        "ARXIV_DIGESTS_ARXIV_API_URL": url,
        "ARXIV_DIGESTS_ARXIV_DELAY_SECONDS": "0.01",
    }.items():
        patch.setenv(name, value)
    wh = folder / "wh"
    try:
        ingest_flow(paths=[str(folder / "inbox")], warehouse=str(wh), enrich=False)
        # Each paper's primary category is its digest's, as with the real API's answers.
        found = (
            "SELECT arxiv_id, any_value(category) FROM digest_entries "
            "JOIN digests USING (digest_id) GROUP BY ALL"
        )
        state.primaries = dict(sql(wh, found))
        enrich_flow(warehouse=str(wh))
    finally:
        patch.undo()
        server.shutdown()
    return wh


def look(page_path: Path, screenshot: Path) -> dict:
    """Open the page in Chromium with every request off the machine refused; what it saw."""
    from playwright.sync_api import sync_playwright

    seen: dict = {"errors": [], "requests": [], "charts": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: m.type == "error" and seen["errors"].append(m.text))
        page.on("pageerror", lambda e: seen["errors"].append(str(e)))
        page.on("request", lambda r: seen["requests"].append(r.url))
        # Anything but the page's own file is refused, so a leak fails here, not on the net.
        page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        seen["charts"] = page.eval_on_selector_all(
            "section.chart",
            """sections => sections.map(s => ({
                title: s.querySelector('h2').textContent,
                marks: s.querySelectorAll('svg g[class*="role-mark"] > *').length,
            }))""",
        )
        seen["empty"] = page.eval_on_selector_all(
            "section.empty h2", "e => e.map(h => h.textContent)"
        )
        seen["cjk"] = page.evaluate("document.fonts.check('16px \"Noto Sans CJK SC\"', '摘要')")
        seen["zh"] = page.eval_on_selector_all(".zh", "e => e.map(d => d.textContent)")
        page.screenshot(path=str(screenshot), full_page=False)
        browser.close()
    return seen


@pytest.mark.slow
def test_the_report_in_a_browser(enriched, env, tmp_path):  # noqa: F811
    out = tmp_path / "report"
    built = run("report", "--out", str(out), "-w", str(enriched), env=env)
    assert built.returncode == 0, built.stderr
    page = out / "index.html"
    assert built.stdout.startswith(f"report -> {page}")
    text = page.read_text()
    assert "<script" not in text and "http://" not in text.split("<body>")[0]
    seen = look(page, tmp_path / "report.png")
    shutil.copy(tmp_path / "report.png", Path("/tmp/report-shot.png"))
    assert seen["errors"] == []
    assert seen["requests"] == [page.as_uri()]  # nothing but the page itself
    titles = {c["title"]: c["marks"] for c in seen["charts"]}
    assert set(titles) == {
        "Papers per day, by primary category",
        "Top categories by month",
        "Enrichment coverage after each run",
        "Enrichment now",
        "Run durations by stage (last 30 runs)",
        "Top authors of enriched papers",
    }, titles
    assert all(marks > 0 for marks in titles.values()), titles
    assert seen["empty"] == ["Rejects by rule, per run"]  # the corpus loads without a reject
    assert seen["cjk"] is True
    # The latest digests are headed by their date and category, never a file's hash name.
    headings = re.findall(r"<h3>([^<]*)</h3>", text)
    assert headings and all(re.fullmatch(r"\d{4}-\d{2}-\d{2} · [a-zA-Z.-]+", h) for h in headings)
    assert "_seconds" not in text  # stages named in words
    titles_zh = [t for t in seen["zh"] if re.search(r"[\u4e00-\u9fff]", t)]
    assert len(titles_zh) >= 20
    # Each shown title is the one stored, TeX and all.
    assert set(titles_zh) <= {r[0] for r in sql(enriched, "SELECT title_zh FROM digest_entries")}
    from PIL import Image, ImageStat

    shot = Image.open(tmp_path / "report.png").convert("L")
    assert ImageStat.Stat(shot).stddev[0] > 10  # not one flat colour
    assert len(page.read_bytes()) < 2_000_000


@pytest.mark.slow
def test_partial_warehouses_render_no_data_panels(prefect, tmp_path, env):  # noqa: F811
    wh = tmp_path / "wh"
    ingest_flow(paths=[str(DIGESTS / "7a0da70decb1accd.md")], warehouse=str(wh), enrich=False)
    built = run("report", "-w", str(wh), env=env)
    assert built.returncode == 0, built.stderr
    page = wh / "report" / "index.html"  # default: in the warehouse's own folder
    assert f"from the warehouse {wh}" in page.read_text()
    seen = look(page, tmp_path / "partial.png")
    assert seen["errors"] == [] and seen["requests"] == [page.as_uri()]
    assert "Top authors of enriched papers" in seen["empty"]
    assert "Papers per day, by primary category" in seen["empty"]
    assert "Latest digests" not in seen["empty"]  # one digest, with no entries
    assert {c["title"] for c in seen["charts"]} == {
        "Enrichment coverage after each run",
        "Run durations by stage (last 30 runs)",
    }


@pytest.mark.slow
def test_each_run_refreshes_the_report_and_links_it(prefect, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.pipeline.shell import ARTIFACT_KEY

    folder = tmp_path / "pages"
    monkeypatch.setenv("ARXIV_DIGESTS_REPORT_DIR", str(folder))
    wh = tmp_path / "wh"
    first = ingest_flow(
        paths=[str(DIGESTS / "7a0da70decb1accd.md")], warehouse=str(wh), enrich=False
    )
    page = folder / "index.html"
    assert "No enriched papers yet" in page.read_text()
    ingest_flow(paths=[str(DIGESTS / "000_35d916e6e3a253ef.txt")], warehouse=str(wh), enrich=False)
    assert "000_35d916e6e3a253ef.txt" in page.read_text()  # rebuilt: the new digest is listed
    assert [p.name for p in folder.iterdir()] == ["index.html"]  # no partial file left
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[ARTIFACT_KEY]))
        )
    mine = [a for a in artifacts if str(a.flow_run_id) == first["flow_run_id"]]
    assert len(mine) == 1 and f"Report: [{page.resolve()}](file://{page.resolve()})" in mine[0].data


def _chart(query: str):
    from flows.operations.report import CHARTS

    return next(c for c in CHARTS if c.query == query)


@pytest.mark.parametrize("days", [1, 20, 400])
def test_charts_read_well_with_one_day_or_many(days):
    from datetime import date, timedelta

    from flows.operations.report import MANY_DAYS, _drawn, spec

    rows = [
        {"day": date(2024, 3, 1) + timedelta(days=i), "category": "cs.AI", "papers": 3}
        for i in range(days)
    ]
    drawn = spec(_chart("papers_per_day"), _drawn(_chart("papers_per_day"), rows))
    x, y = drawn["encoding"]["x"], drawn["encoding"]["y"]
    assert x["type"] == ("temporal" if days > MANY_DAYS else "ordinal")
    assert (x["title"], y["title"]) == ("digest date", "papers")
    assert (y["axis"]["format"], y["axis"]["tickMinStep"]) == ("d", 1)  # whole papers
    month = _chart("categories_by_month")
    one = _drawn(month, [{"month": date(2024, 3, 1), "category": "cs.AI", "papers": 5}])
    drawn = spec(month, one)
    assert one[0]["month"] == "2024-03" and drawn["mark"]["point"] is True  # one month drawn


def test_top_authors_longest_bar_first_and_stages_in_words():
    from flows.operations.report import spec
    from warehouse.aggregates import REPORT_QUERIES

    rows = [{"author": "B", "papers": 1}, {"author": "A", "papers": 9}]
    assert spec(_chart("top_authors"), rows)["encoding"]["y"]["sort"] == "-x"
    stages = REPORT_QUERIES["stage_seconds"]
    assert all(f"'{word}'" in stages for word in ("find files", "read and parse", "load"))


def test_the_latest_digests_say_how_many_entries_were_left_out():
    from datetime import date

    from flows.operations.report import _latest

    row = ("d1", "cs.AI.md", date(2024, 3, 1), "cs.AI")
    shown = [(*row, ref, f"2403.0000{ref}", f"T{ref}", None, None, None, 32) for ref in (1, 2)]
    whole = [("d2", "econ.md", date(2024, 3, 1), "econ", 1, "2403.00009", "E", None, None, None, 1)]
    text = _latest(shown + whole)
    assert text.count("more entries") == 1 and "… and 30 more entries" in text
