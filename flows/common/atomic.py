"""Files the product writes for people (`sql --output`, the report): whole or not at all,
and never through a link someone planted."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# The temporary files being written now: a command stopped by a signal removes them on its way
# out (see `flows.common.stopping.stop_on_signal`).
WRITING: set[str] = set()


@contextlib.contextmanager
def replaced(path: Path) -> Iterator[BinaryIO]:
    """A new file, written beside `path` and renamed onto it when the block ends: a reader
    never sees half of it. Its temporary name is random and made with O_CREAT | O_EXCL, which
    never follows a link, and the rename replaces a link at `path` itself, not what it points
    to. On any failure the temporary file is removed and `path` is left as it was."""
    # A short name of its own: `path`'s name may be as long as a name can be.
    fd, temporary = tempfile.mkstemp(prefix=".arxiv-digests-", suffix=".partial", dir=path.parent)
    WRITING.add(temporary)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as open() would make it, not mkstemp's 0600
        with os.fdopen(fd, "wb") as stream:
            yield stream
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    finally:
        WRITING.discard(temporary)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_failure(path: Path, exc: OSError) -> str:
    """The one line for a file that could not be written, with what to do."""
    reason = exc.strerror or str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"cannot write {path}: its folder {path.parent} does not exist; create it first"
    if isinstance(exc, IsADirectoryError) or os.path.isdir(path):
        return f"cannot write {path}: it is a folder; give a file name"
    return f"cannot write {path}: {reason}; choose another place or free some space"
