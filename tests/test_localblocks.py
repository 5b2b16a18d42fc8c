"""Reading a feed already on the node from its own block files (ipfeed.localblocks), against
real daemons: the same verified result as `block/get`, a corrupted file refused by name, a
missing one fetched from the network, and every other datastore left to `block/get`."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULTS, User, run
from conftest import test_settings as user_settings
from hypothesis import given
from hypothesis import strategies as st

from ipfeed import codec, entry, localblocks, publishing
from ipfeed.identity import Identity
from ipfeed.localblocks import LocalStore
from ipfeed.outbox import Outbox

POSTS = 120


def name_of(u: User) -> str:
    return u.service.identity().name


def second_home(tmp_path: Path, on: User, name: str, **changes: Any) -> User:
    """Another home using `on`'s node (a second person on one node, or a reader whose node
    already holds the feed)."""
    home = tmp_path / name
    u = User(home, user_settings(home, api=on.api, **changes))
    u.service.init(name.capitalize())
    return u


def alice_posts(alice: User, n: int = POSTS) -> None:
    box = Outbox(alice.settings.outbox_path)
    try:
        for i in range(n):
            box.add_draft(i, f"local {i}", None, [])
    finally:
        box.close()
    alice.cli_ok("publish")


def store_of(u: User) -> LocalStore:
    async def go() -> LocalStore | None:
        async with await u.kubo() as k:
            return await localblocks.discover(k)
    store = run(go())
    assert store is not None, "a managed node's flatfs store is found"
    return store


def texts(u: User, name: str) -> list[str]:
    return [p.text for p in u.service.feed_posts(name, limit=POSTS + 10)]


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_feed_already_on_the_node_is_read_from_its_files_and_indexed_alike(
        tmp_path: Path, make_user: Any, defaults: str) -> None:
    alice, bob = make_user("alice", defaults=defaults), make_user("bob", defaults=defaults)
    bob.connect(alice)
    alice_posts(alice)
    [first] = run(bob.service.sync([name_of(alice)]))  # over the network: now on bob's node
    assert first.error is None and first.new_posts == POSTS
    carol = second_home(tmp_path, bob, "carol")
    [r] = run(carol.service.sync([name_of(alice)]))
    assert r.error is None and r.new_posts == POSTS
    # Every entry and content block from the files; the root (read before) and the tree by block/get.
    assert r.local == 2 * POSTS and r.fetched == 2 * POSTS + 1 + 2
    assert texts(carol, name_of(alice)) == texts(bob, name_of(alice))
    dave = second_home(tmp_path, bob, "dave", local_reads=False)  # IPFEED_LOCAL_READS=off
    [off] = run(dave.service.sync([name_of(alice)]))
    assert off.error is None and off.local == 0 and off.fetched == r.fetched
    assert texts(dave, name_of(alice)) == texts(carol, name_of(alice))


def test_a_corrupted_block_file_fails_the_sync_naming_it_and_indexes_nothing(
        tmp_path: Path, alice: User, bob: User) -> None:
    bob.connect(alice)
    alice_posts(alice)
    [first] = run(bob.service.sync([name_of(alice)]))
    assert first.error is None
    victim = bob.service.feed_posts(name_of(alice), limit=POSTS)[POSTS // 2].cid
    where = store_of(bob).path(victim)
    assert where is not None and where.is_file()
    data = bytearray(where.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the node's own copy
    where.chmod(0o644)
    where.write_bytes(bytes(data))
    carol = second_home(tmp_path, bob, "carol")
    [r] = run(carol.service.sync([name_of(alice)]))
    # The file is not trusted: block/get then gets the same bytes from the node, refused by CID.
    assert r.error is not None and victim in r.error and "do not match" in r.error
    assert carol.service.feed_posts(name_of(alice)) == []
    assert carol.service.timeline(10) == []


def test_a_bad_signature_in_the_middle_of_a_locally_read_chain_fails_the_sync_naming_it(
        tmp_path: Path, alice: User, bob: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """The signatures of a chain read from the node's files are checked on another core
    (identity.Signatures); one entry in the middle signed wrongly (its block, CID and links
    all consistent, so only its signature is wrong) still fails the whole sync, naming it,
    and nothing of the feed is indexed."""
    bob.connect(alice)  # a peer, so that the sync counts as checked on the network
    bad_seq, real_sign = POSTS // 2, Identity.sign

    def sign(self: Identity, message: bytes) -> bytes:  # an author whose signer slips once
        obj = codec.decode(message, max_size=1 << 16, what="signed")
        wrong = obj.get("type") == entry.TYPE and obj.get("seq") == bad_seq
        return bytes(64) if wrong else real_sign(self, message)
    monkeypatch.setattr(Identity, "sign", sign)
    # Its own home would refuse to publish it (the same check); a hostile author skips it.
    monkeypatch.setattr(publishing, "parse_chain",
                        lambda blocks: [entry.parse_chained(b, c, signed_here=True) for b, c in blocks])
    run(alice.service.post_many([f"local {i}" for i in range(POSTS)]))
    monkeypatch.undo()
    box = Outbox(alice.settings.outbox_path)
    try:
        [(_, block)] = [x for x in box.post_blocks(bad_seq - 1) if x[0] == bad_seq]
    finally:
        box.close()
    bad = codec.cid_of(block)
    assert store_of(alice).read(bad, entry.MAX_ENTRY_BYTES) == block  # there to be read from the files
    carol = second_home(tmp_path, alice, "carol")  # a reader on the same node
    [r] = run(carol.service.sync([name_of(alice)]))
    assert r.error is not None and f"entry {bad}" in r.error and "signature does not verify" in r.error
    assert carol.service.feed_posts(name_of(alice)) == []
    assert carol.service.timeline(10) == []


def test_a_block_missing_from_the_files_is_fetched_from_the_network(
        tmp_path: Path, alice: User, bob: User) -> None:
    bob.connect(alice)
    alice_posts(alice)
    [first] = run(bob.service.sync([name_of(alice)]))
    assert first.error is None
    lost = bob.service.feed_posts(name_of(alice), limit=POSTS)[7].cid
    where = store_of(bob).path(lost)
    assert where is not None
    where.unlink()  # gone from bob's node (as if collected); alice still has it
    carol = second_home(tmp_path, bob, "carol")
    [r] = run(carol.service.sync([name_of(alice)]))
    assert r.error is None and r.new_posts == POSTS
    assert r.local == 2 * POSTS - 1  # the one block came by block/get, through bitswap
    assert texts(carol, name_of(alice)) == texts(bob, name_of(alice))


def test_only_a_flatfs_store_its_sharding_file_confirms_is_read(tmp_path: Path) -> None:
    shard = "/repo/flatfs/shard/v1/next-to-last/2"
    (tmp_path / "blocks").mkdir()
    (tmp_path / "blocks" / "SHARDING").write_text(shard + "\n")
    flat = {"type": "flatfs", "path": "blocks", "shardFunc": shard, "sync": True}
    level = {"mountpoint": "/", "type": "levelds", "path": "datastore"}
    plain = {"type": "mount", "mounts": [{**flat, "mountpoint": "/blocks"}, level]}
    measured = {"type": "mount",
                "mounts": [{"mountpoint": "/blocks", "type": "measure", "child": flat}, level]}
    assert localblocks.from_spec(tmp_path, plain) == LocalStore(tmp_path / "blocks", 2)
    assert localblocks.from_spec(tmp_path, measured) == LocalStore(tmp_path / "blocks", 2)
    for spec in (
        {"type": "mount", "mounts": [{"mountpoint": "/blocks", "type": "pebbleds", "path": "p"}]},
        {"type": "mount", "mounts": [{**flat, "mountpoint": "/blocks", "shardFunc": shard[:-1] + "3"}]},
        {"type": "mount", "mounts": [{**flat, "mountpoint": "/blocks",
                                      "shardFunc": "/repo/flatfs/shard/v1/prefix/2"}]},
        {"type": "mount", "mounts": [{**flat, "mountpoint": "/blocks", "path": "elsewhere"}]},
        {"type": "levelds"}, None, "flatfs", json.loads("[]"),
    ):
        assert localblocks.from_spec(tmp_path, spec) is None, spec
    store = LocalStore(tmp_path / "blocks", 2)
    assert store.path("bafkqaaa") is None  # an identity CID: never a file
    cid = "bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua"  # the empty map, a0
    key = "CIQMDGTZP6Q72WIM2LS3ILI46XZENYU3SFUE4L4HIBFYDXBULR5FNIA"  # base32 of its multihash
    assert store.path(cid) == tmp_path / "blocks" / key[-3:-1] / f"{key}.data"


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=80))
def test_flatfs_key_and_base32_are_rfc4648_base32_unpadded(digest: bytes, data: bytes) -> None:
    multihash = b"\x12\x20" + digest
    assert localblocks.flatfs_key(multihash) == base64.b32encode(multihash).decode().rstrip("=")
    assert codec.base32(data) == base64.b32encode(data).decode().lower().rstrip("=")
