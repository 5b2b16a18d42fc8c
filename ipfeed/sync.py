"""Sync: resolve a followed name, fetch only what is new, verify all of it, index it, pin it.

Nothing reaches the index unverified: the record and root pass ipfeed.history first, then the
new posts must verify and chain back exactly to the known head. A post at a known sequence
number with another CID is a fork: both sides are kept as evidence, the feed is flagged, and
nothing of the new branch is indexed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from . import codec, contentblock, contents, feed, kinds, livesync, localblocks, pins, post, stream
from .car import car_bytes
from .config import Settings
from .contentblock import Content
from .contents import Tree
from .entry import Chained, Entry, parse_chained
from .errors import ChainError, Fork, InvalidObject, IpfeedError, NotFound
from .errors import Equivocation as Equivocation  # still importable from here, as before errors.py
from .errors import Rollback as Rollback  # likewise
from .faults import crashpoint
from .history import verified_head
from .identity import Identity, Signatures
from .index import FeedState, Index
from .ipfs import Kubo
from .post import Post
from .private import Opened, open_box

Progress = Callable[[str, int, int], None]  # name, posts done, posts to do
OFFLINE = ("this node has no peers, so the feed could not be checked on the network; what is "
           "shown is the last verified state")
STREAM_MIN = 256  # new posts from which a first sync asks peers for the whole feed in one stream


@dataclass(frozen=True)
class SyncResult:
    """What one feed's sync did."""

    name: str
    new_posts: int = 0
    fetched: int = 0  # blocks read from the node for this sync
    root: str | None = None
    error: str | None = None
    streamed: int = 0  # blocks taken from a peer's stream instead (ipfeed.stream)
    local: int = 0  # of the `fetched`, those read from the node's own block files (ipfeed.localblocks)
    capped: int = 0  # reactions and reposts of the feed kept but not counted (over the index's cap)


@dataclass
class _Fetcher:
    kubo: Kubo
    settings: Settings
    fetched: int = 0  # blocks read from the node
    streamed: dict[str, bytes] = field(default_factory=dict)  # CID-checked blocks from a peer
    parsed: dict[str, Chained] = field(default_factory=dict)  # those of them that are valid entries
    used: int = 0  # blocks this sync took from the stream
    storing: asyncio.Future[None] | None = None  # the node storing the stream's blocks
    store: localblocks.LocalStore | None = None  # the node's block files, once `prefetch` looked
    held: dict[str, bytes] = field(default_factory=dict)  # CID-checked blocks read from them
    local: int = 0  # blocks taken from `held`

    async def prefetch(self, cids: Sequence[str], limit: int) -> None:
        """Read these blocks from the node's own files at once, if it is a local flatfs node
        (ipfeed.localblocks), in a thread; what is not there is left to `block/get`."""
        if not self.settings.local_reads:
            return
        if self.store is None:
            self.store = await localblocks.of(self.kubo)  # looked up once per connection
        if self.store is None:
            return  # a remote node, or another datastore
        todo = [c for c in cids if c not in self.held and c not in self.streamed]
        if todo:
            self.held.update(await asyncio.to_thread(self.store.read_many, todo, limit))

    async def ask_peers(self, name: str, root: feed.Root) -> None:
        """Take the feed from a peer's stream (ipfeed.stream) if one has it: the node stores its
        blocks (as it stores what bitswap brings, before ipfeed checks them; `stored` waits
        for it) while a thread parses and verifies the posts among them."""
        limit = _stream_limit(root, self.settings)
        self.streamed = blocks = await stream.fetch(self.kubo, name, limit, self.settings.sync_timeout / 2)
        if not blocks:
            return
        self.storing = asyncio.ensure_future(self.kubo.dag_import(
            car_bytes([codec.cid_to_bytes(root.cid)], blocks.values()), timeout=self.settings.sync_timeout))
        self.storing.add_done_callback(lambda f: f.cancelled() or f.exception())  # awaited, or dropped
        self.parsed = await asyncio.to_thread(_parse_posts, blocks)

    async def stored(self) -> None:
        """Wait until the node holds the stream's blocks (before pinning them)."""
        if self.storing is not None:
            await self.storing

    async def block(self, cid: str, limit: int) -> bytes:
        if (block := self.streamed.get(cid)) is not None and len(block) <= limit:
            self.used += 1
            return block
        self.fetched += 1
        if (block := self.held.pop(cid, None)) is not None and len(block) <= limit:
            self.local += 1
            return block
        return await self.kubo.block_get(cid, limit, timeout=self.settings.timeout)

    async def posts(self, cids: list[str]) -> list[Chained]:
        """These entries, each verified before any is returned: their signatures are checked on
        another core (identity.Signatures) while this thread parses the next ones; the error
        raised is the first entry's, in the order given, that fails."""
        sem = asyncio.Semaphore(self.settings.fetch_concurrency)
        signatures = Signatures()

        async def one(cid: str) -> Chained:
            async with sem:
                return parse_chained(await self.block(cid, post.MAX_POST_BYTES), cid, signatures=signatures)
        await self.prefetch([c for c in cids if c not in self.parsed], post.MAX_POST_BYTES)
        out: dict[str, Chained] = {}
        try:
            for cid in cids:  # what is at hand (streamed, or read from the node's files): no task each
                if (p := self.parsed.get(cid)) is not None:
                    self.used += 1
                    out[cid] = p
                elif cid in self.held or cid in self.streamed:
                    out[cid] = parse_chained(await self.block(cid, post.MAX_POST_BYTES), cid,
                                             signatures=signatures)
            rest = [c for c in cids if c not in out]
            out.update(zip(rest, await asyncio.gather(*(one(c) for c in rest)), strict=True))
        except InvalidObject:
            try:
                await signatures.checked()
            except InvalidObject as bad:  # an earlier entry's signature: a check in turn meets it first
                raise bad from None
            raise
        await signatures.checked()
        return [out[c] for c in cids]


def _parse_posts(blocks: dict[str, bytes]) -> dict[str, Chained]:
    """The blocks that are valid posts or entries, parsed and signature-checked (the chain
    rules come later, in the walk that asks for them); the others are left for that walk."""
    out: dict[str, Chained] = {}
    for cid, block in blocks.items():
        with contextlib.suppress(InvalidObject):
            out[cid] = parse_chained(block, cid)
    return out


async def sync_feed(kubo: Kubo, index: Index, name: str, settings: Settings, now: int, *,
                    pin: bool = True, progress: Progress | None = None,
                    me: Identity | None = None) -> SyncResult:
    """Bring one feed in the index up to its newest verified state; raise on any violation."""
    f = _Fetcher(kubo, settings)
    head = await verified_head(kubo, index, name, settings, now, get=f.block)
    known, raw, record, eol = head.known, head.raw, head.record, head.eol
    if head.root is None:
        assert known is not None
        index.record_success(name, now, raw, record.sequence, eol)
        await pin_feed(kubo, index, known, head.cid, None, pin, settings)
        return SyncResult(name, 0, 0, head.cid)
    root = head.root
    old_count = known.count if known else 0
    new = root.count - old_count
    if new > settings.max_sync_posts:
        raise InvalidObject(f"{name}: root {root.cid} claims {new:,} new posts, over this home's limit of "
                            f"{settings.max_sync_posts:,} per sync (IPFEED_MAX_SYNC_POSTS); no post fetched")
    if new <= len(root.recent):
        posts = await f.posts(list(root.recent[:new]))
    else:
        if new >= STREAM_MIN and 2 * new >= root.count:  # most of the feed is new: ask for all of it
            await f.ask_peers(name, root)
        posts = await _fetch_many(f, root, old_count, settings,
                                  lambda done: progress and progress(name, done, new))
    feed.check_page(root, posts)
    if known and old_count:
        # The new chain must run through the known head: else the author signed two histories.
        other = posts[-1].prev if posts else root.head
        if other != known.head:
            evidence: list[tuple[int, str, bytes | None]] = [(old_count, known.head or "", None)]
            if other:
                evidence.append((old_count, other, await f.block(other, post.MAX_POST_BYTES)))
            index.add_fork(name, evidence, now)
            raise Fork(f"{name}: fork at seq {old_count}: known post {known.head}, new chain has "
                       f"{other}; both kept as evidence, nothing of the new branch indexed")
    await f.prefetch([e.content for e in posts if isinstance(e, Entry) and e.content],
                     contentblock.MAX_CONTENT_BYTES)
    got = await livesync.fetch_contents(f.block, posts, settings.fetch_concurrency)
    tree = await livesync.fetch_tree(f.block, root) if old_count == 0 else None  # whole: check all
    livesync.check_root(root, posts, tree, whole=old_count == 0)
    follows = None
    if root.follows:
        block = await f.block(root.follows, feed.MAX_FOLLOWS_BYTES)
        follows = [{"name": x.name, "alias": x.alias} for x in feed.parse_follows(block, root.follows)]
    crashpoint("fetched", settings.home)
    gone = index.deleted_contents([e.body.subject.cid for e in posts
                                   if isinstance(e, Entry) and isinstance(e.body, kinds.Delete)])
    added = index.apply(name, root, posts, now, raw, record.sequence, eol,
                        follows if root.follows else [],
                        opened={**open_all(me, posts), **livesync.open_contents(me, posts, got)},
                        contents=got)
    crashpoint("indexed", settings.home)
    state = index.feed(name)
    assert state is not None
    await f.stored()
    await pin_feed(kubo, index, state, root, posts, pin, settings, V2(got, tree, gone))
    return SyncResult(name, added, f.fetched, root.cid, streamed=f.used, capped=index.capped(name),
                      local=f.local)


def _stream_limit(root: feed.Root, settings: Settings) -> int:
    """The most bytes a peer's stream of this feed may take: every entry and content block at
    its size limit, and the contents tree."""
    return min(settings.max_export_bytes,
               (2 * root.count + 1) * post.MAX_POST_BYTES + feed.MAX_FOLLOWS_BYTES + feed.MAX_ROOT_BYTES
               + (root.count // contents.PART_ITEMS + 2) * contents.MAX_TREE_BLOCK_BYTES)


def open_all(me: Identity | None, posts: Sequence[Chained]) -> dict[str, Opened]:
    """The decrypted content of the private v1 posts sent to `me` (others stay closed)."""
    out: dict[str, Opened] = {}
    if me is None:
        return out
    for p in posts:
        if isinstance(p, Post) and p.box is not None \
                and (o := open_box(me, p.box, f"post {p.cid}", p.files)) is not None:
            out[p.cid] = o
    return out


async def _fetch_many(f: _Fetcher, root: feed.Root, old_count: int, settings: Settings,
                      tick: Callable[[int], object]) -> list[Chained]:
    """Many new posts: fetch them level by level along `prev` and `skip` links (any post is
    O(log n) hops from the head), many at a time, each verified (signature, author, the
    sequence number its referrer implies) before its own links are followed."""
    expected = {cid: root.count - i for i, cid in enumerate(root.recent) if root.count - i > old_count}
    got: dict[str, Chained] = {}
    frontier = list(expected)
    while frontier:
        for p in await f.posts(frontier):
            if p.author != root.author or p.seq != expected[p.cid]:
                raise ChainError(f"post {p.cid}: expected seq {expected[p.cid]} of {root.cid}'s author")
            got[p.cid] = p
        tick(len(got))
        following = []
        for cid in frontier:
            p = got[cid]
            for link, seq in ((p.prev, p.seq - 1), (p.skip, post.skip_target(p.seq) or 0)):
                if link is not None and seq > old_count and link not in got and link not in expected:
                    expected[link] = seq
                    following.append(link)
        frontier = following
    posts: list[Chained] = []
    at = root.head
    while at is not None and len(posts) < root.count - old_count:
        if at not in got:
            raise NotFound(f"post {at} (seq {root.count - len(posts)}) is missing from the feed")
        posts.append(got[at])
        at = got[at].prev
    return posts


async def fetch_chain(kubo: Kubo, root: feed.Root, settings: Settings,
                      held: Sequence[Chained] = ()) -> list[Chained]:
    """A feed's whole chain down to seq 1, newest first, every entry verified as a sync
    verifies new posts (signature, author, sequence, `prev` and `skip` links); `held`:
    verified entries at hand, not fetched again."""
    f = _Fetcher(kubo, settings, parsed={e.cid: e for e in held})
    posts = await _fetch_many(f, root, 0, settings, lambda _: None)
    feed.check_page(root, posts)
    return posts


@dataclass(frozen=True)
class V2:
    """What a v2 root's pin needs besides its entries: the new content blocks, the contents
    tree, and the content blocks just deleted (unpinned)."""

    contents: dict[str, Content] = field(default_factory=dict)
    tree: Tree | None = None
    gone: list[str] = field(default_factory=list)


async def pin_feed(kubo: Kubo, index: Index, state: FeedState, root: feed.Root | str,
                   new_posts: Sequence[Chained] | None, pin: bool, settings: Settings,
                   v2: V2 | None = None) -> None:
    """Keep the feed's DAG pinned, in work proportional to what is new, each attachment only
    once it proved no larger than declared (ipfeed.pins); a refused one is marked in the index."""
    cid = root if isinstance(root, str) else root.cid
    if not pin or state.pinned == cid:
        return
    if isinstance(root, str):  # the root is known but its pin did not move (a crash): fetch it
        root = feed.parse(await kubo.block_get(cid, feed.MAX_ROOT_BYTES), cid)

    async def history() -> list[Chained]:  # every indexed entry of the feed, from the node
        cids = index.post_cids(state.name)
        sem = asyncio.Semaphore(settings.fetch_concurrency)

        async def one(c: str) -> Chained:
            async with sem:
                block = await kubo.block_get(c, post.MAX_POST_BYTES, timeout=settings.timeout)
                return parse_chained(block, c)
        return list(await asyncio.gather(*(one(c) for c in cids)))

    def refused(owner: str, file: str, problem: str) -> None:
        index.refuse_file(owner, file, problem, int(time.time() * 1000))

    def get(c: str, limit: int) -> Awaitable[bytes]:
        return kubo.block_get(c, limit, timeout=settings.timeout)
    if root.version == feed.VERSION_2:
        previous = None
        # The root pinned before, directly or (a first pin) recursively: without it, every
        # sync would walk the whole chain again (O(feed), not O(new)).
        if state.pinned and (await kubo.pinned(state.pinned, "direct") or await kubo.pinned(state.pinned)):
            previous = feed.parse(await get(state.pinned, feed.MAX_ROOT_BYTES), state.pinned)
        v2 = v2 or V2()
        whole = new_posts is not None and len(new_posts) == root.count  # a first sync: all at hand
        entries = list(new_posts or []) if previous is not None or whole else await history()
        new = list(v2.contents.values()) if previous is not None or whole else \
            list((await livesync.fetch_contents(get, entries)).values())

        async def tree_cids() -> Tree | None:  # only for the direct-pin fallback
            return v2.tree if v2 and v2.tree else await livesync.fetch_tree(get, root)
        await pins.advance_v2(kubo, previous, root, entries, new, await livesync.held_contents(get, v2.gone),
                              tree_cids, settings.sync_timeout, check=True,
                              walk_ok=not index.has_refused(state.name), refused=refused,
                              history=history)
    else:
        await pins.advance(kubo, state.pinned, root, [p for p in new_posts or [] if isinstance(p, Post)]
                           if new_posts is not None else None, settings.sync_timeout,
                           history=lambda: _v1(history()), refused=refused,
                           walk_ok=not index.has_refused(state.name))
    index.set_pinned(state.name, cid)


async def _v1(entries: Awaitable[list[Chained]]) -> list[Post]:
    return [p for p in await entries if isinstance(p, Post)]


def backoff(failures: int, now: int) -> int:
    """When to try a failing feed again: 30 s doubling to 1 h, with jitter (ms)."""
    delay = min(30_000 * 2 ** min(failures, 7), 3_600_000)
    return now + int(delay * random.uniform(0.8, 1.2))


_SYNCING: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = \
    weakref.WeakKeyDictionary()


def _lock_of(name: str) -> asyncio.Lock:
    """One sync of a name at a time in this process: a push can arrive while a round syncs
    the same feed, and the second sync then finds it done instead of fetching it again."""
    return _SYNCING.setdefault(asyncio.get_running_loop(), {}).setdefault(name, asyncio.Lock())


async def sync_many(kubo: Kubo, index: Index, names: list[str], settings: Settings, now: int, *,
                    force: bool, pin: frozenset[str] = frozenset(),
                    progress: Progress | None = None, me: Identity | None = None) -> list[SyncResult]:
    """Sync several feeds, a few at a time (pinning those in `pin`); one bad or slow feed never
    stops the others."""
    sem = asyncio.Semaphore(settings.sync_concurrency)
    offline = any(n != (me and me.name) for n in names) and not await kubo.swarm_peers()

    async def one(name: str) -> SyncResult:
        state = index.feed(name)
        if offline and name != (me and me.name):  # its own copy would pass as "checked, ok"
            message = OFFLINE
            index.record_failure(name, now, message, now)  # no backoff: try as soon as online
            return SyncResult(name, error=message)
        if not force and state and state.next_try > now:
            return SyncResult(name, error=f"waiting until retry ({state.last_error})")
        async with _lock_of(name), sem:
            try:
                async with asyncio.timeout(settings.sync_timeout):
                    return await sync_feed(kubo, index, name, settings, now, pin=name in pin,
                                           progress=progress, me=me)
            except (IpfeedError, TimeoutError) as e:
                message = str(e) or f"timed out after {settings.sync_timeout:g}s"
                failures = state.failures + 1 if state else 1
                index.record_failure(name, now, message, backoff(failures, now))
                return SyncResult(name, error=message)
    return list(await asyncio.gather(*(one(n) for n in names)))


async def republish(kubo: Kubo, index: Index, names: list[str], now: int) -> int:
    """Re-put the newest verified IPNS record of each feed (still valid), so names keep resolving
    while their owners are offline; return how many were put."""
    done = 0
    for state in index.feeds(names):
        if state.record and state.record_eol and state.record_eol > now:
            try:
                await kubo.name_put(state.name, state.record)
                done += 1
            except IpfeedError:
                continue  # a newer record exists on the node, or the node is busy: next round
    return done
