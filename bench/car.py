"""A minimal CARv1 writer: enough to hand Kubo a batch of dag-cbor blocks with `ipfs dag import`.

CARv1: varint(len(header)) + header, where header is DAG-CBOR {"version": 1, "roots": [links]};
then per block varint(len(cid) + len(block)) + binary CID + block bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cbrrr

from ipfeed import codec


def varint(n: int) -> bytes:
    """Unsigned LEB128, as multiformats' unsigned-varint."""
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def car_bytes(roots: Sequence[bytes], blocks: Iterable[bytes]) -> bytes:
    """A CARv1 of dag-cbor blocks (CIDs computed locally); `roots` are binary CIDs."""
    header = codec.encode({"version": 1, "roots": [cbrrr.CID(r) for r in roots]})
    parts = [varint(len(header)), header]
    for block in blocks:
        cid = codec.cid_bytes_of(block)
        parts += [varint(len(cid) + len(block)), cid, block]
    return b"".join(parts)


def write_car(path: Path, roots: Sequence[bytes], blocks: Iterable[bytes]) -> int:
    """Write a CARv1 file; return its size in bytes."""
    data = car_bytes(roots, blocks)
    path.write_bytes(data)
    return len(data)
