"""Which lake's writer wrote a data file, told by evidence a copied catalog does not carry.

`.lake-id` says which lake the data folder belongs to, but a catalog copied over a warehouse
with its `.lake-id` carries both along: every data file of the warehouse then looks like a
leftover of an interrupted run. So each writer also leaves a record of its session beside the
data once it commits, `.writers/<start>-<pid>-<random>.json`: the lake it wrote for, when it
started, and the newest snapshot it committed. A file no snapshot lists was written by the
session that had started last before it (its UUIDv7 time), and is a leftover of this lake
only if that session was this lake's. A session that committed a snapshot the catalog does
not have means the catalog is older than the data: damage, never leftovers.
"""

from __future__ import annotations

import bisect
import contextlib
import json
import os
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import duckdb
from pyarrow import fs as pafs

from warehouse.location import filesystem, joined
from warehouse.store import ALIAS, Warehouse

FOLDER = ".writers"
_METADATA = f"__ducklake_metadata_{ALIAS}"


@dataclass
class Session:
    """One writer's time at the lake: what its record holds."""

    lake_id: str
    started_at: datetime
    holder: str
    snapshot_id: int | None = None  # the newest snapshot it committed
    name: str = ""

    def record(self, store: Warehouse) -> None:
        """Write (or rewrite) this session's record whole (a folder's file is written beside
        and renamed; an object store's PUT is whole)."""
        if not self.name:
            stamp = int(self.started_at.timestamp() * 1000)
            self.name = f"{stamp:013d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        fs, path = filesystem(joined(store.location, FOLDER, self.name))
        if not store.remote:  # an object store has no folders (a marker would be a key)
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        text = json.dumps(
            {"lake_id": self.lake_id, "started_at": self.started_at.isoformat(),
             "holder": self.holder, "snapshot_id": self.snapshot_id}
        )  # fmt: skip
        written = path if store.remote else path + ".partial"
        try:
            with fs.open_output_stream(written) as stream:
                stream.write(text.encode())
            if written != path:
                fs.move(written, path)
        except OSError:
            with contextlib.suppress(OSError):
                fs.delete_file(written)
            raise


def newest_snapshot(con: duckdb.DuckDBPyConnection) -> int:
    """The id of the catalog's newest snapshot."""
    row = con.execute(f"SELECT max(snapshot_id) FROM {_METADATA}.ducklake_snapshot").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def sessions(store: Warehouse) -> list[Session]:
    """Every writer session recorded beside the data, oldest first (an unreadable record is
    skipped: it proves nothing)."""
    fs, folder = filesystem(joined(store.location, FOLDER))
    selector = pafs.FileSelector(folder, allow_not_found=True)
    found = []
    for info in fs.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.path.endswith(".json"):
            continue
        try:
            with fs.open_input_stream(info.path) as stream:
                data = json.loads(bytes(stream.read(10_000)))
            found.append(
                Session(
                    str(data["lake_id"]), datetime.fromisoformat(data["started_at"]),
                    str(data.get("holder", "")), data.get("snapshot_id"),
                    info.path.rsplit("/", 1)[-1],
                )
            )  # fmt: skip
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return sorted(found, key=lambda s: s.started_at)


@dataclass
class Writers:
    """The sessions of a warehouse, to tell who wrote a file and whether the catalog is
    older than its data."""

    lake_id: str | None  # the catalog's
    recorded: list[Session]

    def writer_of(self, when: datetime) -> Session | None:
        """The session that had started last at `when` (None: before any was recorded)."""
        starts = [s.started_at for s in self.recorded]
        at = bisect.bisect_right(starts, when)
        return self.recorded[at - 1] if at else None

    def foreign(self, when: datetime) -> str | None:
        """The other lake whose writer wrote at `when`, if it was not this catalog's lake."""
        session = self.writer_of(when)
        if session is None or self.lake_id is None or session.lake_id == self.lake_id:
            return None
        return session.lake_id

    def older_catalog(self, newest: int) -> Session | None:
        """A session of this lake that committed a snapshot newer than the catalog's newest
        (`newest`): the catalog is older than the data it should list."""
        ahead = [
            s
            for s in self.recorded
            if s.lake_id == self.lake_id and s.snapshot_id is not None and s.snapshot_id > newest
        ]
        return ahead[-1] if ahead else None


def damage_line(writers: Writers, newest: int, foreign: dict[str, int]) -> str | None:
    """The one line saying why the catalog is not the one its data files belong to (another
    lake's, or an older copy of its own), or None."""
    if foreign:
        other, files = max(foreign.items(), key=lambda kv: kv[1])
        return (
            f"{files} data file(s) no snapshot lists were written by the writers of another lake "
            f"({other}), not of this catalog's ({writers.lake_id}): this catalog is not the one "
            "that lists them (copied from another warehouse?); `maintain` deletes none of them; "
            "restore this warehouse's own catalog from a backup"
        )
    ahead = writers.older_catalog(newest)
    if ahead is not None:
        return (
            f"the catalog's newest snapshot is {newest}, but a writer ({ahead.holder}) "
            f"committed snapshot {ahead.snapshot_id}: the catalog is older than its data "
            "(restored from an old backup?); `maintain` deletes nothing; restore the newest "
            "catalog from a backup"
        )
    return None


def now() -> datetime:
    """The time a session starts (before it writes any file)."""
    return datetime.now(UTC)
