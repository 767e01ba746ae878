"""A git source is untrusted input: a repository whose config names programs, a partial clone,
a helper killed while it reads, a path that is not UTF-8, a missing object. Nothing it names
runs, nothing in it is written, and every version ends loaded or rejected, read again by the
next run when reading failed."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import cli_output, one_line, sql, tree_hash
from test_git_source import A1, A2, CL, Repo, digest

from flows.digests.history import GitSource, walk
from flows.pipeline.ingest import ingest_flow


def trap(tmp_path: Path) -> tuple[Path, Path]:
    """A program that leaves a mark when it runs, and the mark's path."""
    mark = tmp_path / "ran"
    evil = tmp_path / "evil.sh"
    evil.write_text(f'#!/bin/sh\necho "$0 $*" >> {mark}\ncat >/dev/null\nexit 0\n')
    evil.chmod(0o755)
    return evil, mark


def signed_commit(repo: Repo) -> None:
    """HEAD rewritten with a `gpgsig` header: `git log --show-signature` asks gpg.program."""
    body = repo.git("cat-file", "commit", "HEAD")
    header, message = body.split("\n\n", 1)
    sig = "gpgsig -----BEGIN PGP SIGNATURE-----\n \n abc\n -----END PGP SIGNATURE-----"
    text = f"{header}\n{sig}\n\n{message}\n"
    done = subprocess.run(
        ["git", "-C", str(repo.path), "hash-object", "-t", "commit", "-w", "--stdin"],
        input=text, capture_output=True, text=True, check=True,
    )  # fmt: skip
    repo.git("update-ref", "HEAD", done.stdout.strip())


ARMED = {
    "log.showSignature": "true",
    "gpg.program": "{evil}",
    "gpg.ssh.program": "{evil}",
    "core.fsmonitor": "{evil}",
    "core.pager": "{evil}",
    "diff.external": "{evil}",
    "core.hooksPath": "{hooks}",
    "core.sshCommand": "{evil}",
    "core.alternateRefsCommand": "{evil}",
    "diff.digest.textconv": "{evil}",
    "filter.digest.smudge": "{evil}",
    "remote.origin.uploadpack": "{evil}",
}


def test_a_source_config_that_names_programs_runs_none(tmp_path, prefect):
    evil, mark = trap(tmp_path)
    repo = Repo(tmp_path / "repo")
    attributes = b"*.md diff=digest filter=digest\n"
    repo.commit("2024-03-01", {"cs.AI.md": A1, ".gitattributes": attributes})
    repo.commit("2024-03-02", {"cs.AI.md": A2})
    signed_commit(repo)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("post-checkout", "reference-transaction", "post-index-change"):
        (hooks / hook).symlink_to(evil)
    for key, value in ARMED.items():
        repo.git("config", key, value.format(evil=evil, hooks=hooks))
    # The trap is armed: git as a user runs it, reading the same history.
    subprocess.run(["git", "-C", str(repo.path), "log", "-1"], capture_output=True, check=True)
    assert mark.exists()
    mark.unlink()

    before = tree_hash(repo.path)
    code, output = cli_output(
        "ingest", f"git+file://{repo.path}", "--no-enrich", "-q", "-w", str(tmp_path / "wh")
    )
    assert code == 0 and "Traceback" not in output, output
    assert not mark.exists(), mark.read_text()
    assert tree_hash(repo.path) == before
    assert sql(tmp_path / "wh", "SELECT count(*) FROM digests") == [(2,)]


def test_a_partial_clone_is_refused_and_never_written(tmp_path):
    evil, mark = trap(tmp_path)
    origin = Repo(tmp_path / "origin")
    origin.commit("2024-03-01", {"cs.AI.md": A1, "cs.CL.md": CL})
    origin.git("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "clone"
    subprocess.run(
        ["git", "clone", "-q", "--bare", "--filter=blob:none", f"file://{origin.path}", str(clone)],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["git", "-C", str(clone), "config", "remote.origin.uploadpack", str(evil)])
    before = tree_hash(clone)
    wh = tmp_path / "wh"
    line = one_line(*cli_output("ingest", f"git+file://{clone}", "--no-enrich", "-w", str(wh)), 2)
    assert "is a partial clone" in line and "give a full clone" in line, line
    assert not mark.exists()
    assert tree_hash(clone) == before
    assert not wh.exists()


def undecodable_and_missing(tmp_path: Path) -> tuple[Repo, str]:
    """A history with a file whose path is not UTF-8 and a blob deleted from its objects;
    returns it and the blob that is missing."""
    repo = Repo(tmp_path / "repo")
    repo.commit("2024-03-01", {"cs.AI.md": A1})
    (repo.path / "2024-03-02").mkdir()
    (repo.path / os.fsdecode(b"2024-03-02/cs.\xff.md")).write_bytes(digest(20))
    repo.commit("2024-03-02", {"cs.CL.md": CL})
    lost = digest(21)
    repo.commit("2024-03-03", {"econ.md": lost, "cs.AI.md": A2})
    blob = repo.git("rev-parse", "HEAD:econ.md")
    (repo.path / ".git" / "objects" / blob[:2] / blob[2:]).unlink()
    return repo, blob


@pytest.mark.slow
def test_a_bad_path_or_a_missing_object_is_one_reject_and_the_rest_loads(tmp_path, prefect):
    repo, blob = undecodable_and_missing(tmp_path)
    wh = tmp_path / "wh"
    result = ingest_flow(paths=[f"git+file://{repo.path}"], warehouse=str(wh), enrich=False)
    assert sql(wh, "SELECT file_name FROM digests ORDER BY 1") == [
        ("cs.AI.md",), ("cs.AI.md",), ("cs.CL.md",)
    ]  # fmt: skip
    rejects = sql(wh, "SELECT rule, source, message FROM rejects ORDER BY rule")
    assert [r[0] for r in rejects] == ["undecodable_name", "unreadable"]
    assert rejects[0][1].endswith(":2024-03-02/cs.\\xff.md") and "@" in rejects[0][1]
    assert rejects[1][1].endswith(":econ.md") and blob in rejects[1][2]
    # The missing object is read again by the next run: the head stays before its commit.
    [held] = [line for line in result["lines"] if "could not be read" in line]
    assert "econ.md" in held and "the next run reads them again" in held
    first, second = repo.git("rev-list", "--reverse", "HEAD").split()[:2]
    assert sql(wh, "SELECT head_commit FROM git_sources") == [(second,)]

    subprocess.run(  # the object comes back (fetched, restored): the next run loads it
        ["git", "-C", str(repo.path), "hash-object", "-w", "--stdin"],
        input=digest(21), check=True, capture_output=True,
    )  # fmt: skip
    again = ingest_flow(paths=[f"git+file://{repo.path}"], warehouse=str(wh), enrich=False)
    assert again["files_new"] == 1 and not [x for x in again["lines"] if "could not" in x]
    assert sql(wh, "SELECT count(*) FROM digests WHERE file_name = 'econ.md'") == [(1,)]
    assert sql(wh, "SELECT rule FROM rejects WHERE resolved_by IS NULL") == [("undecodable_name",)]
    assert sql(wh, "SELECT head_commit FROM git_sources") == [(repo.git("rev-parse", "HEAD"),)]
    assert first != second


def cat_file_helpers() -> list[int]:
    """The `git cat-file --batch` processes this process started."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == me and b"cat-file\0--batch\0" in command:
            found.append(int(entry.name))
    return found


class Killer(threading.Thread):
    """Kills every `git cat-file --batch` helper at random moments, `kills` times."""

    def __init__(self, seed: int, kills: int):
        super().__init__(daemon=True)
        self.random, self.kills, self.done, self.killed = random.Random(seed), kills, False, 0

    def run(self) -> None:
        while not self.done and self.killed < self.kills:
            time.sleep(self.random.uniform(0, 0.004))
            for pid in cat_file_helpers():
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.killed += 1
                except ProcessLookupError:
                    pass


@pytest.mark.slow
def test_a_helper_killed_at_random_moments_then_the_next_run_has_the_whole_history(
    tmp_path, prefect
):
    repo = Repo(tmp_path / "repo")
    rng = random.Random(7)
    for day in range(1, 29):
        names = rng.sample(["cs.AI.md", "cs.CL.md", "cs.LG.md", "econ.md", "stat.ML.md"], 3)
        repo.commit(f"2024-02-{day:02d}", {n: digest(rng.randrange(10**6), 30) for n in names})
    source = f"git+file://{repo.path}"
    whole = walk(GitSource.parse(source), str(repo.path), None)
    query = "SELECT digest_id, digest_date, category FROM digests ORDER BY ALL"
    entries = "SELECT count(*), count(DISTINCT digest_id) FROM digest_entries"
    reference = tmp_path / "reference"
    ingest_flow(paths=[source], warehouse=str(reference), enrich=False)
    expected = sql(reference, query)
    assert len(expected) == len(whole.versions) == 84
    held_back = 0
    for trial in range(10):
        wh = tmp_path / f"wh{trial}"
        killer = Killer(seed=trial, kills=1 + trial * 4)
        killer.start()
        first = ingest_flow(paths=[source], warehouse=str(wh), enrich=False)
        killer.done = True
        killer.join()
        held_back += any("could not be read" in line for line in first["lines"])
        loaded = sql(wh, query)
        assert set(loaded) <= set(expected)  # nothing read wrong, ever
        ingest_flow(paths=[source], warehouse=str(wh), enrich=False)
        assert sql(wh, query) == expected, f"trial {trial}: {killer.killed} kill(s)"
        assert sql(wh, entries) == sql(reference, entries)
        assert sql(wh, "SELECT count(*) FROM rejects WHERE resolved_by IS NULL") == [(0,)]
    # How many trials lose a read twice depends on the machine's load (the killer shares the
    # GIL); the held-back head is shown without chance by the test below.
    print(f"{held_back} of 10 trials held their head back")


def first_two_helpers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, then: str) -> None:
    """A `git` before the real one on PATH: its first two `cat-file --batch` helpers run the
    shell command `then` instead of answering; the others are the real git's."""
    count, real = tmp_path / "count", subprocess.check_output(["which", "git"], text=True).strip()
    fake = tmp_path / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(
        f'#!/bin/sh\ncase "$*" in *"cat-file --batch")\n  echo x >> {count}\n'
        f'  [ "$(wc -l < {count})" -le 2 ] && {then};;\nesac\nexec {real} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")


def test_two_helpers_dying_in_turn_hold_the_head_back_and_the_next_run_reads_on(
    tmp_path, prefect, monkeypatch
):
    repo = Repo(tmp_path / "repo")
    for day in range(1, 5):
        repo.commit(f"2024-02-{day:02d}", {"cs.AI.md": digest(day, 5), "cs.CL.md": digest(day + 9)})
    first_two_helpers(tmp_path, monkeypatch, "exit 1")  # die unanswered
    source, wh = f"git+file://{repo.path}", tmp_path / "wh"
    first = ingest_flow(paths=[source], warehouse=str(wh), enrich=False)
    [held] = [line for line in first["lines"] if "could not be read" in line]
    assert ": 1 version(s) could not be read (the first: cs.AI.md at " in held
    assert sql(wh, "SELECT count(*) FROM digests") == [(7,)]
    assert sql(wh, "SELECT rule FROM rejects WHERE resolved_by IS NULL") == [("unreadable",)]
    assert sql(wh, "SELECT count(*) FROM git_sources WHERE head_commit IS NOT NULL") == [(0,)]
    second = ingest_flow(paths=[source], warehouse=str(wh), enrich=False)
    assert second["files_new"] == 1 and not [x for x in second["lines"] if "could not" in x]
    assert sql(wh, "SELECT count(*) FROM digests") == [(8,)]
    assert sql(wh, "SELECT count(*) FROM rejects WHERE resolved_by IS NULL") == [(0,)]
    assert sql(wh, "SELECT head_commit FROM git_sources") == [(repo.git("rev-parse", "HEAD"),)]


def test_helpers_that_hang_are_killed_in_time_and_the_run_goes_on(tmp_path, prefect, monkeypatch):
    """A `cat-file` helper that never answers (stopped, stuck on a lock) is killed after its
    read's time and counts as one that died: two in turn hold the head back, and the run
    ends instead of waiting for ever."""
    from flows.digests import git

    repo = Repo(tmp_path / "repo")
    for day in range(1, 3):
        repo.commit(f"2024-02-{day:02d}", {"cs.AI.md": digest(day, 5)})
    first_two_helpers(tmp_path, monkeypatch, "exec sleep 600")  # never answer
    monkeypatch.setattr(git, "READ_TIMEOUT", 1.0)
    git.reader.cache_clear()
    source, wh = f"git+file://{repo.path}", tmp_path / "wh"
    started = time.monotonic()
    first = ingest_flow(paths=[source], warehouse=str(wh), enrich=False)
    assert time.monotonic() - started < 60
    assert [line for line in first["lines"] if "1 version(s) could not be read" in line]
    assert sql(wh, "SELECT count(*) FROM git_sources WHERE head_commit IS NOT NULL") == [(0,)]
    second = ingest_flow(paths=[source], warehouse=str(wh), enrich=False)
    assert not [line for line in second["lines"] if "could not" in line]
    assert sql(wh, "SELECT count(*) FROM digests") == [(2,)]
    assert sql(wh, "SELECT head_commit FROM git_sources") == [(repo.git("rev-parse", "HEAD"),)]
