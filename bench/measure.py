"""Run one command; print as JSON its wall time, the peak RSS of its largest process
(ru_maxrss, as `time -v` reports it) and the peak of its whole process tree's summed RSS
(sampled every 100 ms: the flow, Prefect's temporary server and any parse worker together)."""

import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path


def tree_rss_kb(root: int) -> int:
    """Summed VmRSS of `root` and its descendants, from /proc."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        parents[int(entry.name)] = int(fields["PPid"])
        rss[int(entry.name)] = int(fields.get("VmRSS", "0 kB").split()[0])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


command = sys.argv[sys.argv.index("--") + 1 :]
started = time.perf_counter()
process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
peak_tree = 0
done = threading.Event()


def sample() -> None:
    global peak_tree
    while not done.is_set():
        peak_tree = max(peak_tree, tree_rss_kb(process.pid))
        time.sleep(0.1)


sampler = threading.Thread(target=sample, daemon=True)
sampler.start()
_, stderr = process.communicate()
seconds = time.perf_counter() - started
done.set()
sampler.join()
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if process.returncode != 0:
    sys.stderr.write(stderr.decode(errors="replace")[-2000:])
    sys.exit(process.returncode)
print(
    json.dumps(
        {
            "seconds": round(seconds, 3),
            "peak_rss_mb": round(peak_kb / 1024, 1),
            "tree_peak_mb": round(peak_tree / 1024, 1),
        }
    )
)
