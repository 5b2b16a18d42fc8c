"""The inbox store (`inbox.sqlite`): verified notices received, rejections, and the notices this
home still has to deliver (its outbox of notices). Every table is capped (docs/FORMAT.md
section 15): a flood costs bounded disk, and the oldest read notices go first."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import sqlite
from .errors import InvalidInput

MAX_RECEIVED = 10_000  # notices kept, both boxes together
MAX_REQUESTS = 2_000  # of them in Requests
MAX_PER_SENDER = 200  # of them from one feed
MAX_PER_HOSTED = 2_000  # notices kept for each feed this home hosts an inbox for
MAX_HOSTED = 100  # feeds it hosts an inbox for
OWN = ""  # received.feed of the notices for this home's own feed
MAX_REJECTED = 500  # rejections kept, to show why
MAX_OUTGOING = 10_000  # notices waiting to be delivered
MAX_ATTEMPTS = 10  # deliveries tried before a notice is given up ("not-here" answers apart)
NOT_HERE_MS = 3 * 24 * 3600 * 1000  # how long a notice refused "not-here" is still retried
NOTIFICATIONS, REQUESTS = "notifications", "requests"

SCHEMA = """
CREATE TABLE IF NOT EXISTS received (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL, reason TEXT NOT NULL, entry TEXT, subject TEXT,
    box TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'unread',
    notice BLOB NOT NULL, created INTEGER NOT NULL, received INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS received_sender ON received (sender);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT, sender TEXT, reason TEXT NOT NULL, at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outgoing (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL, entry TEXT NOT NULL, created INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'waiting', last_error TEXT,
    UNIQUE (target, entry)
);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# 2: notices kept for feeds this home agreed to receive for (`feed`: their name; OWN for its own)
HOSTING = """
ALTER TABLE received ADD COLUMN feed TEXT NOT NULL DEFAULT '';
CREATE INDEX IF NOT EXISTS received_feed ON received (feed, id);
"""
# 3: "not-here" answers counted apart (retried for NOT_HERE_MS, not counted in MAX_ATTEMPTS)
NOT_HERE = """
ALTER TABLE outgoing ADD COLUMN not_here INTEGER NOT NULL DEFAULT 0;
"""


@dataclass(frozen=True)
class Received:
    """A verified notice as the inbox keeps it."""

    id: int
    sender: str
    reason: str  # reply, conversation, mention, quote, reaction, repost, follow
    entry: str | None  # the sender's entry (None for a follow)
    subject: str | None  # the user's own post it is about, if any
    box: str  # notifications or requests
    state: str  # unread, read, ignored
    created: int
    received: int

    def to_json(self) -> dict[str, object]:
        """The notice for JSON output."""
        return {"id": self.id, "from": self.sender, "reason": self.reason, "entry": self.entry,
                "subject": self.subject, "box": self.box, "state": self.state,
                "created": self.created, "received": self.received}


@dataclass(frozen=True)
class Outgoing:
    """A notice waiting to be delivered: to `target`, about `entry` ("" for a follow)."""

    id: int
    target: str
    entry: str
    attempts: int
    state: str  # waiting, sent, refused, failed
    last_error: str | None


_RECEIVED = "id, sender, reason, entry, subject, box, state, created, received"


class InboxDB:
    """The inbox database of one home."""

    def __init__(self, path: Path, *, any_thread: bool = False) -> None:
        self.db = sqlite.connect(path, "NORMAL", any_thread=any_thread)
        version = self.db.execute("PRAGMA user_version").fetchone()[0]
        if version < 3:  # pages open it per request: only a write when there is one to make
            with self.transaction() as tx:
                for script in (SCHEMA, HOSTING, NOT_HERE)[version:]:
                    for statement in script.split(";"):
                        if statement.strip():
                            tx.execute(statement)
                tx.execute("PRAGMA user_version=3")

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One atomic write."""
        return sqlite.transaction(self.db)

    # -- received ---------------------------------------------------------------------
    def has(self, key: str) -> bool:
        """Whether a notice with this key is recorded already (duplicates are idempotent)."""
        return self.db.execute("SELECT 1 FROM received WHERE key = ?", (key,)).fetchone() is not None

    def record(self, key: str, sender: str, reason: str, entry: str | None, subject: str | None,
               box: str, notice: bytes, created: int, now: int, feed: str = OWN) -> bool:
        """Keep a verified notice for this home's feed or for a hosted `feed` (False if it was
        known); the caps drop the oldest first."""
        with self.transaction() as tx:
            cur = tx.execute("INSERT OR IGNORE INTO received (key, sender, reason, entry, subject, box, "
                             "notice, created, received, feed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             (key, sender, reason, entry, subject, box, notice, created, now, feed))
            if not cur.rowcount:
                return False
            self._cap(tx, "feed = ? AND sender = ?", (feed, sender), MAX_PER_SENDER)
            if feed == OWN:
                self._cap(tx, "feed = ? AND box = ?", (OWN, REQUESTS), MAX_REQUESTS)
                self._cap(tx, "feed = ?", (OWN,), MAX_RECEIVED)
            else:
                self._cap(tx, "feed = ?", (feed,), MAX_PER_HOSTED)
        return True

    @staticmethod
    def _cap(tx: sqlite3.Connection, where: str, args: tuple[str, ...], cap: int) -> None:
        over = tx.execute(f"SELECT COUNT(*) FROM received WHERE {where}", args).fetchone()[0] - cap
        if over > 0:  # read ones first, then the oldest
            tx.execute(f"DELETE FROM received WHERE id IN (SELECT id FROM received WHERE {where} "
                       "ORDER BY state = 'unread', id LIMIT ?)", (*args, over))

    def notices(self, box: str | None = None, *, unread_only: bool = False, limit: int = 100,
                after: int = 0, before: int = 0, hidden: Sequence[str] = ()) -> list[Received]:
        """Recorded notices, newest first (those below id `before` if given; or after id
        `after`, oldest first); ignored ones are left out, and so are those from `hidden` feeds."""
        where, args = ["feed = ''", "state != 'ignored'", "id > ?"], [after]
        if before:
            where.append("id < ?")
            args.append(before)
        if box:
            where.append("box = ?")
            args.append(box)  # type: ignore[arg-type]
        if unread_only:
            where.append("state = 'unread'")
        if hidden:
            where.append(f"sender NOT IN ({','.join('?' * len(hidden))})")
            args.extend(hidden)  # type: ignore[arg-type]
        order = "ASC" if after else "DESC"
        rows = self.db.execute(f"SELECT {_RECEIVED} FROM received WHERE {' AND '.join(where)} "
                               f"ORDER BY id {order} LIMIT ?", (*args, limit))
        return [Received(*r) for r in rows]

    def unread_senders(self) -> list[str]:
        """The feeds with a notice shown unread (for this home's own feed)."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT sender FROM received WHERE feed = '' "
                                              "AND state = 'unread'")]

    def notice_blocks(self, after: int, limit: int, feed: str = OWN) -> list[tuple[int, str, bytes]]:
        """The signed notices for this home's feed (or a hosted `feed`) after id `after`, oldest
        first (what a fetch answers)."""
        return [(i, b, bytes(n)) for i, b, n in self.db.execute(
            "SELECT id, box, notice FROM received WHERE feed = ? AND id > ? AND state != 'ignored' "
            "ORDER BY id LIMIT ?", (feed, after, limit))]

    def unread(self, hidden: Sequence[str] = ()) -> dict[str, int]:
        """Unread notices per box."""
        out = {NOTIFICATIONS: 0, REQUESTS: 0}
        marks = ",".join("?" * len(hidden))
        extra = f" AND sender NOT IN ({marks})" if hidden else ""
        for box, n in self.db.execute("SELECT box, COUNT(*) FROM received WHERE feed = '' "
                                      f"AND state = 'unread'{extra} GROUP BY box", tuple(hidden)):
            out[box] = n
        return out

    def mark_read(self, box: str | None = None, upto: int | None = None) -> int:
        """Mark unread notices read (of one box, or all; only ids up to `upto` if given)."""
        where, args = "", list[object]()
        if box:
            where, args = " AND box = ?", [box]
        if upto is not None:
            where, args = where + " AND id <= ?", [*args, upto]
        with self.transaction() as tx:
            return tx.execute("UPDATE received SET state = 'read' WHERE feed = '' "
                              f"AND state = 'unread'{where}", args).rowcount

    def set_sender(self, sender: str, *, box: str | None = None, state: str | None = None) -> int:
        """Move a sender's notices to another box and/or state (accept, ignore)."""
        with self.transaction() as tx:
            n = 0
            if box:
                n = tx.execute("UPDATE received SET box = ? WHERE feed = '' AND sender = ?",
                               (box, sender)).rowcount
            if state:
                n = tx.execute("UPDATE received SET state = ? WHERE feed = '' AND sender = ?",
                               (state, sender)).rowcount
            return n

    def count(self, feed: str | None = None) -> int:
        """Notices kept (for one feed: OWN or a hosted one)."""
        if feed is None:
            return int(self.db.execute("SELECT COUNT(*) FROM received").fetchone()[0])
        return int(self.db.execute("SELECT COUNT(*) FROM received WHERE feed = ?", (feed,)).fetchone()[0])

    # -- hosted inboxes ---------------------------------------------------------------
    def hosted(self) -> list[str]:
        """The feeds this home agreed to receive notices for (besides its own)."""
        value = self.get("hosted")
        return [str(n) for n in value] if isinstance(value, list) else []

    def host(self, name: str) -> bool:
        """Agree to receive for a feed (False if it was hosted already)."""
        hosted = self.hosted()
        if name in hosted:
            return False
        if len(hosted) >= MAX_HOSTED:
            raise InvalidInput(f"this home hosts the inboxes of {MAX_HOSTED} feeds already, "
                               "the most it keeps")
        self.put("hosted", sorted([*hosted, name]))
        return True

    def unhost(self, name: str) -> int:
        """Stop receiving for a feed and drop what was kept for it (how many notices)."""
        with self.transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO state (key, value) VALUES ('hosted', ?)",
                       (json.dumps([n for n in self.hosted() if n != name]),))
            return tx.execute("DELETE FROM received WHERE feed = ?", (name,)).rowcount

    # -- rejections -------------------------------------------------------------------
    def reject(self, sender: str | None, reason: str, now: int) -> None:
        """Keep why a notice was refused (the newest MAX_REJECTED)."""
        with self.transaction() as tx:
            tx.execute("INSERT INTO rejected (sender, reason, at) VALUES (?, ?, ?)",
                       (sender, reason[:500], now))
            tx.execute("DELETE FROM rejected WHERE id <= (SELECT MAX(id) FROM rejected) - ?", (MAX_REJECTED,))

    def rejections(self, limit: int = 100) -> list[tuple[str | None, str, int]]:
        """The newest rejections: (sender, reason, when)."""
        return list(self.db.execute("SELECT sender, reason, at FROM rejected ORDER BY id DESC LIMIT ?",
                                    (limit,)))

    # -- outgoing ---------------------------------------------------------------------
    def enqueue(self, items: Sequence[tuple[str, str]], now: int) -> int:
        """Queue notices (target, entry) to deliver; known ones are left as they are."""
        with self.transaction() as tx:
            waiting = tx.execute("SELECT COUNT(*) FROM outgoing WHERE state = 'waiting'").fetchone()[0]
            room = MAX_OUTGOING - waiting
            n = 0
            for target, entry in items[:max(room, 0)]:
                n += tx.execute("INSERT OR IGNORE INTO outgoing (target, entry, created) VALUES (?, ?, ?)",
                                (target, entry, now)).rowcount
            return n

    def due(self, now: int, limit: int = 100) -> list[Outgoing]:
        """Notices whose next delivery is due, oldest first."""
        return [Outgoing(*r) for r in self.db.execute(
            "SELECT id, target, entry, attempts, state, last_error FROM outgoing WHERE state = 'waiting' "
            "AND next_try <= ? ORDER BY id LIMIT ?", (now, limit))]

    def outgoing(self) -> list[Outgoing]:
        """Every notice of the outbox, newest first (at most a thousand)."""
        return [Outgoing(*r) for r in self.db.execute(
            "SELECT id, target, entry, attempts, state, last_error FROM outgoing "
            "ORDER BY id DESC LIMIT 1000")]

    def delivered(self, row: int, state: str, error: str | None = None) -> None:
        """A delivery ended: sent, or refused by the inbox (not retried)."""
        with self.transaction() as tx:
            tx.execute("UPDATE outgoing SET state = ?, last_error = ? WHERE id = ?", (state, error, row))

    def retry(self, row: int, error: str, next_try: int, *, not_here: bool = False) -> None:
        """A delivery failed for now: tried again at `next_try`, given up after MAX_ATTEMPTS
        failures; or it was refused `not_here` (the inbox peer's operator has not agreed to host
        that feed yet): tried again until NOT_HERE_MS after it was queued, then refused."""
        with self.transaction() as tx:
            if not_here:
                tx.execute("UPDATE outgoing SET attempts = attempts + 1, not_here = not_here + 1, "
                           "last_error = ?, next_try = ?, state = CASE WHEN ? > created + ? THEN 'refused' "
                           "ELSE 'waiting' END WHERE id = ?",
                           (error[:500], next_try, next_try, NOT_HERE_MS, row))
                return
            tx.execute("UPDATE outgoing SET attempts = attempts + 1, last_error = ?, next_try = ?, "
                       "state = CASE WHEN attempts + 1 - not_here >= ? THEN 'failed' ELSE 'waiting' END "
                       "WHERE id = ?", (error[:500], next_try, MAX_ATTEMPTS, row))

    # -- state ------------------------------------------------------------------------
    def get(self, key: str) -> object:
        """A stored JSON value, or None."""
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: object) -> None:
        """Store a JSON value."""
        with self.transaction() as tx:
            tx.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, json.dumps(value)))


@contextmanager
def opened(path: Path) -> Iterator[InboxDB]:
    """The inbox database, open for one `with` block."""
    db = InboxDB(path)
    try:
        yield db
    finally:
        db.close()
