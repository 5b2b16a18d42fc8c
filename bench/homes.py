"""ipfeed homes for the cases: many authors and readers sharing the benchmark's few daemons."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ipfeed import codec, feed
from ipfeed.car import car_bytes
from ipfeed.config import Settings
from ipfeed.contentblock import parse_content
from ipfeed.entry import Entry, parse_chained
from ipfeed.feed import Follow, Root
from ipfeed.index import Index
from ipfeed.ipfs import Kubo
from ipfeed.ipns import parse_record
from ipfeed.outbox import Outbox
from ipfeed.service import Service, now_ms

from .nodes import BenchNode, bench_settings
from .posts import texts

CHUNK = 5_000  # posts per save_many when making a feed: its time grows with the square of its batch
NODE_TIMEOUT = 300.0  # seconds for one bulk call (a CAR of 100,000 posts) to a node
CALL_TIMEOUT = 5.0  # seconds for one call to the node: 100 times what most calls take here


@dataclass(frozen=True)
class Home:
    """One ipfeed home: its own identity, outbox and index; its node is any running daemon."""

    settings: Settings

    @property
    def service(self) -> Service:
        """The ipfeed facade of this home."""
        return Service(self.settings)

    @property
    def name(self) -> str:
        """The home's IPNS name."""
        return self.service.identity().name


def new_home(path: Path, node: BenchNode | None = None, posts: int = 0) -> Home:
    """A fresh home (new key, first root) using `node`'s daemon through its API, or no node;
    its calls to the node may take CALL_TIMEOUT seconds, plus 1 s per 2,000 `posts` it will
    publish at once (a large import is one call)."""
    settings = bench_settings(path).with_(timeout=CALL_TIMEOUT + posts / 2000)
    if node is not None:
        settings = settings.with_(api=node.api)
    Service(settings).init(path.name)
    return Home(settings)


async def author(path: Path, node: BenchNode, count: int) -> Home:
    """A fresh home on `node` with a published feed of `count` posts (the fast way: one import)."""
    home = new_home(path, node, count)
    everything = texts(count, path.name)
    for i in range(0, count, CHUNK):  # see CHUNK
        home.service.save_many(everything[i:i + CHUNK])
    result = await home.service.publish()
    if result.count != count:
        raise RuntimeError(f"{path.name}: published {result.count} posts, not {count}")
    return home


def set_follows(home: Home, names: Sequence[str]) -> None:
    """Sign a follow list into the home's newest root, as `Service.follow` does, but all at
    once and without publishing (for cases that need many follows or no node)."""
    me = home.service.identity()
    block, cid = feed.build_follows([Follow(n) for n in names])
    box = Outbox(home.settings.outbox_path)
    try:
        latest = box.latest_root()
        root = feed.advance(me, feed.parse(latest) if latest else None, updated=now_ms(), follows=cid)
        box.add_root(root.seq, root.cid, root.block, (block,))
    finally:
        box.close()


def newest_root(home: Home) -> Root:
    """The author's newest root, from its outbox."""
    box = Outbox(home.settings.outbox_path)
    try:
        latest = box.latest_root()
        assert latest is not None
        return feed.parse(latest)
    finally:
        box.close()


def _feed_blocks(home: Home) -> tuple[Root, list[bytes], list[bytes]]:
    """An author's newest root, every chain block (oldest first) and the blocks the root links
    besides the chain (format v2's content blocks and contents tree; the follow list)."""
    box = Outbox(home.settings.outbox_path)
    try:
        latest = box.latest_root()
        assert latest is not None
        return feed.parse(latest), [block for _, block in box.post_blocks(0)], box.linked_blocks()
    finally:
        box.close()


async def copy_feed(home: Home, target: BenchNode, *, pin: bool) -> None:
    """Put an author's whole feed into another node by a CAR import (and pin it there: the
    state a completed first sync leaves), without fetching anything over the network."""
    root, blocks, linked = _feed_blocks(home)
    async with Kubo(target.api, NODE_TIMEOUT) as kubo:
        await kubo.dag_import(car_bytes([codec.cid_bytes_of(root.block)], [*blocks, *linked, root.block]),
                              timeout=NODE_TIMEOUT)
        if pin:
            await kubo.pin_add(root.cid, timeout=NODE_TIMEOUT)


async def seed_index(reader: Home, home: Home, node: BenchNode) -> None:
    """Index an author's feed in a reader's home as a completed first sync would have: every
    post verified, the root, the IPNS record the reader's node resolves, the pin (see
    `copy_feed`)."""
    root, blocks, linked = _feed_blocks(home)
    chain = [parse_chained(b) for b in blocks]
    feed.check_page(root, chain[::-1])
    named = {e.content for e in chain if isinstance(e, Entry) and e.content}
    contents = {cid: parse_content(b, cid) for b in linked if (cid := codec.cid_of(b)) in named}
    async with Kubo(node.api, NODE_TIMEOUT) as kubo:
        raw = await kubo.name_get(home.name, reader.settings.resolve_timeout)
    record = parse_record(raw, home.name)
    if codec.parse_cid(record.value) != root.cid:
        raise RuntimeError(f"{home.name} resolves to {record.value}, not its newest root {root.cid}")
    index = Index(reader.settings.index_path)
    try:
        index.apply(home.name, root, chain, now_ms(), raw, record.sequence,
                    int(record.validity.timestamp() * 1000), [], contents=contents)
        index.set_pinned(home.name, root.cid)
    finally:
        index.close()
