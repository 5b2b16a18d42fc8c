"""An independent reader of ipfeed's recovery and migration rules (docs/FORMAT.md sections 8
and 18), written from the spec with other code than ipfeed's: the `dag-cbor` package, libsodium
through nacl.bindings, hashlib and the multiformats package.

Not ipfeed: tests/test_migration_vectors.py runs it over the vectors ipfeed built.
"""

from __future__ import annotations

import hashlib
from typing import Any

import dag_cbor
import nacl.bindings
import nacl.exceptions
from multiformats import CID


class Rejected(Exception):
    """An object broke a rule this reader checks."""


def commitment(recovery_public: bytes) -> bytes:
    """BLAKE2b-256, personalisation `ipfeed-recovery` (section 8)."""
    return hashlib.blake2b(recovery_public, digest_size=32, person=b"ipfeed-recovery").digest()


def statement(source: bytes, to: bytes, seq: int) -> bytes:
    """What a recovery key signs (section 8)."""
    return bytes(dag_cbor.encode({"type": "ipfeed.migration", "from": source, "to": to, "seq": seq}))


def signed(public: bytes, message: bytes, sig: bytes) -> bool:
    try:
        nacl.bindings.crypto_sign_open(sig + message, public)  # raw libsodium, combined form
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def counts(feed: bytes, first: dict[str, Any] | None, c: dict[str, Any]) -> bool:
    """Whether one claim counts for `feed` against its earliest commitment (section 18, rule 2)."""
    h = bytes.fromhex
    source, to, recovery = h(c["from"]), h(c["to"]), h(c["recovery"])
    return (
        first is not None
        and source == feed
        and to != feed
        and commitment(recovery) == h(first["commit"])
        and c["seq"] > first["seq"]
        and signed(recovery, statement(source, to, c["seq"]), h(c["rsig"]))
    )


def decide(
    feed: bytes, commitments: list[dict[str, Any]], claims: list[dict[str, Any]]
) -> tuple[int | None, bool, int | None]:
    """(index of the winning claim, competing, the first seq not the owner's)."""
    first = min(commitments, key=lambda c: c["seq"]) if commitments else None
    good = [(c["seq"], bytes.fromhex(c["to"]), i) for i, c in enumerate(claims) if counts(feed, first, c)]
    if not good:
        return None, False, None
    seq, _, i = min(good)
    return i, len({to for _, to, _ in good}) > 1, seq


def read_entry(block: bytes, cid: str) -> dict[str, Any]:
    """Check one entry block against its CID, its encoding and its signature; return it."""
    c = CID.decode(cid)
    if (
        c.codec.name != "dag-cbor"
        or c.hashfun.name != "sha2-256"
        or c.raw_digest != hashlib.sha256(block).digest()
    ):
        raise Rejected(f"{cid}: bytes do not hash to the CID")
    obj = dag_cbor.decode(block)
    if not isinstance(obj, dict) or bytes(dag_cbor.encode(obj)) != block:
        raise Rejected(f"{cid}: not canonical DAG-CBOR")
    if obj.get("type") != "ipfeed.entry" or obj.get("v") != 2:
        raise Rejected(f"{cid}: not a v2 entry")
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    if not signed(obj["author"], bytes(dag_cbor.encode(unsigned)), obj["sig"]):
        raise Rejected(f"{cid}: bad signature")
    return obj


def read_moved_from(block: bytes, cid: str) -> dict[str, Any]:
    """A new feed's genesis as a migration claim (section 18); Rejected unless valid."""
    e = read_entry(block, cid)
    if e["kind"] != "moved-from" or e["seq"] != 1 or "prev" in e:
        raise Rejected(f"{cid}: not a moved-from genesis")
    b = e["body"]
    if b["from"] == e["author"] or not signed(
        b["recovery"], statement(b["from"], e["author"], b["seq"]), b["rsig"]
    ):
        raise Rejected(f"{cid}: rsig does not verify (rule migration-rsig)")
    return {
        "from": b["from"].hex(),
        "to": e["author"].hex(),
        "seq": b["seq"],
        "recovery": b["recovery"].hex(),
        "rsig": b["rsig"].hex(),
    }


def read_migration_seen(block: bytes, cid: str) -> dict[str, Any]:
    """A follower's relayed statement (section 18) as a migration claim; Rejected unless valid."""
    e = read_entry(block, cid)
    if e["kind"] != "migration-seen":
        raise Rejected(f"{cid}: not a migration-seen entry")
    b = e["body"]
    if b["from"] == b["to"] or not signed(b["recovery"], statement(b["from"], b["to"], b["seq"]), b["rsig"]):
        raise Rejected(f"{cid}: rsig does not verify (rule migration-rsig)")
    return {
        k: b[k].hex() if isinstance(b[k], bytes) else b[k] for k in ("from", "to", "seq", "recovery", "rsig")
    }
