"""Digest files in an object store: an inbox may be an `s3://bucket/prefix`.

An `ObjectFile` stands where a local `Path` stands in discovery and reading: it has a name,
a `stat()` (the size and modification time the listing gave: a later run skips an object
unchanged since it was read, without asking for it again) and `read_bytes()`. It pickles as
its URI and listing, so a Dask worker reads the object itself.
"""

from __future__ import annotations

import functools
import os
import posixpath

from pyarrow import fs as pafs

from flows.digests.text import DIGEST_SUFFIXES, FileProblem, Problem
from warehouse.location import S3Access, object_key


class ObjectFile:
    """One object of an object-store inbox, as listed."""

    __slots__ = ("mtime_ns", "size", "uri")

    def __init__(self, uri: str, size: int, mtime_ns: int):
        self.uri, self.size, self.mtime_ns = uri, size, mtime_ns

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"ObjectFile({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectFile) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    @property
    def name(self) -> str:
        """The object's last path component."""
        return posixpath.basename(self.uri)

    def stat(self) -> os.stat_result:
        """The listing's size and modification time, as a stat result."""
        seconds = self.mtime_ns // 1_000_000_000
        return os.stat_result(
            (0o100644, 0, 0, 1, 0, 0, self.size, seconds, seconds, seconds)
            + (float(seconds),) * 3
            + (self.mtime_ns,) * 3
        )

    def read_bytes(self) -> bytes:
        """The object's bytes (an OSError, as a local read, when it cannot be read)."""
        with _filesystem(S3Access.from_env()).open_input_stream(object_key(self.uri)) as stream:
            return bytes(stream.read())


@functools.lru_cache(maxsize=4)
def _filesystem(access: S3Access) -> pafs.S3FileSystem:
    return access.filesystem()


def list_objects(prefix: str) -> tuple[list[ObjectFile], list[FileProblem]]:
    """The digest files under an `s3://bucket/prefix`, in key order (hidden names skipped),
    or the one problem that says why the prefix cannot be listed."""
    base = object_key(prefix).rstrip("/")
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    try:
        store = _filesystem(S3Access.from_env())
        single = store.get_file_info(base)
        if single.type == pafs.FileType.File:  # one object named in full
            return [ObjectFile(f"s3://{single.path}", single.size or 0, single.mtime_ns or 0)], []
        infos = store.get_file_info(selector)
    except OSError as exc:
        first = str(exc).splitlines()[0]
        problem = Problem(
            "unreadable", f"cannot list: {first}; check AWS_ENDPOINT_URL and the AWS credentials"
        )
        return [], [FileProblem(prefix, problem)]
    found = [
        ObjectFile(f"s3://{info.path}", info.size or 0, info.mtime_ns or 0)
        for info in infos
        if info.type == pafs.FileType.File
        and not any(part.startswith(".") for part in info.path.split("/")[1:])
        and posixpath.splitext(info.path)[1].lower() in DIGEST_SUFFIXES
    ]
    if not found and not infos:
        problem = Problem("missing_path", "no such object or prefix")
        return [], [FileProblem(prefix, problem)]
    return sorted(found, key=lambda f: f.uri.split("/")), []
