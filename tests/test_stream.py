"""Streaming a feed: a home server streams a whole feed to a peer's first sync (ipfeed.stream)."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from conftest import User, run

from ipfeed import codec, node, stream
from ipfeed.car import CarReader, car_bytes, car_header, read_car, varint
from ipfeed.errors import InvalidBlock
from ipfeed.identity import Identity

T = TypeVar("T")
POSTS = 600  # above sync.STREAM_MIN: a first sync of this feed asks peers for a stream


def name_of(u: User) -> str:
    return u.service.identity().name


async def _peer_id(u: User) -> str:
    async with await u.kubo() as k:
        return str((await k.id())["ID"])


async def _until_speaking(reader: User, server: User) -> None:
    """Bounded wait until the reader's node learned (identify) that the server speaks the stream protocol."""
    peer = await _peer_id(server)
    async with await reader.kubo() as k:
        for _ in range(100):  # 10 s
            if peer in await k.peers_speaking(stream.PROTOCOL):
                return
            await asyncio.sleep(0.1)
    raise AssertionError(f"{peer} never listed {stream.PROTOCOL}")


async def _with(task: Awaitable[None], ready: asyncio.Event, body: Callable[[], Awaitable[T]]) -> T:
    """Run `body` while `task` (a server) runs; the server is cancelled afterwards."""
    running = asyncio.ensure_future(task)
    try:
        await asyncio.wait_for(ready.wait(), 30)
        return await body()
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


def _blocks_held_offline(u: User, root: str) -> int:
    out = subprocess.run([node.find_ipfs(u.settings), "refs", "-r", "--unique", "--offline", root],
                         env=node.ipfs_env(u.settings), capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0, out.stderr
    return len(out.stdout.split())


def _gc(u: User) -> None:
    gc = subprocess.run([node.find_ipfs(u.settings), "repo", "gc", "--quiet"],
                        env=node.ipfs_env(u.settings),
                        capture_output=True, text=True, timeout=120, check=False)
    assert gc.returncode == 0, gc.stderr


def test_the_stream_reader_takes_a_car_in_any_pieces_and_refuses_bad_ones() -> None:
    blocks = [codec.encode({"n": i, "pad": "x" * i}) for i in range(5)]
    data = car_bytes([codec.cid_bytes_of(blocks[0])], blocks)
    reader, got = CarReader(), []
    for i in range(len(data)):  # one byte at a time, as a slow peer might send it
        got += reader.feed(data[i:i + 1])
    reader.close()
    assert got == list(read_car(data)) == [(codec.cid_of(b), b) for b in blocks]
    assert reader.roots == [codec.cid_of(blocks[0])]
    with pytest.raises(InvalidBlock, match="over the limit"):
        CarReader(max_section=20).feed(data)
    cut = CarReader()
    cut.feed(data[:-1])
    with pytest.raises(InvalidBlock, match="truncated"):
        cut.close()
    with pytest.raises(InvalidBlock, match="no header"):
        CarReader().close()
    with pytest.raises(InvalidBlock, match="does not match its CID"):
        CarReader().feed(data[:-1] + bytes([data[-1] ^ 1]))


def test_a_first_sync_streams_the_feed_from_a_home_server_verified_and_pinned(alice: User, bob: User) -> None:
    bob.connect(alice)
    alice.service.save_many([f"post {i}" for i in range(POSTS)])
    run(alice.service.publish())
    name = name_of(alice)
    bob.cli_ok("follow", name)

    async def scenario() -> list[Any]:
        ready = asyncio.Event()

        async def body() -> list[Any]:
            await _until_speaking(bob, alice)
            async with await bob.kubo() as k:  # a feed the server does not hold: no answer
                assert await stream.fetch(k, Identity.generate().name, 1 << 20, 10) == {}
            return await bob.service.sync([name])
        return await _with(alice.service.share(ready.set), ready, body)

    results = run(scenario())
    [r] = [x for x in results if x.name == name]
    assert r.error is None and r.new_posts == POSTS
    # Only the root came by bitswap; the stream carried the entries, their content blocks and
    # the contents tree (its contents block and one part).
    assert r.streamed == 2 * POSTS + 2 and r.fetched == 1
    assert [p.text for p in bob.service.timeline(2)] == [f"post {POSTS - 1}", f"post {POSTS - 2}"]
    _gc(bob)  # what came by the stream is in Bob's node and pinned
    assert _blocks_held_offline(bob, r.root) == 2 * POSTS + 2  # entries, contents, the tree


def test_a_home_server_streams_a_friends_feed_while_the_friend_is_offline(make_user: Any) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    bob.connect(alice)
    alice.service.save_many([f"post {i}" for i in range(POSTS)])
    run(alice.service.publish())
    name = name_of(alice)
    bob.cli_ok("follow", name)
    [r] = [x for x in run(bob.service.sync([name])) if x.name == name]
    assert r.error is None and r.streamed == 0  # Alice runs no home server: bitswap
    assert run(bob.service.republish()) == 1  # Bob's node re-puts Alice's signed record
    alice.stop()
    carol.connect(bob)
    carol.cli_ok("follow", name)

    async def scenario() -> list[Any]:
        ready = asyncio.Event()

        async def body() -> list[Any]:
            await _until_speaking(carol, bob)
            return await carol.service.sync([name])
        return await _with(bob.service.share(ready.set), ready, body)

    [r] = [x for x in run(scenario()) if x.name == name]
    assert r.error is None and r.new_posts == POSTS
    assert r.streamed == 2 * POSTS + 2 and r.fetched == 1
    assert [p.text for p in carol.service.timeline(1)] == [f"post {POSTS - 1}"]


def test_a_peer_streaming_corrupt_blocks_is_ignored_and_bitswap_used(alice: User, bob: User) -> None:
    """A lying server (the real protocol, through Alice's real node): a block whose bytes do
    not hash to its CID. Bob rejects the stream and still syncs everything, verified."""
    bob.connect(alice)
    alice.service.save_many([f"post {i}" for i in range(POSTS)])
    run(alice.service.publish())
    name = name_of(alice)
    bob.cli_ok("follow", name)
    root = alice.service.feed_state(name).root_cid  # type: ignore[union-attr]
    assert root is not None

    async def liar(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        cid = codec.cid_to_bytes(root)
        forged = b"\xa1ax\x01"  # valid DAG-CBOR, not the root's bytes
        writer.write(car_header([cid]) + varint(len(cid) + len(forged)) + cid + forged)
        await writer.drain()
        writer.close()

    async def scenario() -> list[Any]:
        ready = asyncio.Event()

        async def serve() -> None:
            server = await asyncio.start_server(liar, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            async with server, await alice.kubo() as k, \
                    k.p2p_foreground("listen", [stream.PROTOCOL, f"/ip4/127.0.0.1/tcp/{port}"]) as ended:
                ready.set()
                await ended()

        async def body() -> list[Any]:
            await _until_speaking(bob, alice)
            return await bob.service.sync([name])
        return await _with(serve(), ready, body)

    [r] = [x for x in run(scenario()) if x.name == name]
    assert r.error is None and r.new_posts == POSTS
    assert r.streamed == 0 and r.fetched == 2 * POSTS + 3  # all of it by bitswap instead
