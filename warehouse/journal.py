"""Reading a SQLite catalog that a killed writer left mid-commit, without writing it.

A writer killed while it commits leaves `catalog.sqlite-journal` beside the catalog: the pages
it was replacing. SQLite puts them back on the next read-write open, but a reader opens the
catalog read-only and SQLite refuses to read it ("attempt to write a readonly database")
until a writer comes. Rather than write the catalog itself, a reader rolls back a private
copy of the pair in a temporary folder and reads that: the committed state, every byte of
the warehouse left as it was for the next writer to recover.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from pathlib import Path

JOURNAL_SUFFIX = "-journal"
HOT_JOURNAL = "attempt to write a readonly database"


def interrupted(catalog: Path, error: Exception) -> bool:
    """Whether `error`, met opening `catalog` read-only, means a writer's unfinished commit."""
    return HOT_JOURNAL in str(error) and Path(str(catalog) + JOURNAL_SUFFIX).exists()


def journal_beside(catalog: Path) -> bool:
    """Whether a writer's journal lies beside `catalog` (a commit it did not finish)."""
    return Path(str(catalog) + JOURNAL_SUFFIX).exists()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_size, info.st_mtime_ns


def rolled_back_copy(catalog: Path, folder: Path) -> Path | None:
    """A copy of `catalog` in `folder` with the journal beside it rolled back: the state its
    last finished commit left. None when a writer changed either file while they were copied
    (that writer recovers the catalog itself: open it again)."""
    journal = Path(str(catalog) + JOURNAL_SUFFIX)
    before = (_stamp(catalog), _stamp(journal))
    copy = folder / catalog.name
    shutil.copyfile(catalog, copy)
    if before[1] is not None:
        try:
            shutil.copyfile(journal, Path(str(copy) + JOURNAL_SUFFIX))
        except FileNotFoundError:
            return None
    if (_stamp(catalog), _stamp(journal)) != before:
        return None
    con = sqlite3.connect(copy)
    try:
        con.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the rollback happens here
    finally:
        con.close()
    return copy


def private_folder() -> Path:
    """A folder only this process reads, for one connection's copy of the catalog."""
    return Path(tempfile.mkdtemp(prefix="arxiv-digests-catalog-"))


def remove(folder: Path) -> None:
    """Remove a private folder (when its connection is gone)."""
    if folder.is_dir() and folder.name.startswith("arxiv-digests-catalog-"):
        shutil.rmtree(folder, ignore_errors=True)
