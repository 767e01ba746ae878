"""From paths to Arrow batches: discover digest files, read and parse a batch of them, and
validate the rows. Plain functions; `flows.ingest` wraps them in Prefect tasks."""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flows.display import problem_line
from flows.parse import ROW_RULES, Limits, Problem, parse_digest, too_large
from schemas.tables import DIGEST_ENTRIES, DIGESTS, REJECTS, SEEN_FILES
from schemas.validate import validate

log = logging.getLogger(__name__)

DIGEST_SUFFIXES = (".md", ".markdown", ".txt")
DEFAULT_LIMITS = Limits()
ENTRY_EXTRA = pa.schema([("_raw", pa.string()), ("_source", pa.string())])
ENTRY_SCHEMA = pa.schema(list(DIGEST_ENTRIES.schema) + list(ENTRY_EXTRA))
POOL_MIN_FILES = 20  # a batch with fewer new files than this per process is parsed in-process
NewFile = tuple[Path, str, bytes]  # path, digest id (sha256 of the bytes), the bytes
# A file read before, as `seen_files` records it: absolute path, size, modification time (µs).
# A later run skips a file with the same three without reading it, as make and rsync do.
FileKey = tuple[str, int, int]
# A file modified this recently may still be being written: it is not recorded, so the next
# run reads (and hashes) it again instead of trusting its size and time.
SETTLE = timedelta(seconds=2)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# What a path may tell: a date `YYYY-MM-DD` and an arXiv category as the file's stem
# (`cs.AI.md`, `econ.md`). Anything else is left null: never guessed.
_DATE = re.compile(r"(?<!\d)(\d{4})-(\d{2})-(\d{2})(?!\d)")
_ARCHIVES = [
    "astro-ph",
    "cond-mat",
    "cs",
    "econ",
    "eess",
    "gr-qc",
    "hep-ex",
    "hep-lat",
    "hep-ph",
    "hep-th",
    "math",
    "math-ph",
    "nlin",
    "nucl-ex",
    "nucl-th",
    "physics",
    "q-bio",
    "q-fin",
    "quant-ph",
    "stat",
]
_CATEGORY = re.compile(rf"^(?:{'|'.join(map(re.escape, _ARCHIVES))})(?:\.[A-Za-z-]{{2,}})?$")


def path_facts(path: Path) -> tuple[date | None, str | None]:
    found: date | None = None
    for match in _DATE.finditer(str(path)):
        try:
            found = date(*map(int, match.groups()))
        except ValueError:
            continue
    stem = path.name
    for suffix in DIGEST_SUFFIXES:
        stem = stem.removesuffix(suffix)
    for candidate in (stem, _DATE.sub("", stem).strip("-_. ")):
        if _CATEGORY.match(candidate):
            return found, candidate
    return found, None


@dataclass
class FileProblem:
    """A problem bound to a file, for printing as `path:line: rule: message`."""

    path: str
    problem: Problem

    def __str__(self) -> str:
        p = self.problem
        return problem_line(self.path, p.line, p.rule, p.message, p.severity == "warning")


def discover(paths: list[Path]) -> tuple[list[Path], list[FileProblem]]:
    """Files to read, in a stable order: given files as they are, folders searched for digest
    files (hidden ones skipped). Paths that do not exist are problems, not errors."""
    found: list[Path] = []
    problems: list[FileProblem] = []
    for path in paths:
        if path.is_file():
            found.append(path.resolve())
        elif path.is_dir():
            found.extend(_digest_files(path))
        elif path.exists():
            problems.append(
                FileProblem(str(path), Problem("not_a_file", "not a regular file or folder"))
            )
        else:
            problems.append(
                FileProblem(str(path), Problem("missing_path", "no such file or folder"))
            )
    unique = list(dict.fromkeys(found))
    readable = [path for path in unique if _utf8(path)]
    problems += [
        FileProblem(printable(path), Problem(UNDECODABLE_NAME, UNDECODABLE_MESSAGE))
        for path in unique
        if not _utf8(path)
    ]
    return readable, problems


UNDECODABLE_NAME = "undecodable_name"
UNDECODABLE_MESSAGE = (
    "the file name is not valid UTF-8, so it cannot be recorded: rename the file (for example "
    "with `convmv -f latin1 -t utf8`) and run again"
)


def _utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # bytes the file system gave that are not UTF-8
        return False
    return True


def printable(path: Path) -> str:
    """A path as text, its undecodable bytes as backslash escapes (`\\xe9`)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def name_rejects(problems: list[FileProblem], run_id: str, now: datetime) -> list[dict[str, Any]]:
    """The reject rows of files whose names cannot be recorded (see `discover`)."""
    return [
        reject_row(
            source=p.path,
            stage="read",
            rule=p.problem.rule,
            message=p.problem.message,
            run_id=run_id,
            now=now,
        )
        for p in problems
        if p.problem.rule == UNDECODABLE_NAME
    ]


def _digest_files(folder: Path) -> list[Path]:
    """The digest files under `folder` in path order, absolute: hidden files and folders
    skipped, symlinked folders not followed (a loop would never end), symlinked files
    resolved. Directory entries tell a file's type without a stat, and paths stay strings
    until the end: an inbox of 20,000 files takes 0.16 s, not the 1.3 s of `rglob` and a
    `resolve` per file."""
    root = str(folder.resolve())
    found: list[tuple[tuple[str, ...], bool]] = []  # (parts under root, is a symlink)
    todo: list[tuple[str, ...]] = [()]
    while todo:
        under = todo.pop()
        try:
            entries = list(os.scandir(os.path.join(root, *under)))
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            parts = (*under, entry.name)
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append(parts)
                elif (
                    os.path.splitext(entry.name)[1].lower() in DIGEST_SUFFIXES
                    and entry.is_file()  # through a symlink; not a fifo, a folder, a loop
                ):
                    found.append((parts, entry.is_symlink()))
            except OSError:  # a symlink that loops
                continue
    found.sort()  # by path components, as sorted() orders Paths
    return [
        Path(os.path.realpath(os.path.join(root, *parts))) if link else Path(root, *parts)
        for parts, link in found
    ]


def file_keys(seen: pa.Table) -> set[FileKey]:
    """`seen_files` rows (source_path, size_bytes, modified_at) -> their keys, as `unchanged`
    compares them with a stat."""
    micros = pc.cast(pc.cast(seen.column("modified_at"), pa.timestamp("us")), pa.int64())
    columns = (seen.column("source_path"), seen.column("size_bytes"), micros)
    return set(zip(*(c.to_pylist() for c in columns), strict=True))


def unchanged(paths: list[Path], known_files: set[FileKey]) -> tuple[list[Path], int]:
    """`paths` less the files unchanged since a run read them (same path, size and
    modification time as `seen_files` recorded), which need not be read: (the rest, how many
    were dropped). A file that cannot be stat'ed stays, for reading to report."""
    rest: list[Path] = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            rest.append(path)
            continue
        if (str(path), info.st_size, info.st_mtime_ns // 1000) not in known_files:
            rest.append(path)
    return rest, len(paths) - len(rest)


def reject_row(
    *,
    source: str,
    stage: str,
    rule: str,
    message: str,
    run_id: str,
    now: datetime,
    digest_id: str | None = None,
    line: int | None = None,
    raw: str | None = None,
) -> dict[str, Any]:
    # The id is a function of what was rejected, not of the run: the same bad input seen by
    # ten runs is one reject.
    basis = "\x1f".join([digest_id or source, stage, rule, str(line), raw or ""])
    return {
        "reject_id": hashlib.sha256(basis.encode()).hexdigest(),
        "digest_id": digest_id,
        "source": source,
        "line": line,
        "stage": stage,
        "rule": rule,
        "message": message,
        "raw": raw,
        "rejected_at": now,
        "run_id": run_id,
    }


@dataclass
class ParsedBatch:
    digests: pa.Table
    entries: pa.Table  # digest_entries columns plus _raw and _source
    rejects: list[dict[str, Any]] = field(default_factory=list)
    seen: pa.Table = field(default_factory=SEEN_FILES.empty)
    problems: list[FileProblem] = field(default_factory=list)
    files_new: int = 0
    files_skipped: int = 0
    files_rejected: int = 0
    entries_seen: int = 0


def read_batch(
    paths: list[Path],
    known: set[str],
    run_id: str,
    now: datetime,
    pool: ParsePool | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> ParsedBatch:
    """Read and parse `paths`. `known` holds digest ids already loaded (this run included);
    files with known content are skipped, and new ids are added to it. With a `pool`, the new
    files are parsed by its worker processes (reading and hashing stay here, in order). A file
    over `limits.max_bytes` is rejected unread."""
    batch = ParsedBatch(DIGESTS.empty(), ENTRY_SCHEMA.empty_table())
    todo: list[NewFile] = []
    repeats: list[NewFile] = []
    here: set[str] = set()
    settled: list[dict[str, Any]] = []  # the files read that may go into `seen_files`
    for path in paths:
        source = str(path)
        try:
            # Stat before reading: a file changed in between is read again by the next run.
            info = path.stat()
            if info.st_size > limits.max_bytes:
                raise _TooLarge(info.st_size)
            data = path.read_bytes()
        except (OSError, _TooLarge) as exc:
            problem = (
                too_large(exc.args[0], limits)
                if isinstance(exc, _TooLarge)
                else Problem("unreadable", f"cannot read: {exc.strerror or exc}; fix and re-run")
            )
            batch.problems.append(FileProblem(source, problem))
            batch.rejects.append(
                reject_row(
                    source=source,
                    stage="read",
                    rule=problem.rule,
                    message=problem.message,
                    run_id=run_id,
                    now=now,
                )
            )
            batch.files_rejected += 1
            continue
        digest_id = hashlib.sha256(data).hexdigest()
        modified = EPOCH + timedelta(microseconds=info.st_mtime_ns // 1000)
        if modified < now - SETTLE:
            settled.append(
                {
                    "source_path": source,
                    "size_bytes": info.st_size,
                    "modified_at": modified,
                    "digest_id": digest_id,
                    "run_id": run_id,
                }
            )
        if digest_id in known:
            batch.files_skipped += 1
        elif digest_id in here:
            repeats.append((path, digest_id, data))
        else:
            here.add(digest_id)
            todo.append((path, digest_id, data))
    if pool is not None and pool.worth_it(len(todo)):
        parsed = pool.parse(todo, run_id, now, limits)
    else:
        parsed = [parse_files(todo, run_id, now, limits)]
    batch = merge([batch, *parsed])
    # A second copy of a file in one batch is skipped once the first copy loaded; a copy of a
    # file that did not load is rejected under its own path, as it would be on its own.
    loaded = set(batch.digests.column("digest_id").to_pylist())
    again = [r for r in repeats if r[1] not in loaded]
    batch.files_skipped += len(repeats) - len(again)
    if again:
        batch = merge([batch, parse_files(again, run_id, now, limits)])
    known.update(batch.digests.column("digest_id").to_pylist())
    # A file whose content did not load (binary, not a digest) is read again by every run.
    batch.seen = pa.Table.from_pylist(
        [f for f in settled if f["digest_id"] in known], schema=SEEN_FILES.schema
    )
    return batch


class _TooLarge(Exception):
    """A file over the size limit (its size in args[0]): rejected without being read."""


def parse_files(
    files: list[NewFile], run_id: str, now: datetime, limits: Limits = DEFAULT_LIMITS
) -> ParsedBatch:
    """Parse files already read, hashed and known to be new. Pure: runs in a worker process."""
    digests: list[dict[str, Any]] = []
    entries: list[dict[str, Any]] = []
    batch = ParsedBatch(DIGESTS.empty(), ENTRY_SCHEMA.empty_table())
    for path, digest_id, data in files:
        source = str(path)
        parsed = parse_digest(data, limits)
        for problem in parsed.problems:
            batch.problems.append(FileProblem(source, problem))
            if problem.severity == "reject":
                batch.rejects.append(
                    reject_row(
                        source=source,
                        stage="read" if not parsed.readable else "parse",
                        rule=problem.rule,
                        message=problem.message,
                        run_id=run_id,
                        now=now,
                        digest_id=digest_id,
                        line=problem.line,
                        raw=problem.raw,
                    )
                )
        if not parsed.readable:
            batch.files_rejected += 1
            continue
        batch.files_new += 1
        batch.entries_seen += parsed.rows_seen
        digest_date, category = path_facts(path)
        layouts = parsed.layouts
        digests.append(
            {
                "digest_id": digest_id,
                "source_path": source,
                "file_name": path.name,
                "size_bytes": len(data),
                "encoding": parsed.encoding,
                "entry_count": parsed.rows_seen,
                "layout_new": layouts["new"],
                "layout_old": layouts["old"],
                "layout_early": layouts["early"],
                "layout_plain": layouts["plain"],
                "digest_date": digest_date,
                "category": category,
                "ingested_at": now,
                "run_id": run_id,
            }
        )
        for entry in parsed.entries:
            entry["digest_id"] = digest_id
            entry["_source"] = source
            entries.append(entry)
    batch.digests = pa.Table.from_pylist(digests, schema=DIGESTS.schema)
    batch.entries = pa.Table.from_pylist(entries, schema=ENTRY_SCHEMA)
    return batch


def merge(batches: list[ParsedBatch]) -> ParsedBatch:
    return ParsedBatch(
        digests=pa.concat_tables([b.digests for b in batches]),
        entries=pa.concat_tables([b.entries for b in batches]),
        rejects=[r for b in batches for r in b.rejects],
        problems=[p for b in batches for p in b.problems],
        files_new=sum(b.files_new for b in batches),
        files_skipped=sum(b.files_skipped for b in batches),
        files_rejected=sum(b.files_rejected for b in batches),
        entries_seen=sum(b.entries_seen for b in batches),
    )


class ParsePool:
    """Processes that parse alongside the flow's own (`workers` in all, this one included),
    started on first use: only a batch with enough new files to pay for them (about 0.3 s
    each) starts them, so a daily run of a few digests never does. `spawn`, not `fork`: the
    flow's process runs Prefect's threads."""

    def __init__(self, workers: int, limits: Limits = DEFAULT_LIMITS):
        self.workers = workers
        self.limits = limits  # for the tasks that hand it files
        self._pool: ProcessPoolExecutor | None = None

    def worth_it(self, files: int) -> bool:
        return self.workers > 1 and files >= self.workers * POOL_MIN_FILES

    def parse(
        self, files: list[NewFile], run_id: str, now: datetime, limits: Limits | None = None
    ) -> list[ParsedBatch]:
        limits = limits or self.limits
        if self._pool is None:
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers - 1, mp_context=context)
        size = -(-len(files) // self.workers)
        slices = [files[i : i + size] for i in range(0, len(files), size)]
        mine: ParsedBatch | None = None
        try:
            futures = [
                self._pool.submit(parse_files, part, run_id, now, limits) for part in slices[1:]
            ]
            # The flow's process parses the first slice itself instead of waiting idle.
            mine = parse_files(slices[0], run_id, now, limits)
            return [mine, *(f.result() for f in futures)]
        except BrokenProcessPool:  # a worker died (killed, out of memory): parse here instead
            log.warning("a parse worker process died; parsing in the flow's process from now on")
            self.workers = 1
            mine = mine or parse_files(slices[0], run_id, now, limits)
            return [mine, *(parse_files(part, run_id, now, limits) for part in slices[1:])]

    def __enter__(self) -> ParsePool:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


@dataclass
class ValidBatch:
    digests: pa.Table
    entries: pa.Table
    rejects: pa.Table
    entries_rejected: int
    seen: pa.Table = field(default_factory=SEEN_FILES.empty)


def validate_batch(batch: ParsedBatch, run_id: str, now: datetime) -> ValidBatch:
    """Check every row against the declared schemas; failures become rejects."""
    digests, bad_digests = validate(DIGESTS, batch.digests)
    entries, bad_entries = validate(DIGEST_ENTRIES, batch.entries)
    rejects = list(batch.rejects)
    for row in bad_digests.to_pylist():
        rejects.append(
            reject_row(
                source=row["source_path"] or "?",
                stage="validate",
                rule=row["_rule"],
                message=row["_message"],
                run_id=run_id,
                now=now,
                digest_id=row["digest_id"],
            )
        )
    for row in bad_entries.select(
        ["_source", "digest_id", "line", "_raw", "_rule", "_message"]
    ).to_pylist():
        rejects.append(
            reject_row(
                source=row["_source"],
                stage="validate",
                rule=row["_rule"],
                message=row["_message"],
                run_id=run_id,
                now=now,
                digest_id=row["digest_id"],
                line=row["line"],
                raw=row["_raw"],
            )
        )
    parse_rejected = sum(1 for r in batch.rejects if r["rule"] in ROW_RULES)
    return ValidBatch(
        digests=digests,
        entries=entries.drop_columns([c.name for c in ENTRY_EXTRA]),
        rejects=pa.Table.from_pylist(rejects, schema=REJECTS.schema),
        entries_rejected=parse_rejected + bad_entries.num_rows,
        # A row that fails loses nothing: its file is only read again by the next run.
        seen=validate(SEEN_FILES, batch.seen)[0],
    )
