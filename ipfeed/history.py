"""A feed's history against what this home verified before: its newest record and root
(FORMAT.md section 6), and the chain reaching a known post.

The rules, in order: the IPNS record must verify with the name's key and not be older than
the known one; the root must verify, be by that key and not be older, and not contradict a
known post; evidence of equivocation (two roots, or two posts, with one seq) is kept.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from . import codec, feed, post
from .config import Settings
from .entry import Chained, parse_chained
from .errors import (
    ChainError,
    Equivocation,
    Fork,
    InvalidObject,
    InvalidRecord,
    IpfeedError,
    NotFound,
    Rollback,
)
from .identity import public_from_name
from .index import FeedState, Index
from .ipfs import Kubo
from .ipns import Record, parse_record

Get = Callable[[str, int], Awaitable[bytes]]  # CID, byte limit -> the block, checked against the CID


@dataclass(frozen=True)
class Head:
    """A feed's newest IPNS record and root, verified and checked against what the index
    knows of the feed (no rollback, no equivocation, `recent` agreeing with known posts)."""

    raw: bytes
    record: Record
    eol: int  # the record's validity, ms
    cid: str  # the root's CID
    root: feed.Root | None  # None: the root is the one already verified (known.root_cid)
    known: FeedState | None


async def verified_head(kubo: Kubo, index: Index, name: str, settings: Settings, now: int, *,
                        get: Get | None = None, stale: bool = True) -> Head:
    """Resolve a name and verify its record and root against the index: every rule of
    FORMAT.md section 6 about history that a root alone can break. Evidence of equivocation
    (two roots, or two posts, with one seq) is recorded before raising. `sync` and `show`
    both read a feed through here."""
    fetch: Get = get or (lambda c, limit: kubo.block_get(c, limit, timeout=settings.timeout))
    public = public_from_name(name)
    known = index.feed(name)
    raw = await kubo.name_get(name, settings.resolve_timeout)
    record = parse_record(raw, name)
    eol = int(record.validity.timestamp() * 1000)
    if eol <= now:
        if stale:
            raise InvalidRecord(f"{name}: the newest IPNS record expired at "
                                f"{record.validity:%Y-%m-%d %H:%M:%S} UTC; "
                                "showing the last verified feed as stale")
        raise NotFound(f"{name}: its newest IPNS record expired at {record.validity:%Y-%m-%d %H:%M} UTC")
    if known and known.record_seq is not None and record.sequence < known.record_seq:
        raise Rollback(f"{name}: IPNS record sequence {record.sequence} is older than the known "
                       f"{known.record_seq}; keeping the known feed")
    cid = codec.parse_cid(record.value)
    if known and cid == known.root_cid:
        return Head(raw, record, eol, cid, None, known)
    root = feed.parse(await fetch(cid, feed.MAX_ROOT_BYTES), cid)
    feed.check_root_author(root, public, name)

    async def known_root() -> bytes | None:  # the verified side of a root equivocation, if at hand
        assert known and known.root_cid
        with contextlib.suppress(IpfeedError):
            return await kubo.block_get(known.root_cid, feed.MAX_ROOT_BYTES, timeout=settings.timeout,
                                        offline=True)
        return None
    await check_root(index, name, known, root, fetch, now, known_root)
    return Head(raw, record, eol, cid, root, known)


async def check_root(index: Index, name: str, known: FeedState | None, root: feed.Root, get: Get,
                     now: int, known_root: Callable[[], Awaitable[bytes | None]] | None = None, *,
                     what: str = "", keeping: str = "keeping the known feed") -> None:
    """A verified root of `name` against the verified state `known`: not older (seq, count),
    not a second root with a known seq, and every `recent` entry at a known seq the known
    post (another one, validly signed by the author at that seq, is a fork). Records the
    evidence of equivocation and forks, then raises."""
    what = what or name
    if known is None:
        return
    if known.root_seq is not None and root.seq < known.root_seq:
        raise Rollback(f"{what}: root {root.cid} has seq {root.seq}, older than the known "
                       f"{known.root_seq}; {keeping}")
    if known.root_seq == root.seq and known.root_cid is not None and known.root_cid != root.cid:
        block = await known_root() if known_root else None
        index.add_fork(name, [(root.seq, known.root_cid, block), (root.seq, root.cid, root.block)], now,
                       kind="root")
        raise Equivocation(f"{what}: root {root.cid} has seq {root.seq}, like the known root "
                           f"{known.root_cid}: the author signed two different roots with one sequence "
                           f"number; both kept as evidence and the feed flagged, {keeping}")
    if root.count < known.count:
        raise Rollback(f"{what}: root {root.cid} has {root.count} posts, fewer than the "
                       f"{known.count} already verified; {keeping}")
    for i, cid in enumerate(root.recent):
        seq = root.count - i
        if seq > known.count:
            continue
        indexed = index.post_by_seq(name, seq)
        if indexed == cid:
            continue  # the verified post: nothing to fetch
        try:
            p = parse_chained(await get(cid, post.MAX_POST_BYTES), cid)
        except InvalidObject as e:
            raise ChainError(f"{what}: root {root.cid} lists {cid} as post {seq}, which is not a valid "
                             f"post ({e}); {keeping}") from e
        if p.author != root.author:
            raise ChainError(f"{what}: root {root.cid} lists post {cid} at seq {seq}, but that post is "
                             f"not by the feed's author; {keeping}")
        if p.seq != seq:
            raise ChainError(f"{what}: root {root.cid} lists post {cid} at seq {seq}, but that post has "
                             f"seq {p.seq}; {keeping}")
        if indexed is None:
            continue  # a seq this home never indexed: the post verified on its own
        index.add_fork(name, [(seq, indexed, None), (seq, cid, p.block)], now)
        raise Fork(f"{what}: fork at seq {seq}: known post {indexed}, root {root.cid} lists {cid}, also "
                   f"signed by the author; both kept as evidence, nothing of the new root indexed")


async def reaches(get: Get, start: Chained, seq: int, cid: str, what: str) -> None:
    """The chain below `start` must hold post `cid` at `seq`: checked in O(log n) verified
    hops along `skip` and `prev`, each post by the same author at the seq its link implies."""
    at = start
    while at.seq > seq:
        jump = post.skip_target(at.seq)
        link, want = (at.skip, jump) if jump is not None and jump >= seq else (at.prev, at.seq - 1)
        assert link is not None and want is not None  # post.parse: prev iff seq > 1, skip iff defined
        older = parse_chained(await get(link, post.MAX_POST_BYTES), link)
        if older.author != start.author or older.seq != want:
            raise ChainError(f"{what}: post {link} is not post {want} of this feed")
        at = older
    if at.cid != cid:
        raise Fork(f"{what}: the chain has post {at.cid} at seq {seq}, not the known post {cid}; "
                   "it does not pass through the known head, not shown")
