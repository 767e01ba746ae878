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
from pathlib import Path

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


def load(corpus: Path, warehouse: str, env: dict[str, str], *extra: str) -> dict[str, float]:
    command = [str(VENV / "arxiv-digests"), "ingest", str(corpus), "--no-enrich", "-q"]
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        return measure(*command, "-w", warehouse, *extra)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def main(corpus: Path, entries: int) -> None:
    from flows import server

    work = DATA / f"team-work-{entries}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    # One Prefect server for every run, as a team has: no temporary server in the figures.
    managed = server.spawn(server._free_port(0), work / "prefect-server.log", tied=True)
    os.environ["PREFECT_API_URL"] = managed.url
    try:
        results = _runs(corpus, work)
    finally:
        server.stop_process(managed.pid)
    (DATA / f"team-{entries}.json").write_text(json.dumps(results, indent=1))
    shutil.rmtree(work, ignore_errors=True)


def _runs(corpus: Path, work: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    results["local pool, local folder"] = load(corpus, str(work / "local"), {})
    cluster = DaskCluster()
    try:
        results["Dask (2 workers), local folder"] = load(
            corpus, str(work / "dask"), {}, "--dask-address", cluster.address
        )
        results["Dask (2 workers), local folder"]["workers_peak_mb"] = peak_mb(cluster.workers.pid)
    finally:
        cluster.stop()
    s3, postgres = S3Server(), Postgres()
    try:
        client = s3.client()
        client.create_bucket(Bucket="bench")
        catalogs = {"SQLite": str(work / "catalog.sqlite"), "PostgreSQL": postgres.database()}
        for name, catalog in catalogs.items():
            env = s3.env | {"ARXIV_DIGESTS_CATALOG": catalog}
            label = f"local pool, moto S3 + {name} catalog"
            results[label] = load(corpus, f"s3://bench/{name.lower()}", env)
            results[label]["s3_server_peak_mb"] = peak_mb(s3.process.pid)
    finally:
        s3.stop()
        postgres.stop()
    return results


if __name__ == "__main__":
    main(Path(sys.argv[1]), int(sys.argv[2]))
