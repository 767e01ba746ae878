"""Digests from where they are published: the versions of digest files on a git history.

Generators publish a day's digests as a commit that rewrites `cs.AI.md`, `cs.LG.md`, … So a
source `git+URL[@REV]` stands for every version of every digest file on REV's history: a
commit's files that differ from the same path in each of its parents (added, changed, or
brought back), each once, dated by the first commit (UTC) that had it. A walk starts after
the commit a run last finished, so a daily run reads the day's commits, not the history.

A local repository (`git+file:///srv/repo`, bare or a checkout) is read where it is and never
written; a remote one is mirrored into a cache folder (`git clone --mirror`, then `git fetch`
before each run). Listing and reading are the `git` command's: `git log --raw` and one
`git cat-file --batch` per repository (docs/decisions/0003-git-history-source.md).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import posixpath
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from flows.digests.families import is_crawl_only
from flows.digests.git import (
    FETCH_ENV,
    FETCH_OVERRIDES,
    GIT_ENV,
    GIT_PREFIX,
    GitSourceError,
    MissingBlob,
    git_command,
    reader,
)
from flows.digests.names import is_utf8, path_facts
from flows.digests.text import DIGEST_SUFFIXES

REMOTE_SCHEMES = ("https", "http", "ssh", "git")
NO_BLOB = "0" * 40  # a path's side in a change where it does not exist (deleted)
BLOB_MODES = ("100644", "100755")  # a file (a link or a submodule is not read)


def is_git(text: object) -> bool:
    """Whether an input names a git history (`git+…`)."""
    return isinstance(text, str) and text.startswith(GIT_PREFIX)


@dataclass(frozen=True)
class GitSource:
    """A git history to load: where the repository is, and which revision's history."""

    url: str  # what git reads: file:///srv/repo, https://github.com/…
    rev: str | None  # a branch, tag or commit; None: the repository's default branch

    @classmethod
    def parse(cls, text: str) -> GitSource:
        """`git+URL[@REV]`: a file:// or https:// (http, ssh, git) URL, or a plain path."""
        parts = urlsplit(text.removeprefix(GIT_PREFIX))
        if parts.scheme not in ("", "file", *REMOTE_SCHEMES):
            raise GitSourceError(
                f"{text}: a git source is git+file:///path or git+https://host/repo "
                "(optionally @branch, @tag or @commit)"
            )
        path, rev = parts.path, None
        if "@" in path:
            path, rev = path.rsplit("@", 1)
            if not rev:
                raise GitSourceError(f"{text}: nothing after '@': name a branch, tag or commit")
        scheme = parts.scheme or "file"
        if scheme == "file":
            path = os.path.abspath(os.path.expanduser(unquote(path)))
        return cls(urlunsplit((scheme, parts.netloc, path, parts.query, "")), rev)

    @property
    def name(self) -> str:
        """The source as the warehouse records it (without the revision)."""
        return GIT_PREFIX + self.url

    @property
    def remote(self) -> bool:
        """Whether the repository is mirrored into the cache (it is not on this machine)."""
        return not self.url.startswith("file:")

    def __str__(self) -> str:
        return self.name + (f"@{self.rev}" if self.rev else "")


@dataclass(frozen=True)
class GitVersion:
    """One version of a digest file on a history: where `read_bytes` finds it, and the
    first commit that had it. Stands where a `Path` stands in reading and parsing, and
    pickles as these few fields (a Dask worker on this machine reads it itself)."""

    repository: str  # the repository's folder, as git takes it
    source: str  # `git+URL`, for the path shown and recorded
    commit: str  # the first commit that had this version
    path: str  # the file's path in the tree
    blob: str
    size: int
    committed: int  # that commit's time, seconds since the epoch (UTC)

    immutable = True  # never changes once committed: no quiet window, no `seen_files` row

    def __str__(self) -> str:
        return f"{self.source}@{self.commit}:{self.path}"

    @property
    def name(self) -> str:
        """The file's name (its category, as for a file in a folder)."""
        return posixpath.basename(self.path)

    @property
    def committed_on(self) -> date:
        """The date (UTC) of the first commit that had this version."""
        return datetime.fromtimestamp(self.committed, UTC).date()

    def stat(self) -> os.stat_result:
        """The blob's size, and the commit's time as its modification time."""
        if self.size < 0:
            raise MissingBlob(f"the repository has no object {self.blob} (missing or damaged)")
        t = self.committed
        return os.stat_result(
            (0o100644, 0, 0, 1, 0, 0, self.size, t, t, t, float(t), float(t), float(t))
            + (t * 1_000_000_000,) * 3
        )

    def read_bytes(self) -> bytes:
        """The version's bytes (an OSError, as for a file, when they cannot be read)."""
        return reader(self.repository).read(self.blob)


def _run(
    source: GitSource, repository: str, *args: str, stdin: str = "", fetching: bool = False
) -> str:
    """A git command's output; its last error line in one GitSourceError when it fails."""
    command = git_command(repository)
    if fetching:
        command = [*command, *FETCH_OVERRIDES]
    done = subprocess.run(
        [*command, *args],
        input=stdin.encode(),
        capture_output=True,
        env=FETCH_ENV if fetching else GIT_ENV,
        check=False,
    )
    if done.returncode != 0:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[-1]
        raise GitSourceError(f"{source}: git {args[0]} failed: {last}")
    return done.stdout.decode("utf-8", "surrogateescape")


def repository_folder(source: GitSource, cache: Path) -> str:
    """The folder to read: a local repository where it is, a remote one's mirror in `cache`
    (made, or fetched, now)."""
    if source.remote:
        return str(_mirror(source, cache))
    path = urlsplit(source.url).path
    if not Path(path).is_dir():
        raise GitSourceError(f"{source}: no such folder {path}: give a repository's folder")
    inside = subprocess.run(
        [*git_command(path), "rev-parse", "--git-dir"], capture_output=True, env=GIT_ENV
    )
    if inside.returncode != 0:
        raise GitSourceError(
            f"{source}: {path} is not a git repository: give a repository's folder (a "
            "checkout or a bare repository)"
        )
    if _partial(path):
        raise GitSourceError(
            f"{source}: {path} is a partial clone (objects left on a remote, fetched on "
            "demand, which would write into it and run its remote's programs): give a full "
            "clone (`git clone --mirror URL`) or the remote's URL"
        )
    return path


def _partial(path: str) -> bool:
    """Whether a repository is a partial clone: its config names a promisor remote, which git
    would fetch missing objects from (`.promisor` packs alone, as a copy of one holding every
    object has, make git fetch nothing)."""
    config = subprocess.run(
        [*git_command(path), "config", "--get-regexp",
         r"^(extensions\.partialclone|remote\..*\.promisor|remote\..*\.partialclonefilter)$"],
        capture_output=True, env=GIT_ENV,
    )  # fmt: skip
    return bool(config.stdout.strip())


def check_reachable(source: GitSource) -> None:
    """A remote that cannot be reached (or has no such revision) is one GitSourceError now,
    before a run makes anything: `git ls-remote`, one round trip."""
    refs = _run(source, tempfile.gettempdir(), "ls-remote", "--quiet", source.url, fetching=True)
    if source.rev and not re.fullmatch(r"[0-9a-f]{7,64}", source.rev):
        names = {line.split("\t", 1)[-1] for line in refs.splitlines()}
        wanted = {f"refs/heads/{source.rev}", f"refs/tags/{source.rev}", source.rev}
        if not names & wanted:
            raise GitSourceError(
                f"{source}: no branch or tag {source.rev!r} on the remote: `git ls-remote "
                f"{source.url}` lists what there is"
            )


def mirror_folder(source: GitSource, cache: Path) -> Path:
    """Where a remote repository's mirror is kept: named for its URL, readable and unique."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", source.url.split("://", 1)[-1])[:80]
    return cache / f"{readable}-{hashlib.sha256(source.url.encode()).hexdigest()[:10]}.git"


def _mirror(source: GitSource, cache: Path) -> Path:
    """Clone the remote into the cache (whole, then renamed in: an interrupted clone leaves
    nothing half made), or fetch what it gained since the last run."""
    folder = mirror_folder(source, cache)
    if folder.is_dir():
        _run(source, str(folder), "fetch", "--prune", "--quiet", "origin", fetching=True)
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache, prefix=".cloning-") as scratch:
        _run(source, scratch, "clone", "--mirror", "--quiet", source.url, "repo.git", fetching=True)
        os.replace(f"{scratch}/repo.git", folder)
    return folder


def head_commit(source: GitSource, repository: str) -> str:
    """The commit REV names (HEAD, the default branch, when none is given)."""
    rev = source.rev or "HEAD"
    try:
        return _run(
            source, repository, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"
        ).strip()
    except GitSourceError:
        raise GitSourceError(
            f"{source}: no branch, tag or commit {rev!r} in the repository: `git branch -a` "
            "and `git tag` list what there is"
        ) from None


def is_digest_path(path: str) -> bool:
    """The paths the inbox rules accept (a digest suffix, nothing hidden)."""
    return path.endswith(DIGEST_SUFFIXES) and not any(
        part.startswith(".") for part in path.split("/")
    )


@dataclass
class Walk:
    """What a walk of a history found."""

    head: str  # the commit walked to: what the run records once it commits
    versions: list[GitVersion]
    others: int = 0  # versions of files named for no category and no date: not read
    rewound: bool = False  # the recorded commit is not on the history: walked whole
    unnamed: list[str] = dataclasses.field(default_factory=list)  # paths not UTF-8, shown
    crawl_only: int = 0  # versions of crawl files (`flows.digests.families`): not digests


def walk(source: GitSource, repository: str, since: str | None) -> Walk:
    """The new versions on `source`'s history since the commit `since` (every version when
    None, or when `since` is no longer on the history: a force-push), oldest first, each at
    its first commit (parents before children)."""
    found = Walk(head_commit(source, repository).strip(), [])
    if since == found.head:
        return found
    exclude: list[str] = []
    if since is not None:
        found.rewound = not _on_history(repository, since, found.head)
        exclude = [] if found.rewound else [f"^{since}"]
    changes = _changes(source, repository, [found.head, *exclude])
    met: set[str] = set()
    for commit, time, path, blob in changes:
        if is_crawl_only(path.rsplit("/", 1)[-1]):  # before `met`: a digest may hold the bytes
            found.crawl_only += blob not in met
            continue
        if blob in met:
            continue
        met.add(blob)
        if path_facts(Path(path)) == (None, None):
            found.others += 1
            continue
        version = GitVersion(repository, source.name, commit, path, blob, 0, time)
        if not is_utf8(path):  # a path no table can record: one reject, the others load
            found.unnamed.append(
                str(version).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            )
            continue
        found.versions.append(version)
    sizes = _sizes(source, repository, [v.blob for v in found.versions])
    found.versions = [dataclasses.replace(v, size=sizes.get(v.blob, -1)) for v in found.versions]
    return found


def _on_history(repository: str, commit: str, head: str) -> bool:
    done = subprocess.run(
        [*git_command(repository), "merge-base", "--is-ancestor", commit, head],
        capture_output=True,
        env=GIT_ENV,
    )
    return done.returncode == 0


_SUFFIX_SPECS = [f"*{suffix}" for suffix in DIGEST_SUFFIXES]


def _changes(
    source: GitSource, repository: str, revisions: list[str]
) -> list[tuple[str, int, str, str]]:
    """(commit, its time, path, blob) of every digest file a commit added or changed (for a
    merge: changed from every parent), parents first. `git log --raw` compares trees in C,
    skipping what did not change (docs/decisions/0003)."""
    out = _run(
        source,
        repository,
        "log", "--raw", "-c", "--root", "--full-history", "--no-renames", "--no-abbrev",
        "-z", "--reverse", "--topo-order", "--format=C %H %ct", *revisions, "--", *_SUFFIX_SPECS,
    )  # fmt: skip
    changes: list[tuple[str, int, str, str]] = []
    commit, time = "", 0
    fields = out.split("\0")
    i = 0
    while i < len(fields):
        field = fields[i].lstrip("\n")
        i += 1
        if field.startswith("C "):
            _, commit, stamp = field.split()
            time = int(stamp)
        elif field.startswith(":"):
            path = fields[i]
            i += 1
            parts = field.lstrip(":").split()
            mode, blob = parts[len(parts) // 2 - 1], parts[-2]
            if blob != NO_BLOB and mode in BLOB_MODES and is_digest_path(path):
                changes.append((commit, time, path, blob))
    return changes


def _sizes(source: GitSource, repository: str, blobs: list[str]) -> dict[str, int]:
    """Each blob's size, from one `git cat-file --batch-check` (-1 for a blob the repository
    does not have: reading it says so, as a reject of its own)."""
    if not blobs:
        return {}
    out = _run(
        source, repository, "cat-file", "--batch-check=%(objectname) %(objectsize)",
        stdin="\n".join(blobs) + "\n",
    )  # fmt: skip
    pairs = (line.split() for line in out.splitlines())
    return {p[0]: int(p[1]) if len(p) == 2 and p[1].isdigit() else -1 for p in pairs if p}
