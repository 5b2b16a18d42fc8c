"""A minimal, independent reader of an ipfeed chain (docs/FORMAT.md sections 3 and 7), written
from the spec with other code than ipfeed's: the `dag-cbor` package, libsodium through
nacl.bindings, and hashlib. It knows the v1 post, the v2 envelope and the `post` kind only,
which is what the growth rule asks of the oldest v2 reader: every other kind is verified as
an envelope and reported as "unsupported entry (kind X)", never a reason to fail.

Not ipfeed: tests/test_v2_minimal_reader.py runs it over feeds ipfeed wrote.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dag_cbor
import nacl.bindings
import nacl.exceptions

MAX_BLOCK = 16384
DAG_CBOR_SHA256 = b"\x01\x71\x12\x20"
KIND = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
ENVELOPE = {"type", "v", "author", "seq", "prev", "skip", "created", "kind", "body", "content", "sig"}


class Rejected(Exception):
    """The feed broke a rule this reader checks."""


@dataclass
class Item:
    """What this reader shows for one chain entry."""

    seq: int
    cid: bytes
    shown: str  # "post" or "unsupported entry (kind X)"
    text: str | None = None


def skip_target(seq: int) -> int | None:
    i = seq - 1
    return None if i < 2 or i % 2 else i - (i & -i) + 1


def block_of(fetch: Callable[[bytes], bytes], cid: bytes) -> Any:
    """Fetch, check the hash, the size and the one canonical encoding; decode."""
    if cid[:4] != DAG_CBOR_SHA256 or len(cid) != 36:
        raise Rejected(f"{cid.hex()}: not a dag-cbor sha2-256 CID")
    data = fetch(cid)
    if hashlib.sha256(data).digest() != cid[4:]:
        raise Rejected(f"{cid.hex()}: bytes do not hash to the CID")
    if len(data) > MAX_BLOCK:
        raise Rejected(f"{cid.hex()}: over {MAX_BLOCK} bytes")
    try:
        obj = dag_cbor.decode(data)
    except Exception as e:  # the package's own errors for broken CBOR or CIDs
        raise Rejected(f"{cid.hex()}: not DAG-CBOR ({e})") from e
    if dag_cbor.encode(obj) != data:
        raise Rejected(f"{cid.hex()}: not canonical")
    if not isinstance(obj, dict):
        raise Rejected(f"{cid.hex()}: not a map")
    return obj


def link_bytes(value: Any) -> bytes:
    """The binary CID inside a link as the dag-cbor package decodes it."""
    return bytes(value)


def verify(obj: dict[str, Any], cid: bytes) -> None:
    """The signature over the canonical encoding without `sig`, by raw libsodium."""
    unsigned = dag_cbor.encode({k: v for k, v in obj.items() if k != "sig"})
    try:
        nacl.bindings.crypto_sign_open(obj["sig"] + unsigned, obj["author"])
    except (nacl.exceptions.BadSignatureError, TypeError, ValueError) as e:
        raise Rejected(f"{cid.hex()}: bad signature") from e


def read(fetch: Callable[[bytes], bytes], head: bytes, author: bytes) -> list[Item]:
    """Walk the chain from `head` down to seq 1 and return what to show, oldest first."""
    items: list[Item] = []
    by_seq: dict[int, bytes] = {}
    pending_skips: list[tuple[int, bytes]] = []
    cid: bytes | None = head
    expected_seq: int | None = None
    while cid is not None:
        obj = block_of(fetch, cid)
        seq = obj.get("seq")
        if type(seq) is not int or seq < 1 or (expected_seq is not None and seq != expected_seq):
            raise Rejected(f"{cid.hex()}: seq {seq!r}, expected {expected_seq}")
        if obj.get("author") != author:
            raise Rejected(f"{cid.hex()}: another author")
        if obj.get("type") == "ipfeed.post" and obj.get("v") == 1:
            shown, text = "post", obj.get("text")
        elif obj.get("type") == "ipfeed.entry" and obj.get("v") == 2:
            kind = obj.get("kind")
            if not set(obj) <= ENVELOPE or not isinstance(kind, str) or not KIND.match(kind):
                raise Rejected(f"{cid.hex()}: not an entry envelope")
            if type(obj.get("created")) is not int:
                raise Rejected(f"{cid.hex()}: created")
            shown, text = "post", None
            if obj["kind"] == "post":
                content = block_of(fetch, obj["content"])
                if content.get("type") != "ipfeed.content" or content.get("v") != 2:
                    raise Rejected(f"{cid.hex()}: its content is not a v2 content block")
                text = content.get("text")
            else:
                shown = f"unsupported entry (kind {obj['kind']})"
        else:
            raise Rejected(f"{cid.hex()}: neither a v1 post nor a v2 entry (type {obj.get('type')!r})")
        verify(obj, cid)
        if ("prev" in obj) != (seq > 1) or ("skip" in obj) != (skip_target(seq) is not None):
            raise Rejected(f"{cid.hex()}: prev or skip present where the rule says not")
        if "skip" in obj:
            pending_skips.append((skip_target(seq) or 0, link_bytes(obj["skip"])))
        by_seq[seq] = cid
        items.append(Item(seq, cid, shown, text))
        cid = link_bytes(obj["prev"]) if "prev" in obj else None
        expected_seq = seq - 1
    for target, skip in pending_skips:
        if by_seq.get(target) != skip:
            raise Rejected(f"skip to seq {target} names {skip.hex()}, not the entry at that seq")
    return list(reversed(items))
