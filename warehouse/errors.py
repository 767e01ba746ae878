"""What can go wrong reading or writing the warehouse, as the commands show it: the errors a
storage call may raise (`STORAGE_ERRORS`), and one line for each (`explain`)."""

from __future__ import annotations

import duckdb

from warehouse.connection import damage
from warehouse.store import WarehouseError

# Every error a call into `warehouse` may raise besides OSError: ours, and DuckDB's own.
STORAGE_ERRORS: tuple[type[Exception], ...] = (WarehouseError, duckdb.Error)


def explain(exc: Exception) -> str:
    """The one line for a failed read or write of the warehouse: ours as it is, damage, a
    refusal of a read-only connection, or the query's own error."""
    if isinstance(exc, WarehouseError):
        return str(exc)
    text = str(exc)
    if getattr(exc, "errno", None) == 28 or "No space left on device" in text:
        return "the disk is full: free space, then run again (nothing was changed)"
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if exc.filename else ""
        return f"cannot read or write{where}: {exc.strerror or exc}"
    broken = damage(exc) if isinstance(exc, duckdb.Error) else None
    if broken is not None:
        return str(broken)
    # `text` whole: DuckDB's later lines say `Did you mean "papers"?`
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, duckdb.PermissionException) or any(
        s in first for s in ("read-only", "configuration has been locked")
    ):  # a refusal is ours to explain: one line, without DuckDB's pointer into the query
        return (
            f"refused: `sql` only reads the warehouse's tables ({first}); "
            "write your own copy with `arxiv-digests export` if you need one"
        )
    return f"query failed: {text}"
