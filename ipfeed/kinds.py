"""The kinds of format v2 chain entries and their bodies (docs/FORMAT.md, section 8): parse and
build each known body; a kind this ipfeed does not know is `Unsupported`, its body ignored.

Pure. Bodies follow the growth rule: unknown fields are ignored, known ones checked strictly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import nacl.encoding
import nacl.hash

from . import codec
from .content import BIDI_CONTROLS, CONTROLS, Ref, parse_ref
from .errors import InvalidEntry
from .identity import verify
from .schema import Fields

KIND = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
POST, REACTION, REPOST, EDIT, DELETE = "post", "reaction", "repost", "edit", "delete"
RECOVERY, MIGRATION, DEVICES = "recovery", "migration", "devices"  # the identity issue (#17)
MOVED_FROM = "moved-from"  # the genesis of a feed a migration moved to (FORMAT.md section 18)
MIGRATION_SEEN = "migration-seen"  # a followed feed's migration, relayed by a follower (section 18)
KNOWN = frozenset({POST, REACTION, REPOST, EDIT, DELETE, RECOVERY, MIGRATION, DEVICES, MOVED_FROM,
                   MIGRATION_SEEN})
IDENTITY_KINDS = frozenset({RECOVERY, MIGRATION, MOVED_FROM, MIGRATION_SEEN})  # drafts carry their body
WITH_CONTENT = frozenset({POST, EDIT})  # the known kinds whose entry names a content block
DEFAULT_EMOJI = "❤"  # U+2764, what `ipfeed react` writes when no emoji is given
MAX_EMOJI_BYTES = 64
MAX_DEVICES = 32
MAX_DEVICE_LABEL_BYTES = 100
RECOVERY_PERSON = b"ipfeed-recovery"  # BLAKE2b personalisation of a recovery-key commitment
MIGRATION_TYPE = "ipfeed.migration"  # the `type` of the map a recovery key signs
_EMOJI_BAD = re.compile(f"[{CONTROLS}{BIDI_CONTROLS}\ud800-\udfff]")


@dataclass(frozen=True)
class About:
    """A body about one entry or post, its `subject` (a ref)."""

    subject: Ref


@dataclass(frozen=True)
class Reaction(About):
    """`reaction`: an emoji on a subject; per author and subject the newest (by seq) counts."""

    emoji: str = DEFAULT_EMOJI


class Repost(About):
    """`repost`: the subject shared again; counted once per author and subject."""


class Edit(About):
    """`edit`: a new version (the entry's content) of one of the author's own posts."""


class Delete(About):
    """`delete`: a tombstone for one of the author's own entries (not a delete)."""


@dataclass(frozen=True)
class Recovery:
    """`recovery`: the commitment to a recovery key (BLAKE2b-256 of its public key) and, optionally,
    the beacon key under whose IPNS name a migration is announced (section 18)."""

    commit: bytes
    beacon: bytes | None = None


@dataclass(frozen=True)
class Migration:
    """`migration`: the feed moves to key `to`, signed by the committed recovery key."""

    to: bytes
    recovery: bytes
    rsig: bytes


@dataclass(frozen=True)
class MovedFrom:
    """`moved-from`: the first entry of a feed a migration created: the recovery key's statement
    that feed `source` moved to this entry's author from seq `seq` of the old chain on."""

    source: bytes
    recovery: bytes
    seq: int
    rsig: bytes


@dataclass(frozen=True)
class MigrationSeen:
    """`migration-seen`: the five values of a migration statement of another feed (`source` moves
    to `to` from its seq `seq` on, signed `rsig` by `recovery`) that the author's home verified
    and relays to its own readers."""

    source: bytes
    to: bytes
    seq: int
    recovery: bytes
    rsig: bytes


@dataclass(frozen=True)
class Device:
    """One device key of a `devices` list and its label."""

    key: bytes
    label: str = ""


@dataclass(frozen=True)
class Devices:
    """`devices`: the author's device keys (at most 32)."""

    devices: tuple[Device, ...] = ()


@dataclass(frozen=True)
class Unsupported:
    """An entry of a kind this ipfeed does not know: kept in the chain, its body ignored."""

    kind: str

    def describe(self) -> str:
        """How readers show it."""
        return f"unsupported entry (kind {self.kind})"


Body = Reaction | Repost | Edit | Delete | Recovery | Migration | MovedFrom | MigrationSeen | Devices
Parsed = Body | Unsupported | None  # None: a `post` (its content is in the content block)


def body_obj(body: Body | Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A body as encoded in an entry (a mapping passes through: for kinds ipfeed does not know)."""
    if body is None:
        return None
    if isinstance(body, Mapping):
        return dict(body)
    if isinstance(body, Reaction):
        return {"subject": body.subject.to_obj(), "emoji": body.emoji}
    if isinstance(body, Repost | Edit | Delete):
        return {"subject": body.subject.to_obj()}
    if isinstance(body, Recovery):
        return {"commit": body.commit} | ({"beacon": body.beacon} if body.beacon is not None else {})
    if isinstance(body, MovedFrom):
        return {"from": body.source, "recovery": body.recovery, "seq": body.seq, "rsig": body.rsig}
    if isinstance(body, Migration):
        return {"to": body.to, "recovery": body.recovery, "rsig": body.rsig}
    if isinstance(body, MigrationSeen):
        return {"from": body.source, "to": body.to, "seq": body.seq, "recovery": body.recovery,
                "rsig": body.rsig}
    return {"devices": [{"key": d.key, "label": d.label} for d in body.devices]}


def parse_body(kind: str, body: object, *, author: bytes, seq: int, what: str) -> Parsed:
    """The body of an entry of `kind` (None when absent), checked by that kind's rules;
    `author` and `seq` are the entry's (for the own-subject and migration rules)."""
    if kind not in KNOWN:
        return Unsupported(kind)
    if kind == POST:
        if body is not None and not isinstance(body, dict):
            raise InvalidEntry(f"{what}: body: not a map")
        return None  # a post's body has no known fields: anything in it is ignored
    if body is None:
        raise InvalidEntry(f"{what}: a {kind} entry needs a body")
    return _PARSERS[kind](body, author, seq, f"{what}: body")


def _subject(f: Fields) -> Ref:
    return parse_ref(f.obj["subject"], f"{f.what}: subject", InvalidEntry)


def _own(f: Fields, kind: str, author: bytes) -> Ref:
    """Edits and deletes name only the author's own entries (rule `own-subject`)."""
    subject = _subject(f)
    if subject.author != author:
        raise f.fail(f"a {kind} must name one of the author's own entries, and its subject is "
                     f"{subject.cid} by another key (rule own-subject)")
    return subject


def _reaction(body: object, author: bytes, seq: int, what: str) -> Reaction:
    f = Fields(body, what, InvalidEntry, frozenset({"subject", "emoji"}), ignore_unknown=True)
    emoji = f.text("emoji", MAX_EMOJI_BYTES, 1)
    if m := _EMOJI_BAD.search(emoji):
        raise f.fail(f"emoji must not hold a control character or bidi control (U+{ord(m.group()):04X})")
    return Reaction(_subject(f), emoji)


def _repost(body: object, author: bytes, seq: int, what: str) -> Repost:
    return Repost(_subject(Fields(body, what, InvalidEntry, frozenset({"subject"}), ignore_unknown=True)))


def _edit(body: object, author: bytes, seq: int, what: str) -> Edit:
    f = Fields(body, what, InvalidEntry, frozenset({"subject"}), ignore_unknown=True)
    return Edit(_own(f, EDIT, author))


def _delete(body: object, author: bytes, seq: int, what: str) -> Delete:
    f = Fields(body, what, InvalidEntry, frozenset({"subject"}), ignore_unknown=True)
    return Delete(_own(f, DELETE, author))


def _recovery(body: object, author: bytes, seq: int, what: str) -> Recovery:
    f = Fields(body, what, InvalidEntry, frozenset({"commit"}), frozenset({"beacon"}),
               ignore_unknown=True)
    return Recovery(f.blob("commit", 32), f.blob("beacon", 32) if f.has("beacon") else None)


def _migration(body: object, author: bytes, seq: int, what: str) -> Migration:
    f = Fields(body, what, InvalidEntry, frozenset({"to", "recovery", "rsig"}), ignore_unknown=True)
    to, recovery, rsig = f.blob("to", 32), f.blob("recovery", 32), f.blob("rsig", 64)
    if to == author:
        raise f.fail("to is the feed's own key: a migration moves to another key")
    if not verify(recovery, migration_message(author, to, seq), rsig):
        raise f.fail("rsig does not verify with the recovery key (rule migration-rsig)")
    return Migration(to, recovery, rsig)


def _moved_from(body: object, author: bytes, seq: int, what: str) -> MovedFrom:
    f = Fields(body, what, InvalidEntry, frozenset({"from", "recovery", "seq", "rsig"}), ignore_unknown=True)
    source, recovery, rsig = f.blob("from", 32), f.blob("recovery", 32), f.blob("rsig", 64)
    old_seq = f.integer("seq", 1)
    if seq != 1:
        raise f.fail("a moved-from entry is the first of its feed (seq 1)")
    if source == author:
        raise f.fail("from is the feed's own key: a migration moves from another key")
    if not verify(recovery, migration_message(source, author, old_seq), rsig):
        raise f.fail("rsig does not verify with the recovery key (rule migration-rsig)")
    return MovedFrom(source, recovery, old_seq, rsig)


def _migration_seen(body: object, author: bytes, seq: int, what: str) -> MigrationSeen:
    f = Fields(body, what, InvalidEntry, frozenset({"from", "to", "seq", "recovery", "rsig"}),
               ignore_unknown=True)
    source, to = f.blob("from", 32), f.blob("to", 32)
    recovery, rsig, old_seq = f.blob("recovery", 32), f.blob("rsig", 64), f.integer("seq", 1)
    if source == to:
        raise f.fail("from and to are one key: a migration moves to another key")
    if not verify(recovery, migration_message(source, to, old_seq), rsig):
        raise f.fail("rsig does not verify with the recovery key (rule migration-rsig)")
    return MigrationSeen(source, to, old_seq, recovery, rsig)


def _devices(body: object, author: bytes, seq: int, what: str) -> Devices:
    f = Fields(body, what, InvalidEntry, frozenset({"devices"}), ignore_unknown=True)
    out: list[Device] = []
    for i, item in enumerate(f.items("devices", MAX_DEVICES, 0)):
        d = Fields(item, f"{what}: device {i}", InvalidEntry, frozenset({"key", "label"}),
                   ignore_unknown=True)
        out.append(Device(d.blob("key", 32), d.text("label", MAX_DEVICE_LABEL_BYTES)))
    if len({d.key for d in out}) != len(out):
        raise f.fail("devices lists a key twice")
    return Devices(tuple(out))


_PARSERS: dict[str, Callable[[object, bytes, int, str], Body]] = {
    REACTION: _reaction, REPOST: _repost, EDIT: _edit, DELETE: _delete,
    RECOVERY: _recovery, MIGRATION: _migration, DEVICES: _devices, MOVED_FROM: _moved_from,
    MIGRATION_SEEN: _migration_seen}


def recovery_commitment(recovery_public: bytes) -> bytes:
    """What a `recovery` entry commits to: BLAKE2b-256 of the recovery public key, personalised
    `ipfeed-recovery` (no key, zero salt; hashlib.blake2b(person=...) gives the same)."""
    return bytes(nacl.hash.blake2b(recovery_public, digest_size=32, person=RECOVERY_PERSON,
                                   encoder=nacl.encoding.RawEncoder))


def migration_message(author: bytes, to: bytes, seq: int) -> bytes:
    """The bytes a recovery key signs for a migration: canonical DAG-CBOR of
    {type: "ipfeed.migration", from, to, seq}."""
    return codec.encode({"type": MIGRATION_TYPE, "from": author, "to": to, "seq": seq})
