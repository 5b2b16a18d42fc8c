"""CARv1 archives (what `ipfs dag export` streams and `dag import` takes): pure code; every
block read is checked against its CID.

Layout: varint(len(header)) + header, the header being DAG-CBOR {"version": 1, "roots": [links]};
then, per block, varint(len(cid) + len(block)) + binary CID + block bytes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence

import cbrrr

from . import codec
from .errors import InvalidBlock


def varint(n: int) -> bytes:
    """Unsigned LEB128 (multiformats' unsigned-varint)."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if not n:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def car_bytes(roots: Sequence[bytes], blocks: Iterable[bytes]) -> bytes:
    """A CARv1 of dag-cbor blocks (CIDs computed locally); `roots` are binary CIDs."""
    header = codec.encode({"version": 1, "roots": [codec.Link(r) for r in roots]})
    parts = [varint(len(header)), header]
    for block in blocks:
        cid = codec.cid_bytes_of(block)
        parts += [varint(len(cid) + len(block)), cid, block]
    return b"".join(parts)


def _varint(buf: bytes | memoryview, i: int) -> tuple[int, int]:
    return codec.read_varint(buf, i, "CAR")


def _cid_length(buf: memoryview, i: int) -> int:
    """Length of the binary CID starting at `i` (CIDv1: version, codec, multihash)."""
    start = i
    version, i = _varint(buf, i)
    if version != 1:
        raise InvalidBlock("CAR: only CIDv1 blocks are accepted")
    _codec, i = _varint(buf, i)
    _hash, i = _varint(buf, i)
    size, i = _varint(buf, i)
    return i + size - start


def read_car(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield (CID, block) for every sha2-256 block whose bytes match its CID; refuse the rest."""
    view = memoryview(data)
    size, i = _varint(view, 0)
    try:
        header = cbrrr.decode_dag_cbor(bytes(view[i:i + size]))
    except (ValueError, cbrrr.CbrrrDecodeError) as e:
        raise InvalidBlock(f"CAR: bad header ({e})") from e
    if not isinstance(header, dict) or header.get("version") != 1:
        raise InvalidBlock("CAR: not a CARv1 archive")
    i += size
    while i < len(view):
        size, i = _varint(view, i)
        end = i + size
        if end > len(view):
            raise InvalidBlock("CAR: a section runs past the end")
        n = _cid_length(view, i)
        cid = bytes(view[i:i + n])
        block = bytes(view[i + n:end])
        # Only sha2-256 CIDs with one-byte codecs (dag-cbor, raw, dag-pb) are kept; others
        # (identity hashes, longer codecs) are skipped, never trusted.
        if len(cid) == codec.CID_BYTES and cid[2:4] == b"\x12\x20":
            if cid[4:] != hashlib.sha256(block).digest():
                raise InvalidBlock(f"CAR: block {codec.cid_str(cid)} does not match its CID")
            yield codec.cid_str(cid), block
        i = end
