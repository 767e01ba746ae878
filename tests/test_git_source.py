"""The git-history source (`ingest git+URL[@REV]`), on small repositories each test builds with
the `git` command: commits over several days, a file rewritten, deleted and restored, renamed,
a file in a subfolder, files that are not digests, a merge, a force-push."""

from __future__ import annotations

import os
import random
import subprocess
from datetime import date
from pathlib import Path

import pytest
from helpers import cli_output, count, one_line, sql, tree_hash

from flows.digests.history import GitSource, GitSourceError, _mirror, mirror_folder, walk
from flows.digests.synthetic import digest_text
from flows.pipeline.ingest import ingest_flow


class Repo:
    """A repository written commit by commit, each commit on the day it is given."""

    def __init__(self, path: Path):
        self.path = path
        self.git("init", "-q", "-b", "main", str(path), here=False)

    def git(self, *args: str, day: str = "2024-01-01", here: bool = True) -> str:
        stamp = f"{day}T06:00:00+00:00"
        env = os.environ | {
            "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp,
            "GIT_AUTHOR_NAME": "generator", "GIT_AUTHOR_EMAIL": "g@example.org",
            "GIT_COMMITTER_NAME": "generator", "GIT_COMMITTER_EMAIL": "g@example.org",
        }  # fmt: skip
        where = ["-C", str(self.path)] if here else []
        done = subprocess.run(["git", *where, *args], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def commit(self, day: str, files: dict[str, bytes | None]) -> str:
        """Write (or, for None, delete) `files` and commit them on `day`; the commit's id."""
        for name, data in files.items():
            target = self.path / name
            if data is None:
                target.unlink()
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", f"digests of {day}", day=day)
        return self.git("rev-parse", "HEAD")


def digest(seed: int, entries: int = 4) -> bytes:
    return digest_text(random.Random(seed), entries, "new").encode()


A1, A2, A3, A4, CL, EC, ML, LG = (digest(seed) for seed in range(8))


def story(path: Path) -> tuple[Repo, dict[str, str]]:
    """A generator's history; returns it and its commits by name."""
    repo = Repo(path)
    commits = {
        "first": repo.commit(
            "2024-03-01",
            {"cs.AI.md": A1, "cs.CL.md": CL, "README.md": b"# digests\n", "run.py": b"print()\n",
             ".github/cs.AI.md": A4},
        ),
        "second": repo.commit(
            "2024-03-02", {"cs.AI.md": A2, "cs.CL.md": None, "archive/econ.md": EC}
        ),
        "restored": repo.commit(  # the same bytes back, and a rename: no new version
            "2024-03-03",
            {"cs.CL.md": CL, "archive/econ.md": None, "archive/q-fin.md": EC},
        ),
    }  # fmt: skip
    repo.git("checkout", "-q", "-b", "side")
    commits["side"] = repo.commit("2024-03-04", {"stat.ML.md": ML})
    repo.git("checkout", "-q", "main")
    commits["main"] = repo.commit("2024-03-04", {"cs.AI.md": A3})
    repo.git("merge", "-q", "--no-commit", "side", day="2024-03-05")
    (path / "cs.AI.md").write_bytes(A4)  # the merge's own version: in neither parent
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "merge", day="2024-03-05")
    commits["merge"] = repo.git("rev-parse", "HEAD")
    return repo, commits


# Every version on the story's history: (path, the day of its first commit).
EXPECTED = [
    ("archive/econ.md", date(2024, 3, 2)),
    ("cs.AI.md", date(2024, 3, 1)),
    ("cs.AI.md", date(2024, 3, 2)),
    ("cs.AI.md", date(2024, 3, 4)),
    ("cs.AI.md", date(2024, 3, 5)),
    ("cs.CL.md", date(2024, 3, 1)),
    ("stat.ML.md", date(2024, 3, 4)),
]


def listed(source: str, repo: Repo, since: str | None = None) -> list[tuple[str, date]]:
    found = walk(GitSource.parse(source), str(repo.path), since)
    return sorted((v.path, v.committed_on) for v in found.versions)


def test_every_version_once_at_its_first_commit(tmp_path):
    repo, commits = story(tmp_path / "repo")
    assert listed(f"git+file://{repo.path}", repo) == EXPECTED
    # From a commit on: only what the commits after it changed.
    assert listed(f"git+file://{repo.path}", repo, since=commits["restored"]) == [
        ("cs.AI.md", date(2024, 3, 4)),
        ("cs.AI.md", date(2024, 3, 5)),
        ("stat.ML.md", date(2024, 3, 4)),
    ]
    up_to_second = [*EXPECTED[:3], ("cs.CL.md", date(2024, 3, 1))]
    assert listed(f"git+file://{repo.path}@{commits['second']}", repo) == up_to_second
    head = walk(GitSource.parse(f"git+{repo.path}@side"), str(repo.path), None)
    assert head.head == commits["side"] and len(head.versions) == 5


def test_a_source_is_parsed_or_refused_in_one_line(tmp_path):
    assert GitSource.parse("git+https://github.com/qhduan/cn-chat-arxiv@main") == GitSource(
        "https://github.com/qhduan/cn-chat-arxiv", "main"
    )
    assert GitSource.parse("git+https://u@host/r.git").rev is None  # a user is not a revision
    assert GitSource.parse("git+file:///srv/repo@feature/x") == GitSource(
        "file:///srv/repo", "feature/x"
    )
    with pytest.raises(GitSourceError, match="git\\+file:///path or git\\+https"):
        GitSource.parse("git+ftp://host/repo")
    with pytest.raises(GitSourceError, match="nothing after '@'"):
        GitSource.parse("git+file:///srv/repo@")


def test_a_remote_is_mirrored_then_fetched(tmp_path):
    repo, commits = story(tmp_path / "repo")
    remote = GitSource(f"file://{repo.path}", None)  # any URL git clones, as for https
    cache = tmp_path / "cache"
    assert _mirror(remote, cache) == mirror_folder(remote, cache)
    assert walk(remote, str(mirror_folder(remote, cache)), None).head == commits["merge"]
    newer = repo.commit("2024-03-06", {"cs.LG.md": LG})
    _mirror(remote, cache)  # fetched before each run
    found = walk(remote, str(mirror_folder(remote, cache)), commits["merge"])
    assert (found.head, [v.path for v in found.versions]) == (newer, ["cs.LG.md"])
    assert [p.name for p in cache.iterdir()] == [mirror_folder(remote, cache).name]


def digests_of(wh: Path) -> list[tuple[str, str, date, str]]:
    return sql(
        wh,
        "SELECT file_name, category, digest_date, date_source FROM digests ORDER BY ALL",
    )


def load(repo: Repo, source: str, wh: Path) -> dict:
    """One run of the flow on `source`: the repository's files are the same afterwards."""
    before = tree_hash(repo.path)
    result = ingest_flow(paths=[source], warehouse=str(wh), enrich=False)
    assert tree_hash(repo.path) == before
    return result


@pytest.mark.slow
def test_a_history_loads_dated_then_only_new_commits(tmp_path, prefect):
    repo, commits = story(tmp_path / "repo")
    source, wh = f"git+file://{repo.path}", tmp_path / "wh"
    first = load(repo, source, wh)
    assert (first["files_new"], first["files_rejected"]) == (len(EXPECTED), 0)
    assert digests_of(wh) == sorted(
        (Path(p).name, Path(p).name.removesuffix(".md"), day, "commit") for p, day in EXPECTED
    )
    assert sql(wh, "SELECT count(*) FROM digest_entries") == [(4 * len(EXPECTED),)]
    assert sql(wh, "SELECT rev, head_commit, versions FROM git_sources") == [
        ("HEAD", commits["merge"], len(EXPECTED))
    ]

    again = load(repo, source, wh)
    assert (again["files_seen"], again["files_new"]) == (0, 0)  # no commit read again

    loaded = repo.commit("2024-03-06", {"cs.LG.md": LG, "cs.AI.md": A1})  # one new, one known
    third = load(repo, source, wh)
    assert (third["files_seen"], third["files_new"], third["files_skipped"]) == (2, 1, 1)
    assert ("cs.LG.md", "cs.LG", date(2024, 3, 6), "commit") in digests_of(wh)

    # A force-push: the recorded commit is gone from the branch; walked whole, one line.
    repo.git("reset", "-q", "--hard", commits["second"])
    repo.commit("2024-03-07", {"econ.md": LG + b"\n"})
    pushed = load(repo, source, wh)
    # The line the command prints (the run's log has it too, at the level the CLI set).
    assert [line for line in pushed["lines"] if "a force-push?" in line] == [
        f"{source}: the commit the last run loaded, {loaded[:12]}, is no longer on "
        "this history (a force-push?): walked it whole again; versions already loaded are skipped"
    ]
    assert (pushed["files_new"], pushed["files_skipped"]) == (1, 4)
    assert ("econ.md", "econ", date(2024, 3, 7), "commit") in digests_of(wh)
    assert sql(wh, "SELECT count(*) FROM runs WHERE status <> 'ok'") == [(0,)]


@pytest.mark.slow
def test_up_to_an_older_commit_then_the_branch_equals_one_run(tmp_path, prefect):
    repo, commits = story(tmp_path / "repo")
    source = f"git+file://{repo.path}"
    load(repo, f"{source}@{commits['restored']}", tmp_path / "steps")
    load(repo, source, tmp_path / "steps")
    load(repo, source, tmp_path / "whole")
    query = "SELECT digest_id, digest_date, category, date_source FROM digests ORDER BY ALL"
    assert sql(tmp_path / "steps", query) == sql(tmp_path / "whole", query)
    assert len(sql(tmp_path / "whole", query)) == len(EXPECTED)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("git+file://{tmp}/nowhere", "no such folder"),
        ("git+file://{tmp}", "is not a git repository"),
        ("git+file://{repo}@no-such-branch", "no branch, tag or commit 'no-such-branch'"),
        ("git+ftp://{tmp}", "a git source is git+file:///path"),
    ],
)
def test_a_source_that_cannot_be_read_is_one_line(tmp_path, given, expected):
    repo = Repo(tmp_path / "repo")
    repo.commit("2024-03-01", {"cs.AI.md": A1})
    text = given.format(tmp=tmp_path, repo=repo.path)
    line = one_line(*cli_output("ingest", text, "--no-enrich", "-w", str(tmp_path / "wh")), 2)
    assert expected in line and "nothing loaded" in line, line
    assert not (tmp_path / "wh").exists()  # no warehouse made for it


def test_a_column_added_later_fills_the_rows_written_before():
    from schemas.tables import DIGESTS
    from warehouse.declare import table_statements

    present = {c.name for c in DIGESTS.columns} - {"date_source"}
    statements = table_statements(DIGESTS, present)
    assert statements[1] == (
        'UPDATE "digests" SET "date_source" = CASE WHEN digest_date IS NOT NULL THEN \'path\' END'
    )


@pytest.mark.slow
def test_undated_digests_are_counted_with_how_to_date_them_then_dated(tmp_path, prefect):
    drop, dated, wh = tmp_path / "drop", tmp_path / "2024-02-29", tmp_path / "wh"
    for folder, names in ((drop, ("cs.AI.md", "econ.md")), (dated, ("cs.CL.md",))):
        folder.mkdir()
        for seed, name in enumerate(names):
            (folder / name).write_bytes(digest(10 + seed + len(folder.name)))
    code, output = cli_output("ingest", str(drop), str(dated), "--no-enrich", "-q", "-w", str(wh))
    assert code == 0, output
    code, output = cli_output("status", "-w", str(wh))
    assert "2 digest(s) (8 entries) have no date" in output and "ingest --date" in output
    by_day = "SELECT digest_date, sum(digests)::INT FROM daily_counts GROUP BY 1 ORDER BY 1"
    assert sql(wh, by_day) == [
        (date(2024, 2, 29), 1),
        (None, 2),
    ]
    code, output = cli_output("report", "--out", str(tmp_path / "report"), "-w", str(wh))
    page = (tmp_path / "report" / "index.html").read_text()
    assert code == 0 and "2 digest(s) (8 entries) have no date" in page

    code, output = cli_output(
        "ingest", str(drop), str(dated), "--date", "2024-03-01", "--no-enrich", "-q", "-w", str(wh)
    )
    assert code == 0 and "2 digest(s) with no date in their path dated 2024-03-01" in output
    assert digests_of(wh) == [
        ("cs.AI.md", "cs.AI", date(2024, 3, 1), "given"),
        ("cs.CL.md", "cs.CL", date(2024, 2, 29), "path"),  # its path's date stands
        ("econ.md", "econ", date(2024, 3, 1), "given"),
    ]
    code, output = cli_output("status", "-w", str(wh))
    assert "have no date" not in output
    code, output = cli_output("ingest", str(drop), "--date", "2024-02-30", "-w", str(wh))
    assert code == 2 and "'2024-02-30' does not match" in output  # no such day


def test_a_bad_source_stops_before_a_run_on_an_existing_warehouse(tmp_path, prefect):
    wh = tmp_path / "wh"
    ingest_flow(paths=[str(tmp_path / "none")], warehouse=str(wh), enrich=False)
    runs = count(wh, "runs")
    line = one_line(*cli_output("ingest", f"git+file://{tmp_path}/nowhere", "-w", str(wh)), 2)
    assert "no such folder" in line and "nothing loaded" in line, line
    assert count(wh, "runs") == runs  # no run started, none recorded
