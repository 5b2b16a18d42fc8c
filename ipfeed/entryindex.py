"""Indexing v2 entries (FORMAT.md section 12): posts with their current version, edits kept as
versions, deletions applied, one reaction per author and subject (the newest live), one repost
per author and subject, and per-post counts kept incrementally so that the timeline stays one
indexed read however many reactions a feed holds.

An entry whose subject is not indexed (yet) is pending: stored, not counted, and applied when
its subject arrives. A feed's reactions and reposts beyond CAP are kept unindexed ("capped").
Called inside the index's transaction (ipfeed.index); no IO besides SQLite.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import kinds
from .content import normalize_tag
from .contentblock import Content
from .entry import Entry
from .identity import name_from_public
from .private import Opened

CAP = 10_000  # indexed reactions + reposts per feed; beyond: kept, not counted
EDIT_OF_POST = "an edit's subject must be a post, and this one is another kind of entry (rule edit-of-post)"
PROBE_NAMES = 64  # up to this many hidden feeds, counts probe (post, feed) pairs
QUOTE = "json_extract(extra, '$.quote')"  # as the index posts_quote has it (migrations.py)
DELETED = 2  # posts.hidden: 1 = a private post not for this user, 2 = deleted


def extra_of(c: Content | None, o: Opened | None = None) -> dict[str, Any]:
    """The v2 fields of a post's version as the index keeps them (JSON)."""
    ex = o.extras if o is not None else c.extras if c is not None else None
    out: dict[str, Any] = {}
    if ex is not None:
        if ex.quote is not None:
            out["quote"] = ex.quote.cid
        if ex.mentions:
            out["mentions"] = [m.to_obj() for m in ex.mentions]
        if ex.tags:
            out["tags"] = list(ex.tags)
        if ex.cw:
            out["cw"] = ex.cw
        if ex.sensitive:
            out["sensitive"] = True
    if c is not None and c.card is not None:
        out["card"] = {"url": c.card.url, "title": c.card.title, "description": c.card.description,
                       "thumb": c.card.thumb.to_json() if c.card.thumb else None}
    return out


def _version(c: Content | None, o: Opened | None) -> tuple[str, str | None, str, dict[str, Any], bool, str]:
    """(text, reply_to, attachments JSON, extra, private, recipients JSON) of a content block."""
    if o is not None:
        return (o.text, o.reply_to, json.dumps(o.attachments), extra_of(None, o), True,
                json.dumps(o.to))
    if c is None or c.private:
        return "", None, "[]", {}, c is not None, "[]"
    return (c.text, c.reply_to.cid if c.reply_to else None,
            json.dumps([a.to_json() for a in c.attachments]), extra_of(c), False, "[]")


def apply(db: sqlite3.Connection, name: str, entries: Sequence[Entry],
          contents: Mapping[str, Content], opened: Mapping[str, Opened], now: int) -> int:
    """Index verified entries of one feed (any order; redelivery is idempotent); return how
    many posts were new."""
    added = 0
    ordered = sorted(entries, key=lambda x: x.seq)
    cids = json.dumps([e.cid for e in ordered])
    known = {r[0] for r in db.execute("SELECT cid FROM entries WHERE cid IN (SELECT value FROM json_each(?))",
                                      (cids,))}
    # What something may wait for: the entries of this batch that entries already pending name,
    # and every subject the batch itself names (whatever becomes of them). Only for these are
    # the pending entries looked up: one query per batch instead of one per entry.
    waited = {r[0] for r in db.execute("SELECT subject FROM entries WHERE state = 'pending' AND subject IN "
                                       "(SELECT value FROM json_each(?))", (cids,))}
    waited.update(e.body.subject.cid for e in ordered if isinstance(e.body, kinds.About))
    for e in ordered:
        if e.cid in known:
            continue
        known.add(e.cid)
        ref = e.body.subject if isinstance(e.body, kinds.About) else None
        emoji = e.body.emoji if isinstance(e.body, kinds.Reaction) else None
        db.execute("INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'live', NULL)",
                   (e.cid, name, e.seq, e.kind, ref and ref.cid, ref and name_from_public(ref.author),
                    emoji, e.content, e.created))
        if e.kind in kinds.IDENTITY_KINDS and e.body is not None:
            db.execute("INSERT OR IGNORE INTO identity_entries VALUES (?, ?, ?, ?, ?)",
                       (e.cid, name, e.seq, e.kind, json.dumps(identity_json(e.body))))
        c = contents.get(e.content or "")
        if e.kind != kinds.POST and e.cid in waited:  # edits that waited for this subject: not a post
            db.execute("UPDATE entries SET state = 'rejected', why = ? WHERE subject = ? AND kind = ? "
                       "AND state = 'pending'", (EDIT_OF_POST, e.cid, kinds.EDIT))
        if e.kind == kinds.POST:
            added += _post(db, name, e, c, opened.get(e.cid), now, waited=e.cid in waited)
        elif ref is not None:
            if isinstance(e.body, kinds.Edit):
                add_version(db, ref.cid, e, c, opened.get(e.cid))
            _about(db, name, e.cid)
    return added


def identity_json(body: Any) -> dict[str, Any]:
    """A recovery, migration or moved-from body as the index keeps it (bytes as hex)."""
    obj = kinds.body_obj(body) or {}
    return {k: v.hex() if isinstance(v, bytes) else v for k, v in obj.items()}


def _post(db: sqlite3.Connection, name: str, e: Entry, c: Content | None, o: Opened | None,
          now: int, *, waited: bool) -> int:
    """Index a post entry (its version, its counts; with `waited`, the entries pending on it)."""
    text, reply, atts, extra, private, to = _version(c, o)
    hidden = 1 if c is not None and c.private and o is None else 0
    extra_json = json.dumps(extra)
    cur = db.execute(
        "INSERT OR IGNORE INTO posts (cid, name, seq, prev, created, sort, text, reply_to, attachments, "
        "private, recipients, hidden, seen, content, extra) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (e.cid, name, e.seq, e.prev, e.created, min(e.created, now), text, reply, atts, int(private),
         to, hidden, now, e.content, extra_json))
    if cur.rowcount <= 0:
        return 0
    db.execute("INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (e.cid, e.cid, e.seq, e.created, e.content, text, atts, extra_json))
    if not hidden:
        _counted(db, e.cid, reply, extra, +1)
    if waited:
        added_post(db, e.cid)
    return 1


def counted_v1(db: sqlite3.Connection, cid: str, reply: str | None) -> None:
    """A v1 post was indexed (once): count it as a reply and apply what waited for it."""
    if reply:
        _bump(db, reply, "replies", +1)
    added_post(db, cid)


def added_post(db: sqlite3.Connection, cid: str) -> None:
    """A post arrived: apply the entries that waited for it (pending), in seq order."""
    rows = db.execute("SELECT name, cid FROM entries WHERE subject = ? AND state = 'pending' "
                      "ORDER BY seq", (cid,)).fetchall()
    for name, entry in rows:
        _about(db, name, entry)


def _counted(db: sqlite3.Connection, cid: str, reply: str | None, extra: Mapping[str, Any],
             step: int) -> None:
    """Count (or uncount) a post in the replies of its parent and the quotes of its quote."""
    for subject, column in ((reply, "replies"), (extra.get("quote"), "quotes")):
        if subject:
            _bump(db, subject, column, step)
    for tag in extra.get("tags", ()):
        if step > 0:
            db.execute("INSERT OR IGNORE INTO tags VALUES (?, ?)", (tag, cid))
        else:
            db.execute("DELETE FROM tags WHERE tag = ? AND cid = ?", (tag, cid))


def _bump(db: sqlite3.Connection, cid: str, column: str, step: int) -> None:
    db.execute("INSERT OR IGNORE INTO counts (cid) VALUES (?)", (cid,))
    db.execute(f"UPDATE counts SET {column} = max(0, {column} + ?) WHERE cid = ?", (step, cid))


def _subject_post(db: sqlite3.Connection, cid: str) -> tuple[str, int] | None:
    row = db.execute("SELECT name, hidden FROM posts WHERE cid = ?", (cid,)).fetchone()
    return (row[0], row[1]) if row else None


def _about(db: sqlite3.Connection, name: str, cid: str) -> None:
    """Apply one stored reaction, repost, edit or delete (`cid`), or leave it pending."""
    seq, kind, subject, subject_name, emoji, created = db.execute(
        "SELECT seq, kind, subject, subject_name, emoji, created FROM entries WHERE cid = ?",
        (cid,)).fetchone()
    if kind == kinds.DELETE:
        _delete(db, name, cid, subject)
        return
    target = _subject_post(db, subject)
    if target is None:
        known = db.execute("SELECT 1 FROM entries WHERE cid = ?", (subject,)).fetchone()
        if kind == kinds.EDIT and known is not None:  # an entry, but not a post
            db.execute("UPDATE entries SET state = 'rejected', why = ? WHERE cid = ?", (EDIT_OF_POST, cid))
        else:
            db.execute("UPDATE entries SET state = 'pending' WHERE cid = ?", (cid,))
        return
    owner, hidden = target
    if owner != subject_name:
        db.execute("UPDATE entries SET state = 'rejected', why = ? WHERE cid = ?",
                   (f"its subject {subject} is not by the author its ref names", cid))
        return
    if hidden == DELETED:
        why = "an edit of a deleted post is ignored (rule edit-of-deleted)" if kind == kinds.EDIT else \
            "its subject is deleted"
        db.execute("UPDATE entries SET state = 'rejected', why = ? WHERE cid = ?", (why, cid))
        return
    state = "live"
    if kind in (kinds.REACTION, kinds.REPOST):
        row = db.execute("SELECT n FROM used WHERE name = ?", (name,)).fetchone()
        used = row[0] if row else 0
        table = "reactions" if kind == kinds.REACTION else "reposts"
        old = db.execute(f"SELECT seq FROM {table} WHERE subject = ? AND name = ?",
                         (subject, name)).fetchone()
        if old is None and used >= CAP:
            state = "capped"
        elif kind == kinds.REACTION:
            if old is None or old[0] < seq:
                db.execute("INSERT OR REPLACE INTO reactions VALUES (?, ?, ?, ?, ?)",
                           (subject, name, emoji, seq, cid))
            if old is None:
                _bump(db, subject, "likes", +1)
                _use(db, name, +1)
        elif old is None:
            db.execute("INSERT INTO reposts VALUES (?, ?, ?, ?, ?)", (subject, name, seq, cid, created))
            _bump(db, subject, "reposts", +1)
            _use(db, name, +1)
    elif kind == kinds.EDIT:
        if owner != name:
            state = "rejected"
            db.execute("UPDATE entries SET why = ? WHERE cid = ?",
                       ("an edit's subject must be the author's own (rule own-subject)", cid))
        else:
            current(db, subject)
    db.execute("UPDATE entries SET state = ? WHERE cid = ?", (state, cid))


def add_version(db: sqlite3.Connection, post: str, e: Entry, c: Content | None, o: Opened | None) -> None:
    """Record an edit's new version (before its entry is applied)."""
    text, _, atts, extra, _, _ = _version(c, o)
    # A v1 post's own version is kept only once it is edited (its text is in its block).
    db.execute("INSERT OR IGNORE INTO versions SELECT cid, cid, seq, created, NULL, text, attachments, "
               "extra FROM posts WHERE cid = ? AND content IS NULL", (post,))
    db.execute("INSERT OR IGNORE INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
               (post, e.cid, e.seq, e.created, e.content, text, atts, json.dumps(extra)))


def current(db: sqlite3.Connection, post: str) -> None:
    """Make a post's newest live version its shown text (edits newest first by seq)."""
    rows = db.execute("SELECT v.entry, v.created, v.content, v.text, v.attachments, v.extra FROM versions v "
                      "LEFT JOIN entries e ON e.cid = v.entry WHERE v.post = ? "
                      "AND (v.entry = v.post OR e.state = 'live') ORDER BY v.seq DESC", (post,)).fetchall()
    if not rows:
        return
    entry, created, content, text, atts, extra = rows[0]
    old = db.execute("SELECT reply_to, extra FROM posts WHERE cid = ?", (post,)).fetchone()
    _counted(db, post, None, json.loads(old[1]), -1)
    db.execute("UPDATE posts SET text = ?, attachments = ?, extra = ?, content = ?, edited = ? WHERE cid = ?",
               (text, atts, extra, content, None if entry == post else created, post))
    _counted(db, post, None, json.loads(extra), +1)


def _delete(db: sqlite3.Connection, name: str, cid: str, subject: str) -> None:
    row = db.execute("SELECT name, kind, state FROM entries WHERE cid = ?", (subject,)).fetchone()
    post = _subject_post(db, subject)
    if row is None and post is None:
        db.execute("UPDATE entries SET state = 'pending' WHERE cid = ?", (cid,))
        return
    owner = row[0] if row else post[0] if post else name
    if owner != name:
        db.execute("UPDATE entries SET state = 'rejected', why = ? WHERE cid = ?",
                   ("a delete's subject must be the author's own (rule own-subject)", cid))
        return
    if row is not None and row[1] == kinds.DELETE:
        db.execute("UPDATE entries SET state = 'rejected', why = ? WHERE cid = ?",
                   ("a delete's subject must not be a delete (rule delete-of-delete)", cid))
        return
    db.execute("UPDATE entries SET state = 'live' WHERE cid = ?", (cid,))
    kind = row[1] if row else kinds.POST
    db.execute("UPDATE entries SET state = 'deleted' WHERE cid = ?", (subject,))
    if kind == kinds.POST:
        old = db.execute("SELECT reply_to, extra, hidden FROM posts WHERE cid = ?", (subject,)).fetchone()
        if old and old[2] != DELETED:
            if old[2] == 0:
                _counted(db, subject, old[0], json.loads(old[1]), -1)
            db.execute("UPDATE posts SET hidden = ?, text = '', attachments = '[]', extra = '{}' "
                       "WHERE cid = ?", (DELETED, subject))
            db.execute("DELETE FROM versions WHERE post = ?", (subject,))
            db.execute("UPDATE entries SET state = 'deleted' WHERE subject = ? AND kind = ?",
                       (subject, kinds.EDIT))
    elif kind == kinds.EDIT:
        post_cid = db.execute("SELECT subject FROM entries WHERE cid = ?", (subject,)).fetchone()[0]
        db.execute("DELETE FROM versions WHERE entry = ?", (subject,))
        current(db, post_cid)
    elif kind in (kinds.REACTION, kinds.REPOST):
        target = db.execute("SELECT subject FROM entries WHERE cid = ?", (subject,)).fetchone()[0]
        _recount(db, name, target, kind)


def _recount(db: sqlite3.Connection, name: str, subject: str, kind: str) -> None:
    """After a delete of a reaction or repost: the newest live one of that author counts."""
    table, column = ("reactions", "likes") if kind == kinds.REACTION else ("reposts", "reposts")
    had = db.execute(f"SELECT 1 FROM {table} WHERE subject = ? AND name = ?", (subject, name)).fetchone()
    db.execute(f"DELETE FROM {table} WHERE subject = ? AND name = ?", (subject, name))
    newest = db.execute("SELECT cid, seq, emoji, created FROM entries WHERE name = ? AND subject = ? "
                        "AND kind = ? AND state = 'live' ORDER BY seq DESC LIMIT 1",
                        (name, subject, kind)).fetchone()
    if newest is None:
        if had:
            _bump(db, subject, column, -1)
            _use(db, name, -1)
        return
    entry, seq, emoji, created = newest
    if kind == kinds.REACTION:
        db.execute("INSERT INTO reactions VALUES (?, ?, ?, ?, ?)", (subject, name, emoji, seq, entry))
    else:
        db.execute("INSERT INTO reposts VALUES (?, ?, ?, ?, ?)", (subject, name, seq, entry, created))
    if not had:
        _bump(db, subject, column, +1)
        _use(db, name, +1)


def _use(db: sqlite3.Connection, name: str, step: int) -> None:
    """Keep a feed's count of indexed reactions and reposts (its cap) without counting rows."""
    db.execute("INSERT INTO used VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET n = n + ?",
               (name, step, step))


def capped(db: sqlite3.Connection, name: str) -> int:
    """How many of a feed's reactions and reposts are kept unindexed (over CAP)."""
    return int(db.execute("SELECT count(*) FROM entries WHERE name = ? AND state = 'capped'",
                          (name,)).fetchone()[0])


def decorate(db: sqlite3.Connection, posts: list[Any], me: str | None,
             hide: Sequence[str] = ()) -> list[Any]:
    """IndexedPosts with their counts, reactions by emoji and this user's own reaction and
    repost, none of it by the feeds in `hide` (muted or blocked): a few indexed reads for the
    page, whatever the number of reactions in the index."""
    if not posts:
        return posts
    cids = json.dumps([p.cid for p in posts])
    counts = {r[0]: r[1:] for r in db.execute(
        "SELECT cid, likes, reposts, quotes, replies FROM counts "
        "WHERE cid IN (SELECT value FROM json_each(?))",
        (cids,))}
    emojis: dict[str, dict[str, int]] = {}
    for subject, emoji, n in db.execute(
            "SELECT subject, emoji, count(*) FROM reactions "
            "WHERE subject IN (SELECT value FROM json_each(?)) "
            "GROUP BY subject, emoji", (cids,)):
        emojis.setdefault(subject, {})[emoji] = n
    less = _hidden_counts(db, cids, json.dumps(list(hide)), emojis) if hide else {}
    mine = dict(db.execute("SELECT subject, emoji FROM reactions WHERE name = ? AND subject IN "
                           "(SELECT value FROM json_each(?))", (me, cids))) if me else {}
    reposted = {r[0] for r in db.execute("SELECT subject FROM reposts WHERE name = ? AND subject IN "
                                         "(SELECT value FROM json_each(?))", (me, cids))} if me else set()
    moved = {r[0]: r[1:] for r in db.execute(
        "SELECT name, moved_to, seq, entry FROM moves WHERE name IN (SELECT value FROM json_each(?))",
        (json.dumps(sorted({p.name for p in posts})),))}
    out = []
    for p in posts:
        likes, reposts, quotes, replies = (max(0, n - d) for n, d in zip(
            counts.get(p.cid, (0, 0, 0, 0)), less.get(p.cid, (0, 0, 0, 0)), strict=True))
        to, since, carrier = moved.get(p.name, (None, 0, None))
        # Section 18: what the old key signs from the migration's seq on is not the owner's.
        not_owner = to if to is not None and p.seq >= since and p.cid != carrier else None
        out.append(replace(p, likes=likes, reposts=reposts, quotes=quotes, replies=replies,
                           reactions=emojis.get(p.cid, {}), my_reaction=mine.get(p.cid),
                           reposted=p.cid in reposted, not_owner=not_owner))
    return out


def _hidden_counts(db: sqlite3.Connection, cids: str, hidden: str,
                   emojis: dict[str, dict[str, int]]) -> dict[str, list[int]]:
    """What the feeds in `hidden` (JSON names) add to the counts of the posts `cids` (JSON), as
    [likes, reposts, quotes, replies], their reactions also taken out of `emojis`: one statement
    whose every part walks an index on (post, author), so it costs what those feeds did to these
    posts, not what everyone did."""
    among = "IN (SELECT value FROM json_each(?1))", "IN (SELECT value FROM json_each(?2))"
    # A long list: read these posts' entries and look each author up, rather than probing
    # every (post, listed feed) pair (3,000 listed feeds: 3.1 rather than 5.0 times the page's
    # count reads; bench in the CHANGELOG).
    by = "" if hidden.count(",") < PROBE_NAMES else "+"
    sql = (f"SELECT 0, subject, emoji, count(*) FROM reactions WHERE subject {among[0]} "
           f"AND {by}name {among[1]} GROUP BY subject, emoji UNION ALL "
           f"SELECT 1, subject, NULL, count(*) FROM reposts WHERE subject {among[0]} AND {by}name {among[1]} "
           "GROUP BY subject UNION ALL "
           f"SELECT 2, {QUOTE}, NULL, count(*) FROM posts WHERE {QUOTE} {among[0]} AND {QUOTE} IS NOT NULL "
           f"AND {by}name {among[1]} AND hidden = 0 GROUP BY 2 UNION ALL "
           f"SELECT 3, reply_to, NULL, count(*) FROM posts WHERE reply_to {among[0]} AND {by}name {among[1]} "
           "AND hidden = 0 GROUP BY reply_to")
    less: dict[str, list[int]] = {}
    for column, subject, emoji, n in db.execute(sql, (cids, hidden)):
        less.setdefault(subject, [0, 0, 0, 0])[column] += n
        if emoji is not None and (left := emojis.get(subject, {}).get(emoji, 0) - n) > 0:
            emojis[subject][emoji] = left
        elif emoji is not None:
            emojis.get(subject, {}).pop(emoji, None)
    return less


def normalize(tag: str) -> str:
    """A tag as the index keys it (content.normalize_tag: NFKC_Casefold)."""
    return normalize_tag(tag.lstrip("#"))


def forget(db: sqlite3.Connection, name: str) -> int:
    """Drop one feed from the index, its counts in other feeds' posts taken back (its replies,
    quotes, tags, reactions and reposts); what other feeds' entries say about its posts is kept
    as it is (a sync of it again finds them applied). How many posts and entries went."""
    for cid, reply, extra in db.execute("SELECT cid, reply_to, extra FROM posts WHERE name = ? "
                                        "AND hidden = 0", (name,)).fetchall():
        _counted(db, cid, reply, json.loads(extra), -1)
    for table, column in (("reactions", "likes"), ("reposts", "reposts")):
        for (subject,) in db.execute(f"SELECT subject FROM {table} WHERE name = ?", (name,)).fetchall():
            _bump(db, subject, column, -1)
        db.execute(f"DELETE FROM {table} WHERE name = ?", (name,))
    db.execute("DELETE FROM versions WHERE post IN (SELECT cid FROM posts WHERE name = ?) "
               "OR entry IN (SELECT cid FROM entries WHERE name = ?)", (name, name))
    db.execute("DELETE FROM refused_files WHERE post IN (SELECT cid FROM posts WHERE name = ?)", (name,))
    gone = db.execute("DELETE FROM posts WHERE name = ?", (name,)).rowcount
    gone += db.execute("DELETE FROM entries WHERE name = ? AND kind != ?", (name, kinds.POST)).rowcount
    db.execute("DELETE FROM entries WHERE name = ?", (name,))
    for table in ("used", "forks", "beacon_checks", "migration_problems", "feeds"):
        db.execute(f"DELETE FROM {table} WHERE name = ?", (name,))
    return gone
