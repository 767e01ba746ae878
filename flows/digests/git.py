"""The `git` command as a reader of untrusted repositories.

A source repository's config is input like its files: git reads it (there is no way not to),
so every key that names a program, fetches, or writes is overridden on the command line, which
wins over any config file, and the user's global and system config are not read. Blobs come
from one `git cat-file --batch` helper per repository, each checked against its id. Why not a
library that reads no config: docs/decisions/0003-git-history-source.md.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import os
import shutil
import subprocess
import threading
import time

GIT_PREFIX = "git+"


class GitSourceError(Exception):
    """A git source that cannot be read: its one line says which and what to do."""

    @property
    def why(self) -> str:
        """The line without the source it begins with (for a line that names it already)."""
        text = str(self)
        return text.split(": ", 1)[1] if text.startswith(GIT_PREFIX) and ": " in text else text


# Seconds a helper may take to answer for one blob: the largest digest of a real history
# (35 MB) takes well under one.
READ_TIMEOUT = 120.0


class BlobReader:
    """One `git cat-file --batch` process for a repository: a blob per request, no process
    start per file. Every blob read is checked against its id (git's hash of its bytes), so
    a helper killed or confused mid-read never hands on wrong bytes; a read that fails starts
    a new helper and is tried once more."""

    def __init__(self, repository: str):
        self.repository = repository
        self.lock = threading.Lock()
        self.process = self._start()
        self.deadline: float | None = None  # when the read in progress must have answered
        threading.Thread(target=self._watch, name="cat-file-watch", daemon=True).start()

    def _watch(self) -> None:
        """Kill a helper that does not answer in time (stopped, stuck on a lock, a disk that
        hangs): the read fails like a killed helper's, and is tried once more, instead of
        the run waiting for ever."""
        while True:
            deadline = self.deadline
            if deadline is not None and time.monotonic() > deadline:
                with contextlib.suppress(OSError):
                    self.process.kill()
            time.sleep(0.25)

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [*git_command(self.repository), "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=GIT_ENV,
        )

    def read(self, blob: str) -> bytes:
        """A blob's bytes, checked; OSError when two helpers in turn could not give them."""
        with self.lock:
            try:
                return self._read(blob)
            except MissingBlob:
                raise
            except (OSError, ValueError):
                self.close()
                self.process = self._start()
            try:
                return self._read(blob)
            except ValueError as exc:
                raise OSError(f"git cat-file gave a wrong answer for blob {blob}: {exc}") from None

    def _read(self, blob: str) -> bytes:
        self.deadline = time.monotonic() + READ_TIMEOUT
        try:
            return self._answer(blob)
        finally:
            self.deadline = None

    def _answer(self, blob: str) -> bytes:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(blob.encode() + b"\n")
        stdin.flush()
        header = stdout.readline().split()
        if len(header) == 2 and header == [blob.encode(), b"missing"]:
            raise MissingBlob(f"the repository has no object {blob} (missing or damaged)")
        if len(header) != 3 or header[0] != blob.encode() or header[1] != b"blob":
            raise ValueError(f"unexpected header {b' '.join(header)[:100]!r}")
        size = int(header[2])
        data = stdout.read(size + 1)
        if len(data) != size + 1 or data[-1:] != b"\n":
            raise ValueError(f"{len(data) - 1} of {size} bytes")
        data = data[:-1]
        if object_id(data, len(blob)) != blob:
            raise ValueError("the bytes do not hash to the blob's id")
        return data

    def close(self) -> None:
        """Stop the helper."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()


class MissingBlob(OSError):
    """A blob the history names that the repository does not have."""


def object_id(data: bytes, width: int = 40) -> str:
    """Git's id of a blob with these bytes (SHA-1, or SHA-256 for a 64-digit id)."""
    digest = hashlib.sha256 if width == 64 else hashlib.sha1
    return digest(b"blob %d\0" % len(data) + data).hexdigest()


@functools.lru_cache(maxsize=8)
def reader(repository: str) -> BlobReader:
    """The repository's blob reader, started once per process."""
    reader = BlobReader(repository)
    atexit.register(reader.close)
    return reader


# A source repository is untrusted input: git reads its config (there is no way not to), so
# every key of it that names a program, fetches, or writes is overridden on the command line,
# which wins over any config file; the user's global and system config are not read either.
# What each key would run is in docs/decisions/0003-git-history-source.md.
_OVERRIDES = {
    "safe.directory": "*",  # any owner's repository is read: its config is disarmed below
    "core.fsmonitor": "false",
    "core.hooksPath": os.devnull,
    "core.pager": "cat",
    "core.askPass": "",
    "core.sshCommand": "false",
    "core.gitProxy": "",
    "core.alternateRefsCommand": "",
    "core.untrackedCache": "false",
    "log.showSignature": "false",
    "gpg.program": "false",
    "gpg.openpgp.program": "false",
    "gpg.x509.program": "false",
    "gpg.ssh.program": "false",
    "gpg.ssh.defaultKeyCommand": "false",
    "diff.external": "",
    "credential.helper": "",
    "protocol.allow": "never",  # no transport: a partial clone cannot fetch what it lacks
    "gc.auto": "0",
    "maintenance.auto": "false",
    "fetch.writeCommitGraph": "false",
}
_READ_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_OPTIONAL_LOCKS": "0",  # no optional lock or index refresh: nothing is written
    "GIT_NO_LAZY_FETCH": "1",  # git 2.44 and later: no fetch of a missing object
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_PAGER": "cat",
    "GIT_EXTERNAL_DIFF": "",
}
# Variables that would point git at another repository or object store than the one named.
_DROPPED = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_CEILING_DIRECTORIES", "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_NAMESPACE", "GIT_SSH_COMMAND",
)  # fmt: skip
GIT_ENV = {k: v for k, v in os.environ.items() if k not in _DROPPED} | _READ_ENV
# Cloning and fetching a remote into the cache: the user's own config applies (credentials,
# proxies), and the transports a remote needs are allowed; the mirror's config is git's own.
FETCH_OVERRIDES = ["-c", "protocol.allow=user", "-c", "protocol.file.allow=always"]
FETCH_ENV = {k: v for k, v in os.environ.items() if k not in _DROPPED} | {
    "GIT_TERMINAL_PROMPT": "0"
}


def git_command(repository: str) -> list[str]:
    """The start of every git command line on `repository`: its config disarmed."""
    git = shutil.which("git")
    if git is None:
        raise GitSourceError("a git source needs the `git` command: install git")
    overrides = [arg for key, value in _OVERRIDES.items() for arg in ("-c", f"{key}={value}")]
    return [git, "--no-pager", *overrides, "-C", repository]
