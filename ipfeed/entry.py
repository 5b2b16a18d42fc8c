"""Format v2 chain entries (`ipfeed.entry`, docs/FORMAT.md section 7): one signed, sequenced
envelope for every kind, and the chain rules across v1 posts and v2 entries.

Pure. A reader verifies every envelope whatever its kind; a kind it does not know is kept as
`kinds.Unsupported`. A v1 chain goes on with v2 entries: `prev` may name a v1 post.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import codec, kinds, post
from .errors import ChainError, InvalidBlock, InvalidEntry, InvalidInput, InvalidObject
from .identity import Identity, Signatures
from .kinds import Body, Parsed, Unsupported
from .post import Post, check_signature, skip_target
from .schema import MAX_SAFE_INT, Fields, check_version

TYPE = "ipfeed.entry"
VERSION = 2
MAX_ENTRY_BYTES = 16 * 1024
_REQUIRED = frozenset({"type", "v", "author", "seq", "created", "kind", "sig"})
_OPTIONAL = frozenset({"prev", "skip", "body", "content"})


@dataclass(frozen=True)
class Entry:
    """A verified v2 chain entry and the exact block it came from."""

    cid: str
    block: bytes
    author: bytes
    seq: int
    prev: str | None
    skip: str | None
    created: int  # milliseconds since the Unix epoch, UTC; ordering uses seq
    kind: str
    body: Parsed  # a kinds dataclass, kinds.Unsupported, or None for a post
    content: str | None = None  # CID of the content block (post, edit), held as bytes

    @property
    def supported(self) -> bool:
        """Whether this ipfeed knows the entry's kind."""
        return not isinstance(self.body, Unsupported)

    def describe(self) -> str:
        """A one-line description, e.g. "post", "reaction" or "unsupported entry (kind x-poll)"."""
        return self.body.describe() if isinstance(self.body, Unsupported) else self.kind


Chained = Post | Entry  # what a feed's chain holds: v1 posts, then possibly v2 entries


@dataclass(frozen=True)
class ChainItem:
    """The uniform chain view of a v1 post or a v2 entry: what the chain rules look at."""

    cid: str
    author: bytes
    seq: int
    prev: str | None
    skip: str | None
    kind: str  # "post" for a v1 post
    version: int  # 1 for a v1 post, 2 for an entry


def chain_item(obj: Chained) -> ChainItem:
    """The chain view of a v1 post or a v2 entry."""
    if isinstance(obj, Post):
        return ChainItem(obj.cid, obj.author, obj.seq, obj.prev, obj.skip, kinds.POST, post.VERSION)
    return ChainItem(obj.cid, obj.author, obj.seq, obj.prev, obj.skip, obj.kind, VERSION)


def build_entry(identity: Identity, *, seq: int, prev: str | None, created: int, kind: str,
                body: Body | Mapping[str, Any] | None = None, content: str | None = None,
                skip: str | None = None) -> Entry:
    """Sign a new entry (its `block` and `cid` are what to store); the reader's rules apply, so
    nothing invalid is written. `body` is a kinds dataclass, or a plain mapping for a kind this
    ipfeed does not know; `content` is the CID of a content block (kinds post and edit);
    `skip` the CID of the entry at post.skip_target(seq) when that is defined."""
    obj: dict[str, Any] = {"type": TYPE, "v": VERSION, "author": identity.public, "seq": seq,
                           "created": created, "kind": kind}
    if prev is not None:
        obj["prev"] = codec.link(prev)
    if skip is not None:
        obj["skip"] = codec.link(skip)
    if (encoded := kinds.body_obj(body)) is not None:
        obj["body"] = encoded
    if content is not None:
        obj["content"] = codec.cid_to_bytes(content)
    try:
        obj["sig"] = identity.sign(codec.encode(obj))
        return parse_entry(codec.encode(obj), signed_here=True)
    except (InvalidEntry, InvalidBlock) as e:
        raise InvalidInput(str(e).replace("entry ", "cannot write entry ", 1)) from e


def parse_entry(block: bytes, cid: str | None = None, *, signed_here: bool = False,
                decoded: codec.Decoded | None = None, signatures: Signatures | None = None) -> Entry:
    """Decode and fully verify one entry block: size, canonical DAG-CBOR, the envelope's exact
    fields, its kind's body (unknown kinds: kept, body ignored), the signature and the CID if
    given. `signed_here` skips the signature, for blocks this process signed (as post.parse);
    `decoded` is the block already decoded (parse_chained); `signatures` takes the signature
    check instead (as post.parse): the entry is verified only once its `check` returns."""
    computed, what, obj = codec.open_block(block, cid, "entry", MAX_ENTRY_BYTES, decoded=decoded)
    check_version(obj, TYPE, VERSION, what, InvalidEntry)
    f = Fields(obj, what, InvalidEntry, _REQUIRED, _OPTIONAL)
    author = f.blob("author", 32)
    seq = f.integer("seq", 1)
    created = f.integer("created", 0, MAX_SAFE_INT)
    kind = f.text("kind", 32, 1)
    if not kinds.KIND.match(kind):
        raise f.fail(f"kind {kind!r} does not match [a-z][a-z0-9-]{{0,31}}")
    sig = f.blob("sig", 64)
    prev = _link(f, "prev", seq == 1, "the first entry (seq 1) must not have prev", f"seq {seq} needs prev")
    target = skip_target(seq)
    skip = _link(f, "skip", target is None, f"seq {seq} must not have skip",
                 f"seq {seq} needs skip (to seq {target})")
    content = f.cid("content") if f.has("content") else None
    if kind in kinds.KNOWN and (content is not None) != (kind in kinds.WITH_CONTENT):
        raise f.fail(f"a {kind} entry {'needs' if kind in kinds.WITH_CONTENT else 'has no'} content")
    if f.has("body") and not isinstance(obj["body"], dict):
        raise f.fail("body: not a map")
    body = kinds.parse_body(kind, obj.get("body"), author=author, seq=seq, what=what)
    if not signed_here:
        check_signature(f, obj, author, sig, signatures)
    return Entry(computed, block, author, seq, prev, skip, created, kind, body, content)


def _link(f: Fields, key: str, absent: bool, extra: str, missing: str) -> str | None:
    """A dag-cbor link that is present exactly when `absent` is false."""
    if absent:
        if f.has(key):
            raise f.fail(extra)
        return None
    if not f.has(key):
        raise f.fail(missing)
    return f.link(key, (codec.PREFIX_DAG_CBOR,))


def parse_chained(block: bytes, cid: str | None = None, *, signed_here: bool = False,
                  signatures: Signatures | None = None) -> Chained:
    """A block of a feed's chain, v1 post or v2 entry (told apart by `type`), fully verified
    (but for the signature if `signed_here`, or not yet if `signatures`, as parse_entry). The
    block is decoded once, to read `type`, and the value handed to the parser that verifies
    it; a block that does not decode is left to parse_entry, whose message says why."""
    try:
        decoded = codec.Decoded(block, codec.decode(block, max_size=MAX_ENTRY_BYTES, what="chain block"))
    except InvalidBlock:
        return parse_entry(block, cid, signed_here=signed_here)
    type_ = decoded.value.get("type") if isinstance(decoded.value, dict) else None
    return post.parse(block, cid, signed_here=signed_here, decoded=decoded, signatures=signatures) \
        if type_ == post.TYPE else \
        parse_entry(block, cid, signed_here=signed_here, decoded=decoded, signatures=signatures)


def parse_chain(blocks: Iterable[tuple[bytes, str | None]]) -> list[Chained]:
    """Many chain blocks (block, CID if known), each as parse_chained verifies it, the
    signatures checked on another core meanwhile (identity.Signatures); the first block, in
    order, that fails (its signature or anything else) is the error raised, naming it."""
    signatures = Signatures()
    out = []
    for block, cid in blocks:
        try:
            out.append(parse_chained(block, cid, signatures=signatures))
        except InvalidObject:
            if (bad := signatures.failure()) is not None:
                raise bad from None  # an earlier block's signature: a check in turn meets it first
            raise
    signatures.check()
    return out


def check_next(newer: Chained | ChainItem, older: Chained | ChainItem) -> None:
    """`older` must be exactly what `newer.prev` names, one sequence number before it, by the
    same author (v1 posts and v2 entries alike)."""
    if newer.prev != older.cid:
        raise ChainError(f"{_noun(newer)} {newer.cid}: prev is {newer.prev}, not {older.cid}")
    if older.seq != newer.seq - 1:
        raise ChainError(f"{_noun(older)} {older.cid}: seq {older.seq} does not precede {newer.seq}")
    if older.author != newer.author:
        raise ChainError(f"{_noun(older)} {older.cid}: another author than {_noun(newer)} {newer.cid}")


def check_skip(newer: Chained | ChainItem, older: Chained | ChainItem) -> None:
    """`older` must be what `newer.skip` names, at the seq skip_target gives, whatever its kind."""
    if newer.skip != older.cid:
        raise ChainError(f"{_noun(newer)} {newer.cid}: skip is {newer.skip}, not {older.cid}")
    if older.seq != skip_target(newer.seq) or older.author != newer.author:
        raise ChainError(f"{_noun(older)} {older.cid}: not the entry at seq {skip_target(newer.seq)} "
                         "of this feed")


def _noun(obj: Chained | ChainItem) -> str:
    """How messages name a chain object: "post" for a v1 post (as before v2), else "entry"."""
    return "post" if isinstance(obj, Post) or (isinstance(obj, ChainItem) and obj.version == 1) else "entry"


def is_post(obj: Chained) -> bool:
    """Whether a chain object is a post: a v1 post or a v2 entry of kind `post`."""
    return isinstance(obj, Post) or obj.kind == kinds.POST


def check_subject(entry: Entry, subject: Chained) -> None:
    """The rules of an edit or delete that need its subject at hand: the subject is the entry
    the ref names (CID and author); an edit's subject is a post (rule edit-of-post); a delete's
    subject is not a delete (rule delete-of-delete). Other kinds: nothing to check."""
    if not isinstance(entry.body, kinds.Edit | kinds.Delete):
        return
    ref = entry.body.subject
    what = f"entry {entry.cid} ({entry.kind} of {ref.cid})"
    if subject.cid != ref.cid or subject.author != ref.author:
        raise InvalidEntry(f"{what}: the subject given is {subject.cid}, not the one named")
    if isinstance(entry.body, kinds.Edit) and not is_post(subject):
        raise InvalidEntry(f"{what}: an edit's subject must be a post, not a {chain_item(subject).kind} "
                           "(rule edit-of-post)")
    if isinstance(entry.body, kinds.Delete) and isinstance(subject, Entry) and subject.kind == kinds.DELETE:
        raise InvalidEntry(f"{what}: a delete's subject must not be a delete (rule delete-of-delete)")
