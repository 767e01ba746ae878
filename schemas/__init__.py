"""Table declarations: the warehouse's public contract."""

from schemas.model import Column, Table
from schemas.tables import TABLES

__all__ = ["TABLES", "Column", "Table"]
