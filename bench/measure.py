"""Run one command; print its wall time and peak RSS (of it and its children) as JSON."""

import json
import resource
import subprocess
import sys
import time

command = sys.argv[sys.argv.index("--") + 1 :]
started = time.perf_counter()
result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
seconds = time.perf_counter() - started
peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if result.returncode != 0:
    sys.stderr.write(result.stderr.decode(errors="replace")[-2000:])
    sys.exit(result.returncode)
print(json.dumps({"seconds": round(seconds, 3), "peak_rss_mb": round(peak_kb / 1024, 1)}))
