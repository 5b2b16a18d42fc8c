"""The local index: SQLite (WAL) cache of verified feeds and posts, and sync state.

Everything here was verified before it was written, and everything can be rebuilt by a sync:
deleting `index.sqlite` loses nothing. The schema is versioned and migrated forward on open
(ipfeed.migrations).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import migrations, sqlite
from .errors import InvalidInput
from .feed import Root
from .post import Post
from .private import Opened

FUTURE_SLACK_MS = 10 * 60 * 1000  # clocks disagree a little; more is a future-dated post


@dataclass(frozen=True)
class FeedState:
    """What the index knows of one feed."""

    name: str
    root_cid: str | None
    root_seq: int | None
    count: int
    updated: int | None
    profile: dict[str, Any]
    head: str | None
    record: bytes | None
    record_seq: int | None
    record_eol: int | None
    pinned: str | None
    last_sync: int | None
    last_ok: int | None
    last_error: str | None
    failures: int
    next_try: int
    fork: bool
    follows: list[dict[str, str]]

    def health(self, now: int) -> str:
        """The last check in one word: `ok` (it reached the feed and verified it), `failing`
        (it did not: what is shown is the last verified state), `stale` (the newest verified
        record has expired), `never` (no verified state yet)."""
        if self.root_cid is None:
            return "failing" if self.last_error else "never"
        if self.record_eol is not None and self.record_eol <= now:
            return "stale"
        return "failing" if self.last_error else "ok"


@dataclass(frozen=True)
class IndexedPost:
    """A verified post as the timeline shows it."""

    cid: str
    name: str
    seq: int
    prev: str | None
    created: int
    sort: int
    text: str
    reply_to: str | None
    attachments: list[dict[str, Any]]
    private: bool = False
    recipients: list[str] = field(default_factory=list)
    reactions: dict[str, int] = field(default_factory=dict)  # emoji -> how many authors
    likes: int = 0
    reposts: int = 0
    quotes: int = 0
    replies: int = 0
    my_reaction: str | None = None  # this home's user's reaction
    reposted: bool = False  # by this home's user
    edited: int | None = None  # ms, the newest edit's time
    quote: str | None = None  # CID of the quoted post
    mentions: list[dict[str, Any]] = field(default_factory=list)  # {"name", "start", "end"} (UTF-8 bytes)
    tags: list[str] = field(default_factory=list)
    card: dict[str, Any] | None = None  # {"url", "title", "description", "thumb"}
    cw: str = ""
    sensitive: bool = False
    reposted_by: str | None = None  # a followed feed that reposted it (a timeline item)

    @property
    def future(self) -> bool:
        """Dated more than 10 minutes after this node first saw it: shown at the time it was
        seen, and marked, never on top of the timeline for as long as its author likes."""
        return self.created > self.sort + FUTURE_SLACK_MS

    @property
    def cursor(self) -> str:
        """Where a page that ends with this post continues (`--before`)."""
        return f"{self.sort}-{self.seq}-{self.cid}"

    def to_json(self) -> dict[str, Any]:
        """The post for JSON output."""
        return {"cid": self.cid, "name": self.name, "seq": self.seq, "created": self.created,
                "text": self.text, "reply_to": self.reply_to,
                "attachments": [{k: v for k, v in a.items() if k not in ("key", "nonce")}
                                for a in self.attachments],
                "future_dated": self.future, "private": self.private, "recipients": self.recipients}


_FEED_COLUMNS = ("name, root_cid, root_seq, count, updated, profile, head, record, record_seq, "
                 "record_eol, pinned, last_sync, last_ok, last_error, failures, next_try, fork, follows")
_POST_COLUMNS = "cid, name, seq, prev, created, sort, text, reply_to, attachments, private, recipients"


class Index:
    """The index database of one home."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite.connect(path, "NORMAL")
        migrations.migrate(self.db, path)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One atomic write."""
        return sqlite.transaction(self.db)

    # -- feeds ------------------------------------------------------------------------
    def feed(self, name: str) -> FeedState | None:
        """The state of one feed, if known."""
        row = self.db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE name = ?", (name,)).fetchone()
        return _feed(row) if row else None

    def feeds(self, names: Sequence[str] | None = None) -> list[FeedState]:
        """All known feeds (or the named ones that are known)."""
        if names is None:
            rows = self.db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds ORDER BY name")
        else:
            rows = self.db.execute(f"SELECT {_FEED_COLUMNS} FROM feeds WHERE name IN "
                                   "(SELECT value FROM json_each(?)) ORDER BY name",
                                   (json.dumps(list(names)),))
        return [_feed(r) for r in rows]

    def ensure_feed(self, name: str) -> None:
        """Make a row for a feed that has not been synced yet."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO feeds (name) VALUES (?)", (name,))

    def record_failure(self, name: str, now: int, error: str, next_try: int) -> None:
        """Remember why a sync failed and when to try again."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO feeds (name) VALUES (?)", (name,))
            db.execute("UPDATE feeds SET last_sync = ?, last_error = ?, failures = failures + 1, "
                       "next_try = ? WHERE name = ?", (now, error, next_try, name))

    def record_success(self, name: str, now: int, record: bytes | None, record_seq: int | None,
                       record_eol: int | None) -> None:
        """A sync found nothing new but everything fine."""
        with self.transaction() as db:
            db.execute("UPDATE feeds SET last_sync = ?, last_ok = ?, last_error = NULL, failures = 0, "
                       "next_try = 0, record = coalesce(?, record), record_seq = coalesce(?, record_seq), "
                       "record_eol = coalesce(?, record_eol) WHERE name = ?",
                       (now, now, record, record_seq, record_eol, name))

    def set_pinned(self, name: str, root_cid: str) -> None:
        """Remember which root of a feed is pinned."""
        with self.transaction() as db:
            db.execute("UPDATE feeds SET pinned = ? WHERE name = ?", (root_cid, name))

    def add_fork(self, name: str, evidence: Sequence[tuple[int, str, bytes | None]], now: int,
                 kind: str = "post") -> None:
        """Keep both sides of an equivocation (two posts, or two roots, with one seq) and flag
        the feed; the flag and the evidence stay (no later sync clears them)."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO feeds (name) VALUES (?)", (name,))
            for seq, cid, block in evidence:
                db.execute("INSERT OR IGNORE INTO forks (name, seq, cid, block, seen, kind) "
                           "VALUES (?, ?, ?, ?, ?, ?)", (name, seq, cid, block, now, kind))
                if block is not None:  # a side first kept without its bytes gets them now
                    db.execute("UPDATE forks SET block = ? WHERE name = ? AND cid = ? AND block IS NULL",
                               (block, name, cid))
            db.execute("UPDATE feeds SET fork = 1 WHERE name = ?", (name,))

    def forks(self, name: str, kind: str = "post") -> list[tuple[int, str]]:
        """(seq, cid) of the fork evidence kept for a feed: posts, or with kind="root" roots."""
        return list(self.db.execute("SELECT seq, cid FROM forks WHERE name = ? AND kind = ? "
                                    "ORDER BY seq, cid", (name, kind)))

    def fork_block(self, name: str, cid: str) -> bytes | None:
        """The bytes of one side of a fork, if they were kept."""
        row = self.db.execute("SELECT block FROM forks WHERE name = ? AND cid = ?", (name, cid)).fetchone()
        return row[0] if row else None

    def refuse_file(self, post_cid: str, cid: str, problem: str, now: int) -> None:
        """Remember that a post's attachment failed its check (e.g. over its declared size):
        it is not pinned and `attachment` no longer returns it, so it is never served."""
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO refused_files VALUES (?, ?, ?, ?)",
                       (post_cid, cid, problem, now))
            row = db.execute("SELECT attachments FROM posts WHERE cid = ?", (post_cid,)).fetchone()
            if row:  # the post stays; its listing says why the file is not there
                atts = [dict(a, refused=problem) if a.get("cid") == cid else a for a in json.loads(row[0])]
                db.execute("UPDATE posts SET attachments = ? WHERE cid = ?", (json.dumps(atts), post_cid))

    def has_refused(self, name: str) -> bool:
        """Whether any file of a feed's posts was refused (then no pin may walk its DAG)."""
        return self.db.execute("SELECT 1 FROM refused_files r JOIN posts p ON p.cid = r.post "
                               "WHERE p.name = ? LIMIT 1", (name,)).fetchone() is not None

    def refused_files(self, post_cid: str) -> dict[str, str]:
        """The attachments of a post that were refused: file CID -> why."""
        return dict(self.db.execute("SELECT cid, problem FROM refused_files WHERE post = ?", (post_cid,)))

    def apply(self, name: str, root: Root, posts: Sequence[Post], now: int, record: bytes | None,
              record_seq: int | None, record_eol: int | None,
              follows: Sequence[dict[str, str]] | None = None,
              opened: dict[str, Opened] | None = None) -> int:
        """Index a verified root and its verified new posts in one transaction; return how many
        posts were new (redelivery is idempotent). Private posts appear as `opened` says (their
        decrypted content) or, if they were not sent to this user, are kept hidden."""
        opened = opened or {}
        rows: list[tuple[Any, ...]] = []
        for p in posts:
            o = opened.get(p.cid)
            if p.private and o is None:
                rows.append((p.cid, name, p.seq, p.prev, p.created, min(p.created, now), "", None,
                             "[]", 1, "[]", 1, now))
            elif o is not None:
                rows.append((p.cid, name, p.seq, p.prev, p.created, min(p.created, now), o.text,
                             o.reply_to, json.dumps(o.attachments), 1, json.dumps(o.to), 0, now))
            else:
                rows.append((p.cid, name, p.seq, p.prev, p.created, min(p.created, now), p.text,
                             p.reply_to, json.dumps([a.to_json() for a in p.attachments]), 0, "[]", 0,
                             now))
        with self.transaction() as db:
            cur = db.executemany(
                f"INSERT OR IGNORE INTO posts ({_POST_COLUMNS}, hidden, seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            added = max(cur.rowcount, 0)  # rows inserted, not counting the FTS triggers' own
            db.execute("INSERT OR IGNORE INTO feeds (name) VALUES (?)", (name,))
            db.execute(
                "UPDATE feeds SET root_cid = ?, root_seq = ?, count = ?, updated = ?, profile = ?, head = ?, "
                "record = coalesce(?, record), record_seq = coalesce(?, record_seq), "
                "record_eol = coalesce(?, record_eol), last_sync = ?, last_ok = ?, last_error = NULL, "
                "failures = 0, next_try = 0, follows = coalesce(?, follows) "
                "WHERE name = ? AND (root_seq IS NULL OR root_seq <= ?)",  # never back to older
                (root.cid, root.seq, root.count, root.updated, json.dumps(root.profile.to_json()),
                 root.head, record, record_seq, record_eol, now, now,
                 None if follows is None else json.dumps(list(follows)), name, root.seq))
        return added

    # -- posts ------------------------------------------------------------------------
    def timeline(self, names: Sequence[str], limit: int, before: str | None = None) -> list[IndexedPost]:
        """Posts of the given feeds, newest first, `limit` of them, after the cursor `before`."""
        if not names:
            return []
        marks = ",".join("?" * len(names))
        # `+name`: walk the timeline order index and stop after `limit` rows, rather than
        # gathering every post of these feeds through (name, seq) and sorting them all.
        sql = f"SELECT {_POST_COLUMNS} FROM posts WHERE hidden = 0 AND +name IN ({marks})"
        args: list[Any] = list(names)
        if before:
            sort, seq, cid = _cursor(before)
            sql += " AND (sort < ? OR (sort = ? AND (seq < ? OR (seq = ? AND cid < ?))))"
            args += [sort, sort, seq, seq, cid]
        sql += " ORDER BY sort DESC, seq DESC, cid DESC LIMIT ?"
        return [_post(r) for r in self.db.execute(sql, [*args, limit])]

    def post(self, cid: str) -> IndexedPost | None:
        """One indexed post by CID."""
        row = self.db.execute(f"SELECT {_POST_COLUMNS} FROM posts WHERE cid = ? AND hidden = 0",
                              (cid,)).fetchone()
        return _post(row) if row else None

    def replies(self, cid: str, limit: int = 200) -> list[IndexedPost]:
        """Known replies to a post, oldest first."""
        return [_post(r) for r in self.db.execute(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE reply_to = ? AND hidden = 0 ORDER BY sort, cid "
            "LIMIT ?", (cid, limit))]

    def search(self, query: str, limit: int = 50) -> list[IndexedPost]:
        """Posts whose text matches every word of `query` (FTS5), best first; each word also
        as the start of a longer one, and a plural as its singular ("foxes" finds "fox")."""
        words = [w.replace('"', '""') for w in search_stems(query)][:20]
        if not words:
            return []
        match = " ".join(f'"{w}"*' for w in words)
        cols = ", ".join(f"posts.{c.strip()}" for c in _POST_COLUMNS.split(","))
        return [_post(r) for r in self.db.execute(
            f"SELECT {cols} FROM posts_fts JOIN posts ON posts.rowid = posts_fts.rowid "
            "WHERE posts_fts MATCH ? AND posts.hidden = 0 ORDER BY rank LIMIT ?", (match, limit))]

    def attachment(self, post_cid: str, cid: str) -> dict[str, Any] | None:
        """The verified metadata of an attachment as the post that carries it declares it (another
        post may declare the same file otherwise)."""
        row = self.db.execute("SELECT attachments FROM posts WHERE cid = ?", (post_cid,)).fetchone()
        if row and cid in self.refused_files(post_cid):
            return None  # over its declared size (or otherwise refused): never served
        return next((dict(a) for a in json.loads(row[0]) if a.get("cid") == cid), None) if row else None

    def post_cids(self, name: str) -> list[str]:
        """The CIDs of every indexed post of a feed (hidden ones too), newest first."""
        return [r[0] for r in self.db.execute("SELECT cid FROM posts WHERE name = ? ORDER BY seq DESC",
                                              (name,))]

    def post_by_seq(self, name: str, seq: int) -> str | None:
        """The CID of a feed's post at a sequence number, if indexed."""
        row = self.db.execute("SELECT cid FROM posts WHERE name = ? AND seq = ?", (name, seq)).fetchone()
        return row[0] if row else None


def search_stems(query: str) -> list[str]:
    """The words of a search, plurals cut to their stem (what the UI highlights, too)."""
    stems = []
    for word in query.split():
        w = word.strip("\"'*()^:.,;!?")
        low = w.lower()
        if len(w) > 4 and low.endswith(("ches", "shes", "sses", "xes", "zes")):
            w = w[:-2]
        elif len(w) > 4 and low.endswith("ies"):
            w = w[:-3]
        elif len(w) > 3 and low.endswith("s") and not low.endswith("ss"):
            w = w[:-1]
        if w:
            stems.append(w)
    return stems


def _cursor(text: str) -> tuple[int, int, str]:
    parts = text.split("-")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit() or not parts[2]:
        raise InvalidInput(f"{text!r} is not a timeline cursor")
    return int(parts[0]), int(parts[1]), parts[2]


def _feed(row: Sequence[Any]) -> FeedState:
    values = list(row)
    values[5] = json.loads(values[5] or "{}")
    values[16] = bool(values[16])
    values[17] = json.loads(values[17] or "[]")
    return FeedState(*values)


def _post(row: Sequence[Any]) -> IndexedPost:
    values = list(row)
    values[8] = json.loads(values[8])
    values[9] = bool(values[9])
    values[10] = json.loads(values[10])
    return IndexedPost(*values)
