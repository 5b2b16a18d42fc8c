"""Posting and reading through real daemons: nothing lost when the node is down, no forks,
and nothing unverified shown."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULTS, User, run

from ipfeed import codec, feed, node, post
from ipfeed.entry import parse_chained
from ipfeed.errors import NotFound, PublishPending
from ipfeed.feed import Profile
from ipfeed.identity import Identity
from ipfeed.ipns import parse_record
from ipfeed.keys import ensure_node_key
from ipfeed.outbox import Outbox


def shown(reader: User, name: str, limit: int = 50) -> dict[str, Any]:
    return json.loads(reader.cli_ok("show", name, "--json", "--limit", str(limit)))


def test_post_with_the_node_down_is_kept_and_published_later(alice: User, bob: User, tmp_path: Path) -> None:
    bob.connect(alice)
    alice.cli_ok("post", "before the outage")
    alice.stop()
    r = alice.cli("post", "written while the node is down")
    assert r.exit_code == 1
    assert "is saved but not published" in r.output and "ipfeed node start" in r.output
    assert "Traceback" not in r.output
    img = tmp_path / "a.png"
    img.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    r = alice.cli("post", "with a picture, node still down", "--attach", str(img))
    assert r.exit_code == 1 and "your post is saved" in r.output
    img.unlink()  # the original may go away: the outbox has its own copy

    alice.start()
    bob.connect(alice)
    # The text-only post was signed offline at once; the one with a file waited for the node.
    assert "(3 posts, 1 newly signed)" in alice.cli_ok("publish")
    out = shown(bob, alice.service.identity().name)
    texts = [p["text"] for p in out["posts"]]
    assert texts == ["with a picture, node still down", "written while the node is down", "before the outage"]
    assert out["posts"][0]["attachments"][0]["name"] == "a.png"


def test_next_post_sends_what_is_pending(alice: User) -> None:
    alice.stop()
    assert alice.cli("post", "pending one").exit_code == 1
    alice.start()
    alice.cli_ok("post", "next one")
    texts = [p["text"] for p in shown(alice, alice.service.identity().name)["posts"]]
    assert texts == ["next one", "pending one"]


def test_a_draft_that_cannot_be_published_is_named_and_can_be_dropped(alice: User, tmp_path: Path) -> None:
    image = tmp_path / "photo.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + b"x" * 100)
    alice.stop()  # saved, not published: the attachment waits in the outbox's staging folder
    assert alice.cli("post", "with a photo", "--attach", str(image)).exit_code == 1
    assert alice.cli("post", "after it").exit_code == 1
    [first, second] = alice.service.drafts()
    Path(first.attachments[0]["path"]).unlink()  # the staged copy is lost
    alice.start()
    r = alice.cli("publish")
    assert r.exit_code == 1 and f"draft {first.id} cannot be published" in r.output
    assert f"ipfeed drafts drop {first.id}" in r.output
    listed = json.loads(alice.cli_ok("drafts", "--json"))
    assert [(d["id"], d["text"], d["attachments"]) for d in listed] == [
        (first.id, "with a photo", ["photo.png"]), (second.id, "after it", [])]
    assert "with a photo" in alice.cli_ok("drafts", "drop", str(first.id))  # the text is not lost
    assert alice.cli("drafts", "drop", str(first.id)).exit_code == 1  # gone
    alice.cli_ok("publish")
    assert [p["text"] for p in shown(alice, alice.service.identity().name)["posts"]] == ["after it"]
    assert alice.service.drafts() == []


def test_concurrent_posts_never_fork_the_chain(alice: User) -> None:
    n = 6
    cmd = [sys.executable, "-m", "ipfeed", "post"]
    procs = [subprocess.Popen([*cmd, f"concurrent {i}"], env=alice.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(n)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * n, outs
    cids = [o.strip() for o, _ in outs]
    out = shown(alice, alice.service.identity().name)  # show verifies the whole chain
    assert sorted(p["cid"] for p in out["posts"]) == sorted(cids)
    assert [p["seq"] for p in out["posts"]] == list(range(n, 0, -1))
    box = Outbox(alice.settings.outbox_path)
    try:
        assert box.count_posts() == n and box.drafts() == []
    finally:
        box.close()


def test_profile_set_updates_the_root(alice: User, bob: User, tmp_path: Path) -> None:
    bob.connect(alice)
    avatar = tmp_path / "me.png"
    avatar.write_bytes(b"\x89PNG\r\n\x1a\n avatar")  # an avatar must be an image by its magic bytes
    alice.cli_ok("profile", "set", "--name", "Alice A.", "--bio", "hello <b>world</b>",
                 "--avatar", str(avatar))
    alice.cli_ok("post", "after the profile change")
    out = shown(bob, alice.service.identity().name)
    assert out["profile"]["name"] == "Alice A." and out["profile"]["bio"] == "hello <b>world</b>"
    assert out["profile"]["avatar"].startswith("bafk")
    alice.cli_ok("profile", "set", "--bio", "only the bio")
    assert shown(bob, alice.service.identity().name)["profile"]["name"] == "Alice A."


def test_profile_and_follows_changed_with_the_node_down_are_kept_and_published_later(
        alice: User, bob: User, tmp_path: Path) -> None:
    me, bobs = alice.service.identity().name, bob.service.identity().name
    alice.connect(bob)
    bob.cli_ok("post", "hello from Bob")
    run(alice.service.sync([bobs]))  # Bob's feed verified here once: known, so followable offline
    alice.stop()
    r = alice.cli("profile", "set", "--name", "Alice Offline", "--bio", "written offline")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert "your profile is saved here and will be published when your node is back" in r.output
    assert "ipfeed node start" in r.output
    r = alice.cli("follow", bobs, "--as", "bobby")
    assert r.exit_code == 1 and "your follow list is saved here and will be published" in r.output
    # An avatar needs the node (it is stored in it): it is kept like a post's attachment, and
    # a newer one replaces it; the original file may go at once.
    first, avatar = tmp_path / "first.png", tmp_path / "me.png"
    first.write_bytes(b"\x89PNG\r\n\x1a\n first avatar")
    avatar.write_bytes(b"\x89PNG\r\n\x1a\n avatar")
    for f in (first, avatar):
        r = alice.cli("profile", "set", "--avatar", str(f))
        assert r.exit_code == 1 and "Traceback" not in r.output, r.output
        assert "your profile (and new avatar) is saved here and will be published when your node is back" \
            in r.output
        f.unlink()
    assert len(list((alice.home / "outbox-files").iterdir())) == 1  # the first one's copy is gone
    assert "avatar  me.png  (saved while the node was down" in alice.cli_ok("drafts")
    # Shown at once here (the index), though not published yet.
    st = alice.service.feed_state(me)
    assert st is not None and st.profile["name"] == "Alice Offline" and st.profile["avatar"] is None
    assert st.follows == [{"name": bobs, "alias": "bobby"}]
    assert alice.service.pending() == 2  # the new root, and the avatar waiting for the node
    box = Outbox(alice.settings.outbox_path)
    try:
        kept = feed.parse(box.latest_root() or b"")
    finally:
        box.close()
    assert kept.profile.avatar is None  # nothing was signed with an avatar the node lacks

    alice.start()
    bob.connect(alice)
    alice.cli_ok("publish")
    assert alice.service.pending() == 0
    assert list((alice.home / "outbox-files").iterdir()) == []
    out = shown(bob, me)  # resolved and verified through Bob's node
    assert out["root"] != kept.cid
    assert out["profile"]["name"] == "Alice Offline" and out["profile"]["bio"] == "written offline"

    async def cat(cid: str) -> bytes:
        async with await bob.kubo() as k:
            return await k.cat(cid, 1000, timeout=20)
    assert run(cat(out["profile"]["avatar"])) == b"\x89PNG\r\n\x1a\n avatar"  # the newer one
    st = alice.service.feed_state(me)
    assert st is not None and st.profile["avatar"] == out["profile"]["avatar"]  # shown here too
    [result] = run(bob.service.sync([me]))
    assert result.error is None, result
    st = bob.service.feed_state(me)
    assert st is not None and st.follows == [{"name": bobs, "alias": "bobby"}]


def test_a_kept_avatar_whose_copy_is_gone_is_said_once_and_holds_nothing_back(alice: User,
                                                                            tmp_path: Path) -> None:
    alice.stop()
    avatar = tmp_path / "me.png"
    avatar.write_bytes(b"\x89PNG\r\n\x1a\n avatar")
    assert alice.cli("profile", "set", "--avatar", str(avatar)).exit_code == 1
    alice.service.save("a post after it")
    [kept] = (alice.home / "outbox-files").iterdir()
    kept.unlink()
    alice.start()
    r = alice.cli("publish")
    assert r.exit_code == 1 and "your new avatar me.png could not be published: its kept copy is gone" \
        in r.output and "set it again" in r.output, r.output
    alice.cli_ok("publish")
    assert alice.service.pending() == 0 and alice.service.kept_avatar() is None
    out = shown(alice, alice.service.identity().name)
    assert out["profile"]["avatar"] is None and out["posts"][0]["text"] == "a post after it"


def test_show_walks_past_the_roots_recent_list(alice: User) -> None:
    me = alice.service.identity()
    box = Outbox(alice.settings.outbox_path)
    try:  # 70 posts signed straight into the outbox (fast), then one publish
        for i in range(70):
            box.add_draft(i, f"post {i + 1}", None, [])
    finally:
        box.close()
    alice.cli_ok("publish")
    out = shown(alice, me.name, limit=70)
    assert [p["seq"] for p in out["posts"]] == list(range(70, 0, -1))
    assert len(shown(alice, me.name, limit=5)["posts"]) == 5


# -- a hostile feed: each is an error naming what is wrong; nothing is printed as a post --
def publish_raw(u: User, block: bytes, extra: tuple[bytes, ...] = ()) -> str:
    """Publish any block under `u`'s name, bypassing ipfeed's own checks (as an attacker would)."""
    async def go() -> str:
        async with await u.kubo() as k:
            for b in [*extra, block]:
                await k.block_put(b)
            key = await ensure_node_key(k, u.service.identity())
            return await k.name_publish(key, codec.cid_of(block), lifetime="1h", ttl="1s")
    return run(go())


def test_show_rejects_a_root_signed_by_another_key(alice: User, make_user: Any) -> None:
    mallory: User = make_user("mallory")
    mallory.connect(alice)
    alice.cli_ok("post", "the real Alice")
    alice_root = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    name = publish_raw(mallory, alice_root.block)
    r = alice.cli("show", name)
    assert r.exit_code == 1 and "signed by another key" in r.output and "the real Alice" not in r.output


def test_show_rejects_a_root_listing_another_authors_post(alice: User, make_user: Any) -> None:
    mallory: User = make_user("mallory")
    mallory.connect(alice)
    alice.cli_ok("post", "the real Alice")
    alice_post = parse_chained(next(Outbox(alice.settings.outbox_path).post_blocks(0))[1])
    fake = feed.build(mallory.service.identity(), seq=1, updated=1, profile=Profile("Alice"), count=1,
                      recent=[alice_post.cid])
    name = publish_raw(mallory, fake.block, (alice_post.block,))
    r = alice.cli("show", name)
    assert r.exit_code == 1 and "not by the feed's author" in r.output and "the real Alice" not in r.output


def test_show_rejects_a_name_pointing_at_something_else(alice: User) -> None:
    name = publish_raw(alice, codec.encode({"hello": "not a feed"}))
    r = alice.cli("show", name)
    assert r.exit_code == 1 and "type must be 'ipfeed.root'" in r.output


def test_show_reports_a_missing_post_block_by_cid(make_user: Any) -> None:
    lonely: User = make_user("lonely")
    lonely.settings = lonely.settings.with_(timeout=2.0)
    me = lonely.service.identity()
    p = post.build(me, seq=1, prev=None, created=1, text="never stored anywhere")
    root = feed.build(me, seq=1, updated=1, profile=Profile(), count=1, recent=[p.cid])
    publish_raw(lonely, root.block)  # the post block itself is nowhere
    with pytest.raises(NotFound, match=f"block {p.cid} could not be fetched"):
        run(lonely.service.show(me.name))


def test_show_of_an_unknown_name_is_a_clear_error(alice: User) -> None:
    alice.settings = alice.settings.with_(resolve_timeout=2.0)
    stranger = feed.Identity.generate().name
    r = alice.cli("show", stranger)
    assert r.exit_code == 1 and f"cannot resolve {stranger}" in r.output
    r = alice.cli("show", "not-a-name")
    assert r.exit_code == 1 and "'not-a-name' is not an IPNS name" in r.output


def test_node_not_running_is_one_clear_line(make_user: Any) -> None:
    u: User = make_user("offline", start=False)
    r = u.cli("show", u.service.identity().name)
    assert r.exit_code == 1 and r.output.count("\n") == 1 and "ipfeed node start" in r.output
    r = u.cli("-v", "show", u.service.identity().name)
    assert "Traceback" in r.output
    assert node.status(u.settings).running is False


def test_restored_key_continues_the_existing_feed_never_forks(alice: User, bob: User,
                                                              make_user: Any) -> None:
    bob.connect(alice)
    alice.cli_ok("post", "one")
    alice.cli_ok("post", "two")
    alice.cli_ok("follow", "--force", bob.service.identity().name)  # the follow list must survive a restore
    name = alice.service.identity().name
    bob.cli_ok("follow", name)
    run(bob.service.sync())
    run(bob.service.republish())
    alice.stop()  # the old machine is gone
    fresh = restored_home(alice, make_user, "test")
    fresh.connect(bob)
    assert "already initialized" in fresh.cli_ok("init")
    fresh.cli_ok("post", "three, from the new machine")
    run(bob.service.sync())
    texts = [p["text"] for p in shown(bob, name)["posts"]]
    assert texts == ["three, from the new machine", "two", "one"]  # one chain, no fork
    follows = json.loads(fresh.cli_ok("following", "--json"))
    assert [f["name"] for f in follows] == [bob.service.identity().name]
    assert not bob.service.feed_state(name).fork  # type: ignore[union-attr]


def restored_home(old: User, make_user: Any, defaults: str) -> User:
    """A second home for `old`'s key, its node started (not yet connected to anyone)."""
    fresh: User = make_user(f"{old.home.name}-again", init=False, start=False, defaults=defaults)
    fresh.home.mkdir(parents=True)
    fresh.settings.key_path.write_bytes(old.settings.key_path.read_bytes())
    fresh.settings.key_path.chmod(0o600)
    fresh.start()
    return fresh


async def _drop_every_pin(u: User) -> None:
    """Unpin everything on `u`'s node and collect the garbage: it holds only what it must."""
    async with await u.kubo() as k:
        for kind in ("recursive", "direct"):
            for cid in await k.pins(kind):
                await k.pin_rm(cid)
    gc = subprocess.run([node.find_ipfs(u.settings), "repo", "gc", "--quiet"], env=node.ipfs_env(u.settings),
                        capture_output=True, text=True, timeout=120, check=False)
    assert gc.returncode == 0, gc.stderr


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_restored_key_home_deletes_an_older_post_after_fetching_the_chain(make_user: Any,
                                                                           defaults: str) -> None:
    alice, bob, carol = (make_user(n, defaults=defaults) for n in ("alice", "bob", "carol"))
    bob.connect(alice)
    for text in ("one", "two", "three"):
        alice.cli_ok("post", text)
    name = alice.service.identity().name
    bob.cli_ok("follow", name)
    run(bob.service.sync())
    run(bob.service.republish())
    one = shown(bob, name)["posts"][-1]["cid"]
    alice.stop()  # the old machine is gone
    fresh = restored_home(alice, make_user, defaults)
    fresh.connect(bob)
    fresh.cli_ok("post", "four, from the new machine")  # adopts the root, not the entries
    run(fresh.service.sync())  # its own feed too: this home's index knows the old posts
    # An edit needs no refold (the listing changes in place): it works from this home as is.
    two = shown(bob, name)["posts"][-2]["cid"]
    fresh.cli_ok("edit", two, "two, edited from the new machine")
    run(bob.service.sync())  # Bob holds the whole feed
    # With the old entries nowhere to fetch from (Bob away, this node's copies collected), the
    # deletion is refused with the reason and nothing is saved (a draft would hold back every
    # later post).
    bob.stop()
    run(_drop_every_pin(fresh))
    fresh.settings = fresh.settings.with_(timeout=2.0)
    r = fresh.cli("delete", one, "--yes")
    assert r.exit_code != 0 and "holds only 2 of its 5 entries" in r.output, r.output
    assert "could not be fetched and verified" in r.output and fresh.service.drafts() == []
    bob.start()
    fresh.connect(bob)
    carol.connect(bob)
    out = fresh.cli_ok("delete", one, "--yes")
    assert f"deleted {one}; published" in out, out
    box = Outbox(fresh.settings.outbox_path)
    try:
        assert box.count_posts() == 6 and [d.text for d in box.drafts()] == []  # the whole chain now
    finally:
        box.close()
    run(bob.service.sync())
    assert not bob.service.feed_state(name).fork  # type: ignore[union-attr]
    left = ["four, from the new machine", "three", "two, edited from the new machine"]
    assert [p["text"] for p in shown(bob, name)["posts"]] == left
    assert bob.service.deleted(one) and bob.service.indexed_post(one)[0] is None
    # A new follower verifies the whole chain against the root's listing and contents tree.
    carol.cli_ok("follow", name)
    [result] = run(carol.service.sync([name]))
    assert result.error is None and result.root == bob.service.feed_state(name).root_cid, result  # type: ignore[union-attr]
    assert [p.text for p in carol.service.feed_posts(name)] == left
    assert carol.service.deleted(one)


def test_restored_key_with_no_reachable_feed_refuses_to_start_a_second_chain(make_user: Any,
                                                                              alice: User) -> None:
    alice.cli_ok("post", "published once")
    lonely: User = make_user("lonely", init=False, start=False)
    lonely.settings = lonely.settings.with_(resolve_timeout=2.0)
    lonely.home.mkdir(parents=True)
    lonely.settings.key_path.write_bytes(alice.settings.key_path.read_bytes())
    lonely.settings.key_path.chmod(0o600)
    lonely.start()  # not connected to anyone
    r = lonely.cli("post", "must not fork")
    assert r.exit_code == 1 and "will not start a second chain" in r.output
    box = Outbox(lonely.settings.outbox_path)
    try:
        assert [d.text for d in box.drafts()] == ["must not fork"] and box.count_posts() == 0
    finally:
        box.close()


def test_two_live_homes_with_one_key_never_fork_the_feed(alice: User, bob: User, make_user: Any) -> None:
    """The same key restored into a second home that posts: the first home, still running,
    looks at the network's newest record before signing and refuses, naming the other head."""
    name = alice.service.identity().name
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name)
    alice.cli_ok("post", "one")
    alice.cli_ok("post", "two")
    twin: User = make_user("alice-twin", init=False, start=False)
    twin.home.mkdir(parents=True)
    twin.settings.key_path.write_bytes(alice.settings.key_path.read_bytes())
    twin.settings.key_path.chmod(0o600)
    twin.start()
    twin.connect(alice)
    twin.connect(bob)
    twin.cli_ok("post", "three, from the second home")  # continues the network's feed
    other = feed.parse(Outbox(twin.settings.outbox_path).latest_root() or b"")
    assert other.count == 3

    r = alice.cli("post", "three, from the first home")
    assert r.exit_code == 1 and "another home is publishing this feed" in r.output
    assert f"root {other.cid} (root seq {other.seq}, 3 posts, newest post {other.head})" in r.output
    assert "Stop one of the two homes" in r.output
    box = Outbox(alice.settings.outbox_path)
    try:  # nothing signed, nothing lost
        assert box.count_posts() == 2 and [d.text for d in box.drafts()] == ["three, from the first home"]
    finally:
        box.close()

    twin.cli_ok("post", "four, from the second home")  # the home that published last goes on
    newer = feed.parse(Outbox(twin.settings.outbox_path).latest_root() or b"")
    r = alice.cli("publish")
    assert r.exit_code == 1 and f"root {newer.cid} (root seq {newer.seq}, 4 posts" in r.output

    run(bob.service.sync())
    state = bob.service.feed_state(name)
    assert state and not state.fork and state.count == 4 and state.root_cid == newer.cid
    texts = [p["text"] for p in shown(bob, name)["posts"]]
    assert texts == ["four, from the second home", "three, from the second home", "two", "one"]


def test_bulk_publish_refuses_an_entry_signed_wrongly_naming_it_and_publishes_nothing(
        alice: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """post_many re-checks every new entry, its signature included (on another core, while the
    node stores the chunk), before pinning and publishing: one entry its signer got wrong stops
    it, named, and the node's pin and the name stay on the root before."""
    before = run(alice.service.post_many(["first"]))
    bad_seq, real_sign = before.count + 6, Identity.sign

    def sign(self: Identity, message: bytes) -> bytes:
        obj = codec.decode(message, max_size=1 << 16, what="signed")
        wrong = obj.get("type") == "ipfeed.entry" and obj.get("seq") == bad_seq
        return bytes(64) if wrong else real_sign(self, message)
    monkeypatch.setattr(Identity, "sign", sign)
    with pytest.raises(PublishPending, match="signature does not verify") as caught:
        run(alice.service.post_many([f"bulk {i}" for i in range(12)], chunk=4))
    monkeypatch.undo()
    box = Outbox(alice.settings.outbox_path)
    try:
        [block] = [b for s, b in box.post_blocks(bad_seq - 1) if s == bad_seq]
    finally:
        box.close()
    assert f"entry {codec.cid_of(block)}" in str(caught.value)

    async def state() -> tuple[bytes, bool]:
        async with await alice.kubo() as k:
            return await k.name_get(before.name, 10, offline=True), await k.pinned(before.root)
    record, pinned = run(state())
    assert parse_record(record, before.name).value == f"/ipfs/{before.root}" and pinned
