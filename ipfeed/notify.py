"""Sending notices (docs/FORMAT.md section 15): finding which feeds a new entry or follow is
about (and the authors of the conversation a reply is in), queueing a notice for each in the
inbox store's outbox, and delivering them to the inbox peers those feeds' profiles name, with
backoff; and a laptop's fetch of its notices from its home server.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from . import notice, reading, threads
from .contentblock import Content, parse_content
from .entry import Entry, parse_chained
from .errors import InvalidNotice, IpfeedError, NodeUnavailable
from .homedir import Home, latest_root, now_ms
from .identity import name_from_public, public_from_name
from .inbox import NOT_HERE_ANSWER, PROTOCOL, Receiver
from .ipfs import Kubo
from .kinds import About
from .stream import free_port

SCAN = 1000  # newest own entries looked at for notices in one pass
DELIVER = 100  # notices delivered in one pass
SEND_TIMEOUT = 10.0  # seconds for one stream to one inbox peer
BACKOFF_MS = 30_000  # first retry after 30 s, doubling, at most an hour
MAX_BACKOFF_MS = 3_600_000
FETCH_ROUNDS = 20  # batches one fetch reads from the home server
MAX_CONVERSATION = 8  # authors of a reply's further ancestors notified


@dataclass(frozen=True)
class Delivery:
    """What one delivery pass did."""

    queued: int = 0
    sent: int = 0
    refused: int = 0
    waiting: int = 0


def targets(home: Home) -> list[tuple[str, str]]:
    """(feed, entry) for each feed the user's new entries are about, and (feed, "") for each
    new follow, since the last pass (entries older than a notice may be are skipped)."""
    me = home.identity()
    with home.inbox() as db, home.outbox() as box:
        done = db.get("notified_seq")
        root = latest_root(box)
        after = max(int(done) if isinstance(done, int) else 0, (root.count if root else 0) - SCAN)
        blocks = list(box.post_blocks(after))
        oldest = now_ms() - notice.MAX_AGE_MS
        out: list[tuple[str, str]] = []
        for _, block in blocks:
            entry = parse_chained(block)
            if not isinstance(entry, Entry) or entry.created < oldest:
                continue
            content = None
            if entry.content and (c := box.block(entry.content)) is not None:
                content = parse_content(c, entry.content)
            about = {name_from_public(k) for k in _candidates(entry, content)
                     if k != me.public and notice.reasons(entry, content, k)}
            out += [(name, entry.cid) for name in sorted(about)]
            if entry.kind == "post" and content is not None and content.reply_to is not None \
                    and not content.private:
                out += [(name, entry.cid) for name in
                        conversation_authors(home, content.reply_to.cid, about | {me.name})]
        follows = {f.name for f in reading.follows(home)}
        told = db.get("notified_follows")
        new_follows = follows - set(told if isinstance(told, list) else [])
        out += [(name, "") for name in sorted(new_follows)]
        seq = blocks[-1][0] if blocks else after
        db.put("notified_seq", seq)
        db.put("notified_follows", sorted(follows))
    return out


def conversation_authors(home: Home, parent: str, told: set[str]) -> list[str]:
    """The authors of the posts a reply to `parent` is under (as this index holds them, nearest
    first, at most MAX_CONVERSATION and none in `told`): their conversations it is in."""
    out: list[str] = []
    for up in threads.conversation(home, parent):
        if up.name not in told and up.name not in out and len(out) < MAX_CONVERSATION:
            out.append(up.name)
    return out


def _candidates(entry: Entry, content: Content | None) -> set[bytes]:
    """The feed keys an entry may be about (notice.reasons decides)."""
    keys: set[bytes] = set()
    if isinstance(entry.body, About):
        keys.add(entry.body.subject.author)
    if content is not None:
        keys.update(ref.author for ref in (content.reply_to, content.extras.quote) if ref is not None)
        for m in content.extras.mentions:
            with contextlib.suppress(IpfeedError, ValueError):
                keys.add(public_from_name(m.name))
    return keys


async def deliver(home: Home) -> Delivery:
    """Queue notices for what is new, then deliver those due to their feeds' inbox peers: a
    notice refused by the inbox is not retried, one that could not be delivered is retried
    with backoff (30 s doubling to an hour, with jitter; given up after MAX_ATTEMPTS), and so
    is one refused "not-here" (its feed's owner listed a home server whose operator has not
    run `ipfeed inbox host` yet), for inboxdb.NOT_HERE_MS after it was queued."""
    queued = 0
    with contextlib.suppress(IpfeedError):
        items = targets(home)
        with home.inbox() as db:
            queued = db.enqueue(items, now_ms())
    with home.inbox() as db:
        due = db.due(now_ms(), DELIVER)
    if not due:
        return Delivery(queued)
    me = home.identity()
    sent = refused = waiting = 0
    async with home.kubo() as kubo:
        record = await kubo.name_get(me.name, 10, offline=True)
        for row in due:
            answer = await _deliver_one(home, kubo, me_record=record, target=row.target, entry=row.entry)
            with home.inbox() as db:
                if answer.startswith("ok"):
                    db.delivered(row.id, "sent")
                    sent += 1
                elif answer.startswith("rejected") and not answer.startswith(NOT_HERE_ANSWER):
                    db.delivered(row.id, "refused", answer)
                    refused += 1
                else:
                    wait = min(BACKOFF_MS * 2 ** row.attempts, MAX_BACKOFF_MS)
                    db.retry(row.id, answer, now_ms() + int(wait * random.uniform(0.8, 1.2)),
                             not_here=answer.startswith(NOT_HERE_ANSWER))
                    waiting += 1
    return Delivery(queued, sent, refused, waiting)


async def _deliver_one(home: Home, kubo: Kubo, *, me_record: bytes, target: str, entry: str) -> str:
    """One notice to the first of the target's inbox peers that takes it (or refuses it for
    good): its answer line; a "not-here" peer is passed over like a busy one, and its answer
    is the one given when no other peer took the notice."""
    state = reading.feed_state(home, target)
    peers = (state.profile.get("inbox") if state else None) or []
    if not peers:
        return f"busy no inbox known for {target} (its verified profile names none)"
    block = notice.build_notice(home.identity(), public_from_name(target), me_record, now_ms(), entry or None)
    answer = "busy no inbox peer answered"
    for p in peers[:notice.MAX_INBOX_PEERS]:
        try:
            answers = await send_frames(kubo, str(p["peer"]), [block], list(p.get("addrs") or []))
        except (IpfeedError, OSError, TimeoutError) as e:
            answers = [f"busy {p['peer']}: {e or e.__class__.__name__}"]
        if not answers or (answer.startswith(NOT_HERE_ANSWER) and answers[0].startswith("busy")):
            continue  # a not-here answer says more than a later peer's silence
        answer = answers[0]
        if not answer.startswith(("busy", NOT_HERE_ANSWER)):
            return answer
    return answer


async def send_frames(kubo: Kubo, peer: str, frames: Sequence[bytes], addrs: Sequence[str] = (),
                      timeout: float = SEND_TIMEOUT) -> list[str]:
    """Send frames on one inbox stream to `peer` (connecting to its addresses first if given)
    and read one answer line for each; stops at the first frame left unanswered."""
    for a in addrs:
        with contextlib.suppress(IpfeedError):
            await kubo.swarm_connect(a if "/p2p/" in a else f"{a}/p2p/{peer}")
            break
    port = free_port()
    async with kubo.p2p_foreground("forward", [PROTOCOL, f"/ip4/127.0.0.1/tcp/{port}", f"/p2p/{peer}"]):
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=notice.MAX_BATCH_BYTES + 8)
        try:
            async with asyncio.timeout(timeout + len(frames) / 1000):
                return await _exchange(reader, writer, frames)
        finally:
            writer.close()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    frames: Sequence[bytes]) -> list[str]:
    answers: list[str] = []

    async def send() -> None:
        for f in frames:
            writer.write(len(f).to_bytes(4, "big") + f)
            if writer.transport.get_write_buffer_size() > 1 << 20:
                await writer.drain()
        await writer.drain()
    sending = asyncio.ensure_future(send())
    try:
        while len(answers) < len(frames):
            line = await reader.readline()
            if not line:
                break
            answers.append(line.decode("utf-8", "replace").strip())
            if answers[-1] == "ok batch":
                size = int.from_bytes(await reader.readexactly(4), "big")
                if size > notice.MAX_BATCH_BYTES:
                    raise InvalidNotice(f"inbox batch of {size} bytes, over {notice.MAX_BATCH_BYTES}")
                answers[-1] = "ok batch " + (await reader.readexactly(size)).hex()
    finally:
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, OSError):
            await sending
    return answers


def home_peers(home: Home, own_peer: str) -> list[tuple[str, list[str]]]:
    """The inbox peers the user's own profile names, but this node."""
    with home.outbox() as box:
        root = latest_root(box)
    if root is not None:
        listed = [(p, list(a)) for p, a in root.profile.inbox]
    else:
        state = reading.feed_state(home, home.identity().name)
        listed = [(str(p["peer"]), list(p.get("addrs") or [])) for p in (state.profile.get("inbox") or [])] \
            if state else []
    return [(p, a) for p, a in listed if p != own_peer]


async def fetch_from_home(home: Home, receiver: Receiver, *, required: bool = True) -> int:
    """Read the notices the user's home server kept (a fetch signed by the feed key) and
    verify and record each here as its server filed it; how many are new here (a profile that
    names no other inbox peer: an error if `required`, else 0)."""
    me = home.identity()
    got = 0
    async with home.kubo() as kubo:
        own = str((await kubo.id()).get("ID"))
        peers = home_peers(home, own)
        if not peers and not required:
            return 0
        if not peers:
            raise NodeUnavailable("your profile names no home server to fetch notifications from "
                                  "(`ipfeed inbox set` on the home server)")
        for peer, addrs in peers:
            with home.inbox() as db:
                since = db.get(f"fetched:{peer}")
            since = since if isinstance(since, int) else 0
            for _ in range(FETCH_ROUNDS):
                answers = await send_frames(kubo, peer, [notice.build_fetch(me, since, now_ms())], addrs)
                if not answers or not answers[0].startswith("ok batch "):
                    raise InvalidNotice(f"home server {peer}: {answers[0] if answers else 'no answer'}")
                items, next_since = notice.parse_batch(bytes.fromhex(answers[0][len("ok batch "):]))
                for _, box, block in items:
                    try:
                        n = notice.parse_notice(block, now_ms())
                    except InvalidNotice as e:  # a hint only: what a home server holds is checked again
                        receiver.stats["rejected"] += 1
                        receiver.reject(None, f"kept by {peer}: {e}", now_ms())
                        continue
                    if n.to == me.public and await receiver.verify_and_record(n, box):
                        got += 1
                since = max(since, next_since)
                with home.inbox() as db:
                    db.put(f"fetched:{peer}", since)
                if len(items) < notice.MAX_BATCH:
                    break
    return got
