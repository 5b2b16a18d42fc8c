"""IPNS records, verified by ipfeed itself (the IPNS record spec), not only by Kubo: pure code."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, datetime

import cbrrr

from .codec import protobuf_fields
from .errors import InvalidBlock, InvalidRecord
from .identity import public_from_name, verify

MAX_RECORD_BYTES = 10 * 1024
_SIGNATURE_PREFIX = b"ipns-signature:"
_DATA_KEYS = {"Value", "Validity", "ValidityType", "Sequence", "TTL"}


@dataclass(frozen=True)
class Record:
    """A verified IPNS record: what a name points at, until when, and its sequence."""

    raw: bytes
    value: str  # e.g. /ipfs/bafy...
    validity: datetime  # end of life (UTC)
    sequence: int
    ttl_ns: int

    def expired(self, now: datetime | None = None) -> bool:
        """Whether the record's validity has passed."""
        return (now or datetime.now(UTC)) >= self.validity


def _protobuf(buf: bytes) -> dict[int, bytes | int]:
    """Fields of a flat protobuf message (last one wins, as protobuf says)."""
    try:
        return dict(protobuf_fields(buf, "IPNS record"))
    except InvalidBlock as e:
        raise InvalidRecord(str(e)) from e


def _rfc3339(raw: bytes) -> datetime:
    text = raw.decode("ascii", "replace")
    try:
        main, _, frac = text.rstrip("Z").partition(".")
        if not text.endswith("Z"):
            raise ValueError
        dt = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
        micros = int((frac + "000000")[:6]) if frac else 0
        return dt.replace(microsecond=micros)
    except ValueError as e:
        raise InvalidRecord(f"IPNS record: validity {text!r} is not an RFC 3339 UTC time") from e


def parse_record(raw: bytes, name: str) -> Record:
    """Verify a record for `name` by the spec: size, V2 signature, V1/V2 agreement, fields."""
    if len(raw) > MAX_RECORD_BYTES:
        raise InvalidRecord(f"IPNS record for {name}: {len(raw)} bytes, over {MAX_RECORD_BYTES}")
    return _verified(raw, name)


# A home server reads the same records again every round: the very bytes that verified once
# (a Record is immutable; expiry is the caller's check, against its clock) are not verified
# again. Room for a full follow list (5,000) and more; refusals are never cached.
@functools.lru_cache(maxsize=16384)
def _verified(raw: bytes, name: str) -> Record:
    public = public_from_name(name)
    f = _protobuf(raw)
    data, sig = f.get(9), f.get(8)
    if not isinstance(data, bytes) or not isinstance(sig, bytes):
        raise InvalidRecord(f"IPNS record for {name}: no V2 signature or data")
    if not verify(public, _SIGNATURE_PREFIX + data, sig):
        raise InvalidRecord(f"IPNS record for {name}: signature does not verify with the name's key")
    try:
        d = cbrrr.decode_dag_cbor(data)
    except (ValueError, cbrrr.CbrrrDecodeError) as e:
        raise InvalidRecord(f"IPNS record for {name}: data is not DAG-CBOR ({e})") from e
    if not isinstance(d, dict) or not set(d) >= _DATA_KEYS:
        raise InvalidRecord(f"IPNS record for {name}: data lacks {sorted(_DATA_KEYS)}")
    value, validity, vtype, seq, ttl = (d[k] for k in ("Value", "Validity", "ValidityType",
                                                       "Sequence", "TTL"))
    if not (isinstance(value, bytes) and isinstance(validity, bytes) and vtype == 0
            and type(seq) is int and type(ttl) is int and seq >= 0 and ttl >= 0):
        raise InvalidRecord(f"IPNS record for {name}: data fields have wrong types")
    for number, v1 in ((1, value), (4, validity), (3, vtype), (5, seq), (6, ttl)):
        if number in f and f[number] != v1:
            raise InvalidRecord(f"IPNS record for {name}: V1 field {number} disagrees with data")
    return Record(raw, value.decode("utf-8", "replace"), _rfc3339(validity), seq, ttl)
