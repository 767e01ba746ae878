"""The command line as a user runs it: a subprocess, Prefect's own temporary server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import DIGESTS, EXAMPLES, ROOT
from helpers import cli_output

CLI = [sys.executable, "-m", "flows"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT):
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=600, env=env, cwd=cwd, check=False
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("prefect-home")
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    return environ | {"PREFECT_HOME": str(home), "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory, env) -> tuple[Path, subprocess.CompletedProcess]:
    wh = tmp_path_factory.mktemp("cli") / "warehouse"
    result = run("ingest", str(EXAMPLES), "--warehouse", str(wh), "--no-enrich", env=env)
    return wh, result


@pytest.mark.slow
def test_ingest_is_clean(loaded):
    _, result = loaded
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output and "ERROR" not in output
    assert "3 new, 0 skipped, 0 rejected file(s); 5 entries loaded" in result.stdout


@pytest.mark.slow
def test_sql_formats(loaded, env, tmp_path):
    wh, _ = loaded
    query = "select arxiv_id, ref from digest_entries where arxiv_id like '1706%'"
    # From another working directory, with the warehouse in the environment.
    env = env | {"ARXIV_DIGESTS_WAREHOUSE": str(wh)}
    as_csv = run("sql", query, "--format", "csv", env=env, cwd=tmp_path)
    assert as_csv.stdout.splitlines() == ["arxiv_id,ref", "1706.03762,1"]
    as_json = run("sql", query, "--format", "json", env=env, cwd=tmp_path)
    assert json.loads(as_json.stdout) == [{"arxiv_id": "1706.03762", "ref": 1}]
    as_md = run("sql", query, "--format", "markdown", env=env, cwd=tmp_path)
    assert as_md.stdout.splitlines() == ["| arxiv_id | ref |", "|---|---|", "| 1706.03762 | 1 |"]
    as_table = run("sql", "select count(*) as n from digest_entries", env=env, cwd=tmp_path)
    assert "5" in as_table.stdout and as_table.returncode == 0


def test_sql_errors_keep_duckdb_whole_message(loaded, env):
    wh, _ = loaded
    bad = run("sql", "select * from paperz", "-w", str(wh), env=env)
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("arxiv-digests: query failed: Catalog Error: Table with name")
    assert 'Did you mean "papers"?' in bad.stderr  # DuckDB's second line, kept
    column = run("sql", "select nope from digests", "-w", str(wh), env=env)
    assert "Candidate bindings" in column.stderr or "Did you mean" in column.stderr
    write = run("sql", "create table t as select 1", "-w", str(wh), env=env)
    assert write.returncode == 1 and "read-only" in write.stderr.lower()
    missing = run("sql", "select 1", "-w", str(wh.parent / "nowhere"), env=env)
    assert missing.returncode == 1 and "run `arxiv-digests ingest` first" in missing.stderr


def test_status(loaded, env):
    wh, _ = loaded
    result = run("status", "-w", str(wh), env=env)
    assert result.returncode == 0
    assert "digest_entries" in result.stdout and "last runs" in result.stdout


def test_runs_lists_runs_and_shows_one(loaded, env):
    wh, _ = loaded
    listed = run("runs", "-w", str(wh), env=env)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 1 and " ok " in lines[0] and "files 3 new" in lines[0]
    run_id = lines[0].split()[0]
    shown = run("runs", "show", run_id, "-w", str(wh), env=env)
    assert shown.returncode == 0, shown.stderr
    for field in ("parse_seconds", "load_seconds", "entries_loaded     5", "rejects_by_rule"):
        assert field in shown.stdout, field
    assert "1706.03762  due now, 0 attempt(s)" in shown.stdout  # --no-enrich: all pending
    missing = run("runs", "show", "nope", "-w", str(wh), env=env)
    assert missing.returncode == 1 and missing.stderr.startswith("arxiv-digests: no run nope")


@pytest.mark.corpus
def test_validate_prints_every_problem(tmp_path, env):
    text = (DIGESTS / "000_35d916e6e3a253ef.txt").read_text()
    bad = tmp_path / "bad.md"
    bad.write_text(text.replace("abs/2402.17376)", "abs/2413.17376)")[: text.index("| [^4]") + 30])
    result = run("validate", str(bad), str(EXAMPLES), env=env)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert (
        f"{bad}:6: pattern:arxiv_id: arxiv_id '2413.17376' is not an arXiv ID as arXiv" in lines[-1]
    )
    assert any(line.startswith(f"{bad}:8: malformed_row:") for line in lines)
    ok = run("validate", str(EXAMPLES), env=env)
    assert ok.returncode == 0 and ok.stdout == ""


@pytest.mark.slow
def test_nothing_readable_exits_non_zero(tmp_path, env):
    junk = tmp_path / "junk.md"
    junk.write_bytes(bytes(range(256)) * 8)
    result = run("ingest", str(junk), "-w", str(tmp_path / "wh"), "--no-enrich", env=env)
    assert result.returncode == 2
    assert "binary_file" in result.stderr and "Traceback" not in result.stderr


def test_help_on_every_command():
    """In this process (a process per command cost 14 s): the same app the script runs."""
    from typer.main import get_command

    from flows.cli import app

    group = get_command(app)
    commands = []
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        commands.append([name])
        commands += [[name, sub] for sub in getattr(command, "commands", {})]
    assert len(commands) >= 20
    for command in commands:
        code, output = cli_output(*command, "-h")
        assert code == 0 and "Usage" in output, (command, output)


@pytest.mark.slow
@pytest.mark.corpus
def test_unreachable_api_still_loads_with_one_warning(tmp_path, env):
    env = env | {
        "ARXIV_DIGESTS_ARXIV_API_URL": "http://127.0.0.1:9/api/query",
        "ARXIV_DIGESTS_ARXIV_DELAY_SECONDS": "0.1",
    }
    wh = tmp_path / "wh"
    result = run("ingest", str(DIGESTS), "-w", str(wh), env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output and "ERROR" not in output
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert len(warnings) == 1 and "paper(s) wait for the next run" in warnings[0]
    assert "2641 entries loaded" in result.stdout
    status = run("status", "-w", str(wh), env=env)
    assert "pending" in status.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    "statement",
    [
        "COPY (SELECT 1) TO '/tmp/arxiv-digests-copy.csv'",
        "ATTACH '/tmp/arxiv-digests-attach.db'",
        "INSTALL httpfs",
        "LOAD httpfs",
        "CREATE TABLE t AS SELECT 1",
        "CREATE VIEW v AS SELECT 1",
        "DROP VIEW digests",
        "SET enable_external_access = true",
        "PRAGMA enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "EXPORT DATABASE '/tmp/arxiv-digests-export'",
    ],
)
def test_sql_cannot_write_or_escape(loaded, env, statement):
    wh, _ = loaded
    result = run("sql", statement, "-w", str(wh), env=env)
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("arxiv-digests: refused:"), result.stderr
    assert not Path("/tmp/arxiv-digests-copy.csv").exists()
    # The warehouse is untouched and still answers.
    again = run("sql", "SELECT count(*) FROM digest_entries", "-f", "csv", "-w", str(wh), env=env)
    assert again.stdout.splitlines() == ["count_star()", "5"]


MARKUP = "[title](url) [red]x[/red] a[b]c"


@pytest.mark.slow
def test_sql_shows_text_exactly_in_every_format(loaded, env):
    wh, _ = loaded
    query = f"select '{MARKUP}' as text, 'a|b' as pipe"
    table = run("sql", query, "-w", str(wh), env=env)
    assert MARKUP in table.stdout, table.stdout
    assert table.stderr.strip() == "1 row(s)"
    assert run("sql", query, "-f", "csv", "-w", str(wh), env=env).stdout.splitlines()[1] == (
        f"{MARKUP},a|b"
    )
    as_json = json.loads(run("sql", query, "-f", "json", "-w", str(wh), env=env).stdout)
    assert as_json == [{"text": MARKUP, "pipe": "a|b"}]
    markdown = run("sql", query, "-f", "markdown", "-w", str(wh), env=env).stdout.splitlines()
    assert markdown[2] == f"| {MARKUP} | a\\|b |"


@pytest.mark.slow
def test_sql_output_files(loaded, env, tmp_path):
    import pyarrow.csv
    import pyarrow.parquet

    wh, _ = loaded
    query = "select arxiv_id, ref, title from digest_entries order by arxiv_id"
    expected = run("sql", query, "-f", "json", "-w", str(wh), env=env)
    rows = json.loads(expected.stdout)
    assert len(rows) == 5
    for suffix in ("csv", "json", "parquet"):
        target = tmp_path / f"out.{suffix}"
        result = run("sql", query, "-o", str(target), "-w", str(wh), env=env)
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == f"5 row(s) -> {target}" and result.stdout == ""
        if suffix == "json":
            assert json.loads(target.read_text()) == rows
        else:
            read = pyarrow.csv.read_csv if suffix == "csv" else pyarrow.parquet.read_table
            assert read(target).to_pylist() == rows
    inside = run("sql", query, "-o", str(wh / "x.csv"), "-w", str(wh), env=env)
    assert inside.returncode == 2 and "inside the warehouse" in inside.stderr
    assert not (wh / "x.csv").exists()
    odd = run("sql", query, "-o", str(tmp_path / "x.xlsx"), "-w", str(wh), env=env)
    assert odd.returncode == 1 and ".csv, .json, .parquet" in odd.stderr


@pytest.mark.slow
def test_conventions(loaded, env):
    wh, _ = loaded
    version = run("--version", env=env)
    assert version.returncode == 0 and version.stdout.startswith("arxiv-digests 0.")
    short = run("sql", "-h", env=env | {"COLUMNS": "200"})
    assert short.returncode == 0 and "Usage" in short.stdout
    # Each option that is a setting shows its variable and its default.
    assert "[env var: ARXIV_DIGESTS_WAREHOUSE]" in short.stdout
    assert "./data/warehouse" in short.stdout
    assert "--install-completion" in run("-h", env=env).stdout
    # The shell named is the one completed for, whatever shell started the command (here `sh`,
    # as in a Dockerfile RUN line or cron, with no $SHELL).
    command = " ".join([*CLI, "--show-completion", "bash"])
    no_shell = {k: v for k, v in env.items() if k != "SHELL"}
    completion = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, env=no_shell, check=False
    )
    assert completion.returncode == 0 and "complete -o" in completion.stdout, completion.stderr
    unknown = run("--show-completion", "sh", env=env)
    assert unknown.returncode == 2 and "no completion for the shell 'sh'" in unknown.stderr
    status = run("status", "--format", "json", "-w", str(wh), env=env)
    sections = json.loads(status.stdout)
    counts = {r["table_name"]: r["rows"] for r in sections["rows_per_table"]}
    assert counts["digest_entries"] == 5 and counts["digests"] == 3
    assert sections["last_runs"][0]["status"] == "ok"
