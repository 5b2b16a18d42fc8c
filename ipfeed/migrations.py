"""The index's SQL schema as its migrations, in order, and bringing a database up to the
newest (PRAGMA user_version counts the migrations applied)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from . import sqlite
from .errors import NewerSchema

MIGRATIONS: list[str] = [
    # 1: feeds, posts, forks
    """
    CREATE TABLE feeds (
        name TEXT PRIMARY KEY,
        root_cid TEXT, root_seq INTEGER, count INTEGER NOT NULL DEFAULT 0,
        updated INTEGER, profile TEXT NOT NULL DEFAULT '{}',
        head TEXT,
        record BLOB, record_seq INTEGER, record_eol INTEGER,
        pinned TEXT,
        last_sync INTEGER, last_ok INTEGER, last_error TEXT,
        failures INTEGER NOT NULL DEFAULT 0, next_try INTEGER NOT NULL DEFAULT 0,
        fork INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE posts (
        cid TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        seq INTEGER NOT NULL,
        prev TEXT,
        created INTEGER NOT NULL,
        seen INTEGER NOT NULL,
        sort INTEGER NOT NULL,  -- min(created, seen): a post dated in the future cannot jump ahead
        text TEXT NOT NULL,
        reply_to TEXT,
        attachments TEXT NOT NULL,
        UNIQUE (name, seq)
    );
    CREATE INDEX posts_sort ON posts (sort DESC, cid DESC);
    CREATE INDEX posts_reply ON posts (reply_to);
    CREATE TABLE forks (
        name TEXT NOT NULL, seq INTEGER NOT NULL, cid TEXT NOT NULL, block BLOB,
        seen INTEGER NOT NULL, PRIMARY KEY (name, cid)
    );
    """,
    # 2: full-text search over post text (SQLite FTS5, kept in step by triggers)
    """
    CREATE VIRTUAL TABLE posts_fts USING fts5(text, content='posts', content_rowid='rowid');
    INSERT INTO posts_fts (rowid, text) SELECT rowid, text FROM posts;
    CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
        INSERT INTO posts_fts (rowid, text) VALUES (new.rowid, new.text);
    END;
    CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
        INSERT INTO posts_fts (posts_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
    END;
    """,
    # 3: whom each feed follows (from its verified follow list)
    """
    ALTER TABLE feeds ADD COLUMN follows TEXT NOT NULL DEFAULT '[]';
    """,
    # 4: private posts: shown decrypted to their recipients, hidden (but kept) for others
    """
    ALTER TABLE posts ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE posts ADD COLUMN recipients TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE posts ADD COLUMN hidden INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: a total timeline order: equal times (an import) fall back to the feed's own order
    """
    DROP INDEX posts_sort;
    CREATE INDEX posts_order ON posts (sort DESC, seq DESC, cid DESC);
    """,
    # 6: fork evidence also for roots (two roots signed with one seq)
    """
    ALTER TABLE forks ADD COLUMN kind TEXT NOT NULL DEFAULT 'post';
    """,
    # 7: files refused (not pinned, never served), e.g. larger than the post declares
    """
    CREATE TABLE refused_files (
        post TEXT NOT NULL, cid TEXT NOT NULL, problem TEXT NOT NULL, seen INTEGER NOT NULL,
        PRIMARY KEY (post, cid)
    );
    """,
    # 8: format v2: entries of every kind, post versions (edits), deletions, reactions,
    # reposts, per-post counts kept incrementally, and tags (ipfeed.entryindex)
    """
    ALTER TABLE posts ADD COLUMN content TEXT;
    ALTER TABLE posts ADD COLUMN edited INTEGER;
    ALTER TABLE posts ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
    CREATE TRIGGER posts_fts_update AFTER UPDATE OF text ON posts BEGIN
        INSERT INTO posts_fts (posts_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
        INSERT INTO posts_fts (rowid, text) VALUES (new.rowid, new.text);
    END;
    CREATE TABLE entries (
        cid TEXT PRIMARY KEY, name TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
        subject TEXT, subject_name TEXT, emoji TEXT, content TEXT, created INTEGER NOT NULL,
        state TEXT NOT NULL,  -- live, pending (subject not indexed), deleted, capped, rejected
        why TEXT,
        UNIQUE (name, seq)
    );
    CREATE INDEX entries_subject ON entries (subject, state);
    CREATE TABLE versions (
        post TEXT NOT NULL, entry TEXT NOT NULL, seq INTEGER NOT NULL, created INTEGER NOT NULL,
        content TEXT, text TEXT NOT NULL, attachments TEXT NOT NULL, extra TEXT NOT NULL,
        PRIMARY KEY (post, seq)
    );
    CREATE TABLE reactions (
        subject TEXT NOT NULL, name TEXT NOT NULL, emoji TEXT NOT NULL, seq INTEGER NOT NULL,
        entry TEXT NOT NULL, PRIMARY KEY (subject, name)
    );
    CREATE TABLE reposts (
        subject TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT NULL, entry TEXT NOT NULL,
        sort INTEGER NOT NULL, PRIMARY KEY (subject, name)
    );
    CREATE INDEX reposts_order ON reposts (sort DESC);
    CREATE TABLE counts (
        cid TEXT PRIMARY KEY, likes INTEGER NOT NULL DEFAULT 0, reposts INTEGER NOT NULL DEFAULT 0,
        quotes INTEGER NOT NULL DEFAULT 0, replies INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE tags (tag TEXT NOT NULL, cid TEXT NOT NULL, PRIMARY KEY (tag, cid));
    CREATE TABLE used (name TEXT PRIMARY KEY, n INTEGER NOT NULL);  -- indexed reactions + reposts
    """,
    # recovery and migration (issue #17, FORMAT.md section 18): the identity entries of every
    # feed with their bodies (hex), and the migration that counts for a feed (ipfeed.moving)
    """
    CREATE TABLE identity_entries (
        cid TEXT PRIMARY KEY, name TEXT NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX identity_entries_name ON identity_entries (name, kind, seq);
    CREATE TABLE moves (
        name TEXT PRIMARY KEY,  -- the old feed
        moved_to TEXT NOT NULL, seq INTEGER NOT NULL,  -- its entries from seq on are not the owner's
        entry TEXT,  -- the old chain's migration entry that carried it (the owner's), if any
        genesis TEXT,  -- the new feed's moved-from entry
        statement TEXT NOT NULL,  -- the winning claim (hex fields), to re-decide without the network
        competing INTEGER NOT NULL DEFAULT 0, seen INTEGER NOT NULL
    );
    CREATE TABLE beacon_checks (name TEXT PRIMARY KEY, at INTEGER NOT NULL);  -- last beacon lookup
    CREATE TABLE migration_problems (name TEXT PRIMARY KEY, problem TEXT NOT NULL, seen INTEGER NOT NULL);
    """,
    # counts leave out muted and blocked feeds (issue #15): their replies and quotes of a post,
    # found by (post, author) rather than by reading every reply or quote of it
    """
    DROP INDEX posts_reply;
    CREATE INDEX posts_reply ON posts (reply_to, name);
    CREATE INDEX posts_quote ON posts (json_extract(extra, '$.quote'), name)
        WHERE json_extract(extra, '$.quote') IS NOT NULL;
    """,
]



def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Apply the migrations `db` lacks, in one transaction; refuse a schema from a newer ipfeed."""
    if db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS):
        return  # current: no write lock just to look (pages open the index per request)
    with sqlite.transaction(db) as tx:
        version = tx.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise NewerSchema(f"{path} is from a newer ipfeed (schema {version})")
        for number in range(version, len(MIGRATIONS)):
            for statement in statements(MIGRATIONS[number]):
                tx.execute(statement)
        tx.execute(f"PRAGMA user_version={len(MIGRATIONS)}")


def statements(script: str) -> list[str]:
    """Split a migration into statements (trigger bodies end in `END;`)."""
    out, current = [], ""
    for part in script.split(";"):
        current += part + ";"
        body = current.strip()
        if body == ";":
            current = ""
            continue
        if "CREATE TRIGGER" in body and not body.upper().endswith("END;"):
            continue
        out.append(body)
        current = ""
    return out
