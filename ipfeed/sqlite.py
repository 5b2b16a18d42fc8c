"""The SQLite plumbing the outbox and the index share: private files, WAL, transactions, and
the integrity check the crash tests make."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def connect(path: Path, synchronous: str, *, any_thread: bool = False) -> sqlite3.Connection:
    """Open (creating 0600 first) a database in WAL mode with the given durability; with
    `any_thread`, usable from a thread other than this one (one at a time: homedir's pools)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))  # private before SQLite opens it
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=not any_thread)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One atomic write (BEGIN IMMEDIATE: writers queue instead of failing later)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def integrity(path: Path) -> str:
    """SQLite's own check of a database file: "ok", or what is broken."""
    db = sqlite3.connect(path)
    try:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        db.close()
