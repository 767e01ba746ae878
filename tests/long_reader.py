"""A long-lived reader, run as its own process: one `warehouse.connect` connection that queries
in a loop until `STOP` exists, writing one JSON line per answer (or error) to `OUT`.

    python tests/long_reader.py WAREHOUSE OUT STOP
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

# In one statement, so both counts come from the same snapshot.
QUERY = """
SELECT (SELECT count(*) FROM digest_entries),
       (SELECT coalesce(sum(entries_loaded), 0) FROM runs),
       (SELECT count(*) FROM papers),
       (SELECT count(*) FROM enrichment WHERE state = 'enriched')
"""


def main(wh: str, out: Path, stop: Path) -> None:
    import warehouse

    con = None
    while con is None and not stop.exists():  # until a first run has committed its tables
        try:
            con = warehouse.connect(wh)
            con.execute(QUERY).fetchone()
        except Exception:
            con = None
            time.sleep(0.05)
    with open(out, "a", encoding="utf-8") as log:
        while con is not None and not stop.exists():
            try:
                row = con.execute(QUERY).fetchone()
                log.write(json.dumps({"answer": list(row) if row else None}) + "\n")
            except Exception as exc:  # recorded: the test fails on any
                log.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            log.flush()
            time.sleep(0.02)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]))
