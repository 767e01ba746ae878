"""`make bench`, past one machine: the same whole-corpus load (1) on this machine's process
pool into a local folder, (2) with the parse stage on a Dask cluster of 2 worker processes,
(3) into a warehouse on moto's S3 server with a SQLite catalog, (4) the same with a PostgreSQL
catalog (the team setup). Wall time and peak RSS of each, the Dask workers' and the S3
server's peaks beside. Writes data/bench/team-<entries>.json for bench/run.py's report.

    python bench/team.py CORPUS ENTRIES
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the real servers the tests start, started alike

from run import measure  # noqa: E402
from services import Postgres, S3Server, free_port, wait_for_port  # noqa: E402

DATA = ROOT / "data" / "bench"
VENV = ROOT / ".venv" / "bin"


def peak_mb(root: int) -> float:
    """The highest peak RSS (VmHWM) among `root` and its descendants, from /proc."""
    import psutil

    processes = [psutil.Process(root), *psutil.Process(root).children(recursive=True)]
    peaks = []
    for process in processes:
        status = Path(f"/proc/{process.pid}/status").read_text()
        line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
        peaks.append(int(line.split()[1]) / 1024)
    return round(max(peaks), 1)


class DaskCluster:
    """`dask scheduler` and `dask worker --nworkers 2` on 127.0.0.1, as the README starts them."""

    def __init__(self) -> None:
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        self.scheduler = subprocess.Popen(
            [
                str(VENV / "dask"),
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ],
            **quiet,  # type: ignore[call-overload]
        )
        wait_for_port(port, self.scheduler, "dask scheduler")
        self.workers = subprocess.Popen(
            [
                str(VENV / "dask"),
                "worker",
                self.address,
                "--nworkers",
                "2",
                "--nthreads",
                "1",
                "--memory-limit",
                "4GiB",
                "--no-dashboard",
            ],
            env=os.environ | {"PYTHONPATH": str(ROOT)},
            **quiet,  # type: ignore[call-overload]
        )
        from distributed import Client

        with Client(self.address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)

    def stop(self) -> None:
        for process in (self.workers, self.scheduler):
            process.terminate()
            process.wait(timeout=30)


Target = Callable[[int], tuple[str, dict[str, str]]]  # repeat -> (warehouse, environment)


def load(corpus: Path, target: Target, repeats: int, *extra: str) -> dict[str, float]:
    """The median of `repeats` loads of `corpus`, each into a fresh warehouse of `target`."""
    command = [str(VENV / "arxiv-digests"), "ingest", str(corpus), "--no-enrich", "-q"]
    runs = []
    for n in range(repeats):
        warehouse, env = target(n)
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            runs.append(measure(*command, "-w", warehouse, *extra))
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def main(corpus: Path, entries: int) -> None:
    from flows.operations import server

    work = DATA / f"team-work-{entries}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # One Prefect server for every run, as a team has: no temporary server in the figures.
    managed = server.spawn(server._free_port(0), work / "prefect-server.log", tied=True)
    os.environ["PREFECT_API_URL"] = managed.url
    repeats = 3 if entries <= 200_000 else 1
    try:
        results = {"repeats": repeats, "runs": _runs(corpus, work, repeats)}
    finally:
        server.stop_process(managed.pid)
    (DATA / f"team-{entries}.json").write_text(json.dumps(results, indent=1))
    shutil.rmtree(work, ignore_errors=True)


def _runs(corpus: Path, work: Path, repeats: int) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}

    def folder(name: str) -> Target:
        return lambda n: (str(work / f"{name}-{n}"), {})

    results["local pool, local folder"] = load(corpus, folder("local"), repeats)
    cluster = DaskCluster()
    try:
        dask = load(corpus, folder("dask"), repeats, "--dask-address", cluster.address)
        dask["workers_peak_mb"] = peak_mb(cluster.workers.pid)
        results["Dask (2 workers), local folder"] = dask
    finally:
        cluster.stop()
    s3, postgres = S3Server(), Postgres()
    try:
        s3.client().create_bucket(Bucket="bench")
        catalogs: dict[str, Callable[[int], str]] = {
            "SQLite": lambda n: str(work / f"catalog-{n}.sqlite"),
            "PostgreSQL": lambda n: postgres.database(),
        }
        for name, catalog in catalogs.items():

            def bucket(n: int, name: str = name, catalog: Callable[[int], str] = catalog) -> Any:
                env = s3.env | {"ARXIV_DIGESTS_CATALOG": catalog(n)}
                return f"s3://bench/{name.lower()}-{n}", env

            run = load(corpus, bucket, repeats)
            run["s3_server_peak_mb"] = peak_mb(s3.process.pid)
            results[f"local pool, moto S3 + {name} catalog"] = run
    finally:
        s3.stop()
        postgres.stop()
    return results


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
