"""The durable outbox of the user's own feed: drafts, signed posts and roots, publish state.

This is the one place the user's writing lives before the node has it, so it is SQLite with
WAL and synchronous=FULL, and every step that follows (store, pin, publish) is recorded as a
watermark per node so that repeating any step after a crash is harmless. Unlike the index,
it is not a cache: deleting it can lose unpublished posts.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import sqlite
from .codec import cid_of
from .errors import FeedLocked, NewerSchema

SCHEMA_VERSION = 3
_SCHEMA = """
CREATE TABLE drafts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: posts remember their draft
    created INTEGER NOT NULL,          -- ms since epoch, when the user wrote it
    text TEXT NOT NULL,
    reply_to TEXT,
    attachments TEXT NOT NULL,         -- JSON list of {path, name, type, size}
    recipients TEXT NOT NULL DEFAULT '[]',  -- JSON list of names: a private post
    kind TEXT NOT NULL DEFAULT 'post',  -- format v2: post, reaction, repost, edit, delete
    subject TEXT,                      -- the CID a reaction, repost, edit or delete is about
    extra TEXT NOT NULL DEFAULT '{}'   -- JSON: emoji, quote, cw, sensitive, alts, card, mentions, tags
);
CREATE TABLE posts (
    seq INTEGER PRIMARY KEY,
    cid TEXT NOT NULL UNIQUE,
    block BLOB NOT NULL,
    draft_id INTEGER                   -- the draft it was sealed from
);
CREATE TABLE roots (
    seq INTEGER PRIMARY KEY,
    cid TEXT NOT NULL UNIQUE,
    block BLOB NOT NULL
);
-- blocks the feed links to besides posts and roots (follow lists)
CREATE TABLE blocks (cid TEXT PRIMARY KEY, block BLOB NOT NULL);
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class Draft:
    """A post the user wrote that is not signed yet (its attachments are not in a node yet)."""

    id: int
    created: int
    text: str
    reply_to: str | None
    attachments: list[dict[str, Any]]
    recipients: list[str]
    kind: str = "post"  # format v2 entry kind
    subject: dict[str, str] | None = None  # {"cid", "name"} of a reaction's, edit's … subject
    extra: dict[str, Any] = field(default_factory=dict)  # emoji, quote, cw, sensitive, alts, card, …


class Outbox:
    """The outbox database of one home."""

    def __init__(self, path: Path, *, any_thread: bool = False) -> None:
        self.path = path
        self.files = path.parent / "outbox-files"
        self.db = sqlite.connect(path, "FULL", any_thread=any_thread)  # the user's writing: all on disk
        self._migrate()

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def _migrate(self) -> None:
        if self.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return  # current: no write lock just to look
        with self.transaction():
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                for statement in _SCHEMA.split(";\n"):
                    if statement.strip():
                        self.db.execute(statement)
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version < SCHEMA_VERSION:
                if version == 1:
                    self.db.execute("ALTER TABLE drafts ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]'")
                self.db.execute("ALTER TABLE drafts ADD COLUMN kind TEXT NOT NULL DEFAULT 'post'")
                self.db.execute("ALTER TABLE drafts ADD COLUMN subject TEXT")
                self.db.execute("ALTER TABLE drafts ADD COLUMN extra TEXT NOT NULL DEFAULT '{}'")
                self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            elif version > SCHEMA_VERSION:
                raise NewerSchema(f"{self.path} is from a newer ipfeed (schema {version})")

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One atomic, durable write."""
        return sqlite.transaction(self.db)

    # -- drafts -----------------------------------------------------------------------
    def add_draft(self, created: int, text: str, reply_to: str | None,
                  attachments: list[dict[str, Any]], recipients: list[str] | None = None, *,
                  kind: str = "post", subject: dict[str, str] | None = None,
                  extra: dict[str, Any] | None = None, mark: str | None = None) -> int:
        """Record a post (or a reaction, repost, edit or delete) the user made; from here on it
        cannot be lost. With `mark` (a handover's key, FORMAT.md section 17) the draft is
        recorded once: a second call with the same mark returns the first draft's id."""
        with self.transaction() as db:
            if mark is not None and (seen := db.execute("SELECT value FROM state WHERE key = ?",
                                                        (mark,)).fetchone()) is not None:
                return int(seen[0])
            cur = db.execute("INSERT INTO drafts (created, text, reply_to, attachments, recipients, kind, "
                             "subject, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                             (created, text, reply_to, json.dumps(attachments),
                              json.dumps(recipients or []), kind, json.dumps(subject) if subject else None,
                              json.dumps(extra or {})))
            assert cur.lastrowid is not None
            if mark is not None:
                db.execute("INSERT INTO state (key, value) VALUES (?, ?)", (mark, str(cur.lastrowid)))
            return cur.lastrowid

    def add_drafts(self, drafts: list[tuple[int, str, str | None, list[dict[str, Any]]]],
                   recipients: list[str] | None = None) -> list[int]:
        """Record several posts in one durable transaction; return their draft ids."""
        ids = []
        to = json.dumps(recipients or [])
        with self.transaction() as db:
            for created, text, reply_to, attachments in drafts:
                cur = db.execute("INSERT INTO drafts (created, text, reply_to, attachments, recipients) "
                                 "VALUES (?, ?, ?, ?, ?)",
                                 (created, text, reply_to, json.dumps(attachments), to))
                assert cur.lastrowid is not None
                ids.append(cur.lastrowid)
        return ids

    def drafts(self, limit: int | None = None) -> list[Draft]:
        """Drafts not yet sealed, oldest first (the oldest `limit` only, if given)."""
        rows = self.db.execute("SELECT id, created, text, reply_to, attachments, recipients, kind, subject, "
                               "extra FROM drafts ORDER BY id LIMIT ?", (-1 if limit is None else limit,))
        return [Draft(i, c, t, r, json.loads(a), json.loads(to), k, json.loads(s) if s else None,
                      json.loads(x)) for i, c, t, r, a, to, k, s, x in rows]

    def drop_draft(self, draft_id: int) -> Draft | None:
        """Forget a draft that was never signed, and its staged files; None if there is none."""
        draft = next((d for d in self.drafts() if d.id == draft_id), None)
        if draft is not None:
            with self.transaction() as db:
                db.execute("DELETE FROM drafts WHERE id = ?", (draft_id,))
            for a in draft.attachments:
                Path(a["path"]).unlink(missing_ok=True)
        return draft

    def seal(self, posts: list[tuple[int, int, str, bytes]],
             root_seq: int, root_cid: str, root_block: bytes, linked: Sequence[bytes] = ()) -> None:
        """Atomically turn drafts into signed posts or entries, (draft id, seq, CID, block)
        each, and record the root that lists them and the blocks it links to besides them
        (content blocks, the contents tree)."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?)", [(cid_of(b), b) for b in linked])
            db.executemany("INSERT INTO posts (draft_id, seq, cid, block) VALUES (?, ?, ?, ?)", posts)
            db.execute("INSERT INTO roots VALUES (?, ?, ?)", (root_seq, root_cid, root_block))
            db.executemany("DELETE FROM drafts WHERE id = ?", [(p[0],) for p in posts])

    def add_history(self, entries: Sequence[tuple[int, str, bytes]], linked: Sequence[bytes] = ()) -> None:
        """Record entries of the user's feed this home did not sign, (seq, CID, block) each,
        verified by the caller (a restored key's older chain), and the blocks they name."""
        with self.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO blocks VALUES (?, ?)", [(cid_of(b), b) for b in linked])
            db.executemany("INSERT INTO posts (seq, cid, block) VALUES (?, ?, ?)", entries)

    def add_root(self, seq: int, cid: str, block: bytes, linked: tuple[bytes, ...] = ()) -> None:
        """Record a new root (a profile or follow change) and blocks it links to."""
        with self.transaction() as db:
            for b in linked:
                db.execute("INSERT OR IGNORE INTO blocks VALUES (?, ?)", (cid_of(b), b))
            db.execute("INSERT INTO roots VALUES (?, ?, ?)", (seq, cid, block))

    def block(self, cid: str) -> bytes | None:
        """A block the user's feed links to (a follow list), if kept here."""
        row = self.db.execute("SELECT block FROM blocks WHERE cid = ?", (cid,)).fetchone()
        return row[0] if row else None

    def linked_blocks(self) -> list[bytes]:
        """Every block the user's roots link to besides the chain (follow lists, content
        blocks, the contents tree): some may no longer be linked (a deleted post's content)."""
        return [row[0] for row in self.db.execute("SELECT block FROM blocks")]

    # -- signed objects ---------------------------------------------------------------
    def latest_root(self) -> bytes | None:
        """The newest root block, if any."""
        row = self.db.execute("SELECT block FROM roots ORDER BY seq DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def post_of_draft(self, draft_id: int) -> tuple[int, str] | None:
        """(seq, cid) of the post a draft became, once sealed."""
        row = self.db.execute("SELECT seq, cid FROM posts WHERE draft_id = ?", (draft_id,)).fetchone()
        return (row[0], row[1]) if row else None

    def post_cid(self, seq: int) -> str | None:
        """The CID of the user's own post at a sequence number, if this outbox signed it."""
        row = self.db.execute("SELECT cid FROM posts WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None

    def post_blocks(self, after_seq: int) -> Iterator[tuple[int, bytes]]:
        """(seq, block) of every post after `after_seq`, in order."""
        yield from self.db.execute("SELECT seq, block FROM posts WHERE seq > ? ORDER BY seq", (after_seq,))

    def root_block(self, cid: str | None) -> bytes | None:
        """One of the roots this outbox signed (or adopted), by CID."""
        row = self.db.execute("SELECT block FROM roots WHERE cid = ?", (cid,)).fetchone() if cid else None
        return row[0] if row else None

    def has_root(self, cid: str) -> bool:
        """Whether this outbox signed (or adopted) the root with this CID."""
        return self.db.execute("SELECT 1 FROM roots WHERE cid = ?", (cid,)).fetchone() is not None

    def first_root_seq(self) -> int | None:
        """The seq of the oldest root here (a restored home's first is the one it adopted)."""
        row = self.db.execute("SELECT min(seq) FROM roots").fetchone()
        return row[0] if row else None

    def root_blocks(self) -> Iterator[bytes]:
        """Every root block, newest first."""
        for (block,) in self.db.execute("SELECT block FROM roots ORDER BY seq DESC"):
            yield block

    def count_posts(self) -> int:
        """Number of signed posts."""
        return int(self.db.execute("SELECT count(*) FROM posts").fetchone()[0])

    # -- state ------------------------------------------------------------------------
    def get(self, key: str, default: str | None = None) -> str | None:
        """A state value."""
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def items(self, prefix: str) -> list[tuple[str, str]]:
        """State values whose keys start with `prefix`."""
        return list(self.db.execute("SELECT key, value FROM state WHERE key LIKE ? || '%'", (prefix,)))

    def set(self, key: str, value: str) -> None:
        """Set a state value durably."""
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, value))


def _try_lock(f: IO[str]) -> bool:
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno not in (errno.EAGAIN, errno.EACCES):
            raise
        return False
    return True


def _lock_error(timeout: float) -> FeedLocked:
    return FeedLocked(f"another ipfeed process has held this feed for {timeout:g}s; "
                      "saved posts stay saved: run `ipfeed publish` later")


@contextmanager
def feed_lock(home: Path, timeout: float) -> Iterator[None]:
    """Hold the writer lock of a home's feed: one writer signs and publishes at a time."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(home / "feed.lock", "w") as f:
        deadline = time.monotonic() + timeout
        while not _try_lock(f):
            if time.monotonic() > deadline:
                raise _lock_error(timeout)
            time.sleep(0.05)
        yield


@asynccontextmanager
async def feed_lock_async(home: Path, timeout: float) -> AsyncIterator[None]:
    """The same lock for coroutines: waiting never blocks the event loop (whose other tasks
    may be the holder)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(home / "feed.lock", "w") as f:
        deadline = time.monotonic() + timeout
        while not _try_lock(f):
            if time.monotonic() > deadline:
                raise _lock_error(timeout)
            await asyncio.sleep(0.05)
        yield
