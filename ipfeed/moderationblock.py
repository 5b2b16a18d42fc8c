"""The sealed mute and block lists (FORMAT.md section 16), pure: the block that a v2 root links
to, whose content (two lists of public keys) is sealed to the owner's own key with the sealing
of private posts (private.py), so only the owner can open it; and the rules of changing them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import codec, identity, private
from .errors import InvalidInput, InvalidModeration, IpfeedError
from .feed import Root
from .identity import Identity
from .schema import Fields, check_version

TYPE = "ipfeed.moderation"
VERSION = 2
MAX_NAMES = 5000  # per list
MAX_BLOCK_BYTES = 1024 * 1024
SIZE_CLASSES = (1024, 4096, 16384, 65536, 262144, 524288)  # padded plaintext sizes others can see
MUTE, UNMUTE, BLOCK, UNBLOCK = "mute", "unmute", "block", "unblock"
ACTIONS = (MUTE, UNMUTE, BLOCK, UNBLOCK)


@dataclass(frozen=True)
class Lists:
    """The feeds the user muted and blocked (canonical names; disjoint)."""

    muted: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()

    @property
    def hidden(self) -> frozenset[str]:
        """Feeds whose posts the timeline, threads and search leave out."""
        return self.muted | self.blocked

    def state(self, name: str) -> str | None:
        """"muted", "blocked" or None for one feed."""
        return "blocked" if name in self.blocked else "muted" if name in self.muted else None


def seal_lists(me: Identity, lists: Lists) -> tuple[bytes, str]:
    """The sealed block of `lists` (only `me` can open it) and its CID."""
    for which, names in (("muted", lists.muted), ("blocked", lists.blocked)):
        if len(names) > MAX_NAMES:
            raise InvalidInput(f"at most {MAX_NAMES} {which} feeds")
    content = {"muted": sorted(identity.public_from_name(n) for n in lists.muted),
               "blocked": sorted(identity.public_from_name(n) for n in lists.blocked)}
    plain = private.pad(content, SIZE_CLASSES, "the mute and block lists")
    box = private.make_box([private.x25519_public(me.public)], plain)
    block = codec.encode({"type": TYPE, "v": VERSION, "box": box})
    check_block(block)
    return block, codec.cid_of(block)


def check_block(block: bytes, cid: str | None = None) -> dict[str, Any]:
    """The rules anyone can check of a sealed lists block (its CID, size, fields, box shape);
    the box."""
    computed = codec.cid_of(block)
    what = f"mute and block lists {cid or computed}"
    if cid is not None and cid != computed:
        raise InvalidModeration(f"{what}: block bytes hash to {computed}, not to the CID the root links")
    obj = codec.decode(block, max_size=MAX_BLOCK_BYTES, what=what)
    check_version(obj, TYPE, VERSION, what, InvalidModeration)
    Fields(obj, what, InvalidModeration, frozenset({"type", "v", "box"}))
    return private.check_box(obj["box"], what, SIZE_CLASSES, InvalidModeration)


def open_lists(me: Identity, block: bytes, cid: str | None = None) -> Lists:
    """The lists in a sealed block, for its owner; InvalidModeration if the block is broken or
    not sealed to `me`."""
    box = check_block(block, cid)
    what = f"mute and block lists {cid or codec.cid_of(block)}"
    found = private.open_plain(me, box, what, InvalidModeration)
    if found is None:
        raise InvalidModeration(f"{what}: not sealed to your key ({me.name}): they are someone "
                                "else's, and only their owner can open them")
    obj = codec.decode(found[1], max_size=SIZE_CLASSES[-1], what=f"{what}: content")
    f = Fields(obj, f"{what}: content", InvalidModeration, frozenset({"muted", "blocked", "pad"}))
    if not isinstance(f.obj["pad"], bytes) or any(f.obj["pad"]):
        raise f.fail("pad must be zero bytes")
    out: dict[str, frozenset[str]] = {}
    for which in ("muted", "blocked"):
        keys = f.items(which, MAX_NAMES, 0)
        if not all(isinstance(k, bytes) and len(k) == 32 for k in keys):
            raise f.fail(f"{which} must list 32-byte public keys")
        if any(a >= b for a, b in itertools.pairwise(keys)):
            raise f.fail(f"{which} must be sorted with no duplicates")
        out[which] = frozenset(identity.name_from_public(k) for k in keys)
    if out["muted"] & out["blocked"]:
        raise f.fail("a feed is both muted and blocked")
    if me.name in out["muted"] | out["blocked"]:
        raise f.fail("lists the owner's own feed")
    return Lists(out["muted"], out["blocked"])


def changed(lists: Lists, name: str, action: str) -> Lists:
    """The lists after one action (a block moves a muted feed; a mute of a blocked one is refused)."""
    muted, blocked = set(lists.muted), set(lists.blocked)
    if action == MUTE:
        if name in blocked:
            raise InvalidInput(f"{name} is blocked, which hides more than muting; unblock it first")
        muted.add(name)
    elif action == BLOCK:
        muted.discard(name)
        blocked.add(name)
    elif action == UNMUTE:
        muted.discard(name)
    elif action == UNBLOCK:
        blocked.discard(name)
    else:
        raise InvalidInput(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    return Lists(frozenset(muted), frozenset(blocked))


def check_restored(me: Identity, root: Root, blocks: Mapping[str, bytes], what: str) -> bytes:
    """Before a home takes a root of its own feed from elsewhere (an archive, the network): the
    sealed lists it links must be there and open with this home's key; their block."""
    assert root.moderation is not None
    block = blocks.get(root.moderation)
    if block is None:
        raise InvalidModeration(f"{what}: the mute and block lists {root.moderation} of root "
                                f"{root.cid} are missing")
    try:
        open_lists(me, block, root.moderation)
    except IpfeedError as e:
        raise InvalidModeration(f"{what}: {e}; nothing was changed") from e
    return block
