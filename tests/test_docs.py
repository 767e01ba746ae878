"""The README is the newcomer's manual: it must stay true to the code."""

from conftest import ROOT

from flows.cli import app
from flows.settings import Settings
from schemas.dictionary import data_dictionary

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_data_dictionary_is_current():
    assert data_dictionary() in README, (
        "run `python -m schemas.dictionary` and paste it into README.md"
    )


def test_every_command_is_documented():
    for command in app.registered_commands:
        name = command.name or command.callback.__name__  # type: ignore[union-attr]
        assert f"arxiv-digests {name}" in README, name


def test_every_setting_is_documented():
    for name in Settings.model_fields:
        assert f"ARXIV_DIGESTS_{name.upper()}" in README, name


def test_the_two_commands():
    assert "make run" in README and "make test" in README


def readme_queries() -> list[str]:
    blocks = README.split("```sql\n")[1:]
    text = "\n".join(block.split("```")[0] for block in blocks)
    lines = [line for line in text.splitlines() if not line.startswith("--")]
    return [q.strip() for q in "\n".join(lines).split(";") if q.strip()]


def test_readme_queries_run_from_python_and_the_shell(tmp_path, prefect):
    """The README's example queries answer through `warehouse.connect`, and its DuckDB shell
    one-liner opens the same warehouse from another directory."""
    import shutil
    import subprocess

    import pytest
    from conftest import EXAMPLES

    import warehouse
    from flows.pipeline.ingest import ingest_flow

    queries = readme_queries()
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
