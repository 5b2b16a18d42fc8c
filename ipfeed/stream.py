"""Streaming a whole feed between home servers, over one libp2p stream (not to be confused
with "bulk publish", `post_many`).

Bitswap fetches one block per want and a feed of n posts is n blocks: on a 2-core machine
Kubo itself fetches about 1,300 such blocks a second. So a home server also offers the feeds
it holds as one CAR stream over a libp2p protocol (Kubo's stream mounting, `ipfs p2p`), and
the first sync of a big feed asks the connected peers that speak it. What arrives is only a
source of blocks: each is checked against its CID as it is read, sync verifies every post
exactly as it does a block from bitswap, and bitswap stays the fallback for anything missing.

The wire format is in docs/FORMAT.md, section 6b.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable

from . import codec, feed, post
from .car import CarReader, car_header, car_section
from .errors import InvalidBlock, IpfeedError
from .identity import normalize_name
from .ipfs import Kubo

PROTOCOL = "/x/ipfeed/feed/1"
MAX_REQUEST = 256  # bytes of the one request line
REQUEST_TIMEOUT = 10.0  # seconds a client gets to send its request
SERVE_AT_ONCE = 2  # streams served at once; more are closed at once (bitswap serves them)
ASK_PEERS = 3  # peers a client tries, in turn
FETCH_AT_ONCE = 64  # blocks a server reads from its node at a time
MAX_BLOCK = max(post.MAX_POST_BYTES, feed.MAX_ROOT_BYTES, feed.MAX_FOLLOWS_BYTES)


Held = tuple[str, AsyncIterator[bytes]]  # a feed's root CID and its DAG-CBOR blocks
Source = Callable[[Kubo, str], Awaitable[Held | None]]  # what this home holds of a feed, by name


async def serve(kubo: Kubo, source: Source, ready: Callable[[], None] | None = None) -> None:
    """Answer stream requests until cancelled or until the node drops the listener; `source`
    gives the newest verified root this home holds of a feed and its blocks (None: not
    served)."""
    turns = asyncio.Semaphore(SERVE_AT_ONCE)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not turns.locked():  # busy: no queue of open streams; the client uses bitswap
                async with turns:
                    await _answer(kubo, source, reader, writer)
        except (IpfeedError, OSError, TimeoutError, ValueError):
            pass  # a bad request, a gone client or a block the node lost: closing is the answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=MAX_REQUEST)
    port = server.sockets[0].getsockname()[1]
    async with server, kubo.p2p_foreground("listen", [PROTOCOL, f"/ip4/127.0.0.1/tcp/{port}"]) as ended:
        if ready:
            ready()
        await ended()


async def _answer(kubo: Kubo, source: Source, reader: asyncio.StreamReader,
                  writer: asyncio.StreamWriter) -> None:
    async with asyncio.timeout(REQUEST_TIMEOUT):
        line = await reader.readline()
    held = await source(kubo, normalize_name(line.decode("ascii").strip()))
    if held is None:
        return
    root, blocks = held
    writer.write(car_header([codec.cid_to_bytes(root)]))
    async for block in blocks:
        writer.write(car_section(block))
        if writer.transport.get_write_buffer_size() > 1 << 20:
            await writer.drain()
    await writer.drain()


async def listed(blocks: Iterable[bytes]) -> AsyncIterator[bytes]:
    """Blocks at hand (the user's own feed, from the outbox) as a source."""
    for block in blocks:
        yield block


async def node_blocks(kubo: Kubo, root: str) -> AsyncIterator[bytes]:
    """The root and every DAG-CBOR block under it, from this node only (a block it lost ends
    the stream with an error): Kubo lists them in one call, then FETCH_AT_ONCE are read at a
    time. (`dag export` would be one call, but it slows down with the square of a chain's
    length, and its `--local-only` walk never ends on a feed: it revisits shared links.)"""
    cids = [root, *(c for c in await kubo.refs(root, offline=True) if _dag_cbor(c))]
    for i in range(0, len(cids), FETCH_AT_ONCE):
        for block in await asyncio.gather(*(kubo.block_get(c, MAX_BLOCK, offline=True)
                                            for c in cids[i:i + FETCH_AT_ONCE])):
            yield block


def _dag_cbor(cid: str) -> bool:
    return codec.cid_to_bytes(cid)[:4] == codec.PREFIX_DAG_CBOR


async def fetch(kubo: Kubo, name: str, limit: int, timeout: float) -> dict[str, bytes]:
    """The DAG-CBOR blocks of `name`'s feed from the first connected peer that streams them
    (CID-checked, nothing else verified yet); {} if no peer does. Peers in Kubo's Peering list
    are asked first, at most ASK_PEERS in all, each for at most `limit` bytes and `timeout`
    seconds."""
    try:
        peers = await kubo.peers_speaking(PROTOCOL)
        friends = {p.get("ID") for p in await kubo.config_get("Peering.Peers") or []}
    except IpfeedError:
        return {}
    peers.sort(key=lambda p: p not in friends)  # peered home servers first
    for peer in peers[:ASK_PEERS]:
        try:
            async with asyncio.timeout(timeout):
                blocks = await _fetch_from(kubo, peer, name, limit)
        except (IpfeedError, OSError, TimeoutError):
            continue  # a slow, broken or lying peer: the next one, or bitswap
        if blocks:
            return blocks
    return {}


async def _fetch_from(kubo: Kubo, peer: str, name: str, limit: int) -> dict[str, bytes]:
    port = free_port()
    async with kubo.p2p_foreground("forward", [PROTOCOL, f"/ip4/127.0.0.1/tcp/{port}", f"/p2p/{peer}"]):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(f"{name}\n".encode())
            await writer.drain()
            car = CarReader()
            blocks: dict[str, bytes] = {}
            size = 0
            while chunk := await reader.read(1 << 16):
                size += len(chunk)
                if size > limit:
                    raise InvalidBlock(f"peer {peer}: the stream of {name} is over {limit} bytes")
                blocks.update((cid, block) for cid, block in car.feed(chunk) if _dag_cbor(cid))
            if size:  # nothing at all: the peer does not hold the feed
                car.close()
            return blocks
        finally:
            writer.close()


def free_port() -> int:
    """A loopback TCP port free right now (Kubo listens on it for the forward)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

