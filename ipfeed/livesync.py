"""Reading what a v2 root lists besides its chain (FORMAT.md sections 9 – 12): the content
blocks its new entries name, checked against the entries' `content` CIDs, and its contents
tree, checked against the chain when the reader holds all of it.

Used by sync and show; every block is fetched with a byte limit and verified before use.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from . import contentblock, contents, feed, kinds
from .contentblock import Content
from .contents import Tree
from .entry import MAX_ENTRY_BYTES, Chained, Entry, parse_chained
from .entryindex import extra_of
from .errors import InvalidObject, IpfeedError
from .identity import Identity
from .private import Opened, open_box

Get = Callable[[str, int], Awaitable[bytes]]  # CID, byte limit -> the block, checked against the CID


async def fetch_contents(get: Get, chain: Sequence[Chained], at_once: int = 16) -> dict[str, Content]:
    """The content blocks the known-kind entries of `chain` name (post, edit), by CID, each
    verified against the CID its signed entry names; not those `chain` deletes (nobody who
    honours the delete keeps them: asking for them would only wait)."""
    deleted = {e.body.subject.cid for e in chain if isinstance(e, Entry) and isinstance(e.body, kinds.Delete)}
    wanted = sorted({e.content for e in chain if isinstance(e, Entry) and e.content
                     and e.kind in kinds.WITH_CONTENT and e.cid not in deleted
                     and not (isinstance(e.body, kinds.Edit) and e.body.subject.cid in deleted)})
    sem = asyncio.Semaphore(at_once)

    async def one(cid: str) -> Content:
        async with sem:
            return contentblock.parse_content(await get(cid, contentblock.MAX_CONTENT_BYTES), cid)
    return dict(zip(wanted, await asyncio.gather(*(one(c) for c in wanted)), strict=True))


async def fetch_tree(get: Get, root: feed.Root) -> Tree | None:
    """The contents tree a v2 root links to, every block verified."""
    if root.contents is None:
        return None
    top = contents.parse_contents(await get(root.contents, contents.MAX_TREE_BLOCK_BYTES), root.contents)
    parts = await asyncio.gather(*(get(c, contents.MAX_TREE_BLOCK_BYTES) for c in top.parts))
    return Tree(top, tuple(contents.parse_part(b, c) for b, c in zip(parts, top.parts, strict=True)))


def check_root(root: feed.Root, chain: Sequence[Chained], tree: Tree | None, whole: bool) -> None:
    """A v2 root against the entries at hand: `posts` always (feed.check_posts); with the
    `whole` chain down to seq 1, that `posts` and the tree are exactly the live posts and
    contents (feed.check_listing)."""
    if root.version != feed.VERSION_2:
        return
    feed.check_posts(root, {e.cid: e for e in chain})
    if whole:
        feed.check_listing(root, contents.live(chain), tree.items if tree else None)


def open_contents(me: Identity | None, chain: Sequence[Chained],
                  got: dict[str, Content]) -> dict[str, Opened]:
    """The decrypted content of v2 private posts and edits sent to `me`, by entry CID."""
    out: dict[str, Opened] = {}
    if me is None:
        return out
    for e in chain:
        c = got.get(e.content or "") if isinstance(e, Entry) else None
        if c is not None and c.box is not None:
            with contextlib.suppress(InvalidObject):
                if (o := open_box(me, c.box, f"entry {e.cid}", c.files, v2=True)) is not None:
                    out[e.cid] = o
    return out


async def held_contents(get: Get, cids: Sequence[str]) -> list[Content]:
    """Content blocks this node holds (e.g. of what was just deleted, to unpin their files);
    one that cannot be read is left out."""
    out = []
    for cid in cids:
        with contextlib.suppress(IpfeedError):
            out.append(contentblock.parse_content(await get(cid, contentblock.MAX_CONTENT_BYTES), cid))
    return out


async def newest_page(get: Get, root: feed.Root, limit: int) -> tuple[list[Chained], dict[str, Content]]:
    """The newest `limit` live posts a v2 root lists (`posts`), their entries and current
    content blocks fetched all at once (one round trip after the root: the format bounds the
    list at feed.RECENT posts, so no wider limit is needed), each verified: the entries as
    posts of the root's author (feed.check_posts), the contents against their CIDs.
    Returns the entries newest first and each v2 post's content by entry CID."""
    listed = root.posts[:max(limit, 0)]
    blocks = await asyncio.gather(*(get(p.entry, MAX_ENTRY_BYTES) for p in listed),
                                  *(get(p.content, contentblock.MAX_CONTENT_BYTES)
                                    for p in listed if p.content))
    entries = [parse_chained(b, p.entry) for b, p in zip(blocks, listed, strict=False)]
    feed.check_posts(root, {e.cid: e for e in entries})
    rest = iter(blocks[len(listed):])
    got = {p.entry: contentblock.parse_content(next(rest), p.content) for p in listed if p.content}
    return entries, got


def entry_json(e: Entry, c: Content | None) -> dict[str, Any]:
    """A v2 post for JSON output (`ipfeed show --json`), as v1 posts are, with the v2 fields."""
    out: dict[str, Any] = {"cid": e.cid, "seq": e.seq, "prev": e.prev, "created": e.created,
                           "kind": e.kind, "text": "", "reply_to": None, "attachments": [],
                           "private": bool(c and c.private)}
    if c is not None and not c.private:
        out.update(text=c.text, reply_to=c.reply_to.cid if c.reply_to else None, content=c.cid,
                   attachments=[a.to_json() for a in c.attachments])
    if c is not None:
        x = extra_of(c)  # the one JSON shape of a version's v2 fields
        out.update(quote=x.get("quote"), mentions=x.get("mentions", []), tags=x.get("tags", []),
                   card=x.get("card"), cw=x.get("cw", ""), sensitive=bool(x.get("sensitive")))
    return out


async def walk_page(get: Get, root: feed.Root, limit: int, at_once: int = 16
                    ) -> tuple[list[Chained], dict[str, Content]]:
    """The newest `limit` live posts of a v2 feed when `posts` lists fewer: the chain walked
    down from the head (deletes and edits are newer than their subject, so each is seen
    before the post it names), then the current contents fetched in parallel."""
    recent = await asyncio.gather(*(get(c, MAX_ENTRY_BYTES) for c in root.recent))
    chain = [parse_chained(b, c) for b, c in zip(recent, root.recent, strict=True)]
    feed.check_page(root, chain)
    deleted: set[str] = set()
    current: dict[str, str] = {}
    out: list[Chained] = []
    i = 0
    while len(out) < limit:
        if i == len(chain):
            prev = chain[-1].prev if chain else None
            if prev is None:
                break
            older = parse_chained(await get(prev, MAX_ENTRY_BYTES), prev)
            if older.author != root.author or older.seq != chain[-1].seq - 1:
                raise InvalidObject(f"entry {prev} is not entry {chain[-1].seq - 1} of this feed")
            chain.append(older)
        e = chain[i]
        i += 1
        if isinstance(e, Entry) and isinstance(e.body, kinds.Delete):
            deleted.add(e.body.subject.cid)
        elif isinstance(e, Entry) and isinstance(e.body, kinds.Edit) and e.cid not in deleted:
            current.setdefault(e.body.subject.cid, e.content or "")
        elif e.cid not in deleted and (not isinstance(e, Entry) or e.kind == kinds.POST):
            out.append(e)
    wanted = {e.cid: current.get(e.cid) or e.content for e in out if isinstance(e, Entry) and e.content}
    blocks = await asyncio.gather(*(get(c, contentblock.MAX_CONTENT_BYTES) for c in wanted.values()))
    got = {cid: contentblock.parse_content(b, c)
           for (cid, c), b in zip(wanted.items(), blocks, strict=True)}
    return out, got
