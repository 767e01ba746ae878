"""`make corpus` (tests/fetch_corpus.py) on local repositories built here: files fetched by
blob id from a repository's history, checked, written whole; nothing fetched twice."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

import fetch_corpus
import pytest
from conftest import DIGESTS


def git(cwd: Path, *args: str) -> str:
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "HOME": str(cwd)}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()


def repository(root: Path, name: str, versions: list[bytes]) -> None:
    """owner/name under `root`: `cs.AI.md` rewritten once per version (only the last is at
    the tip: the others live in history)."""
    folder = root / name
    folder.mkdir(parents=True)
    git(folder, "init", "-q", "-b", "main")
    for number, data in enumerate(versions):
        (folder / "cs.AI.md").write_bytes(data)
        git(folder, "add", "cs.AI.md")
        git(folder, "commit", "-q", "-m", f"day {number}")


def listing(path: Path, rows: list[tuple[str, str, bytes]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, delimiter="\t", lineterminator="\n")
        out.writerow(["file", "repository", "blob", "table_rows"])
        for file, repo, data in rows:
            out.writerow([file, repo, fetch_corpus.blob_id(data), "1"])
    return path


@pytest.fixture
def mirrors(tmp_path, monkeypatch):
    old, new, other = b"| 1 | old |\n", b"| 1 | new |\n", "| 1 | 其他 |\n".encode()
    repository(tmp_path / "remote", "gen/cn-chat-arxiv", [old, new])
    repository(tmp_path / "remote", "fork/cn-chat-arxiv", [other])
    rows = [("a.md", "gen/cn-chat-arxiv", old), ("b.md", "gen/cn-chat-arxiv", new)]
    rows.append(("c.md", "fork/cn-chat-arxiv", other))
    monkeypatch.setattr(fetch_corpus, "LISTED", listing(tmp_path / "listed.tsv", rows))
    return tmp_path, {file: data for file, _, data in rows}


def test_files_are_fetched_by_blob_from_history_and_once(mirrors):
    root, expected = mirrors
    base = (root / "remote").as_uri() + "/"
    assert fetch_corpus.fetch(root / "shared", base) == 3
    digests = root / "shared" / "corpus" / "digests"
    assert {p.name: p.read_bytes() for p in digests.iterdir()} == expected
    manifest = (root / "shared" / "corpus" / "MANIFEST.tsv").read_text()
    assert manifest == fetch_corpus.LISTED.read_text()
    assert fetch_corpus.fetch(root / "shared", base) == 0  # nothing fetched twice
    assert git(root / "remote" / "gen/cn-chat-arxiv", "status", "--porcelain") == ""


def test_a_blob_the_repository_does_not_hold_is_one_line_and_no_manifest(mirrors, monkeypatch):
    root, _ = mirrors
    rows = [("x.md", "gen/cn-chat-arxiv", b"never committed\n")]
    monkeypatch.setattr(fetch_corpus, "LISTED", listing(root / "bad.tsv", rows))
    with pytest.raises(SystemExit) as stopped:
        fetch_corpus.fetch(root / "shared", (root / "remote").as_uri() + "/")
    assert str(stopped.value).startswith("fetch_corpus: git cat-file failed")
    assert not (root / "shared" / "corpus" / "MANIFEST.tsv").exists()


@pytest.mark.corpus
def test_the_listing_names_every_file_of_the_corpus_by_its_blob():
    rows = fetch_corpus.listed()
    assert len(rows) == len(list(DIGESTS.iterdir())) == 46
    for row in rows:
        assert fetch_corpus.blob_id((DIGESTS / row["file"]).read_bytes()) == row["blob"]
