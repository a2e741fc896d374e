"""The one way ``OUT/callqa.db`` is opened: the batch store, the review tables, the workbench and
the report all share these settings (WAL, autocommit, rows by name, waiting for the writer)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

__all__ = ["DB_NAME", "connect", "connect_read_only"]

DB_NAME = "callqa.db"
_BUSY_MS = 30000


def connect(db_path: str | Path, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """A read-write connection in autocommit mode, WAL journal (readers never block the batch
    writer), durable across a crash with ``synchronous=NORMAL``."""
    conn = sqlite3.connect(db_path, timeout=_BUSY_MS / 1000, isolation_level=None,
                           check_same_thread=check_same_thread)
    conn.row_factory = sqlite3.Row
    conn.execute(f"PRAGMA busy_timeout={_BUSY_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def connect_read_only(db_path: str | Path) -> sqlite3.Connection | None:
    """A read-only connection, or None when there is no database file."""
    path = Path(db_path)
    if not path.is_file():
        return None
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True,
                           timeout=_BUSY_MS / 1000, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn
