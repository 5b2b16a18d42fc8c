"""The inbox over real nodes (issue #15): notices delivered over /x/ipfeed/inbox/1, verified
from the sender's feed, admitted to Notifications or Requests; forged ones refused; a laptop
reads its notifications from its home server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from conftest import DEFAULTS, User, run

from ipfeed import Service, codec, inbox, inboxdb, notice, notify
from ipfeed import index as inbox_index
from ipfeed.home import serve_forever
from ipfeed.identity import Identity
from ipfeed.inboxdb import NOTIFICATIONS, REQUESTS

T = TypeVar("T")


def name_of(u: User) -> str:
    return u.service.identity().name


async def peer_id(u: User) -> str:
    async with await u.kubo() as k:
        return str((await k.id())["ID"])


async def with_inbox(svc: Service, body: Callable[[], Awaitable[T]]) -> T:
    """Run `body` while `svc` receives notices."""
    ready = asyncio.Event()
    task = asyncio.ensure_future(svc.inbox_serve(ready.set))
    try:
        await asyncio.wait_for(ready.wait(), 30)
        return await body()
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(what: str, check: Callable[[], Any], seconds: float = 40) -> Any:
    """Poll `check` until it is truthy (bounded)."""
    for _ in range(int(seconds * 10)):
        if got := check():
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def reasons_of(svc: Service) -> list[str]:
    return [r for _, r, _ in svc.rejected_notices()]


async def send(sender: User, to: User, frames: list[bytes]) -> list[str]:
    async with await sender.kubo() as k:
        return await notify.send_frames(k, await peer_id(to), frames, [to.addr()])


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_reply_from_a_friend_of_a_friend_is_a_notification_a_strangers_is_a_request(
        make_user: Any, defaults: str) -> None:
    alice = make_user("alice", defaults=defaults)
    bob = make_user("bob", defaults=defaults)
    carol = make_user("carol", defaults=defaults)
    dave = make_user("dave", defaults=defaults)
    for u in (bob, carol, dave):
        u.connect(alice)
    carol.connect(bob)
    a, b, c, d = (u.service for u in (alice, bob, carol, dave))
    run(a.set_inbox(here=True))
    hello = run(a.post("hello, who reads this?")).cid
    run(c.post("carol here"))
    run(d.post("dave here"))
    run(b.post("bob here"))
    run(b.follow(name_of(carol)))
    run(a.follow(name_of(bob)))
    run(a.sync())  # Alice's index now holds Bob's follow list (Carol is a friend of a friend)
    for s in (c, d):
        assert run(s.sync([name_of(alice)]))[0].error is None  # their index knows her inbox

    async def scenario() -> None:
        carol_reply = (await c.post("nice post, Alice", reply_to=hello)).cid
        dave_reply = (await d.post("hi from a stranger", reply_to=hello)).cid
        await until("both replies", lambda: len(a.notifications(None)) >= 2)
        got = a.notifications(None)
        by = {n.sender: n for n in got}
        assert by[name_of(carol)].box == NOTIFICATIONS and by[name_of(carol)].entry == carol_reply
        assert by[name_of(carol)].reason == "reply" and by[name_of(carol)].subject == hello
        assert by[name_of(dave)].box == REQUESTS and by[name_of(dave)].entry == dave_reply
        assert a.unread() == {NOTIFICATIONS: 1, REQUESTS: 1}
        thread = a.thread(hello)
        assert thread is not None
        assert {p.cid for _, p in thread.replies} == {carol_reply, dave_reply}
        shown = json.loads(alice.cli_ok("show", hello, "--json"))
        assert {r["cid"] for r in shown["replies"]} == {carol_reply, dave_reply}
        assert "nice post, Alice" in alice.cli_ok("show", hello)
        # Bob reacts: a notification (Alice follows him); the same notice again is a duplicate.
        assert (await b.sync([name_of(alice)]))[0].error is None
        b.react(hello)
        await b.publish()
        await until("bob's reaction", lambda: any(n.reason == "reaction" for n in a.notifications()))
        assert [o.state for o in c.outgoing_notices()] == ["sent"]
        # Muted: Carol's notices are left out of the boxes (kept, shown again on unmute).
        await a.mute(name_of(carol))
        assert name_of(carol) not in {n.sender for n in a.notifications(None)}
        await a.unmute(name_of(carol))
        assert name_of(carol) in {n.sender for n in a.notifications(None)}
        # Forged and replayed notices, over the real protocol, each refused with its reason.
        me = Identity.generate()
        async with await dave.kubo() as k:
            record = await k.name_get(name_of(dave), 10, offline=True)
        dave_key = d.identity()
        to = a.identity().public
        now = int(time.time() * 1000)
        forged = bytearray(notice.build_notice(dave_key, to, record, now, dave_reply))
        forged[-3] ^= 1  # inside the signature
        answers = await send(dave, alice, [
            bytes(forged),
            notice.build_notice(me, to, record, now, dave_reply),  # record not the sender's
            notice.build_notice(dave_key, to, record, now - 8 * 24 * 3600 * 1000, dave_reply),
            notice.build_notice(dave_key, to, record, now, codec.cid_of(b"\xa0")),  # no such entry
            notice.build_notice(dave_key, to, record, now, (await d.post("not about alice")).cid),
            notice.build_notice(dave_key, to, record, now, dave_reply),  # recorded already
        ])
        assert answers[0].startswith("rejected") and "signature" in answers[0]
        assert answers[2].startswith("rejected") and "replayed" in answers[2]
        assert answers[5] == "ok duplicate"
        await until("the queued forgeries rejected", lambda: len(reasons_of(a)) >= 5)
        reasons = " | ".join(reasons_of(a))
        assert "IPNS record" in reasons and "signature does not verify" in reasons
        assert "is not in its verified feed" in reasons
        assert "does not reference your posts or your name" in reasons
        assert len(a.notifications(None)) == 3  # nothing unverified was recorded
        # Alice blocks Dave: his request is hidden, and his next notice is dropped on arrival.
        await a.block(name_of(dave))
        assert [n.sender for n in a.notifications(REQUESTS)] == []
        assert a.unread()[REQUESTS] == 0
        dropped = a.receiver().stats["dropped-blocked"]
        again = (await d.post("are you there?", reply_to=hello)).cid
        assert a.receiver().stats["dropped-blocked"] == dropped + 1
        assert [o.state for o in d.outgoing_notices() if o.entry == again] == ["sent"]  # not told
        assert again not in {n.entry for n in a.notifications(None)}
    run(with_inbox(a, scenario))


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_reply_to_a_reply_reaches_the_root_author_and_a_chain_not_reaching_her_is_refused(
        make_user: Any, defaults: str) -> None:
    alice, bob, carol = (make_user(who, defaults=defaults) for who in ("alice", "bob", "carol"))
    for u in (bob, carol):
        u.connect(alice)
    carol.connect(bob)
    a, b, c = (u.service for u in (alice, bob, carol))
    run(a.set_inbox(here=True))
    hello = run(a.post("a question for everyone")).cid
    run(b.post("bob here"))
    elsewhere = run(c.post("carol's own thread")).cid
    run(b.follow(name_of(carol)))
    run(a.follow(name_of(bob)))
    run(a.sync())  # Carol is a friend of a friend: listed, not indexed
    assert a.indexed_post(elsewhere)[0] is None
    for s in (b, c):
        assert run(s.sync([name_of(alice)]))[0].error is None

    async def scenario() -> None:
        bob_reply = (await b.post("a first answer", reply_to=hello)).cid
        await until("bob's reply", lambda: any(n.entry == bob_reply for n in a.notifications(None)))
        assert (await c.sync([name_of(bob)]))[0].error is None  # Carol's index holds Bob's reply
        carol_reply = (await c.post("and a second, Bob", reply_to=bob_reply)).cid
        sent = {o.target: o.state for o in c.outgoing_notices() if o.entry == carol_reply}
        assert sent[name_of(alice)] == "sent"  # Bob's node has no inbox: his notice waits
        assert sent[name_of(bob)] == "waiting"
        got = await until("carol's reply",
                          lambda: [n for n in a.notifications(None) if n.entry == carol_reply])
        assert [(n.sender, n.reason, n.subject, n.box) for n in got] == [
            (name_of(carol), "conversation", hello, NOTIFICATIONS)]
        thread = a.thread(hello)
        assert thread is not None
        assert [(d, p.cid) for d, p in thread.replies] == [(1, bob_reply), (2, carol_reply)]
        assert "and a second, Bob" in alice.cli_ok("show", hello)
        assert "replied in your conversation" in alice.cli_ok("notifications")
        # A "conversation" whose chain of verified posts never reaches a post of Alice's.
        beside = (await c.post("a reply in my own thread", reply_to=elsewhere)).cid
        assert name_of(alice) not in {o.target for o in c.outgoing_notices() if o.entry == beside}
        async with await carol.kubo() as k:
            record = await k.name_get(name_of(carol), 10, offline=True)
        now = int(time.time() * 1000)
        [answer] = await send(carol, alice, [notice.build_notice(c.identity(), a.identity().public,
                                                                  record, now, beside)])
        assert answer == "ok queued"
        await until("the forgery refused", lambda: any(beside in r for r in reasons_of(a)))
        assert any("does not reference your posts or your name" in r for r in reasons_of(a))
        assert beside not in {n.entry for n in a.notifications(None)}
        assert a.indexed_post(elsewhere)[0] is not None  # the walk saw Carol's post, not Alice's
    run(with_inbox(a, scenario))


def test_a_laptop_reads_its_notifications_from_its_home_server(make_user: Any) -> None:
    server = make_user("alice")
    carol = make_user("carol")
    laptop = make_user("laptop", init=False, start=False)
    laptop.home.mkdir(mode=0o700, parents=True)
    shutil.copy(server.settings.key_path, laptop.settings.key_path)
    laptop.settings.key_path.chmod(0o600)
    laptop.start()
    carol.connect(server)
    laptop.connect(server)
    a, c, lap = server.service, carol.service, laptop.service
    run(a.set_inbox(here=True))
    hello = run(a.post("my home server keeps my inbox")).cid
    run(c.post("carol"))
    run(c.sync([name_of(server)]))
    # While the home server's inbox is not listening, Carol's notice waits in her outbox.
    early = run(c.post("are you there?", reply_to=hello)).cid
    [waiting] = c.outgoing_notices()
    assert (waiting.entry, waiting.state, waiting.attempts) == (early, "waiting", 1) and waiting.last_error

    async def scenario() -> None:
        assert (await c.deliver_notices()).sent == 0  # not due yet: backoff
        with inboxdb.opened(c.settings.inbox_path) as db:  # as if its 30 s had passed
            db.db.execute("UPDATE outgoing SET next_try = 0")
        assert (await c.deliver_notices()).sent == 1
        await c.follow(name_of(server))  # a follow is notified too
        reply = (await c.post("got it", reply_to=hello)).cid
        await until("all three at the home server", lambda: len(a.notifications(None)) == 3)
        assert {n.reason for n in a.notifications(None)} == {"reply", "follow"}
        # The laptop: same key, a node of its own, not in the profile's inbox list.
        assert (await lap.sync([name_of(server)]))[0].error is None
        assert await lap.fetch_notifications() == 3
        got = lap.notifications(None)
        assert [(n.sender, n.entry, n.reason) for n in got] == [
            (name_of(carol), reply, "reply"), (name_of(carol), None, "follow"),
            (name_of(carol), early, "reply")]
        assert await lap.fetch_notifications() == 0  # nothing new since
        # The same from the command line: the unread count in status, then read and marked.
        # (Alice follows nobody: Carol's reply is a request, as her home server filed it.)
        assert "inbox: 0 unread notifications, 3 requests" in laptop.cli_ok("status")
        out = json.loads(laptop.cli_ok("notifications", "--requests", "--json", "--mark-read"))
        assert out["unread"] == {"notifications": 0, "requests": 3}
        first = out["notices"][0]
        assert (first["from"], first["entry"], first["reason"], first["box"]) == \
            (name_of(carol), reply, "reply", "requests")
        assert "0 unread notifications, 0 requests" in laptop.cli_ok("notifications", "--requests")
        assert name_of(carol) in laptop.cli_ok("notifications", "--requests", "--all")
        # Someone else's key cannot read Alice's inbox.
        stranger = Identity.generate()
        answers = await send(carol, server, [notice.build_fetch(stranger, 0, int(time.time() * 1000))])
        assert answers[0].startswith("rejected") and "no notices for that feed" in answers[0]
    run(with_inbox(a, scenario))


ONE_KEY = 100_000  # notices from one key
FRESH_KEYS = 20_000  # notices each from a fresh key with a valid record of its own


def _rss_kib() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def _alice_who_follows_bob_and_mallory(make_user: Any) -> tuple[User, User, User, str]:
    """Alice (her own node her inbox, a first post "hello") follows Bob; Mallory, a stranger,
    is connected to her too. Returns the three and the CID of Alice's post."""
    alice, bob, mallory = make_user("alice"), make_user("bob"), make_user("mallory")
    bob.connect(alice)
    mallory.connect(alice)
    run(alice.service.set_inbox(here=True))
    hello = run(alice.service.post("hello")).cid
    run(bob.service.post("bob"))
    run(alice.service.follow(name_of(bob)))
    return alice, bob, mallory, hello


def test_a_flood_is_bounded_and_an_honest_notice_still_lands(make_user: Any) -> None:
    from test_ipns import record

    alice, bob, mallory, hello = _alice_who_follows_bob_and_mallory(make_user)
    a, b, m = alice.service, bob.service, mallory.service
    assert run(b.sync([name_of(alice)]))[0].error is None
    run(m.post("mallory"))
    to = a.identity().public
    now = int(time.time() * 1000)
    built = time.monotonic()
    mk = m.identity()
    async def own_record() -> bytes:
        async with await mallory.kubo() as k:
            return await k.name_get(name_of(mallory), 10, offline=True)
    rec = run(own_record())
    one_key = [notice.build_notice(mk, to, rec, now, codec.cid_of(i.to_bytes(4, "big")))
               for i in range(ONE_KEY)]
    fresh = []
    for i in range(FRESH_KEYS):
        k = Identity.generate()
        fresh.append(notice.build_notice(k, to, record(k), now, codec.cid_of(b"f" + i.to_bytes(4, "big"))))
    built = time.monotonic() - built
    svc_rss = _rss_kib()

    async def scenario() -> None:
        r = a.receiver()
        start = time.monotonic()
        flood = asyncio.ensure_future(asyncio.gather(send(mallory, alice, one_key),
                                                     send(mallory, alice, fresh)))
        await asyncio.sleep(1)  # the flood is under way
        honest_at = time.monotonic()
        reply = (await b.post("an honest reply", reply_to=hello)).cid
        await until("the honest reply", lambda: any(n.entry == reply for n in a.notifications()), 60)
        landed = time.monotonic() - honest_at
        answers_one, answers_fresh = await flood
        elapsed = time.monotonic() - start
        counts = Counter(x.split(" ", 1)[0] for x in answers_one + answers_fresh)
        queued = r.stats["queued"]
        rss = _rss_kib() - svc_rss
        size = a.settings.inbox_path.stat().st_size
        print(f"\nflood: {ONE_KEY:,} notices from one key and {FRESH_KEYS:,} from fresh keys (built in "
              f"{built:.1f} s) sent over {inbox.PROTOCOL} "
              f"in {elapsed:.1f} s: answers {dict(counts)}; queued for verification {queued}; "
              f"recorded {r.stats['recorded']}; rejected {r.stats['rejected']}; the honest reply landed "
              f"{landed:.1f} s after it was posted; receiver memory +{rss / 1024:.1f} MiB, inbox.sqlite "
              f"{size / 1024:.0f} KiB, rejections kept {len(a.rejected_notices(10_000))}")
        assert len(answers_one) == ONE_KEY and len(answers_fresh) == FRESH_KEYS  # every frame answered
        # One peer gets 100 at once and 2 a second; one sender 20 and 0.2 a second.
        assert queued <= 100 + 2 * elapsed + 1
        assert counts["busy"] >= ONE_KEY + FRESH_KEYS - queued - counts["ok"] - counts["rejected"]
        assert [n for n in a.notifications(None) if n.sender != name_of(bob)] == []
        assert len(r.queue) <= inbox.QUEUE and len(r.close_queue) <= inbox.QUEUE
        assert len(r.pending) <= inbox.MAX_TRACKED and len(r.limits.peer.by) <= inbox.MAX_TRACKED
        assert len(a.rejected_notices(10_000)) <= inboxdb.MAX_REJECTED
        assert size < 4 << 20
    run(with_inbox(a, scenario))


def test_fresh_keys_from_many_peers_meet_the_total_budget_and_the_queue_bound(make_user: Any) -> None:
    """What one node cannot send over the network: many peers, each a fresh key (in process)."""
    from test_ipns import record

    alice = make_user("alice", start=False)
    r = inbox.Receiver(alice.service.home)
    to = alice.service.identity().public
    now = int(time.time() * 1000)
    frames = []
    for i in range(2000):
        k = Identity.generate()
        frames.append(notice.build_notice(k, to, record(k), now, codec.cid_of(i.to_bytes(4, "big"))))
    start = time.monotonic()
    answers = Counter(r.answer(f"peer{i}", f, now).decode().strip() for i, f in enumerate(frames))
    elapsed = time.monotonic() - start
    print(f"\n2,000 fresh keys from 2,000 peers in {elapsed:.2f} s: {dict(answers)}")
    queued = answers["ok queued"]
    assert queued == len(r.queue) <= min(inbox.QUEUE, 200 + 2 * elapsed + 1)
    assert answers["busy rate-limited: too many notices in all"] + answers["busy queue full"] == 2000 - queued
    assert not r.close_queue  # none of them is a feed Alice follows


def _plant(user: User, them: Identity, chain: list[Any], now: int) -> None:
    """Put a signed chain of posts into the user's index as a sync would."""
    from ipfeed import feed
    from ipfeed.index import Index

    root = feed.advance(them, None, updated=now, profile=feed.Profile(name="planted"),
                        heads=[p.cid for p in chain])
    index = Index(user.settings.index_path)
    try:
        index.apply(them.name, root, chain, now, None, None, None)
    finally:
        index.close()


def test_the_conversation_walk_is_bounded_and_nearest_first(make_user: Any) -> None:
    """How far up a reply's chain its notices and their receivers look (in the index only)."""
    from ipfeed import post as posts
    from ipfeed import threads

    alice = make_user("alice", start=False)
    them = Identity.generate()
    now = int(time.time() * 1000)
    chain: list[Any] = []
    for i in range(1, threads.CONVERSATION_DEPTH + 3):  # each post replies to the one before
        prev = chain[-1].cid if chain else None
        to = posts.skip_target(i)
        chain.append(posts.build(them, seq=i, prev=prev, created=now - 1000 + i, text=f"step {i}",
                                 reply_to=prev, skip=chain[to - 1].cid if to else None))
    _plant(alice, them, chain, now)
    # Ten more feeds, each one post, each replying to the one before (the first to step 1).
    authors, parent = [], chain[0].cid
    for i in range(notify.MAX_CONVERSATION + 2):
        other = Identity.generate()
        p = posts.build(other, seq=1, prev=None, created=now + i, text=f"voice {i}", reply_to=parent)
        _plant(alice, other, [p], now)
        authors.append(other.name)
        parent = p.cid
    home = alice.service.home
    told = {authors[-1]}  # the parent's author, notified for the reply itself
    assert notify.conversation_authors(home, parent, told) == \
        authors[::-1][1:notify.MAX_CONVERSATION + 1]  # nearest first, at most 8, none twice
    assert notify.conversation_authors(home, chain[3].cid, set()) == [them.name]
    up = threads.conversation(home, chain[-1].cid)
    assert [p.cid for p in up] == [p.cid for p in chain[::-1][:threads.CONVERSATION_DEPTH]]
    assert [p.cid for p in threads.conversation(home, chain[2].cid)] == [p.cid for p in chain[2::-1]]
    assert threads.conversation(home, codec.cid_of(b"\xa0")) == []  # not held: nothing


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_home_server_hosts_someone_elses_inbox_while_their_node_sleeps(make_user: Any,
                                                                         defaults: str) -> None:
    alice, hana, carol = (make_user(n, defaults=defaults) for n in ("alice", "hana", "carol"))
    for a_, b_ in ((alice, hana), (alice, carol), (carol, hana)):
        a_.connect(b_)
    a, h, c = alice.service, hana.service, carol.service
    hello = run(a.post("hana's server keeps my inbox")).cid
    carols = run(c.post("carol")).cid
    run(a.follow(name_of(carol)))  # Carol is close to Alice: her notices are notifications
    hana_peer = run(peer_id(hana))
    run(a.set_inbox([(hana_peer, [hana.addr().rsplit("/p2p/", 1)[0]])], here=True))
    assert run(c.sync([name_of(alice)]))[0].error is None  # Carol reads Alice's inbox peers
    # Before Hana agrees, her inbox refuses notices for Alice, saying why.
    record = run(_record(carol))
    about = notice.build_notice(c.identity(), a.identity().public, record, int(time.time() * 1000), carols)

    async def refused() -> list[str]:
        return await send(carol, hana, [about])
    answers = run(with_inbox(h, refused))
    assert answers[0].startswith("rejected not-here") and "has not agreed to host" in answers[0]
    out = hana.cli_ok("inbox", "host", name_of(alice))
    assert out.startswith(f"hosting the inbox of {name_of(alice)}")
    assert json.loads(hana.cli_ok("inbox", "hosted", "--json")) == [{"name": name_of(alice), "notices": 0}]
    alice.stop()

    async def while_alice_sleeps() -> str:
        reply = (await c.post("carol answers while alice sleeps", reply_to=hello)).cid
        with inboxdb.opened(c.settings.inbox_path) as db:  # retry at once what waited
            db.db.execute("UPDATE outgoing SET next_try = 0")
        await c.deliver_notices()
        await until("the reply kept at Hana's", lambda: dict(h.hosted_inboxes()).get(name_of(alice)))
        # Hana checks a notice for Alice as her own: one about a post not referencing Alice is refused.
        off = notice.build_notice(c.identity(), a.identity().public, await _record(carol),
                                  int(time.time() * 1000), carols)
        assert await send(carol, hana, [off]) == ["ok queued"]
        await until("Hana refusing it", lambda: any(
            f"does not reference the posts or the name of {name_of(alice)}" in r for r in reasons_of(h)))
        return reply
    reply = run(with_inbox(h, while_alice_sleeps))
    assert h.notifications(None) == [] and h.unread() == {NOTIFICATIONS: 0, REQUESTS: 0}  # not Hana's
    sent = {o.entry: o.state for o in c.outgoing_notices()}
    assert sent == {reply: "sent"}

    # Hana (or someone with her disk) plants notices for Alice: one about a post of Carol's that
    # does not reference Alice, and one whose signature is broken. Alice refuses both.
    unrelated = run(c.post("nothing to do with alice")).cid
    forged = notice.build_notice(c.identity(), a.identity().public, run(_record(carol)),
                                 int(time.time() * 1000), unrelated)
    broken = bytearray(notice.build_notice(c.identity(), a.identity().public, record,
                                           int(time.time() * 1000), run(c.post("another")).cid))
    broken[-70] ^= 1
    with inboxdb.opened(h.settings.inbox_path) as db:
        for i, block in enumerate((forged, bytes(broken))):
            db.record(f"planted{i}", name_of(carol), "reply", None, None, NOTIFICATIONS, block, 0, 0,
                      name_of(alice))
    alice.start()
    alice.connect(hana)
    alice.connect(carol)
    # Someone else's key cannot read what Hana keeps for Alice.
    stranger = Identity.generate()

    async def fetch() -> tuple[list[str], list[str]]:
        others = await send(carol, hana, [notice.build_fetch(stranger, 0, int(time.time() * 1000))])
        said: list[str] = []  # Alice's home server round fetches what Hana kept, unasked
        await serve_forever(a, 0.01, rounds=1, log=said.append)
        return said, others
    said, others = run(with_inbox(h, fetch))
    assert others[0].startswith("rejected") and "no notices for that feed" in others[0]
    assert "notices: 1 fetched from your inbox peers" in said, said
    shown = a.notifications()
    assert [(n.sender, n.reason) for n in shown] == [(name_of(carol), "reply")]
    assert [(n.box, n.entry) for n in shown] == [(NOTIFICATIONS, reply)]
    thread = a.thread(hello)
    assert thread is not None and reply in {p.cid for _, p in thread.replies}
    reasons = " ".join(reasons_of(a))
    assert "does not reference your posts or your name" in reasons and "signature" in reasons
    assert run(with_inbox(h, a.fetch_notifications)) == 0  # nothing new since
    assert hana.cli_ok("inbox", "unhost", name_of(alice)).endswith("dropped 3 notices\n")
    assert h.hosted_inboxes() == []


async def _record(u: User) -> bytes:
    async with await u.kubo() as k:
        return await k.name_get(name_of(u), 10, offline=True)


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_conversation_notice_through_a_post_not_held_fetches_and_verifies_it(
        make_user: Any, defaults: str) -> None:
    alice, bob, carol = (make_user(who, defaults=defaults) for who in ("alice", "bob", "carol"))
    for x, y in ((alice, bob), (alice, carol), (bob, carol)):
        x.connect(y)
    a, b, c = (u.service for u in (alice, bob, carol))
    run(a.set_inbox(here=True))
    hello = run(a.post("who knows?")).cid
    for s in (b, c):
        assert run(s.sync([name_of(alice)]))[0].error is None
    bob_reply = run(b.post("Bob knows", reply_to=hello)).cid  # Alice's inbox is not serving: it waits
    assert run(c.sync([name_of(bob)]))[0].error is None
    carol_reply = run(c.post("and Carol agrees", reply_to=bob_reply)).cid
    assert a.indexed_post(bob_reply)[0] is None  # Alice follows neither: she holds neither reply

    async def scenario() -> None:
        with inboxdb.opened(c.settings.inbox_path) as db:  # as if its 30 s had passed
            db.db.execute("UPDATE outgoing SET next_try = 0")
        await c.deliver_notices()
        got = await until("carol's reply",
                          lambda: [n for n in a.notifications(None) if n.entry == carol_reply])
        assert [(n.reason, n.subject) for n in got] == [("conversation", hello)]
    run(with_inbox(a, scenario))
    assert a.indexed_post(bob_reply)[0] is not None  # fetched from Bob's feed and verified
    thread = a.thread(hello)
    assert thread is not None
    assert [(d, p.cid) for d, p in thread.replies] == [(1, bob_reply), (2, carol_reply)]


def test_the_inbox_store_moves_to_schema_2_and_keeps_hosted_feeds_apart(tmp_path: Any,
                                                                         monkeypatch: Any) -> None:
    path = tmp_path / "inbox.sqlite"
    old = inboxdb.sqlite.connect(path, "NORMAL")  # an inbox store as the previous ipfeed left it
    for statement in inboxdb.SCHEMA.split(";"):
        if statement.strip():
            old.execute(statement)
    old.execute("INSERT INTO received (key, sender, reason, box, notice, created, received) "
                "VALUES ('k', 'bob', 'reply', 'notifications', x'00', 1, 1)")
    old.execute("PRAGMA user_version=1")
    old.commit()
    old.close()
    monkeypatch.setattr(inboxdb, "MAX_PER_HOSTED", 3)
    with inboxdb.opened(path) as db:
        assert db.db.execute("PRAGMA user_version").fetchone()[0] == 3
        assert [n.sender for n in db.notices(None)] == ["bob"]
        assert db.host("alice") and not db.host("alice") and db.hosted() == ["alice"]
        for i in range(5):  # a hosted feed's notices: capped on their own, never shown as ours
            assert db.record(f"alice:{i}", f"s{i}", "reply", None, None, REQUESTS, b"n", i, i, "alice")
        assert db.count("alice") == 3 and db.count(inboxdb.OWN) == 1
        assert [i for i, _, _ in db.notice_blocks(0, 50, "alice")] == [4, 5, 6]
        assert len(db.notices(None)) == 1 and db.unread() == {NOTIFICATIONS: 1, REQUESTS: 0}
        assert db.mark_read() == 1 and db.count("alice") == 3
        assert db.unhost("alice") == 3 and db.hosted() == [] and db.count() == 1


def test_a_notice_refused_not_here_waits_in_the_outbox_until_the_host_agrees(make_user: Any) -> None:
    alice, hana, carol = (make_user(n) for n in ("alice", "hana", "carol"))
    for a_, b_ in ((alice, hana), (alice, carol), (carol, hana)):
        a_.connect(b_)
    a, h, c = alice.service, hana.service, carol.service
    hello = run(a.post("my inbox is at hana's"))
    run(a.set_inbox([(run(peer_id(hana)), [hana.addr().rsplit("/p2p/", 1)[0]])], here=False))
    assert run(c.sync([name_of(alice)]))[0].error is None  # Carol reads Alice's inbox peers

    async def before_hana_agrees() -> str:
        reply = (await c.post("carol answers before hana agrees", reply_to=hello.cid)).cid
        with inboxdb.opened(c.settings.inbox_path) as db:
            db.db.execute("UPDATE outgoing SET next_try = 0")
        assert (await c.deliver_notices()).waiting == 1
        return reply
    reply = run(with_inbox(h, before_hana_agrees))
    [o] = c.outgoing_notices()
    assert (o.entry, o.state) == (reply, "waiting") and o.attempts >= 1  # posting tried at once too
    assert o.last_error is not None and o.last_error.startswith("rejected not-here")
    assert hana.cli_ok("inbox", "host", name_of(alice)).startswith("hosting the inbox of")

    async def after() -> None:
        with inboxdb.opened(c.settings.inbox_path) as db:  # as if its backoff had passed
            db.db.execute("UPDATE outgoing SET next_try = 0")
        assert (await c.deliver_notices()).sent == 1
        await until("the reply kept at Hana's", lambda: dict(h.hosted_inboxes()).get(name_of(alice)))
    run(with_inbox(h, after))
    assert [(o.entry, o.state) for o in c.outgoing_notices()] == [(reply, "sent")]

    # Hana stops hosting; Alice lists her first and her own node second: a not-here peer is
    # passed over for the next one, which takes the notice.
    h.unhost_inbox(name_of(alice))
    run(a.set_inbox([(run(peer_id(hana)), [hana.addr().rsplit("/p2p/", 1)[0]]),
                     (run(peer_id(alice)), [alice.addr().rsplit("/p2p/", 1)[0]])], here=False))
    assert run(c.sync([name_of(alice)]))[0].error is None
    refused_before = h.receiver().stats["rejected"]

    async def both() -> str:
        async def at_alice() -> str:
            again = (await c.post("and once more", reply_to=hello.cid)).cid
            with inboxdb.opened(c.settings.inbox_path) as db:
                db.db.execute("UPDATE outgoing SET next_try = 0")
            await c.deliver_notices()
            await until("the reply at Alice's",
                        lambda: [n for n in a.notifications(None) if n.entry == again])
            return again
        return await with_inbox(a, at_alice)
    again = run(with_inbox(h, both))
    assert {o.entry: o.state for o in c.outgoing_notices()} == {reply: "sent", again: "sent"}
    assert h.receiver().stats["rejected"] > refused_before  # Hana said not-here to it first


def test_not_here_is_retried_for_three_days_and_other_failures_max_attempts_times(tmp_path: Any) -> None:
    day = 24 * 3600 * 1000
    with inboxdb.opened(tmp_path / "inbox.sqlite") as db:
        assert db.db.execute("PRAGMA user_version").fetchone()[0] == 3
        assert db.enqueue([("alice", "e1"), ("bob", "e2")], 0) == 2
        a, b = sorted(db.due(0), key=lambda o: o.target)
        for i in range(inboxdb.MAX_ATTEMPTS + 5):  # not-here answers do not use up attempts
            db.retry(a.id, "rejected not-here: …", i * 3_600_000, not_here=True)
        for i in range(inboxdb.MAX_ATTEMPTS - 1):
            db.retry(b.id, "busy", i)
        states = {o.target: (o.state, o.attempts) for o in db.outgoing()}
        assert states == {"alice": ("waiting", inboxdb.MAX_ATTEMPTS + 5),
                          "bob": ("waiting", inboxdb.MAX_ATTEMPTS - 1)}
        db.retry(a.id, "busy", 3 * day - 1)  # a failure after not-here ones: counted on its own
        db.retry(b.id, "busy", 0)
        assert {o.target: o.state for o in db.outgoing()} == {"alice": "waiting", "bob": "failed"}
        db.retry(a.id, "rejected not-here: …", 3 * day - 1, not_here=True)
        assert {o.target: o.state for o in db.outgoing()}["alice"] == "waiting"
        db.retry(a.id, "rejected not-here: still", inboxdb.NOT_HERE_MS + 1, not_here=True)
        [gone] = [o for o in db.outgoing() if o.target == "alice"]
        assert (gone.state, gone.last_error) == ("refused", "rejected not-here: still")


def test_strangers_feeds_kept_to_verify_notices_are_bounded_oldest_first(make_user: Any,
                                                                          monkeypatch: Any) -> None:
    from ipfeed import post as posts
    from ipfeed.index import Index

    alice, bob, mallory, hello = _alice_who_follows_bob_and_mallory(make_user)
    a, m = alice.service, mallory.service
    assert run(m.sync([name_of(alice)]))[0].error is None
    now = int(time.time() * 1000)
    planted = []  # four strangers' feeds, synced long ago, oldest first
    for i, size in enumerate((1, 8, 1, 1)):
        them = Identity.generate()
        chain: list[Any] = []
        for seq in range(1, size + 1):
            to = posts.skip_target(seq)
            chain.append(posts.build(them, seq=seq, prev=chain[-1].cid if chain else None, created=now,
                                     text=f"stranger{i} says {seq}", reply_to=hello if seq == 1 else None,
                                     skip=chain[to - 1].cid if to else None))
        _plant(alice, them, chain, now - 100_000 + i)
        planted.append(them.name)
    with inboxdb.opened(a.settings.inbox_path) as db:  # the third one's notice is still unread
        db.record("k2", planted[2], "reply", None, hello, REQUESTS, b"n", now, now)
    monkeypatch.setattr(inbox_index, "MAX_STRANGER_FEEDS", 2)
    monkeypatch.setattr(inbox_index, "MAX_STRANGER_ENTRIES", 5)

    def held() -> set[str]:
        index = Index(a.settings.index_path)
        try:
            return {f.name for f in index.feeds()}
        finally:
            index.close()

    def replies_counted() -> tuple[int, int]:
        index = Index(a.settings.index_path)
        try:
            counted = index.db.execute("SELECT replies FROM counts WHERE cid = ?", (hello,)).fetchone()[0]
            indexed = index.db.execute("SELECT count(*) FROM posts WHERE reply_to = ?",
                                       (hello,)).fetchone()[0]
            return counted, indexed
        finally:
            index.close()
    assert replies_counted() == (4, 4)

    async def scenario() -> None:
        reply = (await m.post("mallory replies", reply_to=hello)).cid
        with inboxdb.opened(m.settings.inbox_path) as db:
            db.db.execute("UPDATE outgoing SET next_try = 0")
        await m.deliver_notices()
        await until("mallory's request", lambda: [n for n in a.notifications(REQUESTS) if n.entry == reply])
    run(with_inbox(a, scenario))
    # Not counted: Alice, Bob (followed), Mallory and the third (unread notices). Of the others,
    # the oldest went for the feed cap (2), the next (8 entries) for the entry cap (5).
    assert held() == {name_of(alice), name_of(bob), name_of(mallory), planted[2], planted[3]}
    assert a.receiver().stats["strangers-dropped"] == 2
    assert replies_counted() == (3, 3)  # the dropped reply no longer counted
    assert not [p for p in a.search("stranger0") if p.name == planted[0]]
    a.mark_read()
    assert a.receiver().trim() == [planted[2]]  # read now: the oldest of three
    assert held() == {name_of(alice), name_of(bob), name_of(mallory), planted[3]}
