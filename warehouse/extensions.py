"""DuckDB's extensions from their PyPI wheels, loaded by file path.

DuckDB downloads extensions at run time from its own site; the registries this product installs
from (and many a locked-down machine) do not serve that site, but PyPI ships each extension as
a wheel (`duckdb-extension-<name>`) built for one DuckDB release. That is why `duckdb` is pinned
to the release those wheels are built for. DuckDB names an extension after its file, and the
sqlite wheel's file is `sqlite.duckdb_extension` while the extension calls itself
`sqlite_scanner` (postgres: `postgres_scanner`): each file is presented under its own name by a
symbolic link in a cache folder.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import tempfile
from pathlib import Path

import duckdb

from schemas.errors import ArxivDigestsError

# wheel module -> the name DuckDB knows the extension by.
WHEELS = {
    "duckdb_extension_ducklake": "ducklake",
    "duckdb_extension_sqlite": "sqlite_scanner",
    "duckdb_extension_postgres": "postgres_scanner",
    "duckdb_extension_httpfs": "httpfs",
    "duckdb_extension_fts": "fts",  # its `stem` for the search index (warehouse/search_sql.py)
}


class ExtensionMissing(ArxivDigestsError):
    """An extension wheel is not installed (or not for this DuckDB release)."""


def _cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "arxiv-digests" / "duckdb-extensions" / f"v{duckdb.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: a private temporary folder does as well
        folder = Path(tempfile.gettempdir()) / f"arxiv-digests-ext-{os.getuid()}"
        folder.mkdir(exist_ok=True)
    return folder


def extension_file(module: str) -> Path:
    """The file DuckDB should load for the extension in wheel `module`, under its own name."""
    name = WHEELS[module]
    try:
        package = importlib.import_module(module)
    except ImportError:
        raise ExtensionMissing(
            f"the DuckDB extension {name} is not installed: run `make install` "
            f"(pip package {module.replace('_', '-')}=={duckdb.__version__})"
        ) from None
    built = Path(str(package.__file__)).parent / "extensions" / f"v{duckdb.__version__}"
    files = list(built.glob("*.duckdb_extension"))
    if not files:
        raise ExtensionMissing(
            f"{module} holds no extension for DuckDB {duckdb.__version__}: install "
            f"{module.replace('_', '-')}=={duckdb.__version__}"
        )
    if files[0].stem == name:
        return files[0]
    link = _cache() / f"{name}.duckdb_extension"
    if not link.exists() or link.resolve() != files[0].resolve():
        # A new link is renamed into place: processes starting at once never see half of one.
        tmp = link.with_name(f".{name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(files[0])
        os.replace(tmp, link)
    return link


def load(con: duckdb.DuckDBPyConnection, *modules: str) -> None:
    """Load DuckDB extensions from their wheels, by file path."""
    for module in modules:
        con.execute(f"LOAD '{extension_file(module)}'")
