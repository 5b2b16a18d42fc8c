"""What a home server does for others and for itself: pushes, streaming held feeds, re-putting records."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable

from . import following, node, push, reading, stream, sync, writing
from .errors import IpfeedError
from .homedir import Home, latest_root, now_ms
from .ipfs import Kubo
from .ipns import parse_record
from .sync import SyncResult


async def listen(home: Home, on_sync: Callable[[SyncResult], None] | None = None) -> None:
    """Sync a followed feed as soon as its author's node announces a new record (a push
    over pubsub); runs until cancelled, reconnecting with backoff."""
    async def wake(name: str, record: bytes) -> None:
        if name not in {f.name for f in reading.follows(home)}:
            return
        known = reading.feed_state(home, name)
        if known and known.record_seq is not None and \
                parse_record(record, name).sequence <= known.record_seq:
            return  # an old record replayed: nothing new to fetch
        async with home.kubo() as kubo:
            with contextlib.suppress(IpfeedError):  # the node may know a newer one already
                await kubo.name_put(name, record)
        for r in await following.sync_follows(home, [name]):
            if on_sync:
                on_sync(r)

    while True:
        try:
            async with Kubo(node.api_address(home.settings), home.settings.timeout) as kubo:
                await push.listen(kubo, wake)
        except asyncio.CancelledError:
            raise
        except Exception:
            pass
        await asyncio.sleep(2)


async def share(home: Home, ready: Callable[[], None] | None = None) -> None:
    """Offer the feeds this home holds (its own and those it synced) to peers as one
    stream each (ipfeed.stream); runs until cancelled, coming back after a node restart."""
    while True:
        with contextlib.suppress(IpfeedError, OSError):  # the node is away: try again
            async with home.kubo() as kubo:
                await stream.serve(kubo, functools.partial(_held, home), ready)
        await asyncio.sleep(2)


async def _held(home: Home, kubo: Kubo, name: str) -> stream.Held | None:
    """A feed this home can stream: its own from the outbox (every block of it is there),
    another it synced from the node."""
    if name == home.identity().name:
        with home.outbox() as box:
            root = latest_root(box)
            if root is None:
                return None
            follows = box.block(root.follows) if root.follows else None
            posts = [b for _, b in box.post_blocks(0)]
            tree = writing.load_tree(root, box.block)  # v2: the live contents, never a deleted one
            live = [b for c in (tree.items if tree else ()) if (b := box.block(c)) is not None]
        return root.cid, stream.listed([root.block, *([follows] if follows else []), *posts,
                                        *(b for _, b in (tree.blocks() if tree else ())), *live])
    state = reading.feed_state(home, name)
    if state is None or state.root_cid is None:
        return None
    return state.root_cid, stream.node_blocks(kubo, state.root_cid)


async def republish(home: Home) -> int:
    """Re-put the newest verified IPNS records of followed feeds."""
    names = [f.name for f in reading.follows(home)]
    with home.index() as index:
        async with home.kubo() as kubo:
            return await sync.republish(kubo, index, names, now_ms())
