"""The local index: SQLite (WAL) cache of verified feeds and posts, and sync state.

Everything here was verified before it was written, and everything can be rebuilt by a sync:
deleting `index.sqlite` loses nothing. The schema is versioned and migrated forward on open
(ipfeed.migrations).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Mapping, Sequence, Set
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import entryindex, migrations, sqlite
from .contentblock import Content
from .entry import Chained
from .errors import InvalidInput
from .feed import Root
from .indexed import FUTURE_SLACK_MS as FUTURE_SLACK_MS
from .indexed import FeedState as FeedState
from .indexed import IndexedPost as IndexedPost
from .post import Post
from .private import Opened

_FEED_COLUMNS = ("name, root_cid, root_seq, count, updated, profile, head, record, record_seq, "
                 "record_eol, pinned, last_sync, last_ok, last_error, failures, next_try, fork, follows")
_V1_COLUMNS = "cid, name, seq, prev, created, sort, text, reply_to, attachments, private, recipients"
_POST_COLUMNS = f"{_V1_COLUMNS}, edited, extra"
# Feeds not followed (opened on demand, or synced only to verify a stranger's notice) are a
# cache: beyond these bounds the least recently synced are dropped (docs/FORMAT.md section 15).
MAX_STRANGER_FEEDS = 1_000
MAX_STRANGER_ENTRIES = 100_000  # by their roots' entry counts


class Index:
    """The index database of one home."""

    def __init__(self, path: Path, *, any_thread: bool = False) -> None:
        self.db = sqlite.connect(path, "NORMAL", any_thread=any_thread)
        migrations.migrate(self.db, path)
        self.me: str | None = None  # this home's user (for my_reaction and reposted)
        # The feeds the user muted or blocked: counts leave their entries out (read once, on use).
        self.hidden_source: Callable[[], Collection[str]] = tuple
        self._hidden: list[str] | None = None

    def reader(self, me: str | None, hidden: Callable[[], Collection[str]]) -> None:
        """Who reads this index in the next `with` block: whose reactions are "mine", and whose
        entries the counts leave out (asked again in every block: a kept index outlives a mute)."""
        self.me, self.hidden_source, self._hidden = me, hidden, None

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

    def trim_strangers(self, keep: Callable[[], Collection[str]], max_feeds: int | None = None,
                       max_entries: int | None = None) -> list[str]:
        """Drop the least recently synced feeds not in `keep()` (followed, hosted, with a notice
        shown unread, being verified) while those feeds are more than MAX_STRANGER_FEEDS or hold
        more than MAX_STRANGER_ENTRIES entries; the names dropped (`keep` is not asked, and
        nothing written, while all feeds together are within the bounds)."""
        max_feeds = MAX_STRANGER_FEEDS if max_feeds is None else max_feeds
        max_entries = MAX_STRANGER_ENTRIES if max_entries is None else max_entries
        feeds, entries = self.db.execute("SELECT count(*), coalesce(sum(count), 0) FROM feeds").fetchone()
        if feeds <= max_feeds and entries <= max_entries:
            return []
        rows = self.db.execute("SELECT name, count FROM feeds WHERE name NOT IN (SELECT value FROM "
                               "json_each(?)) ORDER BY coalesce(last_sync, 0), name",
                               (json.dumps(sorted(keep())),)).fetchall()
        feeds, entries = len(rows), sum(count for _, count in rows)
        dropped: list[str] = []
        for name, count in rows:
            if feeds <= max_feeds and entries <= max_entries:
                break
            dropped.append(name)
            feeds, entries = feeds - 1, entries - count
        if dropped:
            with self.transaction() as db:
                for name in dropped:
                    entryindex.forget(db, name)
        return dropped

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

    def refuse_file(self, owner: str, cid: str, problem: str, now: int) -> None:
        """Remember that a post's attachment failed its check (e.g. over its declared size):
        it is not pinned and `attachment` no longer returns it, so it is never served. `owner`
        is the post (a v1 post) or a v2 content block: then the posts whose entry or edit names it."""
        with self.transaction() as db:
            posts = [r[0] for r in db.execute(
                "SELECT CASE kind WHEN 'edit' THEN subject ELSE cid END FROM entries "
                "WHERE content = ? AND kind IN ('post', 'edit')", (owner,))] or [owner]
            for post_cid in dict.fromkeys(posts):
                db.execute("INSERT OR IGNORE INTO refused_files VALUES (?, ?, ?, ?)",
                           (post_cid, cid, problem, now))
                row = db.execute("SELECT attachments FROM posts WHERE cid = ?", (post_cid,)).fetchone()
                if row:  # the post stays; its listing says why the file is not there
                    atts = [dict(a, refused=problem) if a.get("cid") == cid else a
                            for a in json.loads(row[0])]
                    db.execute("UPDATE posts SET attachments = ? WHERE cid = ?", (json.dumps(atts), post_cid))

    def has_refused(self, name: str) -> bool:
        """Whether any file of a feed's posts was refused (then no pin may walk its DAG)."""
        return self.db.execute("SELECT 1 FROM refused_files r JOIN posts p ON p.cid = r.post "
                               "WHERE p.name = ? LIMIT 1", (name,)).fetchone() is not None

    def refused_files(self, post_cid: str) -> dict[str, str]:
        """The attachments of a post that were refused: file CID -> why."""
        return dict(self.db.execute("SELECT cid, problem FROM refused_files WHERE post = ?", (post_cid,)))

    def apply(self, name: str, root: Root, chain: Sequence[Chained], now: int, record: bytes | None,
              record_seq: int | None, record_eol: int | None,
              follows: Sequence[dict[str, str]] | None = None,
              opened: dict[str, Opened] | None = None,
              contents: Mapping[str, Content] | None = None) -> int:
        """Index a verified root and its verified new posts and entries (v2, with their verified
        `contents`) in one transaction; return how many posts were new (redelivery is
        idempotent). Private posts appear as `opened` says (their decrypted content) or, if
        they were not sent to this user, are kept hidden."""
        opened = opened or {}
        rows: list[tuple[Any, ...]] = []
        posts = [p for p in chain if isinstance(p, Post)]
        entries = [e for e in chain if not isinstance(e, Post)]
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
            known = {r[0] for r in db.execute("SELECT cid FROM posts WHERE cid IN (SELECT value FROM "
                                              "json_each(?))", (json.dumps([p.cid for p in posts]),))}
            cur = db.executemany(
                f"INSERT OR IGNORE INTO posts ({_V1_COLUMNS}, hidden, seen) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            added = max(cur.rowcount, 0)  # rows inserted, not counting the FTS triggers' own
            for p in posts:
                if p.cid not in known:
                    entryindex.counted_v1(db, p.cid, p.reply_to if not p.private or p.cid in opened
                                          else None)
            added += entryindex.apply(db, name, entries, contents or {}, opened, now)
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
    def timeline(self, names: Sequence[str], limit: int, before: str | None = None,
                 tag: str | None = None, hide: Collection[str] = ()) -> list[IndexedPost]:
        """Posts of the given feeds and the posts they reposted (at the time of the repost),
        newest first, `limit` of them, after the cursor `before`; with `tag`, those tagged;
        nothing by the feeds in `hide` (muted or blocked), reposted or not."""
        hidden = _as_set(hide)
        names = [n for n in names if n not in hidden]
        hide = self._held(hidden)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        cols = ", ".join(f"p.{c.strip()}" for c in _POST_COLUMNS.split(","))
        after, after_args = "", []
        if before:
            sort, seq, cid = _cursor(before)
            after = " AND ({s} < ? OR ({s} = ? AND (p.seq < ? OR (p.seq = ? AND p.cid < ?))))"
            after_args = [sort, sort, seq, seq, cid]
        tagged, tag_args = ("", []) if tag is None else (
            " AND p.cid IN (SELECT cid FROM tags WHERE tag = ?)", [entryindex.normalize(tag)])
        # `+name`: walk the timeline order index and stop after `limit` rows, rather than
        # gathering every post of these feeds through (name, seq) and sorting them all.
        own = (f"SELECT {cols}, NULL FROM posts p WHERE p.hidden = 0 AND +p.name IN ({marks})"
               f"{after.format(s='p.sort')}{tagged} ORDER BY p.sort DESC, p.seq DESC, p.cid DESC LIMIT ?")
        shared = (f"SELECT {cols.replace('p.sort', 'r.sort')}, r.name FROM reposts r JOIN posts p ON "
                  f"p.cid = r.subject WHERE p.hidden = 0 AND r.name IN ({marks}) AND r.name != p.name"
                  " AND p.name NOT IN (SELECT value FROM json_each(?))"
                  f"{after.format(s='r.sort')}{tagged} ORDER BY r.sort DESC LIMIT ?")
        sql = (f"SELECT * FROM ({own}) UNION ALL SELECT * FROM ({shared}) "
               "ORDER BY 6 DESC, 3 DESC, 1 DESC LIMIT ?")
        args = [*names, *after_args, *tag_args, limit, *names, json.dumps(list(hide)), *after_args,
                *tag_args, limit, limit]
        return self._shown([_post(r[:-1], r[-1]) for r in self.db.execute(sql, args)])

    def _held(self, names: Set[str]) -> list[str]:
        """Those of `names` this index has a feed for: only their posts can be left out, and a
        long mute or block list names mostly feeds never synced here (5,000 names cost a
        timeline page ~10 ms as JSON; the feed names are one small read)."""
        if len(names) <= 32:
            return sorted(names)
        return [r[0] for r in self.db.execute("SELECT name FROM feeds") if r[0] in names]

    def _shown(self, posts: list[IndexedPost]) -> list[IndexedPost]:
        """Posts with their counts, less what muted and blocked feeds did, and this user's
        reactions (entryindex.decorate)."""
        if posts and self._hidden is None:
            self._hidden = self._held(_as_set(self.hidden_source()))
        return entryindex.decorate(self.db, posts, self.me, self._hidden or ())

    def post(self, cid: str) -> IndexedPost | None:
        """One indexed post by CID (None if deleted)."""
        row = self.db.execute(f"SELECT {_POST_COLUMNS} FROM posts WHERE cid = ? AND hidden = 0",
                              (cid,)).fetchone()
        return self._shown([_post(row)])[0] if row else None

    def content_cid(self, cid: str) -> str | None:
        """The content block of an indexed v2 post's current version (None for a v1 post)."""
        row = self.db.execute("SELECT content FROM posts WHERE cid = ?", (cid,)).fetchone()
        return row[0] if row else None

    def deleted(self, cid: str) -> bool:
        """Whether a post was indexed and then deleted by its author."""
        return self.db.execute("SELECT 1 FROM posts WHERE cid = ? AND hidden = ?",
                               (cid, entryindex.DELETED)).fetchone() is not None

    def history(self, cid: str) -> list[IndexedPost]:
        """A post's live versions, newest first (the current one first)."""
        row = self.db.execute(f"SELECT {_POST_COLUMNS} FROM posts WHERE cid = ? AND hidden = 0",
                              (cid,)).fetchone()
        if row is None:
            return []
        base = _post(row)
        out = []
        for entry, created, text, atts, extra in self.db.execute(
                "SELECT v.entry, v.created, v.text, v.attachments, v.extra FROM versions v "
                "LEFT JOIN entries e ON e.cid = v.entry WHERE v.post = ? "
                "AND (v.entry = v.post OR e.state = 'live') ORDER BY v.seq DESC", (cid,)):
            x = json.loads(extra)
            out.append(replace(base, text=text, attachments=json.loads(atts),
                               edited=None if entry == cid else created, quote=x.get("quote"),
                               mentions=x.get("mentions", []), tags=x.get("tags", []), card=x.get("card"),
                               cw=x.get("cw", ""), sensitive=bool(x.get("sensitive"))))
        return out or [base]

    def entry(self, cid: str) -> tuple[str, int, str, str | None, str] | None:
        """(feed name, seq, kind, subject, state) of an indexed v2 entry."""
        row = self.db.execute("SELECT name, seq, kind, subject, state FROM entries WHERE cid = ?",
                              (cid,)).fetchone()
        return (row[0], row[1], row[2], row[3], row[4]) if row else None

    def live_entries(self, name: str, subject: str, kind: str) -> list[str]:
        """CIDs of a feed's live entries of `kind` about `subject` (e.g. reactions to undo)."""
        return [r[0] for r in self.db.execute(
            "SELECT cid FROM entries WHERE name = ? AND subject = ? AND kind = ? "
            "AND state IN ('live', 'capped') ORDER BY seq", (name, subject, kind))]

    def capped(self, name: str) -> int:
        """How many reactions and reposts of a feed are over the index's cap (kept, not counted)."""
        return entryindex.capped(self.db, name)

    def replies(self, cid: str, limit: int = 200) -> list[IndexedPost]:
        """Known replies to a post, oldest first."""
        return self._shown([_post(r) for r in self.db.execute(
            f"SELECT {_POST_COLUMNS} FROM posts WHERE reply_to = ? AND hidden = 0 ORDER BY sort, cid "
            "LIMIT ?", (cid, limit))])

    def search(self, query: str, limit: int = 50, hide: Collection[str] = ()) -> list[IndexedPost]:
        """Posts whose text matches every word of `query` (FTS5), best first; each word also
        as the start of a longer one, and a plural as its singular ("foxes" finds "fox");
        none by the feeds in `hide`."""
        hidden = json.dumps(self._held(_as_set(hide)))
        tags = [entryindex.normalize(w[1:]) for w in query.split() if w.startswith("#") and len(w) > 1]
        words = [w.replace('"', '""') for w in search_stems(
            " ".join(w for w in query.split() if not w.startswith("#")))][:20]
        if not words and tags:
            cols = ", ".join(f"p.{c.strip()}" for c in _POST_COLUMNS.split(","))
            return self._shown([_post(r) for r in self.db.execute(
                f"SELECT {cols} FROM tags t JOIN posts p ON p.cid = t.cid WHERE t.tag = ? AND p.hidden = 0 "
                "AND p.cid IN (SELECT cid FROM tags WHERE tag IN (SELECT value FROM json_each(?))) "
                "AND p.name NOT IN (SELECT value FROM json_each(?)) "
                "ORDER BY p.sort DESC LIMIT ?", (tags[0], json.dumps(tags), hidden, limit))])
        if not words:
            return []
        match = " ".join(f'"{w}"*' for w in words)
        cols = ", ".join(f"posts.{c.strip()}" for c in _POST_COLUMNS.split(","))
        tagged = "" if not tags else " AND posts.cid IN (SELECT cid FROM tags WHERE tag = ?)"
        return self._shown([_post(r) for r in self.db.execute(
            f"SELECT {cols} FROM posts_fts JOIN posts ON posts.rowid = posts_fts.rowid "
            f"WHERE posts_fts MATCH ? AND posts.hidden = 0{tagged} "
            "AND posts.name NOT IN (SELECT value FROM json_each(?)) ORDER BY rank LIMIT ?",
            (match, *tags[:1], hidden, limit))])

    def attachment(self, post_cid: str, cid: str) -> dict[str, Any] | None:
        """The verified metadata of an attachment as the post that carries it declares it (another
        post may declare the same file otherwise)."""
        row = self.db.execute("SELECT attachments FROM posts WHERE cid = ?", (post_cid,)).fetchone()
        if row and cid in self.refused_files(post_cid):
            return None  # over its declared size (or otherwise refused): never served
        return next((dict(a) for a in json.loads(row[0]) if a.get("cid") == cid), None) if row else None

    def post_cids(self, name: str) -> list[str]:
        """The CIDs of every indexed post and entry of a feed (hidden ones too), newest first."""
        return [r[0] for r in self.db.execute(
            "SELECT cid, seq FROM posts WHERE name = ? UNION SELECT cid, seq FROM entries WHERE name = ? "
            "ORDER BY seq DESC", (name, name))]

    def deleted_contents(self, subjects: Sequence[str]) -> list[str]:
        """The content blocks that deleting these entries takes away: theirs, and a post's
        edits' (what to unpin)."""
        wanted = json.dumps(list(subjects))
        return [r[0] for r in self.db.execute(
            "SELECT content FROM entries WHERE content IS NOT NULL AND "
            "(cid IN (SELECT value FROM json_each(?)) "
            "OR (kind = 'edit' AND subject IN (SELECT value FROM json_each(?))))", (wanted, wanted))]

    def post_by_seq(self, name: str, seq: int) -> str | None:
        """The CID of a feed's post at a sequence number, if indexed."""
        row = self.db.execute("SELECT cid FROM posts WHERE name = ? AND seq = ? UNION ALL SELECT cid "
                              "FROM entries WHERE name = ? AND seq = ?", (name, seq, name, seq)).fetchone()
        return row[0] if row else None


def _as_set(names: Collection[str]) -> Set[str]:
    return names if isinstance(names, Set) else frozenset(names)


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


def _post(row: Sequence[Any], reposted_by: str | None = None) -> IndexedPost:
    (cid, name, seq, prev, created, sort, text, reply_to, atts, private, recipients, edited,
     extra_json) = row
    extra = json.loads(extra_json)
    return IndexedPost(cid, name, seq, prev, created, sort, text, reply_to, json.loads(atts),
                       bool(private), json.loads(recipients), edited=edited, quote=extra.get("quote"),
                       mentions=extra.get("mentions", []), tags=extra.get("tags", []),
                       card=extra.get("card"), cw=extra.get("cw", ""),
                       sensitive=bool(extra.get("sensitive")), reposted_by=reposted_by)
