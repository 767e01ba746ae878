"""The `arxiv-digests` command line. `common` makes the app; each module adds its commands."""

from flows.cli import admin, query, run, search  # noqa: F401  (they register their commands)
from flows.cli.common import app

__all__ = ["app"]
