"""Notices and inbox requests (docs/FORMAT.md section 15), pure: build, sign, parse, verify.

A notice tells a feed's inbox that an entry of another feed is about it (a reply, mention,
quote, reaction or repost) or that the other feed follows it. It is only a hint: what it
names is fetched and verified from the sender's feed before anything is recorded
(ipfeed.inbox). A fetch request lets the feed's own other machine (a laptop) read the
notices its home server kept, authenticated by the feed key.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from . import codec
from .content import Ref
from .contentblock import Content
from .entry import Chained, Entry
from .errors import InvalidNotice
from .identity import Identity, name_from_public, verify
from .kinds import About, Reaction, Repost
from .schema import MAX_SAFE_INT, Fields, check_version

NOTICE_TYPE = "ipfeed.notice"
FETCH_TYPE = "ipfeed.inbox-fetch"
BATCH_TYPE = "ipfeed.inbox-batch"
VERSION = 1
MAX_NOTICE_BYTES = 16 * 1024  # a notice carries an IPNS record (≤ 10 KiB)
MAX_FETCH_BYTES = 1024
MAX_BATCH_BYTES = 1024 * 1024
MAX_BATCH = 50  # notices in one batch answer
MAX_AGE_MS = 7 * 24 * 3600 * 1000  # an older notice is refused as a replay
MAX_FUTURE_MS = 10 * 60 * 1000  # clocks disagree a little
FETCH_WINDOW_MS = 5 * 60 * 1000  # a fetch request is valid this long either side of now
ENTRY, FOLLOW = "entry", "follow"
REASONS = ("reply", "conversation", "mention", "quote", "reaction", "repost", "follow")
VERBS = {"reply": "replied to your post", "conversation": "replied in your conversation",
         "mention": "mentioned you", "quote": "quoted your post", "reaction": "reacted to your post",
         "repost": "reposted your post", "follow": "followed you"}  # how the CLI and the web say each
MAX_INBOX_PEERS = 8
MAX_PEER_ADDRS = 8
MAX_PEER_ID_BYTES = 128
MAX_ADDR_BYTES = 256

_NOTICE_FIELDS = frozenset({"type", "v", "from", "to", "kind", "record", "created", "sig"})
_FETCH_FIELDS = frozenset({"type", "v", "feed", "since", "created", "nonce", "sig"})


@dataclass(frozen=True)
class Notice:
    """A notice whose signature verified (nothing it names is verified yet)."""

    block: bytes
    sender: bytes  # `from`: the sender's feed key
    to: bytes  # the feed the notice is for
    kind: str  # ENTRY or FOLLOW
    entry: str | None  # the entry's CID, for ENTRY
    record: bytes  # the sender's signed IPNS record
    created: int

    @property
    def sender_name(self) -> str:
        """The sender's feed name."""
        return name_from_public(self.sender)

    @property
    def to_name(self) -> str:
        """The recipient's feed name."""
        return name_from_public(self.to)

    @property
    def key(self) -> str:
        """What makes two notices the same (a duplicate changes nothing)."""
        return f"{self.sender_name}/{self.kind}/{self.entry or ''}"


@dataclass(frozen=True)
class FetchRequest:
    """A signed request of a feed's own machine for the notices its inbox kept."""

    feed: bytes
    since: int
    created: int
    nonce: bytes


def build_notice(me: Identity, to: bytes, record: bytes, created: int, entry: str | None = None) -> bytes:
    """Sign a notice: about `entry` (a CID of `me`'s feed), or a follow when `entry` is None."""
    obj: dict[str, Any] = {"type": NOTICE_TYPE, "v": VERSION, "from": me.public, "to": to,
                           "kind": FOLLOW if entry is None else ENTRY, "record": record, "created": created}
    if entry is not None:
        obj["entry"] = codec.cid_to_bytes(entry)
    obj["sig"] = me.sign(codec.encode(obj))
    return codec.encode(obj)


def parse_notice(block: bytes, now: int) -> Notice:
    """Decode a notice and check its fields, its age and its signature (InvalidNotice names
    the rule broken)."""
    if len(block) > MAX_NOTICE_BYTES:
        raise InvalidNotice(f"notice: {len(block)} bytes, over {MAX_NOTICE_BYTES}")
    try:
        obj = codec.decode(block, max_size=MAX_NOTICE_BYTES, what="notice")
    except ValueError as e:
        raise InvalidNotice(f"notice: {e}") from e
    check_version(obj, NOTICE_TYPE, VERSION, "notice", InvalidNotice)
    f = Fields(obj, "notice", InvalidNotice, _NOTICE_FIELDS, frozenset({"entry"}))
    sender, to = f.blob("from", 32), f.blob("to", 32)
    kind = f.text("kind", 16)
    if kind not in (ENTRY, FOLLOW):
        raise f.fail(f"kind must be {ENTRY!r} or {FOLLOW!r}, not {kind!r}")
    if (kind == ENTRY) != f.has("entry"):
        raise f.fail("entry must be present exactly for kind 'entry'")
    entry = f.cid("entry") if f.has("entry") else None
    record = obj["record"]
    if not isinstance(record, bytes) or not 0 < len(record) <= 10 * 1024:
        raise f.fail("record must be 1 … 10240 bytes")
    created = f.integer("created", 0, MAX_SAFE_INT)
    sig = f.blob("sig", 64)
    if sender == to:
        raise f.fail("a feed does not notify itself")
    if created < now - MAX_AGE_MS:
        raise f.fail(f"created {created} is more than 7 days old: refused as a replayed old notice")
    if created > now + MAX_FUTURE_MS:
        raise f.fail(f"created {created} is in the future")
    if not verify(sender, codec.encode({k: v for k, v in obj.items() if k != "sig"}), sig):
        raise f.fail("signature does not verify with the sender's key (from)")
    return Notice(block, sender, to, kind, entry, record, created)


def build_fetch(me: Identity, since: int, created: int, nonce: bytes | None = None) -> bytes:
    """Sign a request for the notices an inbox kept for `me` after id `since`."""
    obj: dict[str, Any] = {"type": FETCH_TYPE, "v": VERSION, "feed": me.public, "since": since,
                           "created": created, "nonce": nonce or os.urandom(16)}
    obj["sig"] = me.sign(codec.encode(obj))
    return codec.encode(obj)


def parse_fetch(block: bytes, now: int) -> FetchRequest:
    """Decode and verify a fetch request: fields, its time window and the feed key's signature."""
    obj = codec.decode(block, max_size=MAX_FETCH_BYTES, what="inbox fetch")
    check_version(obj, FETCH_TYPE, VERSION, "inbox fetch", InvalidNotice)
    f = Fields(obj, "inbox fetch", InvalidNotice, _FETCH_FIELDS)
    feed, since, created = f.blob("feed", 32), f.integer("since"), f.integer("created")
    nonce, sig = f.blob("nonce", 16), f.blob("sig", 64)
    if abs(created - now) > FETCH_WINDOW_MS:
        raise f.fail("created is more than 5 minutes from now (a replayed or late request)")
    if not verify(feed, codec.encode({k: v for k, v in obj.items() if k != "sig"}), sig):
        raise f.fail("signature does not verify with the feed's key")
    return FetchRequest(feed, since, created, nonce)


def build_batch(items: Iterable[tuple[int, str, bytes]], next_since: int) -> bytes:
    """The answer to a fetch: (id, box, notice block) items and where the next fetch starts."""
    return codec.encode({"type": BATCH_TYPE, "v": VERSION, "next": next_since,
                         "items": [{"id": i, "box": b, "notice": n} for i, b, n in items]})


def parse_batch(block: bytes) -> tuple[list[tuple[int, str, bytes]], int]:
    """Decode a batch answer (its notices are verified one by one by the caller)."""
    obj = codec.decode(block, max_size=MAX_BATCH_BYTES, what="inbox batch")
    check_version(obj, BATCH_TYPE, VERSION, "inbox batch", InvalidNotice)
    f = Fields(obj, "inbox batch", InvalidNotice, frozenset({"type", "v", "next", "items"}))
    out = []
    for i, item in enumerate(f.items("items", MAX_BATCH, 0)):
        g = Fields(item, f"inbox batch: items[{i}]", InvalidNotice, frozenset({"id", "box", "notice"}))
        box = g.text("box", 16)
        if box not in ("notifications", "requests") or not isinstance(item["notice"], bytes):
            raise g.fail("box must be notifications or requests, notice bytes")
        out.append((g.integer("id"), box, item["notice"]))
    return out, f.integer("next")


def reasons(entry: Chained, content: Content | None, me: bytes) -> list[tuple[str, str | None]]:
    """Why an entry is about the feed `me`: (reason, the CID of `me`'s entry it names, or None
    for a mention of the name); empty if it is not about `me`."""
    if not isinstance(entry, Entry):
        return []  # v1 posts name their reply by CID only: not notified
    out: list[tuple[str, str | None]] = []

    def about(reason: str, ref: Ref | None) -> None:
        if ref is not None and ref.author == me:
            out.append((reason, ref.cid))

    if isinstance(entry.body, About) and isinstance(entry.body, Reaction | Repost):
        about("reaction" if isinstance(entry.body, Reaction) else "repost", entry.body.subject)
    if content is not None and entry.kind == "post" and not content.private:
        about("reply", content.reply_to)
        about("quote", content.extras.quote)
        me_name = name_from_public(me)
        if any(m.name == me_name for m in content.extras.mentions):
            out.append(("mention", None))
    return out


def inbox_peers(value: object, what: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A profile's `inbox` field: 1 … 8 maps {peer, addrs}; InvalidNotice names the rule."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_INBOX_PEERS:
        raise InvalidNotice(f"{what}: inbox must be a list of 1 … {MAX_INBOX_PEERS} peers")
    out: list[tuple[str, tuple[str, ...]]] = []
    for i, item in enumerate(value):
        f = Fields(item, f"{what}: inbox[{i}]", InvalidNotice, frozenset({"peer", "addrs"}))
        peer = f.text("peer", MAX_PEER_ID_BYTES, 1)
        if not peer.isascii() or not peer.isalnum():
            raise f.fail("peer must be a peer ID (letters and digits)")
        addrs = tuple(f.items("addrs", MAX_PEER_ADDRS, 0))
        for a in addrs:
            if not isinstance(a, str) or not a.startswith("/") or not a.isascii() \
                    or len(a) > MAX_ADDR_BYTES or any(c.isspace() for c in a):
                raise f.fail(f"addrs: {str(a)[:80]!r} is not a multiaddr "
                             f"(ASCII, starts with /, ≤ {MAX_ADDR_BYTES} bytes)")
        if any(p == peer for p, _ in out):
            raise f.fail("peer listed twice")
        out.append((peer, addrs))
    return tuple(out)
