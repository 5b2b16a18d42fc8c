"""Conversations as the index knows them: the chain of posts a post replies to, and the
replies of its replies, each bounded (a hostile feed can make a chain as long as it likes)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from . import codec
from .homedir import Home
from .index import IndexedPost

MAX_ANCESTORS = 50
MAX_REPLIES = 300
MAX_DEPTH = 6  # deeper replies are still shown, indented no further
CONVERSATION_DEPTH = 16  # ancestors a reply's notices and their receivers look up


@dataclass(frozen=True)
class Thread:
    """A post in its conversation: ancestors oldest first, then replies in reading order
    (each reply after its parent, with its depth below the post, 1 for a direct reply)."""

    post: IndexedPost
    ancestors: list[IndexedPost]
    replies: list[tuple[int, IndexedPost]]
    missing_parent: str | None  # the CID the oldest known ancestor replies to, not indexed here


def thread(home: Home, cid: str, hide: Collection[str] = ()) -> Thread | None:
    """The conversation around one indexed post, or None if the post is not indexed; posts by
    the feeds in `hide` (muted or blocked) are left out, and the replies under them too (an
    ancestor left out ends the chain upwards like a post not indexed)."""
    cid = codec.parse_cid(cid)
    with home.index() as index:
        post = index.post(cid)
        if post is None:
            return None
        ancestors: list[IndexedPost] = []
        seen = {post.cid}
        parent = post.reply_to
        while parent and parent not in seen and len(ancestors) < MAX_ANCESTORS:
            found = index.post(parent)
            if found is not None and found.name in hide:
                parent = None  # a hidden ancestor: the chain ends here, and says nothing of it
                break
            if found is None:
                break
            seen.add(found.cid)
            ancestors.append(found)
            parent = found.reply_to
        missing = parent if parent and parent not in seen else None
        replies: list[tuple[int, IndexedPost]] = []

        def walk(of: str, depth: int) -> None:
            for r in index.replies(of, MAX_REPLIES):
                if len(replies) >= MAX_REPLIES or r.cid in seen or r.name in hide:
                    continue
                seen.add(r.cid)
                replies.append((min(depth, MAX_DEPTH), r))
                walk(r.cid, depth + 1)

        walk(post.cid, 1)
        return Thread(post, ancestors[::-1], replies, missing)


def conversation(home: Home, parent: str, depth: int = CONVERSATION_DEPTH) -> list[IndexedPost]:
    """The post `parent` and the posts it replies to, nearest first, as far as the index holds
    them (verified), at most `depth`: whose conversation a reply to `parent` is in."""
    out: list[IndexedPost] = []
    seen: set[str] = set()
    with home.index() as index:
        at: str | None = parent
        while at and at not in seen and len(out) < depth:
            seen.add(at)
            found = index.post(at)
            if found is None:
                break
            out.append(found)
            at = found.reply_to
    return out


def authors(home: Home, cids: Sequence[str]) -> dict[str, str]:
    """The author (feed name) of each of these posts that the index holds."""
    wanted = sorted(set(cids))
    if not wanted:
        return {}
    with home.index() as index:
        return {c: p.name for c in wanted if (p := index.post(c)) is not None}
