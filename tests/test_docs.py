"""The README and the pages in docs/ are the newcomer's manual: they must stay true to the
code, and every page must be reachable from the README."""

import re

import pytest
from conftest import ROOT

from flows.cli import app
from flows.settings import SETTINGS_BEGIN, SETTINGS_END, Settings, settings_reference
from schemas.dictionary import BEGIN, END, data_dictionary, generated_block

README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = ROOT / "docs"


def page(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def test_the_generated_pages_are_current():
    tables, configuration = page("tables.md"), page("configuration.md")
    assert generated_block(tables, BEGIN, END) == data_dictionary(), "run `make docs`"
    assert generated_block(configuration, SETTINGS_BEGIN, SETTINGS_END) == settings_reference(), (
        "run `make docs`"
    )


def test_every_command_is_documented():
    usage = page("usage.md")
    for command in app.registered_commands:
        name = command.name or command.callback.__name__  # type: ignore[union-attr]
        assert f"arxiv-digests {name}" in usage, name


def test_every_setting_is_documented():
    configuration = page("configuration.md")
    for name in Settings.model_fields:
        assert f"ARXIV_DIGESTS_{name.upper()}" in configuration, name


def test_the_readme_is_short_and_links_every_page():
    assert "make run" in README and "make test" in README
    assert len(README.splitlines()) <= 200
    pages = {f"docs/{p.name}" for p in DOCS.glob("*.md")} | {"CHANGELOG.md", "CONTRIBUTING.md"}
    linked = set(re.findall(r"\]\(([^)#]+)\)", README))
    assert pages - linked == set()
    assert "docs/decisions/" in linked


def test_every_relative_link_leads_to_a_file():
    broken = []
    for doc in [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *DOCS.rglob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if (
                not target.startswith(("http://", "https://"))
                and not (doc.parent / target).exists()
            ):
                broken.append(f"{doc.relative_to(ROOT)} -> {target}")
    assert broken == []


def example_queries() -> list[str]:
    blocks = page("querying.md").split("```sql\n")[1:]
    text = "\n".join(block.split("```")[0] for block in blocks)
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    return [q.strip() for q in "\n".join(lines).split(";") if q.strip()]


@pytest.mark.slow
def test_example_queries_run_from_python_and_the_shell(tmp_path, prefect):
    """The example queries of docs/querying.md answer through `warehouse.connect`, and its
    DuckDB shell one-liner opens the same warehouse from another directory."""
    import shutil
    import subprocess

    import pytest
    from conftest import EXAMPLES

    import warehouse
    from flows.pipeline.ingest import ingest_flow

    queries = example_queries()
    assert len(queries) == 4
    ingest_flow(paths=[str(EXAMPLES)], warehouse=str(tmp_path / "wh"), enrich=False)
    with warehouse.connect(tmp_path / "wh") as con:
        for query in queries:
            con.execute(query).fetchall()
        mentions = con.execute(queries[1]).fetchall()
    shell = shutil.which("duckdb", path=str(ROOT / ".venv" / "bin"))
    if shell is None:
        pytest.fail("the duckdb shell is not installed in .venv: run `make install`")
    attach = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "arxiv-digests"), "attach", "-w", str(tmp_path / "wh")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    out = subprocess.run(
        [shell, "-csv", "-c", attach + " SELECT count(*) FROM paper_mentions;"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout
    assert out.split() == ["count_star()", "5"] and mentions == []
