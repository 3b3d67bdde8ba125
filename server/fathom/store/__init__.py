"""Stage 4: the index database, the only package that knows SQL."""
from .database import VERIFIED_FOR_S, IndexDamaged, IndexUnwritable, StoreError, move_aside, _migrate, _vec_extension, describe_write_error, unwritable
from .schema import SCHEMA_VERSION
from .store import Store

__all__ = [
    "SCHEMA_VERSION", "VERIFIED_FOR_S", "IndexDamaged", "IndexUnwritable", "move_aside", "Store", "StoreError", "_migrate", "_vec_extension",
    "describe_write_error", "unwritable",
]
