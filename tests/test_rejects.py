"""Hostile input through the real command line: files that are not digests, IDs arXiv never
issued, file names that try to forge output, every problem listed; and rejects listed and
replayed after a rule changes."""

from __future__ import annotations

import re

import pytest
from conftest import DIGESTS
from helpers import assert_consistent, sql, table_hash, tree_hash
from test_cli import env, run  # noqa: F401  (env is a fixture)

import flows.digests.parse
from flows.pipeline.ingest import ingest_flow

GOOD = "| [^1] | [Good](https://arxiv.org/abs/2403.15603) | 好 |"
DIGEST = """# 摘要

| Ref | Title | Summary |
|---|---|---|
{rows}

# 详细

[^1]: 好标题

    Good

    [https://arxiv.org/abs/2403.15603](https://arxiv.org/abs/2403.15603)

    摘要

    arXiv:2403.15603v1 Announce Type: new Abstract: x
"""
FORGED = "a\nforged.md:1: malformed_row: fake.md"


def digest(*rows: str) -> str:
    return DIGEST.format(rows="\n".join([GOOD, *rows]))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, env):  # noqa: F811
    inbox = tmp_path_factory.mktemp("inbox")
    (inbox / "constraints.md").write_text("# pinned\nrequests==2.32.3\n| a | table |\n")
    (inbox / "ids.md").write_text(
        digest(
            "| [^2] | [Future](https://arxiv.org/abs/9912.99999) | 未来 |",
            "| [^3] | [Zero](https://arxiv.org/abs/2403.15604v0) | 零 |",
            "| [^4] | [Early](https://arxiv.org/abs/0703.0001) | 早 |",
        )
    )
    (inbox / FORGED).write_text(digest("| [^2] | broken row |"))
    wh = inbox.parent / "warehouse"
    result = run("ingest", str(inbox), "-w", str(wh), "--no-enrich", env=env)
    return inbox, wh, result


@pytest.mark.slow
def test_a_file_with_no_digest_table_is_not_a_digest(hostile):
    inbox, wh, result = hostile
    assert result.returncode == 0, result.stderr
    assert f"{inbox}/constraints.md: not_a_digest: no digest table" in result.stderr
    rows = sql(wh, "SELECT rule, stage FROM rejects WHERE source LIKE '%constraints.md'")
    assert rows == [("not_a_digest", "read")]
    assert sql(wh, "SELECT count(*) FROM digests WHERE file_name = 'constraints.md'") == [(0,)]


def test_unissued_ids_are_rejected(hostile):
    _, wh, _ = hostile
    rows = sql(wh, "SELECT line, rule FROM rejects WHERE source LIKE '%ids.md' ORDER BY line")
    assert rows == [(6, "pattern:arxiv_id"), (7, "pattern:arxiv_id"), (8, "pattern:arxiv_id")]
    loaded = sql(
        wh,
        "SELECT e.arxiv_id FROM digest_entries e JOIN digests USING (digest_id) "
        "WHERE file_name = 'ids.md'",
    )
    assert loaded == [("2403.15603",)]


def test_a_forged_file_name_is_printed_escaped(hostile, env):  # noqa: F811
    inbox, _, result = hostile
    lines = result.stderr.splitlines()
    assert not any(line.startswith("forged") for line in lines), result.stderr
    escaped = f"{inbox}/a\\nforged.md:1: malformed_row: fake.md:6: malformed_row: table row"
    assert any(line.startswith(escaped) for line in lines), result.stderr
    listed = run("rejects", "--rule", "malformed_row", "-w", str(hostile[1]), env=env)
    assert listed.stdout.splitlines() == [line for line in lines if line.startswith(escaped)]


def test_ingest_prints_every_problem(hostile, env):  # noqa: F811
    inbox, wh, result = hostile
    problems = [line for line in result.stderr.splitlines() if line.startswith(str(inbox))]
    rejects = sql(wh, "SELECT count(*) FROM rejects")[0][0]
    assert rejects == 5  # not_a_digest, three IDs, one malformed row
    rules = [re.search(r": (?:warning )?([a-z_:]+): ", line).group(1) for line in problems]
    assert sorted(r for r in rules if r != "missing_detail") == sorted(
        [
            "not_a_digest",
            "pattern:arxiv_id",
            "pattern:arxiv_id",
            "pattern:arxiv_id",
            "malformed_row",
        ]
    )
    assert "4 rejected; 5 new reject(s)" in result.stdout
    again = run("validate", str(inbox), env=env)  # the same problems, nothing written
    assert sorted(again.stdout.splitlines()) == sorted(problems)


@pytest.mark.slow
def test_problems_beyond_the_limit_are_counted(tmp_path, env):  # noqa: F811
    bad = tmp_path / "bad.md"
    bad.write_text(digest(*(f"| [^{n}] | broken |" for n in range(2, 40))))
    wh = tmp_path / "wh"
    result = run("ingest", str(bad), "-w", str(wh), "--no-enrich", "--max-problems", "5", env=env)
    lines = result.stderr.splitlines()
    assert sum(line.startswith(str(bad)) for line in lines) == 5
    run_id = sql(wh, "SELECT run_id FROM runs")[0][0]
    assert f"... and 33 more problem(s): `arxiv-digests rejects --run {run_id}`" in result.stderr
    listed = run("rejects", "--run", run_id, "--limit", "1000", "-w", str(wh), env=env)
    assert len(listed.stdout.splitlines()) == 38 and listed.stderr.strip() == "38 reject(s)"
    by_file = run("rejects", "--file", "nothing-like-it", "-w", str(wh), env=env)
    assert by_file.stdout == "" and by_file.stderr.strip() == "0 reject(s)"


OLD = "8b0f6809c65acdca.md"  # 93 entries, every link http://arxiv.org/abs/…


@pytest.mark.slow
@pytest.mark.corpus
def test_replay_after_a_rule_change_moves_rows(prefect, tmp_path, env, monkeypatch):  # noqa: F811
    strict = tmp_path / "strict"
    # An older, stricter rule: only https links. Every row of the 2023 digest is rejected.
    real = flows.digests.parse._ARXIV_URL
    monkeypatch.setattr(
        flows.digests.parse,
        "_ARXIV_URL",
        re.compile(real.pattern.replace("https?", "https"), real.flags),
    )
    ingest_flow(paths=[str(DIGESTS / OLD)], warehouse=str(strict), enrich=False)
    assert sql(strict, "SELECT count(*), min(rule) FROM rejects") == [(93, "not_arxiv_url")]
    assert sql(strict, "SELECT count(*) FROM digest_entries") == [(0,)]
    monkeypatch.undo()  # today's rule accepts http links

    listed = run("rejects", "--rule", "not_arxiv_url", "-w", str(strict), env=env)
    assert len(listed.stdout.splitlines()) == 93
    first = run("rejects", "replay", "-w", str(strict), env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("replayed 93 reject(s): 93 row(s) loaded (run ")

    # The same rows as a run with today's rule loads, detail blocks included.
    fresh = tmp_path / "fresh"
    ingest_flow(paths=[str(DIGESTS / OLD)], warehouse=str(fresh), enrich=False)
    assert table_hash(strict, "digest_entries") == table_hash(fresh, "digest_entries")
    assert table_hash(strict, "enrichment") == table_hash(fresh, "enrichment")
    assert sql(strict, "SELECT count(*) FROM rejects WHERE resolved_by IS NULL") == [(0,)]
    # Balanced: each digest's rows seen = rows loaded + unresolved row rejects.
    assert sql(
        strict,
        """
        SELECT d.entry_count, count(e.ref) FROM digests d
        LEFT JOIN digest_entries e USING (digest_id) GROUP BY ALL""",
    ) == [(93, 93)]
    assert_consistent(strict)
    assert run("rejects", "-w", str(strict), env=env).stdout == ""  # nothing unresolved

    before = tree_hash(strict)
    second = run("rejects", "replay", "-w", str(strict), env=env)
    assert second.stdout.strip() == "replayed 0 reject(s): 0 row(s) loaded"
    assert tree_hash(strict) == before  # a no-op: not one byte written


@pytest.mark.slow
@pytest.mark.corpus
def test_replay_after_a_validation_rule_change(prefect, tmp_path, env, monkeypatch):  # noqa: F811
    """Rows a stricter validation rule rejected carry their detail blocks, and load whole."""
    import dataclasses

    import flows.digests.parsed
    from schemas.tables import DIGEST_ENTRIES

    columns = tuple(
        dataclasses.replace(c, pattern=r"^[^A]") if c.name == "title" else c
        for c in DIGEST_ENTRIES.columns
    )  # an older rule: no title may start with an A
    monkeypatch.setattr(
        flows.digests.parsed, "DIGEST_ENTRIES", dataclasses.replace(DIGEST_ENTRIES, columns=columns)
    )
    strict = tmp_path / "strict"
    ingest_flow(paths=[str(DIGESTS / OLD)], warehouse=str(strict), enrich=False)
    rejected = sql(strict, "SELECT count(*) FROM rejects WHERE rule = 'pattern:title'")[0][0]
    assert rejected > 5
    monkeypatch.undo()
    replayed = run("rejects", "replay", "-w", str(strict), env=env)
    assert replayed.stdout.startswith(f"replayed {rejected} reject(s): {rejected} row(s) loaded")
    fresh = tmp_path / "fresh"
    ingest_flow(paths=[str(DIGESTS / OLD)], warehouse=str(fresh), enrich=False)
    assert table_hash(strict, "digest_entries") == table_hash(fresh, "digest_entries")
    assert_consistent(strict)
