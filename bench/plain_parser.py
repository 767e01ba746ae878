"""What most users of a loader would write: a plain regex over the digest table's rows, one
dict per row (no detail blocks, no layouts, no validation). The reference for `make bench`:
dlt's default path loads these dicts, and its time over the files, in one process, is what
the product's parse stage is compared with."""

import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

ROW = re.compile(
    r"^\|\s*\[\^(\d+)\]\s*\|\s*\[(.*?)\]\((https?://[^)\s]+)\)\s*\|(.*)\|\s*$", re.MULTILINE
)
ARXIV_ID = re.compile(r"/abs/([^/v]+(?:/\d+)?)(?:v(\d+))?$")


def rows(path: Path) -> Iterator[dict]:
    """One dict per table row of the digest at `path`."""
    data = path.read_bytes()
    digest_id = hashlib.sha256(data).hexdigest()
    text = data.decode("utf-8", errors="replace")
    line, counted = 1, 0
    for match in ROW.finditer(text):
        line += text.count("\n", counted, match.start())
        counted = match.start()
        ref, title, url, summary = match.groups()
        found = ARXIV_ID.search(url)
        yield {
            "digest_id": digest_id,
            "ref": int(ref),
            "arxiv_id": found.group(1) if found else None,
            "arxiv_version": int(found.group(2)) if found and found.group(2) else None,
            "title": title.strip(),
            "summary_zh": summary.strip(),
            "url": url,
            "line": line,
        }


def files(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.rglob("*") if p.suffix in (".md", ".txt") and p.is_file())


def time_over(corpus: Path) -> dict[str, float]:
    """Seconds for the plain parser over every file of `corpus`, in this one process."""
    started = time.perf_counter()
    count = sum(1 for path in files(corpus) for _ in rows(path))
    return {"seconds": round(time.perf_counter() - started, 3), "rows": count}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(time_over(Path(sys.argv[1]))))
