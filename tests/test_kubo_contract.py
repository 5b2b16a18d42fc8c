"""The contract ipfeed has with Kubo: one test per group of RPC calls in `rpc.RPC_CALLS`,
against the pinned Kubo, asserting what ipfeed relies on. A later Kubo, or a fork, is
qualified by running this file against it (`IPFEED_IPFS_BIN=/path/to/ipfs`)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import Iterator

import pytest
from conftest import User, run
from conftest import test_settings as user_settings

from ipfeed import codec, ipns, node
from ipfeed.car import car_bytes, read_car
from ipfeed.config import KUBO_VERSION
from ipfeed.errors import InvalidBlock, NodeFailed, NotFound
from ipfeed.identity import Identity
from ipfeed.ipfs import Kubo
from ipfeed.rpc import RPC_CALLS

# Which test covers which calls: together, every call ipfeed makes.
CONTRACT = {
    "test_id_and_config": ["id", "config", "diag/sys"],
    "test_swarm_connect_and_peers": ["swarm/connect", "swarm/peers", "stats/dht"],
    "test_blocks_exact_bytes_bounded_reads_and_refs": ["block/put", "block/get", "block/stat", "refs"],
    "test_files_add_and_cat": ["add", "cat"],
    "test_pins": ["pin/add", "pin/ls", "pin/rm", "pin/update"],
    "test_keys_and_names": ["key/list", "key/import", "name/publish", "name/get", "name/put"],
    "test_car_import_and_export": ["dag/import", "dag/export"],
    "test_pubsub": ["pubsub/pub", "pubsub/sub"],
    "test_p2p_streams": ["p2p/listen", "p2p/forward"],
}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[User, User]]:
    users = []
    for name in ("a", "b"):
        home = tmp_path_factory.mktemp(f"contract-{name}")
        u = User(home, user_settings(home))
        u.start()
        users.append(u)
    try:
        yield users[0], users[1]
    finally:
        for u in users:
            node.stop(u.settings, timeout=10)


def kubo(u: User) -> Kubo:
    return Kubo(u.api, 20.0)


def test_every_call_ipfeed_makes_has_a_contract_test() -> None:
    covered = [c for calls in CONTRACT.values() for c in calls]
    assert sorted(covered) == sorted(RPC_CALLS)
    assert all(name in globals() for name in CONTRACT)


def test_id_and_config(pair: tuple[User, User]) -> None:
    a, _ = pair

    async def go() -> None:
        async with kubo(a) as k:
            info = await k.id()
            assert info["AgentVersion"].startswith(f"kubo/{KUBO_VERSION}")
            assert info["ID"].startswith("12D3Koo")
            assert all(str(x).endswith(f"/p2p/{info['ID']}") for x in info["Addresses"])
            assert await k.config_get("Peering.Peers") is None  # unset: None, not an error
            peers = [{"ID": info["ID"], "Addrs": ["/ip4/127.0.0.1/tcp/1"]}]
            await k.config_set("Peering.Peers", peers)
            assert await k.config_get("Peering.Peers") == peers
            await k.config_set("Peering.Peers", [])
            assert await k.config_get("Pubsub.Enabled") is True  # ipfeed's features are on
            assert await k.config_get("AutoConf.Enabled") is False  # and no "auto" left
            assert await k.repo_path() == str(a.settings.node_dir)  # its IPFS_PATH (local reads)
            spec = await k.config_get("Datastore.Spec")
            assert spec["mounts"][0]["mountpoint"] == "/blocks" and spec["mounts"][0]["type"] == "flatfs"
    run(go())


def test_swarm_connect_and_peers(pair: tuple[User, User]) -> None:
    a, b = pair

    async def go() -> None:
        async with kubo(a) as k:
            await k.swarm_connect(b.addr())
            b_id = b.addr().rsplit("/p2p/", 1)[1]
            assert any(p.endswith(f"/p2p/{b_id}") for p in await k.swarm_peers())
            assert await k.routing_warm(20) and await k.dht_peers() >= 1  # b joins the LAN DHT table
            with pytest.raises(NodeFailed):  # nobody there: an error, not a silent success
                await k.swarm_connect("/ip4/127.0.0.1/tcp/1/p2p/" + Identity.generate().name)
    run(go())


def test_blocks_exact_bytes_bounded_reads_and_refs(pair: tuple[User, User]) -> None:
    a, _ = pair
    leaf = codec.encode({"leaf": os.urandom(8)})
    parent = codec.encode({"child": codec.link_of(leaf), "n": 1})

    async def go() -> None:
        async with kubo(a) as k:
            for block in (leaf, parent):
                assert await k.block_put(block) == codec.cid_of(block)  # the CID computed here
            assert await k.block_get(codec.cid_of(parent), 1024) == parent  # exact bytes back
            with pytest.raises(InvalidBlock, match="over the limit"):
                await k.block_get(codec.cid_of(parent), 10)
            missing = codec.cid_of(codec.encode({"missing": os.urandom(8)}))
            assert await k.has_block(codec.cid_of(leaf)) and not await k.has_block(missing)
            with pytest.raises((NodeFailed, NotFound)):
                await k.block_get(missing, 1024, offline=True)
            assert await k.refs(codec.cid_of(parent), offline=True) == [codec.cid_of(leaf)]
    run(go())


def test_files_add_and_cat(pair: tuple[User, User]) -> None:
    a, _ = pair
    small, big = b"hello", os.urandom(300_000)  # one raw leaf / a dag-pb root over chunks

    async def go() -> None:
        async with kubo(a) as k:
            cid, _ = await k.add(small, "hello.txt")
            assert cid.startswith("bafkrei") and codec.cid_to_bytes(cid)[4:] == hashlib.sha256(small).digest()
            big_cid, size = await k.add(big, "big.bin")
            assert big_cid.startswith("bafybei") and size > len(big)
            assert await k.cat(big_cid, len(big)) == big
            with pytest.raises(InvalidBlock, match="over the limit"):
                await k.cat(big_cid, 1000)
    run(go())


def test_pins(pair: tuple[User, User]) -> None:
    a, _ = pair
    blocks = [codec.encode({"pin": i, "r": os.urandom(4)}) for i in range(3)]

    async def go() -> None:
        async with kubo(a) as k:
            for b in blocks:
                await k.block_put(b)
            cids = [codec.cid_of(b) for b in blocks]
            await k.pin_add(cids, recursive=False)
            assert all([await k.pinned(c, "direct") for c in cids])
            assert not await k.pinned(cids[0])  # direct is not recursive
            await k.pin_rm(cids[0])
            assert not await k.pinned(cids[0], "direct")
            await k.pin_add(cids[1])  # recursive on top of direct: Kubo keeps the recursive one
            assert await k.pinned(cids[1])
            # pin update moves a recursive pin (a v2 feed's contents tree) and drops the old one;
            # what only the old tree linked is then pinned by nothing.
            old = codec.encode({"items": [codec.link(cids[0]), codec.link(cids[2])]})
            new = codec.encode({"items": [codec.link(cids[2])]})
            for b in (old, new):
                await k.block_put(b)
            await k.pin_add(codec.cid_of(old))
            assert await k.pinned(cids[0], "all")
            await k.pin_update(codec.cid_of(old), codec.cid_of(new))
            assert await k.pinned(codec.cid_of(new)) and not await k.pinned(codec.cid_of(old))
            assert await k.pinned(cids[2], "all") and not await k.pinned(cids[0], "all")
    run(go())


def test_keys_and_names(pair: tuple[User, User]) -> None:
    a, b = pair
    me = Identity.generate()
    root = codec.encode({"root": os.urandom(8)})

    async def go() -> None:
        async with kubo(a) as k, kubo(b) as kb:
            await kb.swarm_connect(a.addr())
            assert await k.key_import("contract", me.libp2p_private_key()) == me.name
            assert (await k.key_names())["contract"] == me.name
            await k.block_put(root)
            with pytest.raises(NotFound):  # offline: only what this node stores, no lookup
                await k.name_get(me.name, 10, offline=True)
            assert await k.name_publish("contract", codec.cid_of(root), lifetime="336h", ttl="1m") == me.name
            raw = await k.name_get(me.name, 10)
            assert await k.name_get(me.name, 10, offline=True) == raw
            record = ipns.parse_record(raw, me.name)  # verified by ipfeed, by the spec
            assert record.value == f"/ipfs/{codec.cid_of(root)}" and record.ttl_ns == 60 * 10**9
            assert 335 * 3600 < (record.validity.timestamp() - __import__("time").time()) <= 336 * 3600
            with pytest.raises(NodeFailed):  # 0.43: a TTL over the lifetime is refused
                await k.name_publish("contract", codec.cid_of(root), lifetime="1m", ttl="2h")
            await kb.name_put(me.name, raw)  # a third party stores the record again, unchanged
            assert ipns.parse_record(await kb.name_get(me.name, 10), me.name).sequence == record.sequence
            with pytest.raises(NotFound):
                await kb.name_get(Identity.generate().name, 2)
    run(go())


def test_car_import_and_export(pair: tuple[User, User]) -> None:
    a, _ = pair
    leaf = codec.encode({"car-leaf": os.urandom(8)})
    top = codec.encode({"car": codec.link_of(leaf)})

    async def go() -> None:
        async with kubo(a) as k:
            await k.dag_import(car_bytes([codec.cid_bytes_of(top)], [top, leaf]))
            assert await k.has_block(codec.cid_of(leaf))
            assert not await k.pinned(codec.cid_of(top))  # imported, not pinned
            car = await k.dag_export(codec.cid_of(top), 1 << 20, offline=True)
            assert dict(read_car(car)) == {codec.cid_of(top): top, codec.cid_of(leaf): leaf}
    run(go())


def test_pubsub(pair: tuple[User, User]) -> None:
    a, b = pair
    topic = f"/ipfeed/contract/{os.urandom(4).hex()}"

    async def go() -> None:
        async with kubo(a) as ka, kubo(b) as kb:
            await ka.swarm_connect(b.addr())
            heard: asyncio.Queue[bytes] = asyncio.Queue()

            async def listen() -> None:
                async for m in kb.pubsub_sub(topic):
                    await heard.put(m)
            task = asyncio.create_task(listen())
            try:
                async with asyncio.timeout(30):
                    while heard.empty():  # the mesh forms within a few heartbeats
                        await ka.pubsub_pub(topic, b"hello \x00 bytes")
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(1):
                                assert await heard.get() == b"hello \x00 bytes"
                                return
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    run(go())


def test_p2p_streams(pair: tuple[User, User]) -> None:
    a, b = pair
    protocol = "/x/ipfeed/contract/1"

    async def go() -> None:
        async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            w.write((await r.readline()).upper())
            await w.drain()
            w.close()
        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server, kubo(a) as ka, kubo(b) as kb:
            await kb.swarm_connect(a.addr())
            a_id = a.addr().rsplit("/p2p/", 1)[1]
            async with ka.p2p_foreground("listen", [protocol, f"/ip4/127.0.0.1/tcp/{port}"]):
                assert a_id in await kb.peers_speaking(protocol)
                with socket_port() as fport:
                    async with kb.p2p_foreground("forward", [protocol, f"/ip4/127.0.0.1/tcp/{fport}",
                                                             f"/p2p/{a_id}"]):
                        r, w = await asyncio.open_connection("127.0.0.1", fport)
                        w.write(b"ping\n")
                        await w.drain()
                        async with asyncio.timeout(20):
                            assert await r.readline() == b"PING\n"
                        w.close()
            # The inbox's listener asks Kubo to report the remote peer: its ID comes first. (Another
            # protocol name: Kubo drops the first listener a moment after its request ends, and
            # listening again on the same name at once can find it still registered.)
            again = f"{protocol}-peer"
            async with ka.p2p_foreground("listen", [again, f"/ip4/127.0.0.1/tcp/{port}"],
                                         [("report-peer-id", "true")]):
                with socket_port() as fport:
                    async with kb.p2p_foreground("forward", [again, f"/ip4/127.0.0.1/tcp/{fport}",
                                                             f"/p2p/{a_id}"]):
                        r, w = await asyncio.open_connection("127.0.0.1", fport)
                        w.write(b"ping\n")
                        await w.drain()
                        b_id = b.addr().rsplit("/p2p/", 1)[1]
                        async with asyncio.timeout(20):
                            assert await r.readline() == f"{b_id}\n".upper().encode()
                        w.close()
    run(go())


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    yield port
