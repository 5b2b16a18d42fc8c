"""Mute and block across real nodes: what each hides, that the sealed lists travel with the
feed but open only for their owner, that a restore brings them back, that a change made with
the node down is published later, and that a broken or foreign block is refused, losing nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULTS, User, run

from ipfeed import archive, codec, feed, identity, moderationblock
from ipfeed.errors import InvalidModeration
from ipfeed.outbox import Outbox


def own_root(u: User) -> feed.Root:
    box = Outbox(u.settings.outbox_path)
    try:
        block = box.latest_root()
        assert block is not None
        return feed.parse(block)
    finally:
        box.close()


def texts(posts: list[Any]) -> set[str]:
    return {p.text for p in posts}


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_mute_and_block_hide_the_right_things_and_only_the_owner_reads_the_lists(
        make_user: Any, defaults: str) -> None:
    alice, bob, carol = (make_user(n, defaults=defaults) for n in ("alice", "bob", "carol"))
    for other in (bob, carol):
        alice.connect(other)
    bob.connect(carol)
    a, b, c = (u.service.identity().name for u in (alice, bob, carol))
    mine = alice.cli_ok("post", "alice asks hello").strip()
    bob.cli_ok("follow", a)
    carol.cli_ok("follow", a)
    run(bob.service.sync())
    run(carol.service.sync())
    carols = carol.cli_ok("post", "carol says hello").strip()
    carol.cli_ok("post", "carol replies hello", "--reply-to", mine)
    bob.cli_ok("post", "bob says hello")
    bob.cli_ok("follow", c)
    run(bob.service.sync())
    bob.cli_ok("repost", carols)
    alice.cli_ok("follow", b)
    alice.cli_ok("follow", c, "--as", "Caro")
    run(alice.service.sync())
    everything = {"alice asks hello", "carol says hello", "carol replies hello", "bob says hello"}
    assert texts(alice.service.timeline(50)) == everything
    assert any(p.reposted_by == b for p in alice.service.timeline(50))

    # Mute Carol by the alias Alice gave her: hidden from the timeline (with Bob's repost of her
    # post), the thread and search; still followed, and her page still lists her posts.
    out = alice.cli_ok("mute", "Caro")
    assert out.startswith(f"muted {c}")
    assert alice.service.muted(c) and not alice.service.blocked(c)
    tl = alice.service.timeline(50)
    assert texts(tl) == {"alice asks hello", "bob says hello"}
    assert all(p.reposted_by is None for p in tl)
    thread = alice.service.thread(mine)
    assert thread is not None and thread.replies == []
    assert texts(alice.service.search("hello")) == {"alice asks hello", "bob says hello"}
    assert c in {f.name for f in alice.service.follows()}
    assert texts(alice.service.feed_posts(c)) == {"carol says hello", "carol replies hello"}
    assert "was muted already" in alice.cli_ok("mute", c)

    # Block Bob by his display name: unfollowed in the same root, hidden everywhere (his page
    # too), and people search leaves him out.
    out = alice.cli_ok("block", "Bob")
    assert out.startswith(f"blocked {b}") and "unfollowed it" in out
    assert alice.service.blocked(b)
    assert b not in {f.name for f in alice.service.follows()}
    assert "bob says hello" not in texts(alice.service.search("hello"))
    assert alice.service.feed_posts(b) == []
    assert [st.name for st in alice.service.find_people("Bob")] == []
    shown = alice.cli("show", b)  # asked for by name: verified, but his posts stay hidden
    assert shown.exit_code == 0 and "you blocked this feed" in shown.output
    assert "bob says hello" not in shown.output
    assert json.loads(alice.cli_ok("muted", "--json")) == [{"name": c, "display_name": "Carol"}]
    assert json.loads(alice.cli_ok("blocked", "--json")) == [{"name": b, "display_name": "Bob"}]

    # The lists are in Alice's signed v2 root, sealed: Bob's node syncs her feed and holds the
    # block, but it opens for nobody else, and no name in it shows.
    root = own_root(alice)
    assert root.version == feed.VERSION_2 and root.moderation is not None
    run(bob.service.sync([a]))
    assert bob.service.feed_state(a).root_cid == root.cid  # type: ignore[union-attr]

    async def fetch() -> bytes:
        async with await bob.kubo() as k:
            return await k.block_get(root.moderation or "", moderationblock.MAX_BLOCK_BYTES, timeout=20)
    sealed = run(fetch())
    assert codec.cid_of(sealed) == root.moderation
    for who in (b, c):
        assert identity.public_from_name(who) not in sealed
    for reader in (bob, carol):
        with pytest.raises(InvalidModeration, match="not sealed to your key"):
            moderationblock.open_lists(reader.service.identity(), sealed, root.moderation)
    assert moderationblock.open_lists(alice.service.identity(), sealed, root.moderation).blocked == {b}

    # Unmute and unblock by display name (Bob is no longer followed: found among the listed).
    assert alice.cli_ok("unmute", "Carol").startswith(f"unmuted {c}")
    assert alice.cli_ok("unblock", "Bob").startswith(f"unblocked {b}")
    assert alice.service.moderation() == moderationblock.Lists()
    assert "carol says hello" in texts(alice.service.timeline(50))
    assert b not in {f.name for f in alice.service.follows()}  # unblocking does not follow again


def test_a_restore_on_a_fresh_home_brings_the_lists_back(make_user: Any, tmp_path: Path) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    alice.connect(bob)
    a, b = alice.service.identity().name, bob.service.identity().name
    alice.cli_ok("post", "before the lists")
    alice.cli_ok("follow", "--force", b)
    stranger = identity.name_from_public(bytes(range(1, 33)))
    alice.cli_ok("mute", b)
    alice.cli_ok("block", stranger)
    bob.cli_ok("follow", a)
    run(bob.service.sync())
    run(bob.service.republish())
    alice.cli_ok("export", str(tmp_path / "alice.car"))
    alice.stop()  # the old machine is gone

    # (1) the key restored, then a sync of the own feed from the network (Bob's node holds it)
    fresh: User = make_user("alice-again", init=False, start=False)
    fresh.home.mkdir(parents=True)
    fresh.settings.key_path.write_bytes(alice.settings.key_path.read_bytes())
    fresh.settings.key_path.chmod(0o600)
    fresh.start()
    fresh.connect(bob)
    run(fresh.service.sync())
    assert fresh.service.moderation() == moderationblock.Lists(frozenset({b}), frozenset({stranger}))
    assert [r["name"] for r in json.loads(fresh.cli_ok("blocked", "--json"))] == [stranger]
    fresh.cli_ok("post", "after the restore")  # the next root keeps them
    assert own_root(fresh).moderation is not None
    assert fresh.service.muted(b) and fresh.service.blocked(stranger)

    # (2) the key restored, then the archive imported (no network at all)
    lone: User = make_user("alice-archive", init=False, start=False)
    lone.home.mkdir(parents=True)
    lone.settings.key_path.write_bytes(alice.settings.key_path.read_bytes())
    lone.settings.key_path.chmod(0o600)
    lone.start()
    lone.cli_ok("import", str(tmp_path / "alice.car"))
    assert lone.service.moderation() == moderationblock.Lists(frozenset({b}), frozenset({stranger}))


def test_a_change_with_the_node_down_is_kept_and_published_later(make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    alice.connect(bob)
    b = bob.service.identity().name
    alice.cli_ok("post", "hello")
    alice.stop()
    r = alice.cli("mute", b)
    assert r.exit_code == 0 and "saved here and will be published when your node is back" in r.output
    assert alice.service.muted(b)  # in force at once
    waiting = own_root(alice)
    alice.start()
    run(alice.service.publish())

    async def published() -> str:
        async with await alice.kubo() as k:
            from ipfeed.ipns import parse_record
            name = alice.service.identity().name
            return parse_record(await k.name_get(name, 20, offline=True), name).value
    assert run(published()) == f"/ipfs/{waiting.cid}"


def test_a_broken_or_foreign_sealed_block_is_refused_losing_nothing(make_user: Any, tmp_path: Path) -> None:
    alice, mallory = make_user("alice"), make_user("mallory")
    a, m = alice.service.identity().name, mallory.service.identity().name
    alice.cli_ok("post", "keep me")
    alice.cli_ok("mute", m)
    good = tmp_path / "alice.car"
    alice.cli_ok("export", str(good))
    arch = archive.read(good.read_bytes())
    assert arch.root.moderation is not None
    fresh: User = make_user("alice-again", init=False)
    fresh.settings.key_path.write_bytes(alice.settings.key_path.read_bytes())
    fresh.settings.key_path.chmod(0o600)

    # A corrupted sealed block: its bytes no longer hash to the CID the signed root links.
    sealed = arch.blocks[arch.root.moderation]
    broken = sealed[:100] + bytes([sealed[100] ^ 0xFF]) + sealed[101:]
    bad = tmp_path / "broken.car"
    bad.write_bytes(archive.build(arch.record.raw, arch.root, [
        (c, broken if c == arch.root.moderation else b) for c, b in arch.blocks.items()]))
    r = fresh.cli("import", str(bad))
    assert r.exit_code == 1 and r.output.count("\n") == 1 and arch.root.moderation in r.output
    assert fresh.service.feed_state(a) is None  # nothing stored

    # A foreign sealed block: lists sealed to Mallory's key under a root Alice's key signed (a
    # mixed-up backup could make one). The archive is refused whole, saying why; nothing is stored.
    foreign, foreign_cid = moderationblock.seal_lists(mallory.service.identity(), moderationblock.Lists())
    box = Outbox(alice.settings.outbox_path)
    try:
        root = own_root(alice)
        forged = feed.advance(alice.service.identity(), root, updated=root.updated + 1,
                              moderation=foreign_cid)
        box.add_root(forged.seq, forged.cid, forged.block, (foreign,))
    finally:
        box.close()
    with pytest.raises(InvalidModeration, match="not sealed to your key"):
        alice.service.moderation()  # the home that holds it says so too, on every use
    run(alice.service.publish())
    mixed = tmp_path / "mixed.car"
    alice.cli_ok("export", str(mixed))  # anyone may hold it: only its shape is checked
    r = fresh.cli("import", str(mixed))
    assert r.exit_code == 1 and "not sealed to your key" in r.output and "nothing was changed" in r.output
    assert fresh.service.feed_state(a) is None and fresh.service.moderation() == moderationblock.Lists()

    # The good archive still restores everything.
    fresh.cli_ok("import", str(good))
    assert fresh.service.muted(m)
    assert "keep me" in texts(fresh.service.feed_posts(a))


def test_lists_before_any_post_make_a_v2_root_others_sync(make_user: Any) -> None:
    alice, bob = make_user("alice"), make_user("bob")
    bob.connect(alice)
    a, b = alice.service.identity().name, bob.service.identity().name
    assert own_root(alice).version == feed.VERSION  # a fresh feed: v1, nothing in it
    alice.cli_ok("block", b)
    assert own_root(alice).version == feed.VERSION_2 and own_root(alice).count == 0
    bob.cli_ok("follow", a)
    [r] = run(bob.service.sync([a]))
    assert r.error is None
    alice.cli_ok("post", "first, after the lists")
    [r] = run(bob.service.sync([a]))
    assert r.error is None and texts(bob.service.feed_posts(a)) == {"first, after the lists"}
    r2 = alice.cli("follow", b)  # a blocked feed cannot be followed
    assert r2.exit_code == 1 and "unblock it first" in r2.output
