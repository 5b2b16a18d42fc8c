"""Canonical DAG-CBOR and CIDs: the pure byte layer every signed object rests on.

Encoding is cbrrr's (canonical DAG-CBOR, C speed); decoding is strict and then checked by
re-encoding, so only the one canonical encoding of a value is ever accepted. Links inside
objects are CIDv1 with a sha2-256 multihash; they are checked as bytes on the hot path and
parsed with multiformats where a person typed them.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
from typing import Any

import cbrrr
from multiformats import CID

from .errors import InvalidBlock, InvalidInput

Link = cbrrr.CID

# Binary CID prefixes: version 1, codec, sha2-256 (0x12), 32-byte digest (0x20).
PREFIX_DAG_CBOR = b"\x01\x71\x12\x20"
PREFIX_RAW = b"\x01\x55\x12\x20"
PREFIX_DAG_PB = b"\x01\x70\x12\x20"
FILE_PREFIXES = (PREFIX_RAW, PREFIX_DAG_PB)  # what `ipfs add --cid-version=1` yields
CID_BYTES = 36
_KNOWN_PREFIXES = frozenset((PREFIX_DAG_CBOR, PREFIX_RAW, PREFIX_DAG_PB))


def encode(obj: Any) -> bytes:
    """Canonical DAG-CBOR bytes of a value."""
    return bytes(cbrrr.encode_dag_cbor(obj))


def decode(data: bytes, *, max_size: int, what: str) -> Any:
    """Decode canonical DAG-CBOR, refusing oversize or non-canonical bytes, or a link that does
    not hold a well-formed CIDv1, before use."""
    if len(data) > max_size:
        raise InvalidBlock(f"{what}: {len(data)} bytes is over the limit of {max_size}")
    try:
        value = cbrrr.decode_dag_cbor(data, cid_ctor=_checked_link)
    except _BadLink as e:
        raise InvalidBlock(f"{what}: a link (tag 42) {e}") from e
    except (ValueError, cbrrr.CbrrrDecodeError, RecursionError) as e:
        raise InvalidBlock(f"{what}: not valid DAG-CBOR ({e})") from e
    if encode(value) != data:
        raise InvalidBlock(f"{what}: not the canonical DAG-CBOR encoding")
    return value


def open_block(block: bytes, cid: str | None, noun: str, max_size: int, *,
               decoded: Decoded | None = None) -> tuple[str, str, Any]:
    """(computed CID, "noun CID" for messages, decoded value) of a block that must hash to
    `cid` when given, checked by `decode` (or taken from `decoded`, what `decode` gave for
    these very bytes within `max_size`): how every object validator starts."""
    computed = cid_of(block)
    what = f"{noun} {cid or computed}"
    if cid is not None and cid != computed:
        raise InvalidBlock(f"{what}: block bytes hash to {computed}")
    return computed, what, decoded_value(block, max_size, what, decoded)


class Decoded:
    """What `decode` gave for one block's bytes, to pass on to the validator that decides
    what the block is, so that one block is decoded (and re-encoded to check it) only once."""

    __slots__ = ("block", "value")

    def __init__(self, block: bytes, value: Any) -> None:
        self.block = block
        self.value = value


def decoded_value(block: bytes, max_size: int, what: str, decoded: Decoded | None) -> Any:
    """`decode(block)`, or the value in `decoded` if it was decoded from these same bytes."""
    if decoded is not None and decoded.block is block and len(block) <= max_size:
        return decoded.value
    return decode(block, max_size=max_size, what=what)


class _BadLink(ValueError):
    """A tag 42 whose bytes after the 00 prefix are not a binary CIDv1."""


def _checked_link(raw: bytes) -> Link:
    """cbrrr's constructor for each link it decodes (it has checked only the 00 prefix): the
    rest must be a binary CIDv1: version 1, then varints codec, multihash code and digest
    length, then exactly that many digest bytes. CIDv0 (a bare multihash) is not allowed."""
    usual = len(raw) == CID_BYTES and raw[:4] in _KNOWN_PREFIXES  # fast path
    if not usual and (problem := _cid_v1_problem(raw)):
        raise _BadLink(problem)
    return Link(raw)


def _cid_v1_problem(raw: bytes) -> str | None:
    if not raw:
        return "holds no CID after its 00 prefix"
    if raw[0] == 0x12 and raw[1:2] == b"\x20":
        return "holds a CIDv0 (a bare sha2-256 multihash); only CIDv1 is allowed"
    try:
        version, i = _minimal_varint(raw, 0)
        if version != 1:
            return f"holds a CID of version {version}, not 1"
        _, i = _minimal_varint(raw, i)  # codec
        _, i = _minimal_varint(raw, i)  # multihash code
        size, i = _minimal_varint(raw, i)
    except _BadLink as e:
        return str(e)
    if len(raw) - i != size:
        return f"holds a CID whose digest is {len(raw) - i} bytes, not the {size} its multihash declares"
    return None


def _minimal_varint(raw: bytes, i: int) -> tuple[int, int]:
    """An unsigned varint inside a CID: present, at most 9 bytes, minimally encoded."""
    value = shift = 0
    start = i
    while True:
        if i >= len(raw) or i - start >= 9:
            raise _BadLink("holds a CID with a truncated or overlong varint")
        b = raw[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            if b == 0 and i - start > 1:
                raise _BadLink("holds a CID with a varint that is not minimally encoded")
            return value, i


def read_varint(buf: bytes | memoryview, i: int, what: str) -> tuple[int, int]:
    """An unsigned varint (LEB128) at `i`: (value, index after it)."""
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise InvalidBlock(f"{what}: truncated or overlong varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def protobuf_fields(buf: bytes, what: str) -> list[tuple[int, bytes | int]]:
    """(field number, value) of each field of a protobuf message, in order (repeated fields
    repeat); only varints and length-delimited bytes, which is all IPNS records and dag-pb use."""
    out: list[tuple[int, bytes | int]] = []
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i, what)
        number, wire = key >> 3, key & 7
        value: bytes | int
        if wire == 0:
            value, i = read_varint(buf, i, what)
        elif wire == 2:
            size, i = read_varint(buf, i, what)
            if i + size > len(buf):
                raise InvalidBlock(f"{what}: field runs past the end")
            value, i = buf[i:i + size], i + size
        else:
            raise InvalidBlock(f"{what}: unsupported wire type {wire}")
        out.append((number, value))
    return out


def cid_bytes_of(data: bytes) -> bytes:
    """Binary CIDv1 (dag-cbor, sha2-256) of a block."""
    return PREFIX_DAG_CBOR + hashlib.sha256(data).digest()


_B32 = "abcdefghijklmnopqrstuvwxyz234567"
_PAIRS = [a + b for a in _B32 for b in _B32]  # every 10 bits as two base32 characters
_TO_INT_DIGITS = str.maketrans(_B32 + "0189", "0123456789abcdefghijklmnopqrstuv" + "zzzz")  # z: not a digit


def base32(data: bytes) -> str:
    """RFC 4648 base32, lower case, unpadded (multibase `b` without its prefix), ten bits at a
    time: a third of `base64.b32encode`'s time (CIDs and flatfs file names are made per block)."""
    chars = -(-8 * len(data) // 5)
    bits = 5 * (chars + chars % 2)  # whole pairs of characters; the bits past the data are zero
    n = int.from_bytes(data, "big") << (bits - 8 * len(data))
    return "".join([_PAIRS[(n >> s) & 1023] for s in range(bits - 10, -1, -10)])[:chars]


@functools.lru_cache(maxsize=4096)
def cid_str(cid_bytes: bytes) -> str:
    """The canonical text form of a binary CID: multibase base32, lower case."""
    return "b" + base32(cid_bytes)


def cid_of(data: bytes) -> str:
    """CIDv1 (dag-cbor, sha2-256, base32) of a block, computed locally."""
    return cid_str(cid_bytes_of(data))


def link_of(data: bytes) -> Link:
    """A DAG-CBOR link (tag 42) to a dag-cbor block."""
    return Link(cid_bytes_of(data))


def link(cid: str) -> Link:
    """A DAG-CBOR link to a CID given in canonical text form."""
    return Link(cid_to_bytes(cid))


@functools.lru_cache(maxsize=4096)
def cid_to_bytes(cid: str) -> bytes:
    """Binary form of a base32 CIDv1 (the form ipfeed writes)."""
    if not cid.startswith("b"):
        raise InvalidInput(f"{cid!r} is not a base32 CIDv1")
    if len(cid) == 59 and cid.isalnum() and cid.islower():  # 36 bytes, as cid_str writes them
        try:
            n = int(cid[1:].translate(_TO_INT_DIGITS), 32)  # int() reads base 32 in C, digits 0-9a-v
        except ValueError as e:
            raise InvalidInput(f"{cid!r} is not a base32 CIDv1") from e
        if not n & 3:
            return (n >> 2).to_bytes(CID_BYTES, "big")
    body = cid[1:].upper()
    try:
        return base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError as e:
        raise InvalidInput(f"{cid!r} is not a base32 CIDv1") from e


def check_cid_bytes(raw: object, prefixes: tuple[bytes, ...], what: str) -> str:
    """Check that raw bytes are a CIDv1 sha2-256 with one of the given codecs; return its text."""
    if not isinstance(raw, bytes) or len(raw) != CID_BYTES or raw[:4] not in prefixes:
        raise InvalidBlock(f"{what}: not a CIDv1 sha2-256 of an allowed codec")
    return cid_str(raw)


def check_link(value: object, prefixes: tuple[bytes, ...], what: str) -> str:
    """Check a DAG-CBOR link (tag 42) like check_cid_bytes; return its text."""
    if not isinstance(value, Link):
        raise InvalidBlock(f"{what}: not a link")
    return check_cid_bytes(bytes(value.cid_bytes), prefixes, what)


def parse_cid(text: str, prefixes: tuple[bytes, ...] = (PREFIX_DAG_CBOR,)) -> str:
    """Parse a CID a person typed (any multibase, `/ipfs/` allowed); return canonical text.
    Anything else, however broken, is InvalidInput with a message for a person."""
    text = text.strip().removeprefix("/ipfs/").split("/")[0]
    if len(text) == 59 and text.startswith("b") and text.isalnum() and text.islower():
        # The form ipfeed writes (every IPNS record of a feed): read without multiformats,
        # ~1 ms a CID here, once per followed feed per round otherwise.
        with contextlib.suppress(InvalidInput):
            raw = cid_to_bytes(text)
            if raw[:4] in prefixes and cid_str(raw) == text:
                return text
    shown = shorten(text)
    kinds = ", ".join(_CODEC_NAMES[p] for p in prefixes)
    try:
        cid = CID.decode(text)
        raw = bytes(cid.set(version=1)) if cid.version == 0 else bytes(cid)
    except Exception as e:  # multiformats raises IndexError, KeyError, ValueError, … on junk
        raise InvalidInput(f"{shown} is not a CID (a {kinds} CID looks like "
                           f"{_LOOKS_LIKE[prefixes[0]]})") from e
    if raw[:4] not in prefixes or len(raw) != CID_BYTES:
        if raw[1:2] == b"\x72":
            raise InvalidInput(f"{shown} is an IPNS name, not the CID of a {kinds} block")
        raise InvalidInput(f"{shown} is not a CIDv1 sha2-256 of a {kinds} block")
    return cid_str(raw)


def shorten(text: str, limit: int = 64) -> str:
    """Something a person typed, quoted for an error message: escaped, on one line, not too long."""
    return repr(text if len(text) <= limit else text[:limit] + "…")


_CODEC_NAMES = {PREFIX_DAG_CBOR: "dag-cbor", PREFIX_RAW: "raw", PREFIX_DAG_PB: "dag-pb"}
_LOOKS_LIKE = {PREFIX_DAG_CBOR: "bafyrei…", PREFIX_RAW: "bafkrei…", PREFIX_DAG_PB: "bafybei…"}
