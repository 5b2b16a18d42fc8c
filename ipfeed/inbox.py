"""The inbox: receiving notices over `/x/ipfeed/inbox/1` (docs/FORMAT.md section 15), bounding
floods, verifying what a notice names from the sender's own feed, and admitting it to
Notifications or Requests.

A notice is only a hint. The cheap checks run as it arrives, cheapest first (per-peer budget
before any decoding, then the signature, the sender's budget, the total budget), and a notice
that passes waits in a bounded queue; a worker then verifies the sender's record, root and
chain (the sync of section 6, not pinned unless followed), that the entry is in that feed and
really names the user's post or name (or replies, through posts this index holds verified, to
one of the user's posts: a reply in their conversation), and only then records it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from . import codec, following, inboxdb, ipns, notice, reading, threads
from .content import Ref
from .contentblock import MAX_CONTENT_BYTES, Content, parse_content
from .entry import Entry, parse_chained
from .errors import InvalidNotice, IpfeedError
from .homedir import Home, now_ms
from .identity import name_from_public
from .inboxdb import NOTIFICATIONS, REQUESTS
from .ipfs import Kubo
from .notice import Notice

PROTOCOL = "/x/ipfeed/inbox/1"
FRAME_TIMEOUT = 10.0  # seconds a peer gets for each frame
STREAMS_AT_ONCE = 8  # inbox streams served at once; more are closed at once
QUEUE = 256  # notices waiting for verification, in each of two queues; a full queue answers "busy"
VERIFY_AT_ONCE = 2
VERIFY_TIMEOUT = 60.0  # seconds to verify one notice of a close feed (its feed synced)
STRANGER_TIMEOUT = 15.0  # and of any other feed (a fresh key's record can point at nothing)
MAX_TRACKED = 10_000  # budgets and pending keys kept in memory, oldest dropped
CLOSE_CACHE = 30.0  # seconds the set of followed and followed-by-followed feeds is reused
MAX_GAPS = 4  # posts missing from a conversation a notice's check fetches (a feed sync each)
HOSTED_CACHE = 5.0  # seconds the list of feeds this home hosts an inbox for is reused
NOT_HERE = "not-here"  # the refusal of a notice for a feed this inbox does not (yet) host
NOT_HERE_ANSWER = f"rejected {NOT_HERE}"  # how that answer line starts


class Bucket:
    """A token bucket: `burst` at once, `rate` per second after."""

    def __init__(self, burst: float, rate: float) -> None:
        self.burst, self.rate = burst, rate
        self.tokens, self.at = burst, time.monotonic()

    def take(self) -> bool:
        """Spend one token if there is one."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Buckets:
    """One bucket per key (a peer, a sender), at most MAX_TRACKED (the least recent dropped)."""

    def __init__(self, burst: float, rate: float) -> None:
        self.burst, self.rate = burst, rate
        self.by: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, key: str) -> bool:
        """Spend one of `key`'s tokens if it has one."""
        b = self.by.pop(key, None) or Bucket(self.burst, self.rate)
        self.by[key] = b
        if len(self.by) > MAX_TRACKED:
            self.by.popitem(last=False)
        return b.take()


@dataclass
class Limits:
    """The flood bounds (docs/FORMAT.md section 15): per libp2p peer, per sender key, and in
    total, with a separate total for feeds the user follows or their follows follow."""

    peer: Buckets = field(default_factory=lambda: Buckets(100, 2.0))
    sender: Buckets = field(default_factory=lambda: Buckets(20, 0.2))
    strangers: Bucket = field(default_factory=lambda: Bucket(200, 2.0))
    close: Bucket = field(default_factory=lambda: Bucket(500, 10.0))


@dataclass
class Receiver:
    """The inbox of one home in this process: budgets, the verification queue and figures."""

    home: Home
    limits: Limits = field(default_factory=Limits)
    close_queue: deque[Notice] = field(default_factory=deque)  # verified first
    queue: deque[Notice] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    pending: OrderedDict[str, None] = field(default_factory=OrderedDict)
    stats: Counter[str] = field(default_factory=Counter)
    nonces: OrderedDict[bytes, None] = field(default_factory=OrderedDict)
    blocked: Callable[[str], bool] = field(default=lambda name: False)
    _close: dict[str, tuple[float, frozenset[str]]] = field(default_factory=dict)
    _hosted: tuple[float, frozenset[str]] = (0.0, frozenset())
    _misses: Bucket = field(default_factory=lambda: Bucket(20, 20.0))
    _verifying: Counter[str] = field(default_factory=Counter)  # senders whose feeds are in use

    def close_set(self, feed: str | None = None) -> frozenset[str]:
        """Feeds the user (or the hosted `feed`) follows and the feeds they follow, as this
        index verified the follow lists (cached CLOSE_CACHE seconds)."""
        at, names = self._close.get(feed or "", (0.0, frozenset()))
        if time.monotonic() - at > CLOSE_CACHE:
            names = close_feeds(self.home, feed)
            self._close[feed or ""] = (time.monotonic(), names)
        return names

    def hosted(self, name: str = "") -> frozenset[str]:
        """The feeds this home agreed to receive for (`ipfeed inbox host`, in another process
        perhaps): read again after HOSTED_CACHE s, or when `name` is not among them (at most
        20 times a second: notices for feeds not hosted cannot make it read the store more)."""
        at, names = self._hosted
        if time.monotonic() - at > HOSTED_CACHE or (name and name not in names and self._misses.take()):
            with self.home.inbox() as db:
                names = frozenset(db.hosted())
            self._hosted = (time.monotonic(), names)
        return names

    def hosted_changed(self) -> None:
        """This process changed the hosted feeds: read them again at the next notice."""
        self._hosted = (0.0, frozenset())

    def feed_of(self, n: Notice) -> str | None:
        """Where a notice is kept: OWN for this home's feed, a hosted feed's name, None if this
        inbox does not receive for its `to`."""
        to = n.to_name
        if to == self.home.user_name():
            return inboxdb.OWN
        return to if to in self.hosted(to) else None

    def answer(self, peer: str, block: bytes, now: int) -> bytes:
        """The answer to one frame from `peer`: a line, and for a fetch request a batch."""
        if not self.limits.peer.take(peer):
            return self._count("busy", "rate-limited: too many notices from this peer").encode() + b"\n"
        if len(block) <= notice.MAX_FETCH_BYTES and _type_of(block) == notice.FETCH_TYPE:
            try:
                batch = self.fetch(block, now)
            except (InvalidNotice, ValueError) as e:
                return f"rejected {e}\n".encode()
            return b"ok batch\n" + len(batch).to_bytes(4, "big") + batch
        return self.arrive(block, now).encode("utf-8", "replace")[:600] + b"\n"

    def arrive(self, block: bytes, now: int) -> str:
        """The answer to one notice; cheap checks only (the verification is queued)."""
        try:
            n = notice.parse_notice(block, now)
        except InvalidNotice as e:
            self._count("rejected")
            self.reject(None, str(e), now)
            return f"rejected {e}"
        feed = self.feed_of(n)
        if feed is None:
            return self._count("rejected", f"{NOT_HERE}: this inbox does not receive for {n.to_name} "
                                           "(its operator has not agreed to host that feed's inbox)")
        sender, key = n.sender_name, _key(n, feed)
        if key in self.pending:
            self.stats["duplicate"] += 1
            return "ok duplicate"
        if not self.limits.sender.take(sender):
            return self._count("busy", "rate-limited: too many notices from this sender")
        close = sender in self.close_set(feed or None)
        if not (self.limits.close if close else self.limits.strangers).take():
            return self._count("busy", "rate-limited: too many notices in all")
        # What reads the stores comes after the budgets: a flood pays only for the signature.
        if feed == inboxdb.OWN and self.blocked(sender):  # a hosted feed's lists are sealed
            self.stats["dropped-blocked"] += 1
            return "ok"  # dropped on arrival; a blocked feed is not told
        if self._known(key):
            self.stats["duplicate"] += 1
            return "ok duplicate"
        queue = self.close_queue if close else self.queue
        if len(queue) >= QUEUE:
            return self._count("busy", "queue full")
        queue.append(n)
        self.wake.set()
        self.pending[key] = None
        if len(self.pending) > MAX_TRACKED:
            self.pending.popitem(last=False)
        self.stats["queued"] += 1
        return "ok queued"

    def _count(self, what: str, answer: str = "") -> str:
        self.stats[what] += 1
        return f"{what} {answer}".strip()

    def _known(self, key: str) -> bool:
        with self.home.inbox() as db:
            return db.has(key)

    def reject(self, sender: str | None, reason: str, now: int) -> None:
        """Keep why a notice was refused (during a flood, a sample)."""
        if self.stats["rejected"] <= inboxdb.MAX_REJECTED or self.stats["rejected"] % 100 == 0:
            with self.home.inbox() as db:  # a flood writes a sample
                db.reject(sender, reason, now)

    def fetch(self, block: bytes, now: int) -> bytes:
        """The answer to a fetch request of the user's own other machine, or of the owner of a
        feed hosted here: a batch of that feed's notices kept here (InvalidNotice if this inbox
        does not receive for the feed that signed the request, or if it is replayed)."""
        req = notice.parse_fetch(block, now)
        feed = inboxdb.OWN if req.feed == self.home.identity().public else name_from_public(req.feed)
        if feed != inboxdb.OWN and feed not in self.hosted(feed):
            raise InvalidNotice("inbox fetch: this inbox keeps no notices for that feed")
        if req.nonce in self.nonces:
            raise InvalidNotice("inbox fetch: nonce seen before (a replayed request)")
        self.nonces[req.nonce] = None
        if len(self.nonces) > MAX_TRACKED:
            self.nonces.popitem(last=False)
        with self.home.inbox() as db:
            items = db.notice_blocks(req.since, notice.MAX_BATCH, feed)
        hidden = [i for i in items if feed == inboxdb.OWN and self.blocked(_sender_of(i[2]))]
        shown = [i for i in items if i not in hidden]
        return notice.build_batch(shown, items[-1][0] if items else req.since)

    async def work(self) -> None:
        """Verify queued notices, VERIFY_AT_ONCE at a time, those of close feeds first and one
        worker for them only (a flood of strangers' notices cannot hold up a friend's), until
        cancelled."""
        async def one(close_only: bool) -> None:
            while True:
                if not (self.close_queue or (self.queue and not close_only)):
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                close = bool(self.close_queue)
                n = (self.close_queue if close else self.queue).popleft()
                try:
                    await self.verify_and_record(n, timeout=VERIFY_TIMEOUT if close else STRANGER_TIMEOUT)
                finally:
                    self.pending.pop(_key(n, self.feed_of(n) or ""), None)
        await asyncio.gather(*(one(i == 0) for i in range(VERIFY_AT_ONCE)))  # one kept for friends

    async def verify_and_record(self, n: Notice, box: str | None = None,
                                timeout: float = VERIFY_TIMEOUT) -> bool:
        """Verify one notice for this home's feed or a hosted one and record it (`box`: as the
        user's home server filed it); False, with the reason kept, if it does not hold."""
        self._verifying[n.sender_name] += 1
        try:
            return await self._verify_and_record(n, box, timeout)
        finally:
            self._verifying[n.sender_name] -= 1
            if not self._verifying[n.sender_name]:
                del self._verifying[n.sender_name]
            try:
                self.trim()
            except (IpfeedError, sqlite3.Error):  # a busy store: the next verification trims
                self.stats["trim-failed"] += 1

    def trim(self) -> list[str]:
        """Bound the strangers' feeds a verification left in the index (index.trim_strangers):
        never the user's or a followed feed, a hosted one or one its follow list names, one with
        a notice shown unread, nor one a notice waiting or being verified comes from."""
        with self.home.index() as index:
            dropped = index.trim_strangers(self._kept)
        self.stats["strangers-dropped"] += len(dropped)
        return dropped

    def _kept(self) -> set[str]:
        """The feeds trim never drops."""
        me = self.home.user_name() or ""
        followed = [f.name for f in reading.follows(self.home)]
        keep = {me, *followed, *reading.moved_from(self.home, [me, *followed]), *self._verifying}
        keep.update(n.sender_name for n in (*self.queue, *self.close_queue))
        with self.home.inbox() as db:
            hosted, unread = db.hosted(), db.unread_senders()
        keep.update(hosted, unread)
        for state in reading.feed_states(self.home, hosted).values():
            keep.update(str(f["name"]) for f in state.follows)
        return keep

    async def _verify_and_record(self, n: Notice, box: str | None, timeout: float) -> bool:
        now = now_ms()
        feed = self.feed_of(n)
        try:
            if feed is None:
                raise InvalidNotice(f"notice from {n.sender_name}: this inbox does not receive for "
                                    f"{n.to_name}")
            async with asyncio.timeout(timeout):
                reason, entry, subject = await verify(self.home, n, hosted=feed != inboxdb.OWN)
        except (IpfeedError, TimeoutError) as e:
            self.stats["rejected"] += 1
            self.reject(n.sender_name, str(e) or f"verification timed out after {timeout:g}s", now)
            return False
        if feed == inboxdb.OWN and self.blocked(n.sender_name):
            self.stats["dropped-blocked"] += 1
            return False
        box = box or (NOTIFICATIONS if n.sender_name in self.close_set(feed or None) else REQUESTS)
        with self.home.inbox() as db:
            if db.record(_key(n, feed), n.sender_name, reason, entry, subject, box, n.block, n.created,
                         now, feed):
                self.stats["recorded"] += 1
        return True


def _key(n: Notice, feed: str) -> str:
    """A notice's key in the store: for a hosted feed, within that feed's notices (a reply to
    two hosted feeds is two notices)."""
    return f"{feed}:{n.key}" if feed else n.key


def _type_of(block: bytes) -> object:
    try:
        obj = codec.decode(block, max_size=notice.MAX_FETCH_BYTES, what="inbox frame")
    except ValueError:
        return None
    return obj.get("type") if isinstance(obj, dict) else None


def _sender_of(block: bytes) -> str:
    with contextlib.suppress(InvalidNotice, ValueError):
        return notice.parse_notice(block, now_ms()).sender_name
    return ""


def close_feeds(home: Home, feed: str | None = None) -> frozenset[str]:
    """The feeds whose notices go to Notifications: those the user (or the hosted `feed`, by
    its verified follow list) follows, and those the followed feeds follow (as this index
    verified their follow lists)."""
    if feed is None:
        feed, followed = home.user_name() or "", [f.name for f in reading.follows(home)]
    else:
        state = reading.feed_state(home, feed)
        followed = [str(f["name"]) for f in state.follows] if state else []
    names = set(followed)
    for state in reading.feed_states(home, followed).values():
        names.update(f["name"] for f in state.follows)
    names.discard(feed)
    return frozenset(names)


async def verify(home: Home, n: Notice, hosted: bool = False) -> tuple[str, str | None, str | None]:
    """What a notice names, verified from the sender's own feed: (reason, entry, the notified
    feed's post it is about); raises an error naming what did not hold. For a `hosted` feed's
    notice, that feed's own posts are those of this index's verified copy of it (synced first)."""
    name, to = n.sender_name, n.to_name
    ipns.parse_record(n.record, name)  # InvalidRecord: not signed by the sender's key
    async with home.kubo() as kubo:
        with contextlib.suppress(IpfeedError):  # the node may know a newer one already
            await kubo.name_put(name, n.record)
        result = (await following.sync_follows(home, [name, *([to] if hosted else [])]))[0]
        if result.error:
            raise InvalidNotice(f"notice from {name}: its feed does not verify: {result.error}")
        if n.kind == notice.FOLLOW:
            state = reading.feed_state(home, name)
            if state is None or to not in {f["name"] for f in state.follows}:
                raise InvalidNotice(f"notice from {name}: its verified follow list does not list {to}")
            return "follow", None, None
        assert n.entry is not None
        return await _entry_reason(home, kubo, n, n.to, to, own=not hosted)


async def _entry_reason(home: Home, kubo: Kubo, n: Notice, me: bytes, my_name: str,
                        own: bool = True) -> tuple[str, str | None, str | None]:
    name, cid = n.sender_name, n.entry
    assert cid is not None
    with home.index() as index:
        row = index.entry(cid)
        deleted = index.deleted(cid)
    if row is None or row[0] != name:
        raise InvalidNotice(f"notice from {name}: entry {cid} is not in its verified feed")
    if deleted:
        raise InvalidNotice(f"notice from {name}: entry {cid} was deleted by its author")
    entry = parse_chained(await kubo.block_get(cid, notice.MAX_NOTICE_BYTES, offline=True), cid)
    content: Content | None = None
    if isinstance(entry, Entry) and entry.content:
        content = parse_content(await kubo.block_get(entry.content, notice.MAX_NOTICE_BYTES, offline=True),
                                entry.content)
    found = notice.reasons(entry, content, me)
    for reason, subject in found:
        if subject is None or _is_mine(home, subject, my_name, own):
            return reason, cid, subject
    if isinstance(entry, Entry) and entry.kind == "post" and content is not None \
            and content.reply_to is not None and not content.private \
            and (up := await _in_conversation(home, kubo, content.reply_to, my_name)) is not None:
        return "conversation", cid, up
    if found:
        whose = "of yours" if own else f"of {my_name}"
        raise InvalidNotice(f"notice from {name}: entry {cid} names a post {whose} that does not exist")
    whose = "your posts or your name" if own else f"the posts or the name of {my_name}"
    raise InvalidNotice(f"notice from {name}: entry {cid} does not reference {whose}")


async def _in_conversation(home: Home, kubo: Kubo, parent: Ref, my_name: str) -> str | None:
    """The first post of `my_name` up the chain of posts from `parent`, walking only posts this
    index holds verified (threads.conversation); where the chain reaches a post it does not
    hold, that post's author's feed (as the ref below it names it) is synced and verified by
    section 6, at most MAX_GAPS times, and the walk goes on if the post is in it."""
    gap: Ref | None = parent
    for _ in range(MAX_GAPS + 1):
        chain = threads.conversation(home, parent.cid)
        for up in chain:
            if up.name == my_name:
                return up.cid
        if len(chain) >= threads.CONVERSATION_DEPTH:
            return None
        if chain:  # the walk ended below a post not held, or at the top, or at a loop
            last = chain[-1]
            if last.reply_to is None or last.reply_to in {p.cid for p in chain}:
                return None
            gap = await _reply_ref(home, kubo, last.cid)
        if gap is None:
            return None
        await following.sync_follows(home, [name_from_public(gap.author)])
        with home.index() as index:
            if index.post(gap.cid) is None:
                return None  # not a post of the feed its ref names, or not verified
    return None


async def _reply_ref(home: Home, kubo: Kubo, cid: str) -> Ref | None:
    """The ref an indexed v2 post's content block gives for the post it replies to."""
    with home.index() as index:
        content_cid = index.content_cid(cid)
    if content_cid is None:
        return None
    content = parse_content(await kubo.block_get(content_cid, MAX_CONTENT_BYTES), content_cid)
    return content.reply_to


def _is_mine(home: Home, cid: str, my_name: str, own: bool = True) -> bool:
    """Whether `cid` is one of the feed `my_name`'s entries: in the outbox (the user's `own`
    feed only), or indexed as that feed's."""
    with home.outbox() as box:
        if own and box.block(cid) is not None:
            return True
    with home.index() as index:
        row = index.entry(cid)
    return row is not None and row[0] == my_name


async def serve(receiver: Receiver, kubo: Kubo, ready: Callable[[], None] | None = None) -> None:
    """Answer inbox streams until cancelled or until the node drops the listener."""
    turns = asyncio.Semaphore(STREAMS_AT_ONCE)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not turns.locked():
                async with turns:
                    await _session(receiver, reader, writer)
        except (IpfeedError, OSError, TimeoutError, ValueError, asyncio.IncompleteReadError):
            pass  # a bad frame or a gone peer: closing is the answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    receiver.wake = asyncio.Event()  # of this loop (a Service may serve from several in turn)
    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=notice.MAX_NOTICE_BYTES + 8)
    port = server.sockets[0].getsockname()[1]
    async with server, kubo.p2p_foreground("listen", [PROTOCOL, f"/ip4/127.0.0.1/tcp/{port}"],
                                           [("report-peer-id", "true")]) as ended:
        workers = asyncio.ensure_future(receiver.work())
        try:
            if ready:
                ready()
            await ended()
        finally:
            workers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await workers


async def _session(receiver: Receiver, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """One stream: the peer ID Kubo reports, then frames, each answered with one line."""
    async with asyncio.timeout(FRAME_TIMEOUT):
        peer = (await reader.readline()).decode("ascii", "replace").strip()
    while True:
        async with asyncio.timeout(FRAME_TIMEOUT):
            try:
                head = await reader.readexactly(4)
            except asyncio.IncompleteReadError:
                return  # the peer is done
            size = int.from_bytes(head, "big")
            if size > notice.MAX_NOTICE_BYTES:
                writer.write(f"rejected frame of {size} bytes, over {notice.MAX_NOTICE_BYTES}\n".encode())
                await writer.drain()
                return
            block = await reader.readexactly(size)
        writer.write(receiver.answer(peer, block, now_ms()))
        if writer.transport.get_write_buffer_size() > 1 << 16:  # a write is sent at once; this
            await writer.drain()  # only holds a peer that does not read its answers

