"""`make corpus`: the real digests the tests read, fetched from the public repositories their
generators publish, by blob hash, with `git`.

`tests/corpus/manifest.tsv` lists each file: its name, the repository that holds it and the
git blob id of its bytes (plus what the parser must find in it). Each repository is cloned once,
bare and without blobs (`--filter=blob:none`), into DEST/.git-cache; `git cat-file` then asks
the remote for exactly the blobs listed. Every file is checked against its blob id before it is
written (a temporary name, then a rename), and DEST/corpus/MANIFEST.tsv is written last, so the
tests see the corpus whole or not at all. A second run fetches nothing it already has.

    python tests/fetch_corpus.py ../shared                       # from github.com
    python tests/fetch_corpus.py DEST --base file:///srv/mirrors/  # from local mirrors

The recorded arXiv answers (`arxiv-api/`) were cut out of other projects' test fixtures by
hand (SOURCES.tsv there says how), so they are not blobs and are not fetched here: the tests
that read them skip without them.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

LISTED = Path(__file__).resolve().parent / "corpus" / "manifest.tsv"


def blob_id(data: bytes) -> str:
    """Git's id of a blob with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def listed() -> list[dict[str, str]]:
    with open(LISTED, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def git(*args: str, cwd: Path | None = None) -> bytes:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise SystemExit(f"fetch_corpus: git {args[0]} failed: {reason[-1] if reason else '?'}")
    return done.stdout


def mirror(cache: Path, url: str) -> Path:
    """A bare, blob-less clone of `url` under `cache` (made once, refreshed after)."""
    folder = cache / (url.rstrip("/").rsplit("/", 2)[-2] + "+" + url.rsplit("/", 1)[-1] + ".git")
    if not folder.exists():
        git("clone", "--quiet", "--bare", "--filter=blob:none", url, str(folder))
    return folder


def fetch(dest: Path, base: str) -> int:
    """Write every listed digest into dest/corpus/digests; the number fetched."""
    digests = dest / "corpus" / "digests"
    digests.mkdir(parents=True, exist_ok=True)
    cache = dest / ".git-cache"
    cache.mkdir(exist_ok=True)
    rows = listed()
    fetched = 0
    for row in rows:
        target = digests / row["file"]
        if target.exists() and blob_id(target.read_bytes()) == row["blob"]:
            continue
        repo = mirror(cache, base.rstrip("/") + "/" + row["repository"])
        data = git("cat-file", "blob", row["blob"], cwd=repo)
        if blob_id(data) != row["blob"]:
            raise SystemExit(f"fetch_corpus: {row['file']}: the bytes are not blob {row['blob']}")
        partial = target.with_name(target.name + ".partial")
        partial.write_bytes(data)
        os.replace(partial, target)
        fetched += 1
    manifest = dest / "corpus" / "MANIFEST.tsv"
    partial = manifest.with_name("MANIFEST.tsv.partial")
    partial.write_bytes(LISTED.read_bytes())
    os.replace(partial, manifest)
    return fetched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dest", type=Path, help="the folder the tests read (../shared)")
    parser.add_argument("--base", default="https://github.com/", help="where repositories are")
    args = parser.parse_args()
    count = fetch(args.dest, args.base)
    total = len(listed())
    print(f"{count} fetched, {total - count} already there: {total} digests in {args.dest}/corpus")


if __name__ == "__main__":
    sys.exit(main())
