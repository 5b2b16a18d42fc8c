"""Following and sync across real daemons: the resilience promise, incremental fetches,
rollback, forks, gaps, unreachable follows, and an index that a sync can rebuild."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from typing import Any

import pytest
from conftest import DEFAULTS, User, run

from ipfeed import feed, node, post
from ipfeed.errors import InvalidInput, InvalidObject
from ipfeed.feed import Profile
from ipfeed.keys import ensure_node_key
from ipfeed.outbox import Outbox


def name_of(u: User) -> str:
    return u.service.identity().name


def sync(u: User, *names: str) -> list[Any]:
    return run(u.service.sync(names))


def texts_shown(reader: User, name: str) -> list[str]:
    out = json.loads(reader.cli_ok("show", name, "--json", "--limit", "100"))
    return [p["text"] for p in out["posts"]]


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_resilience_alice_offline_carol_reads_her_through_bobs_home_server(make_user: Any,
                                                                           defaults: str) -> None:
    alice, bob, carol = (make_user(n, defaults=defaults) for n in ("alice", "bob", "carol"))
    bob.connect(alice)
    for i in range(3):
        alice.cli_ok("post", f"alice {i}")
    bob.cli_ok("follow", name_of(alice), "--as", "Al")
    [r] = sync(bob, name_of(alice))
    assert r.error is None and r.new_posts == 3
    assert run(bob.service.republish()) == 1  # Bob's node re-puts Alice's signed record

    alice.stop()  # Alice goes offline
    carol.connect(bob)  # Carol knows only Bob's home server
    assert texts_shown(carol, name_of(alice)) == ["alice 2", "alice 1", "alice 0"]  # verified

    alice.start()  # Alice comes back and posts again; Bob picks it up
    bob.connect(alice)
    alice.cli_ok("post", "alice is back")
    [r] = sync(bob, name_of(alice))
    assert r.error is None and r.new_posts == 1
    assert [p.text for p in bob.service.timeline(10)][:2] == ["alice is back", "alice 2"]


def test_incremental_sync_fetches_only_what_is_new(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    for i in range(5):
        alice.cli_ok("post", f"old {i}")
    [first] = sync(bob, name_of(alice))
    # The root, five posts (v2 entries) and their content blocks, and the contents tree (the
    # contents block and one part: a first sync checks the whole listing).
    assert (first.new_posts, first.fetched) == (5, 13)
    for i in range(3):
        alice.cli_ok("post", f"new {i}")
    [second] = sync(bob, name_of(alice))
    assert (second.new_posts, second.fetched) == (3, 7)  # the root, three new entries, their contents
    [third] = sync(bob, name_of(alice))
    assert (third.new_posts, third.fetched) == (0, 0)  # same record: nothing fetched


def test_sync_after_a_recursively_pinned_first_sync_reads_only_what_is_new(
        alice: User, bob: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """A first sync pins a long feed's root recursively; the next sync of a few new entries must
    still read O(new) blocks from the node, not walk the whole chain again for its pins."""
    from ipfeed.ipfs import Kubo

    bob.connect(alice)
    alice.service.save_many([f"p{i}" for i in range(200)])
    run(alice.service.publish())
    bob.cli_ok("follow", "--force", name_of(alice))
    [first] = sync(bob, name_of(alice))
    assert first.error is None and first.new_posts == 200
    alice.cli_ok("post", "one more")
    read: list[str] = []
    block_get = Kubo.block_get

    async def counted(self: Kubo, cid: str, *args: Any, **kwargs: Any) -> bytes:
        read.append(cid)
        return await block_get(self, cid, *args, **kwargs)
    monkeypatch.setattr(Kubo, "block_get", counted)
    [second] = sync(bob, name_of(alice))
    assert second.error is None and second.new_posts == 1
    assert len(read) < 20, f"{len(read)} blocks read for one new post of a 201-post feed"


def test_long_stretch_is_fetched_level_by_level_and_pinned(alice: User, bob: User) -> None:
    bob.connect(alice)
    box = Outbox(alice.settings.outbox_path)
    try:
        for i in range(150):
            box.add_draft(i, f"bulk {i}", None, [])
    finally:
        box.close()
    alice.cli_ok("publish")
    bob.cli_ok("follow", name_of(alice))
    [r] = sync(bob, name_of(alice))
    assert r.error is None and r.new_posts == 150
    # The root, each new entry and content block exactly once (many at a time), the tree's two blocks.
    assert r.fetched == 1 + 150 + 150 + 2

    async def pinned() -> bool:  # recursively: its (no) files all checked, one walk beats 150 direct pins
        async with await bob.kubo() as k:
            return await k.pinned(r.root or "")
    assert run(pinned())


def publish_root(u: User, root: feed.Root, blocks: tuple[bytes, ...] = (), lifetime: str = "1h") -> None:
    async def go() -> None:
        async with await u.kubo() as k:
            for b in (*blocks, root.block):
                await k.block_put(b)
            key = await ensure_node_key(k, u.service.identity())
            await k.name_publish(key, root.cid, lifetime=lifetime, ttl="1s")
    run(go())


def test_rollback_to_an_older_root_is_rejected_and_the_known_feed_kept(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    alice.cli_ok("post", "one")
    old_root = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    alice.cli_ok("post", "two")
    assert sync(bob, name_of(alice))[0].new_posts == 2
    publish_root(alice, old_root)  # a newer IPNS record pointing at an older root
    [r] = sync(bob, name_of(alice))
    assert r.error and "older than the known" in r.error
    assert [p.text for p in bob.service.timeline(10)] == ["two", "one"]
    st = json.loads(bob.cli_ok("status", "--json"))[0]
    assert st["count"] == 2 and "older" in st["last_error"]


def test_two_roots_with_one_sequence_number_are_refused_flagged_and_kept(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    alice.cli_ok("post", "one")
    sync(bob, name_of(alice))
    known = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    twin = feed.build(alice.service.identity(), seq=known.seq, updated=known.updated + 1,
                      profile=Profile("Not Alice"), count=known.count, recent=list(known.recent))
    publish_root(alice, twin)
    [r] = sync(bob, name_of(alice))
    assert r.error and f"has seq {known.seq}, like the known root {known.cid}" in r.error
    assert bob.service.feed_state(name_of(alice)).root_cid == known.cid  # type: ignore[union-attr]
    assert bob.service.feed_state(name_of(alice)).fork  # type: ignore[union-attr]
    assert forks_of(bob, name_of(alice), "root") == sorted([(known.seq, known.cid), (known.seq, twin.cid)])
    assert evidence_block(bob, name_of(alice), twin.cid) == twin.block
    # The author goes on honestly: the sync succeeds, and the flag and the evidence stay.
    nxt = feed.advance(alice.service.identity(), known, updated=known.updated + 2, profile=Profile("Alice"))
    publish_root(alice, nxt)
    [r] = sync(bob, name_of(alice))
    assert r.error is None and r.root == nxt.cid
    st = bob.service.feed_state(name_of(alice))
    assert st and st.fork and st.last_error is None
    assert forks_of(bob, name_of(alice), "root") == sorted([(known.seq, known.cid), (known.seq, twin.cid)])
    assert "FORK" in bob.cli_ok("status")


def forks_of(u: User, name: str, kind: str = "post") -> list[tuple[int, str]]:
    from ipfeed.index import Index

    index = Index(u.settings.index_path)
    try:
        return index.forks(name, kind)
    finally:
        index.close()


def evidence_block(u: User, name: str, cid: str) -> bytes | None:
    from ipfeed.index import Index

    index = Index(u.settings.index_path)
    try:
        return index.fork_block(name, cid)
    finally:
        index.close()


def test_a_root_listing_another_feeds_post_at_a_known_seq_is_rejected(alice: User, bob: User,
                                                                       make_user: Any) -> None:
    mallory: User = make_user("mallory")
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    alice.cli_ok("post", "one")
    sync(bob, name_of(alice))
    known = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    me = alice.service.identity()
    p2 = post.build(me, seq=2, prev=known.head, created=2, text="two, honest")
    x = post.build(mallory.service.identity(), seq=1, prev=None, created=1, text="another feed's post")
    root = feed.build(me, seq=known.seq + 5, updated=3, profile=Profile("Alice"), count=2,
                      recent=[p2.cid, x.cid])
    publish_root(alice, root, (p2.block, x.block))
    [r] = sync(bob, name_of(alice))
    assert r.error and f"root {root.cid} lists post {x.cid} at seq 1" in r.error
    assert "not by the feed's author" in r.error
    st = bob.service.feed_state(name_of(alice))
    assert st and st.root_cid == known.cid and st.count == 1  # nothing of it stored as verified
    assert [p.text for p in bob.service.timeline(10)] == ["one"]
    shown = bob.cli("show", name_of(alice))
    assert shown.exit_code == 1 and "not by the feed's author" in shown.output


def test_a_root_listing_a_second_post_at_a_known_seq_is_a_fork(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    alice.cli_ok("post", "one")
    alice.cli_ok("post", "two")
    sync(bob, name_of(alice))
    known = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    me = alice.service.identity()
    p1, p2 = known.recent[1], known.recent[0]
    p3 = post.build(me, seq=3, prev=p2, created=3, text="three", skip=p1)
    other1 = post.build(me, seq=1, prev=None, created=4, text="one, signed again")
    root = feed.build(me, seq=known.seq + 5, updated=5, profile=Profile("Alice"), count=3,
                      recent=[p3.cid, p2, other1.cid])
    publish_root(alice, root, (p3.block, other1.block))
    [r] = sync(bob, name_of(alice))
    assert r.error and f"fork at seq 1: known post {p1}" in r.error and other1.cid in r.error
    st = bob.service.feed_state(name_of(alice))
    assert st and st.fork and st.root_cid == known.cid
    assert forks_of(bob, name_of(alice)) == sorted([(1, p1), (1, other1.cid)])
    assert evidence_block(bob, name_of(alice), other1.cid) == other1.block
    assert [p.text for p in bob.service.timeline(10)] == ["two", "one"]


def test_show_refuses_what_sync_refuses(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    alice.cli_ok("post", "one")
    alice.cli_ok("post", "two")
    sync(bob, name_of(alice))
    known = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    me = alice.service.identity()
    # A newer root with fewer posts than verified: a rollback of the posts.
    shorter = feed.build(me, seq=known.seq + 3, updated=9, profile=Profile("Alice"), count=1,
                         recent=[known.recent[1]])
    publish_root(alice, shorter)
    r = bob.cli("show", name_of(alice))
    assert r.exit_code == 1 and "has 1 posts, fewer than the 2 already verified" in r.output
    # A second root with the verified seq: equivocation, recorded by `show` too.
    evil2 = post.build(me, seq=2, prev=known.recent[1], created=5, text="two, rewritten")
    twin = feed.build(me, seq=known.seq, updated=10, profile=Profile("Not Alice"), count=2,
                      recent=[evil2.cid, known.recent[1]])
    publish_root(alice, twin, (evil2.block,))
    r = bob.cli("show", name_of(alice))
    assert r.exit_code == 1 and f"like the known root {known.cid}" in r.output
    assert "rewritten" not in r.output and "Not Alice" not in r.output
    assert bob.service.feed_state(name_of(alice)).fork  # type: ignore[union-attr]
    # The other branch under a newer root: the feed is flagged, so `show` prints nothing of it.
    evil3 = post.build(me, seq=3, prev=evil2.cid, created=6, text="three on the other branch",
                       skip=known.recent[1])
    branch = feed.build(me, seq=known.seq + 10, updated=11, profile=Profile("Alice"), count=3,
                        recent=[evil3.cid, evil2.cid, known.recent[1]])
    publish_root(alice, branch, (evil3.block,))
    r = bob.cli("show", name_of(alice))
    assert r.exit_code == 1 and "flagged as forked" in r.output and "other branch" not in r.output


def test_show_never_prints_a_chain_that_misses_the_known_head(alice: User, bob: User) -> None:
    """70 new posts on another branch: the page of 5 does not reach the known head, yet `show`
    follows skip links down to it and refuses."""
    bob.connect(alice)
    alice.cli_ok("post", "one")
    alice.cli_ok("post", "two")
    sync(bob, name_of(alice))  # not followed: `show` must still not print it
    known = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    me = alice.service.identity()
    p1 = known.recent[1]
    evil = post.build(me, seq=2, prev=p1, created=2, text="two, rewritten")
    blocks, by_seq, prev = [evil.block], {1: p1, 2: evil.cid}, evil.cid
    for seq in range(3, 73):
        target = post.skip_target(seq)
        p = post.build(me, seq=seq, prev=prev, created=seq, text=f"branch {seq}",
                       skip=by_seq[target] if target else None)
        blocks.append(p.block)
        by_seq[seq] = prev = p.cid
    root = feed.build(me, seq=known.seq + 10, updated=99, profile=Profile("Alice"), count=72,
                      recent=[by_seq[s] for s in range(72, 8, -1)])
    publish_root(alice, root, tuple(blocks))
    r = bob.cli("show", name_of(alice), "--limit", "5")
    assert r.exit_code == 1 and f"not the known post {known.head}" in r.output
    assert "branch" not in r.output


def test_fork_is_detected_both_sides_kept_and_flagged(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    alice.cli_ok("post", "one")
    first_root = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    alice.cli_ok("post", "two")
    sync(bob, name_of(alice))
    me = alice.service.identity()
    # Alice's key signs a second history: another post at seq 2, then seq 3 on top of it.
    p1 = first_root.head
    evil2 = post.build(me, seq=2, prev=p1, created=5, text="two, rewritten")
    evil3 = post.build(me, seq=3, prev=evil2.cid, created=6, text="three", skip=p1)
    root = feed.build(me, seq=first_root.seq + 10, updated=7, profile=Profile("Alice"), count=3,
                      recent=[evil3.cid, evil2.cid, p1 or ""])
    publish_root(alice, root, (evil2.block, evil3.block))
    [r] = sync(bob, name_of(alice))
    assert r.error and "fork at seq 2" in r.error
    assert {cid for _, cid in bob.service.forks(name_of(alice))} >= {evil2.cid}
    assert [p.text for p in bob.service.timeline(10)] == ["two", "one"]  # nothing merged
    row = json.loads(bob.cli_ok("following", "--json"))[0]
    assert row["fork"] is True
    assert "FORK" in bob.cli_ok("status")


def test_gap_names_the_missing_block(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.settings = bob.settings.with_(timeout=2.0)
    me = alice.service.identity()
    lost = post.build(me, seq=1, prev=None, created=1, text="never stored")
    p2 = post.build(me, seq=2, prev=lost.cid, created=2, text="stored")
    root = feed.build(me, seq=50, updated=3, profile=Profile(), count=2, recent=[p2.cid, lost.cid])
    publish_root(alice, root, (p2.block,))
    [r] = sync(bob, name_of(alice))
    assert r.error and lost.cid in r.error
    assert bob.service.timeline(10) == []  # a feed that fails verification is never indexed


def test_one_unreachable_follow_does_not_stop_the_others(make_user: Any) -> None:
    alice, bob, ghost = make_user("alice"), make_user("bob"), make_user("ghost", start=False)
    bob.connect(alice)
    bob.settings = bob.settings.with_(resolve_timeout=3.0)
    alice.cli_ok("post", "reachable")
    bob.cli_ok("follow", name_of(alice))
    bob.cli_ok("follow", "--force", name_of(ghost))
    results = {r.name: r for r in sync(bob)}
    assert results[name_of(alice)].new_posts == 1
    assert results[name_of(ghost)].error and "cannot resolve" in (results[name_of(ghost)].error or "")
    st = {r["name"]: r for r in json.loads(bob.cli_ok("status", "--json"))}
    assert st[name_of(ghost)]["last_error"]
    # The ghost is retried later with backoff, not on every round.
    again = {r.name: r for r in sync(bob)}
    assert "waiting until retry" in (again[name_of(ghost)].error or "")


def test_index_rebuilt_from_scratch_equals_the_old_one(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    for i in range(4):
        alice.cli_ok("post", f"post {i}")
    bob.cli_ok("post", "bob's own")
    sync(bob)

    def dump() -> list[tuple[Any, ...]]:
        db = sqlite3.connect(bob.settings.index_path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            return db.execute("SELECT cid, name, seq, prev, created, text, reply_to, attachments "
                              "FROM posts ORDER BY cid").fetchall()
        finally:
            db.close()
    before = dump()
    assert len(before) == 5
    bob.settings.index_path.unlink()
    for suffix in ("-wal", "-shm"):
        bob.settings.index_path.with_name("index.sqlite" + suffix).unlink(missing_ok=True)
    sync(bob)
    assert dump() == before


def test_follow_list_is_public_in_the_signed_root(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice), "--as", "Alice")
    root = feed.parse(Outbox(bob.settings.outbox_path).latest_root() or b"")
    assert root.follows

    async def fetched() -> bytes:
        async with await alice.kubo() as k:
            return await k.block_get(root.follows or "", feed.MAX_FOLLOWS_BYTES)
    follows = feed.parse_follows(run(fetched()), root.follows)
    assert [(f.name, f.alias) for f in follows] == [(name_of(alice), "Alice")]
    bob.cli_ok("unfollow", name_of(alice))
    assert json.loads(bob.cli_ok("following", "--json")) == []
    r = bob.cli("unfollow", name_of(alice))
    assert r.exit_code == 1 and "do not follow" in r.output


def test_timeline_pages_with_a_stable_cursor(alice: User) -> None:
    for i in range(5):
        alice.cli_ok("post", f"p{i}")
    sync(alice)
    first = json.loads(alice.cli_ok("timeline", "--limit", "2", "--json"))
    second = json.loads(alice.cli_ok("timeline", "--limit", "2", "--json", "--before", first["next"]))
    third = json.loads(alice.cli_ok("timeline", "--limit", "2", "--json", "--before", second["next"]))
    got = [p["text"] for page in (first, second, third) for p in page["posts"]]
    assert got == ["p4", "p3", "p2", "p1", "p0"]
    assert third["next"] is None


def test_daemon_runs_rounds_and_keeps_follows_synced(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    alice.cli_ok("post", "for the daemon")
    r = bob.cli("daemon", "--interval", "0.1", "--rounds", "2")
    assert r.exit_code == 0, r.output
    assert "records re-put" in r.output
    assert [p.text for p in bob.service.timeline(5)] == ["for the daemon"]
    assert node.status(bob.settings).running


def test_expired_record_keeps_the_last_verified_feed_marked_stale(alice: User, bob: User) -> None:
    bob.connect(alice)
    bob.settings = bob.settings.with_(resolve_timeout=3.0)
    bob.cli_ok("follow", "--force", name_of(alice))
    alice.cli_ok("post", "last words")
    last = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    # A newer root (Kubo keeps the sequence of an unchanged value), under a record that soon expires.
    root = feed.advance(alice.service.identity(), last, updated=last.updated + 1, profile=Profile("Alice"))
    publish_root(alice, root, lifetime="3s")
    assert sync(bob, name_of(alice))[0].error is None
    alice.stop()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        st = json.loads(bob.cli_ok("status", "--json"))[0]
        if st["stale"]:
            break
        time.sleep(0.5)
    assert st["stale"] and st["count"] == 1, json.dumps(st)
    assert "STALE" in bob.cli_ok("status")
    [r] = sync(bob, name_of(alice))
    assert r.error  # nothing valid to resolve any more...
    assert [p.text for p in bob.service.timeline(5)] == ["last words"]  # ...but the feed stays


def test_future_dated_post_sorts_when_seen_and_is_marked(tmp_path: Any) -> None:
    from ipfeed.identity import Identity
    from ipfeed.index import Index

    me = Identity.from_seed(bytes(32))
    now = 1_800_000_000_000
    old = post.build(me, seq=1, prev=None, created=now - 1000, text="honest")
    future = post.build(me, seq=2, prev=old.cid, created=now + 365 * 86_400_000, text="from the future")
    root = feed.advance(me, None, updated=now, heads=[old.cid, future.cid])
    index = Index(tmp_path / "index.sqlite")
    try:
        index.apply(me.name, root, [future, old], now, None, None, None)
        index.apply(me.name, root, [future, old], now + 5, None, None, None)  # redelivery: no change
        later = post.build(me, seq=3, prev=future.cid, created=now + 60_000, text="a minute later",
                           skip=old.cid)
        index.apply(me.name, feed.advance(me, root, updated=now, heads=[later.cid]), [later],
                    now + 60_000, None, None, None)
        got = index.timeline([me.name], 10)
        assert [p.text for p in got] == ["a minute later", "from the future", "honest"]
        assert [p.future for p in got] == [False, True, False]
        assert got[1].to_json()["future_dated"] is True
    finally:
        index.close()


def test_index_looks_up_only_the_named_feeds(tmp_path: Any) -> None:
    from ipfeed.identity import Identity
    from ipfeed.index import Index

    a, b = Identity.from_seed(bytes(32)), Identity.from_seed(bytes([1]) * 32)
    index = Index(tmp_path / "index.sqlite")
    try:
        for me in (a, b):
            index.ensure_feed(me.name)
        assert [s.name for s in index.feeds([a.name, Identity.generate().name])] == [a.name]
        assert index.feeds([]) == [] and len(index.feeds()) == 2
    finally:
        index.close()


def test_a_home_server_hears_a_new_post_at_once_by_push(alice: User, bob: User) -> None:
    """Bob's home server polls only hourly here: the post can only arrive by Alice's push."""
    import asyncio

    from ipfeed.home import serve_forever

    bob.connect(alice)
    alice_name = name_of(alice)
    bob.cli_ok("follow", "--force", alice_name)
    alice.cli_ok("post", "before")

    async def scenario() -> list[str]:
        server = asyncio.create_task(serve_forever(bob.service, 3600, 0, lambda line: None))
        try:
            for _ in range(100):  # the first round syncs "before"; then the listener is up
                if bob.service.timeline(5):
                    break
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # let the subscription reach Alice through the mesh
            await alice.service.post("pushed")
            for _ in range(150):  # bounded: 15 s
                texts = [p.text for p in bob.service.timeline(5)]
                if "pushed" in texts:
                    return texts
                await asyncio.sleep(0.1)
            return [p.text for p in bob.service.timeline(5)]
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
    assert run(scenario())[:2] == ["pushed", "before"]


def test_announcements_that_do_not_verify_are_ignored() -> None:
    from test_ipns import record

    from ipfeed import codec, push
    from ipfeed.identity import Identity

    a, b = Identity.generate(), Identity.generate()
    assert push.parse(codec.encode({"name": b.name, "record": record(b)}))[0] == b.name
    with pytest.raises(InvalidObject, match="signature does not verify"):  # b cannot speak for a
        push.parse(codec.encode({"name": a.name, "record": record(b)}))
    with pytest.raises(InvalidObject):
        push.parse(codec.encode({"name": a.name, "record": b"\x00" * 50}))
    with pytest.raises(InvalidInput):
        push.parse(codec.encode({"name": "nonsense", "record": b""}))
    with pytest.raises(InvalidObject):
        push.parse(b"\xff" * 20000)


def test_a_10000_post_feed_syncs_to_another_node(alice: User, bob: User) -> None:
    bob.connect(alice)
    assert alice.service.save_many([f"post number {i}" for i in range(10_000)]) == 10_000
    run(alice.service.publish())
    bob.cli_ok("follow", name_of(alice))
    [r] = sync(bob, name_of(alice))
    # Each block once: the root, the entries and their content blocks, the tree (10 parts).
    assert r.error is None and r.new_posts == 10_000 and r.fetched == 1 + 10_000 + 10_000 + 1 + 10
    newest = bob.service.timeline(3)
    assert [p.seq for p in newest] == [10_000, 9_999, 9_998]
    assert newest[0].text == "post number 9999"


def test_a_feed_claiming_more_new_posts_than_the_limit_is_refused_before_fetching(alice: User,
                                                                                   bob: User) -> None:
    from ipfeed import Service

    bob.connect(alice)
    alice.service.save_many([f"p{i}" for i in range(300)])
    run(alice.service.publish())
    bob.cli_ok("follow", name_of(alice))
    strict = Service(bob.settings.with_(max_sync_posts=100))
    [r] = [x for x in run(strict.sync([name_of(alice)])) if x.name == name_of(alice)]
    assert r.error and "claims 300 new posts, over this home's limit of 100" in r.error
    assert bob.service.timeline(5) == []
    [r] = [x for x in sync(bob, name_of(alice)) if x.name == name_of(alice)]  # the default limit
    assert r.error is None and r.new_posts == 300


def test_two_syncs_of_one_feed_at_once_fetch_it_once(alice: User, bob: User) -> None:
    """A push arriving during a home server's round: the second sync waits, then finds the
    feed done."""
    import asyncio

    bob.connect(alice)
    alice.service.save_many([f"p{i}" for i in range(200)])
    run(alice.service.publish())
    bob.cli_ok("follow", name_of(alice))

    async def both() -> list[Any]:
        name = name_of(alice)
        return list(await asyncio.gather(bob.service.sync([name]), bob.service.sync([name])))
    results = [r for rs in run(both()) for r in rs if r.name == name_of(alice)]
    assert sorted(r.new_posts for r in results) == [0, 200]
    # Once: the root, 200 entries and their content blocks, the contents tree's two blocks.
    assert sorted(r.fetched for r in results) == [0, 1 + 200 + 200 + 2]
    assert all(r.error is None for r in results)


def test_pins_follow_a_big_feed_cheaply_and_survive_gc(alice: User, bob: User) -> None:
    """Kubo's `pin update` explodes on a feed's DAG; ipfeed's pin ladder must keep every block
    of a growing feed pinned through a garbage collection, on both nodes."""
    import subprocess

    bob.connect(alice)
    alice.service.save_many([f"p{i}" for i in range(3000)])
    run(alice.service.publish())
    bob.cli_ok("follow", name_of(alice))
    assert sync(bob, name_of(alice))[0].new_posts == 3000
    for i in range(5):
        alice.cli_ok("post", f"new {i}")  # each publish moves Alice's own pin: 3000+ posts
    [r] = sync(bob, name_of(alice))
    assert r.error is None and r.new_posts == 5
    for u in (alice, bob):
        gc = subprocess.run([node.find_ipfs(u.settings), "repo", "gc", "--quiet"],
                            env=node.ipfs_env(u.settings),
                            capture_output=True, text=True, timeout=120, check=False)
        assert gc.returncode == 0, gc.stderr

    async def held(u: User, root: str) -> int:
        async with await u.kubo() as k:
            return len(await k.refs(root, timeout=60, offline=True))
    root = bob.service.feed_state(name_of(alice)).root_cid  # type: ignore[union-attr]
    assert root is not None
    # Every entry and every live content block (and the tree: its contents block and 3 parts),
    # on both nodes.
    assert run(held(bob, root)) == run(held(alice, root)) == 3005 + 3005 + 4


def has_block(u: User, cid: str) -> bool:
    """Whether `u`'s repo holds a block (asked offline: nothing is fetched)."""
    async def go() -> bool:
        async with await u.kubo() as k:
            try:
                await k.call("block/stat", [("arg", cid), ("offline", "true")], timeout=5)
            except Exception:
                return False
            return True
    return run(go())


def test_an_attachment_larger_than_declared_is_never_fetched_or_pinned(alice: User, bob: User,
                                                                      tmp_path: Any) -> None:
    import os
    import subprocess

    from ipfeed.contents import RootPost
    from ipfeed.post import Attachment

    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    honest = tmp_path / "photo.jpg"
    honest.write_bytes(os.urandom(300_000))  # two chunks: a dag-pb root and two raw leaves
    alice.cli_ok("post", "an honest photo", "--attach", str(honest))

    async def add_big() -> tuple[str, list[str]]:
        async with await alice.kubo() as k:
            cid, _ = await k.add(os.urandom(5_244_061), "big.png")
            return cid, await k.refs(cid, offline=True)
    big, big_blocks = run(add_big())
    assert len(big_blocks) > 10
    me = alice.service.identity()
    last = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    liar = post.build(me, seq=2, prev=last.head, created=2, text="a tiny picture",
                      attachments=(Attachment(big, "image/png", 10, "tiny.png"),))
    listing = feed.Listing((RootPost(liar.cid, None), *last.posts), last.contents)  # the liar is live
    root = feed.advance(me, last, updated=last.updated + 1, heads=[liar.cid], listing=listing)
    publish_root(alice, root, (liar.block,))

    [r] = sync(bob, name_of(alice))
    assert r.error is None and r.new_posts == 2
    assert not any(has_block(bob, c) for c in big_blocks)  # none of the 5 MB reached Bob's repo
    assert bob.service.attachment(liar.cid, big) is None  # never served
    [shown] = [p for p in bob.service.timeline(5) if p.cid == liar.cid]  # the post itself is kept
    assert shown.attachments[0]["refused"] == f"file {big}: 5244061 bytes, over its declared size of 10"
    [honest_post] = [p for p in bob.service.timeline(5) if p.text == "an honest photo"]
    honest_cid = honest_post.attachments[0]["cid"]
    assert "refused" not in honest_post.attachments[0]

    async def honest_blocks() -> list[str]:
        async with await alice.kubo() as k:
            return [honest_cid, *await k.refs(honest_cid, offline=True)]
    kept = run(honest_blocks())
    assert len(kept) == 3
    gc = subprocess.run([node.find_ipfs(bob.settings), "repo", "gc", "--quiet"],
                        env=node.ipfs_env(bob.settings),
                        capture_output=True, text=True, timeout=120, check=False)
    assert gc.returncode == 0, gc.stderr
    assert all(has_block(bob, c) for c in kept)  # the honest photo is pinned and survives gc
    assert not has_block(bob, big)  # the liar's root block, read for the check, was not kept
    # A new post: with a refused file in the feed, no pin may walk its DAG (a recursive pin of
    # the root would now fetch the whole 5 MB), however few posts the feed has.
    more = post.build(me, seq=3, prev=liar.cid, created=3, text="more", skip=last.head)
    publish_root(alice, feed.advance(me, root, updated=root.updated + 1, heads=[more.cid]), (more.block,))
    [r] = sync(bob, name_of(alice))
    assert r.error is None and r.new_posts == 1
    assert not any(has_block(bob, c) for c in big_blocks)
    from ipfeed.web import create_app
    from ipfeed.web.worker import Worker

    worker = Worker(bob.service)
    try:  # the web UI serves the honest photo and never the refused file
        web = create_app(bob.settings, worker=worker, test_config={"TESTING": True}).test_client()
        base = "http://127.0.0.1:8787"
        assert web.get(f"/post/{liar.cid}/attachment/{big}", base_url=base).status_code == 404
        ok = web.get(f"/post/{honest_post.cid}/attachment/{honest_cid}", base_url=base)
        assert ok.status_code == 200 and ok.data == honest.read_bytes()
    finally:
        worker.stop()


def _varint(n: int) -> bytes:
    out = b""
    while True:
        low, n = n & 0x7F, n >> 7
        out += bytes([low | (0x80 if n else 0)])
        if not n:
            return out


def _pb(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return _varint(number << 3) + _varint(value)
    return _varint(number << 3 | 2) + _varint(len(value)) + value


def _file_node(kind: int, filesize: int | None, sizes: list[int], links: int | None = None) -> bytes:
    from ipfeed import codec

    data = _pb(1, kind) + (_pb(3, filesize) if filesize is not None else b"") + \
        b"".join(_pb(4, s) for s in sizes)
    leaf = codec.PREFIX_RAW + bytes(32)
    return b"".join(_pb(2, _pb(1, leaf)) for _ in range(len(sizes) if links is None else links)) + \
        _pb(1, data)


@pytest.mark.parametrize(("block", "problem"), [
    (_file_node(2, 300, [200, 100]), None),
    (_file_node(2, None, [200, 100]), None),
    (_file_node(2, 10, [200, 100]), "is not its data plus its blocks' sizes"),
    (_file_node(2, 300, [200, 100], links=3), "is not its data plus its blocks' sizes"),
    (_file_node(1, 0, []), "not a UnixFS file"),
], ids=["honest", "no filesize", "filesize smaller than its blocks", "a link without a size", "a directory"])
def test_unixfs_file_nodes_must_add_up(block: bytes, problem: str | None) -> None:
    from ipfeed import codec
    from ipfeed.errors import InvalidBlock
    from ipfeed.pins import unixfs_node

    cid = codec.cid_str(codec.PREFIX_DAG_PB + bytes(32))
    if problem is None:
        size, children = unixfs_node(block, cid)
        assert size == 300 and [s for _, s in children] == [200, 100]
    else:
        with pytest.raises(InvalidBlock, match=problem):
            unixfs_node(block, cid)


def test_an_index_of_schema_5_migrates_keeping_its_fork_evidence(tmp_path: Any) -> None:
    from ipfeed.index import Index
    from ipfeed.migrations import MIGRATIONS, statements

    path = tmp_path / "index.sqlite"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:5]:
        for statement in statements(script):
            db.execute(statement)
    db.execute("INSERT INTO forks VALUES ('k51old', 2, 'bafyold', NULL, 1)")
    db.execute("PRAGMA user_version=5")
    db.commit()
    db.close()
    index = Index(path)
    try:
        assert index.forks("k51old") == [(2, "bafyold")] and index.forks("k51old", "root") == []
        index.add_fork("k51old", [(7, "bafyroot1", None), (7, "bafyroot2", b"x")], 5, kind="root")
        assert index.forks("k51old", "root") == [(7, "bafyroot1"), (7, "bafyroot2")]
        assert index.feed("k51old").fork  # type: ignore[union-attr]
    finally:
        index.close()


def test_an_attachment_whose_root_lies_about_its_size_is_refused_at_its_first_leaf(alice: User,
                                                                                  bob: User) -> None:
    """A dag-pb root claiming 10 bytes over a 1 MB leaf: the walk reads the leaf with a bound of
    10 bytes and refuses; nothing of it is pinned."""
    import hashlib
    import os

    from ipfeed import codec
    from ipfeed.ipfs import file_part
    from ipfeed.post import Attachment

    bob.connect(alice)
    bob.cli_ok("follow", "--force", name_of(alice))
    leaf = os.urandom(1_000_000)
    leaf_cid = codec.PREFIX_RAW + hashlib.sha256(leaf).digest()
    data = _pb(1, 2) + _pb(3, 10) + _pb(4, 10)  # a File of 10 bytes in one block of 10
    lying = _pb(2, _pb(1, leaf_cid) + _pb(3, len(leaf))) + _pb(1, data)
    lying_cid = codec.cid_str(codec.PREFIX_DAG_PB + hashlib.sha256(lying).digest())

    async def put() -> None:
        async with await alice.kubo() as k:
            for block, kind in ((leaf, "raw"), (lying, "dag-pb")):
                await k.call("block/put", [("cid-codec", kind), ("mhtype", "sha2-256"), ("pin", "true")],
                              file_part(block, name="block"))
    run(put())
    me = alice.service.identity()
    last = feed.parse(Outbox(alice.settings.outbox_path).latest_root() or b"")
    liar = post.build(me, seq=1, prev=None, created=1, text="small, it says",
                      attachments=(Attachment(lying_cid, "text/plain", 10, "small.txt"),))
    publish_root(alice, feed.advance(me, last, updated=last.updated + 1, heads=[liar.cid]), (liar.block,))
    [r] = sync(bob, name_of(alice))
    assert r.error is None and r.new_posts == 1
    [shown] = bob.service.timeline(5)
    assert shown.attachments[0]["refused"] == (f"file {lying_cid}: block {codec.cid_str(leaf_cid)} is "
                                               "larger than the 10 bytes it may hold")

    async def pinned() -> bool:
        async with await bob.kubo() as k:
            return await k.pinned(lying_cid)
    assert not run(pinned())


def test_a_sync_round_opens_the_index_a_few_times_whatever_the_number_of_follows(
        bob: User, monkeypatch: pytest.MonkeyPatch) -> None:
    """A home server's round over thousands of follows: the migration check of every followed
    feed (FORMAT.md section 18) used to open the index four times per feed."""
    from ipfeed import index as index_module
    from ipfeed.identity import Identity
    for _ in range(6):
        bob.cli_ok("follow", "--force", Identity.generate().name)
    real, opened = index_module.Index.__init__, []

    def counted(self: Any, path: Any, **kwargs: Any) -> None:
        opened.append(path)
        real(self, path, **kwargs)
    monkeypatch.setattr(index_module.Index, "__init__", counted)
    results = run(bob.service.sync())
    assert len(results) == 7 and all(r.error for r in results[1:])  # no peers: nothing resolves
    assert len(opened) <= 6, opened  # a few per round (27 for these 7 feeds before)
