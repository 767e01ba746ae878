"""Arrow rows a run gathers batch by batch, kept in a local file instead of memory: the
enrichment queue's sightings and the `digests` and `seen_files` rows of a whole run. Held in
memory they grew with the run (about 25 MB a million entries); spilled, the flow's memory
does not depend on how many files a run loads, and they are read back as a stream of the
batches appended, never whole.

Arrow's IPC stream format: written as batches arrive, read back without a copy of the file in
memory (plain reads, not a memory map, whose pages would count in the process's RSS)."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from flows.common.processes import alive

_NAMES = itertools.count()
_PREFIX = "arxiv-digests-run-"  # then the pid of the run that made the folder


@contextlib.contextmanager
def run_folder() -> Iterator[Path]:
    """A folder in the system's temporary folder (`TMPDIR`) for a run's spills, removed when
    the run ends, by an error or Ctrl-C too. Folders left by runs killed outright (kill -9,
    a lost machine: their process is gone) are removed first."""
    for orphan in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        pid = orphan.name.removeprefix(_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not alive(int(pid)):
            shutil.rmtree(orphan, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=f"{_PREFIX}{os.getpid()}-") as folder:
        yield Path(folder)


class Spill:
    """Rows of one `schema`, appended in batches to a file in `folder` (a run's temporary
    folder, removed with it), read back as often as needed once appending is done."""

    def __init__(self, schema: pa.Schema, folder: Path):
        self.schema = schema
        self.path = folder / f"spill-{next(_NAMES)}.arrows"
        self.rows = 0
        self._sink: pa.NativeFile | None = pa.OSFile(str(self.path), "wb")
        self._writer: ipc.RecordBatchStreamWriter | None = ipc.new_stream(self._sink, schema)

    def append(self, rows: pa.Table) -> None:
        """Add `rows` (the schema's columns, by name; cast to its types)."""
        if not rows.num_rows:
            return
        if self._writer is None:
            raise RuntimeError(f"{self.path} is closed for appending")
        try:
            self._writer.write_table(rows.select(self.schema.names).cast(self.schema))
        except OSError as exc:  # Arrow's names no file: the one-line error names the spill
            raise OSError(
                exc.errno, f"{exc.strerror or exc} (TMPDIR chooses the folder)", str(self.path)
            ) from exc
        self.rows += rows.num_rows

    def close(self) -> None:
        """End appending: the file is complete."""
        if self._writer is not None and self._sink is not None:
            self._writer.close()
            self._sink.close()
        self._writer = self._sink = None

    def batches(self) -> Iterator[pa.RecordBatch]:
        """The rows, batch by batch as appended (closes the spill for appending)."""
        self.close()
        with pa.OSFile(str(self.path), "rb") as source:
            yield from ipc.open_stream(source)

    def reader(self) -> pa.RecordBatchReader:
        """The rows as a stream, for a DuckDB statement to scan once."""
        return pa.RecordBatchReader.from_batches(self.schema, self.batches())
