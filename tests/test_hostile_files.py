"""Hostile files: each ends as rows or as rejects with a reason, never a crash or a hang."""

from __future__ import annotations

import os
import random
import resource
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import corpus_bytes

from flows.digests.discover import discover
from flows.digests.parsed import validate_batch
from flows.digests.read import read_batch
from flows.pipeline.ingest import ingest_flow

pytestmark = pytest.mark.corpus  # every test here reads the real corpus

SAMPLE = corpus_bytes("000_35d916e6e3a253ef.txt")
BIG = corpus_bytes("149bfd714d19eacf.md")  # 1.9 MB, 737 entries
NOW = datetime.now(UTC)


def load(paths: list[Path]):
    """The flow's own batch steps: read + parse, then validate."""
    files, missing = discover(paths)
    batch = read_batch(files, set(), "test", NOW)
    valid = validate_batch(batch, "test", NOW)
    return files, missing, batch, valid


def assert_accounted(batch, valid) -> None:
    assert batch.entries_seen == valid.entries.num_rows + valid.entries_rejected
    for row in valid.rejects.to_pylist():
        assert row["rule"] and row["message"]


def mutate(seed: int, kind: str) -> bytes:
    rng = random.Random(seed)
    data = bytearray(BIG)
    if kind == "cut":
        return bytes(data[: rng.randrange(len(data))])
    if kind == "flip":
        for _ in range(200):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    lines = BIG.split(b"\n")
    if kind == "shuffle":
        rng.shuffle(lines)
    elif kind == "dupe":  # every table row twice: duplicated refs
        lines = [
            copy
            for line in lines
            for copy in ([line, line] if line.startswith(b"| [^") else [line])
        ]
    return b"\n".join(lines)


@pytest.mark.parametrize("kind", ["cut", "flip", "shuffle", "dupe"])
@pytest.mark.parametrize("seed", range(5))
def test_mutated_real_digest(tmp_path, kind, seed):
    path = tmp_path / "mutated.md"
    path.write_bytes(mutate(seed, kind))
    _, _, batch, valid = load([path])
    assert_accounted(batch, valid)
    if kind == "dupe":
        assert valid.entries.num_rows == 737
        rules = valid.rejects.column("rule").to_pylist()
        assert rules == ["unique:digest_id,ref"] * 737


@pytest.mark.parametrize(
    ("name", "data", "loaded", "rules"),
    [
        ("gbk.md", SAMPLE.decode().encode("gbk", errors="replace"), 9, []),
        ("latin1.md", SAMPLE.replace("显".encode(), b"\xe9"), 9, []),
        ("nul.md", SAMPLE.replace(b"\n\n", b"\n\x00\n", 3), 9, []),
        ("empty.md", b"", 0, ["empty_file"]),
        ("one-line.md", b"| [^1] | " + b"x" * 10_000_000, 0, ["malformed_row"]),
        ("junk.md", os.urandom(100_000), 0, ["binary_file"]),
    ],
    ids=["gbk", "latin1", "nul-bytes", "empty", "10MB-line", "random-bytes"],
)
def test_hostile_file(tmp_path, name, data, loaded, rules):
    path = tmp_path / name
    path.write_bytes(data)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _, _, batch, valid = load([path])
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 300  # bounded: a few times the file, not more
    assert valid.entries.num_rows == loaded
    assert valid.rejects.column("rule").to_pylist() == rules
    assert_accounted(batch, valid)


def test_folder_named_like_a_digest_symlink_loops_and_fifos(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "x.md").mkdir(parents=True)
    (inbox / "x.md" / "real.md").write_bytes(SAMPLE)
    (inbox / "loop").symlink_to(inbox)  # a folder loop
    (inbox / "self.md").symlink_to(inbox / "self.md")  # a file loop
    os.mkfifo(inbox / "pipe.md")  # reading it would block for ever
    files, missing, _, valid = load([inbox, inbox / "pipe.md", inbox / "self.md"])
    assert [f.name for f in files] == ["real.md"]
    assert sorted(p.problem.rule for p in missing) == ["missing_path", "not_a_file"]
    assert valid.entries.num_rows == 9


def test_file_vanishing_mid_run(tmp_path):
    path = tmp_path / "gone.md"
    path.write_bytes(SAMPLE)
    files, _ = discover([tmp_path])
    path.unlink()  # between discovery and reading
    batch = read_batch(files, set(), "test", NOW)
    valid = validate_batch(batch, "test", NOW)
    assert batch.files_rejected == 1
    assert valid.rejects.column("rule").to_pylist() == ["unreadable"]
    assert "No such file" in valid.rejects.column("message")[0].as_py()


def test_unreadable_permissions(tmp_path):
    path = tmp_path / "secret.md"
    path.write_bytes(SAMPLE)
    path.chmod(0)
    tmp_path.chmod(0o755)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        code = 1
        try:
            if os.geteuid() == 0:
                os.setuid(65534)  # as root every file is readable: read as `nobody` would
            batch = read_batch([path], set(), "test", NOW)
            os.write(write, "\n".join(str(p) for p in batch.problems).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as pipe:
        report = pipe.read()
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == f"{path}: unreadable: cannot read: Permission denied; fix and re-run"


@pytest.mark.usefixtures("prefect")
def test_the_whole_hostile_inbox_through_the_flow(tmp_path):
    inbox = tmp_path / "inbox"
    (inbox / "x.md").mkdir(parents=True)
    (inbox / "loop").symlink_to(inbox)
    (inbox / "cut.md").write_bytes(mutate(1, "cut"))
    (inbox / "flip.md").write_bytes(mutate(2, "flip"))
    (inbox / "dupe.md").write_bytes(mutate(3, "dupe"))
    (inbox / "empty.md").write_bytes(b"")
    (inbox / "junk.md").write_bytes(os.urandom(50_000))
    result = ingest_flow(paths=[str(inbox)], warehouse=str(tmp_path / "wh"), enrich=False)
    assert result["status"] == "ok"
    assert result["files_seen"] == 5 and result["files_rejected"] == 2
    assert result["entries_seen"] == result["entries_loaded"] + result["entries_rejected"]
