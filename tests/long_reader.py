"""A long-lived reader, run as its own process: `warehouse.connect` connections that query in
a loop until `STOP` exists, writing one JSON line per answer (or error) to `OUT`. A connection
reads the snapshot it opened at, so a new one is opened every `EVERY` queries (1: a fresh
connection for every query, as `sql` makes one, while runs commit).

    python tests/long_reader.py WAREHOUSE OUT STOP [EVERY]
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


def main(wh: str, out: Path, stop: Path, every: int = 20) -> None:
    import warehouse

    con = None
    while con is None and not stop.exists():  # until a first run has committed its tables
        try:
            con = warehouse.connect(wh)
            con.execute(QUERY).fetchone()
        except Exception:
            con = None
            time.sleep(0.05)
    queries = 0
    with open(out, "a", encoding="utf-8") as log:
        while con is not None and not stop.exists():
            try:
                queries += 1
                if queries % every == 0:
                    con.close()
                    con = warehouse.connect(wh)
                row = con.execute(QUERY).fetchone()
                log.write(json.dumps({"answer": list(row) if row else None}) + "\n")
            except Exception as exc:  # recorded: the test fails on any
                log.write(json.dumps({"error": f"{type(exc).__name__}: {exc}"}) + "\n")
            log.flush()
            time.sleep(0.02)


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), *map(int, sys.argv[4:5]))
