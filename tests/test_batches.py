"""A run's files in batches bounded by count and by bytes (`file_batches`), and when a batch is
worth the parse workers."""

from __future__ import annotations

from itertools import accumulate
from pathlib import Path

from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.digests.objects import ObjectFile
from flows.digests.pool import POOL_MIN_BYTES, POOL_MIN_FILES, ParsePool
from flows.pipeline.distributed import in_order
from flows.pipeline.sources import file_batches

ROOT = Path(__file__).resolve().parent.parent


def listed(sizes: list[int]) -> list[ObjectFile]:
    """Files of these sizes, as an object-store listing gives them (no disk needed)."""
    return [ObjectFile(f"s3://b/{i:04d}.md", size, 0) for i, size in enumerate(sizes)]


def shape(chunks: list[tuple[int, list[ObjectFile]]]) -> list[tuple[int, list[int]]]:
    return [(done, [f.size for f in batch]) for done, batch in chunks]


def test_a_batch_ends_at_its_count_or_before_its_bytes_overflow():
    chunks = file_batches(listed([5, 5, 5, 20, 1, 1, 1, 1]), files=3, max_bytes=12)
    assert shape(chunks) == [(2, [5, 5]), (3, [5]), (4, [20]), (7, [1, 1, 1]), (8, [1])]


def test_a_file_that_cannot_be_stated_keeps_its_place(tmp_path: Path):
    present = tmp_path / "a.md"
    present.write_bytes(b"x" * 10)
    gone = tmp_path / "gone.md"
    chunks = file_batches([present, gone, present], files=100, max_bytes=10)
    assert chunks == [(2, [present, gone]), (3, [present])]


@settings(max_examples=examples(400))
@given(
    st.lists(st.integers(0, 50), max_size=40),
    st.integers(1, 6),
    st.integers(1, 60),
)
def test_batches_keep_every_file_in_order_within_both_bounds(sizes, files, max_bytes):
    chunks = file_batches(listed(sizes), files, max_bytes)
    assert [f.size for _, batch in chunks for f in batch] == sizes
    assert [done for done, _ in chunks] == list(accumulate(len(batch) for _, batch in chunks))
    for index, (_, batch) in enumerate(chunks):
        held = sum(f.size for f in batch)
        assert len(batch) <= files and (held <= max_bytes or len(batch) == 1)
        if index + 1 < len(chunks):  # a batch ends only when the next file would break a bound
            first = chunks[index + 1][1][0]
            assert len(batch) == files or held + first.size > max_bytes


def test_parse_workers_start_for_many_files_or_many_bytes():
    pool = ParsePool(2)
    assert not pool.worth_it(2 * POOL_MIN_FILES - 1, 2 * POOL_MIN_BYTES - 1)
    assert pool.worth_it(2 * POOL_MIN_FILES, 0)
    assert pool.worth_it(3, 2 * POOL_MIN_BYTES)
    assert not ParsePool(1).worth_it(10_000, 10**10)


ORPHAN = """
import sys, time
from flows.digests.pool import ParsePool
workers = ParsePool(3).started()
for future in [workers.submit(int, "1") for _ in range(4)]:
    future.result()  # both workers up
print(" ".join(str(p) for p in workers._processes), flush=True)
time.sleep(60)
"""


def test_parse_workers_exit_when_their_run_is_killed():
    import signal
    import subprocess
    import sys
    import time

    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert parent.stdout is not None
    workers = [int(p) for p in parent.stdout.readline().split()]
    assert len(workers) == 2 and all(Path(f"/proc/{p}").exists() for p in workers)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in workers):
        time.sleep(0.1)
    alive = [p for p in workers if Path(f"/proc/{p}/status").exists()]
    zombies = [p for p in alive if "zombie" in Path(f"/proc/{p}/status").read_text()]
    assert alive == zombies, f"workers {alive} outlived their run"


class _Done:
    """A finished future: what `in_order` takes back from a task runner."""

    def __init__(self, value: object):
        self.value = value

    def result(self) -> object:
        return self.value


@given(batches=st.integers(0, 12), ahead=st.integers(1, 4))
def test_batches_parse_ahead_of_the_load_in_order_and_no_further(batches: int, ahead: int):
    """While the caller loads batch k, batches k+1 .. k+ahead have been submitted (they parse
    meanwhile) and none after them: in order, every one once, memory bounded by `ahead`."""
    submitted: list[int] = []

    def submit(chunk: list[int]) -> _Done:
        submitted.append(chunk[0])
        return _Done(chunk[0])

    chunks = [(k + 1, [k]) for k in range(batches)]
    seen = []
    for done, parsed in in_order(submit, chunks, ahead):  # type: ignore[arg-type]
        assert done == parsed + 1  # type: ignore[operator]
        seen.append(parsed)
        assert submitted == list(range(min(batches, parsed + 1 + ahead)))
    assert seen == list(range(batches))
