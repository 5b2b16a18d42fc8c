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
    return b"".join([car_header(roots), *(car_section(b) for b in blocks)])


def car_header(roots: Sequence[bytes]) -> bytes:
    """The header section of a CARv1 with these roots (binary CIDs)."""
    header = codec.encode({"version": 1, "roots": [codec.Link(r) for r in roots]})
    return varint(len(header)) + header


def car_section(block: bytes) -> bytes:
    """One dag-cbor block as a CAR section (its CID computed locally)."""
    cid = codec.cid_bytes_of(block)
    return varint(len(cid) + len(block)) + cid + block


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


MAX_SECTION = 4 << 20  # bytes of one CID + block: Kubo's own blocks are at most 2 MiB


class CarReader:
    """An incremental CARv1 reader: `feed` it bytes as they arrive (a stream from a peer) and
    it returns the blocks completed so far, each checked against its CID. Only sha2-256 CIDs
    with one-byte codecs (dag-cbor, raw, dag-pb) are kept; others (identity hashes, longer
    codecs) are skipped, never trusted."""

    def __init__(self, max_section: int = MAX_SECTION) -> None:
        self.max_section = max_section
        self.roots: list[str] | None = None  # the header's roots, once it is read
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[str, bytes]]:
        """Take more bytes; return the (CID, block) pairs they complete."""
        self._buf += data
        out: list[tuple[str, bytes]] = []
        view = memoryview(self._buf)
        i = 0
        try:
            while (section := self._section(view, i)) is not None:
                start, end = section
                if self.roots is None:
                    self.roots = _header(bytes(view[start:end]))
                elif (pair := _block(view, start, end)) is not None:
                    out.append(pair)
                i = end
        finally:
            view.release()
        del self._buf[:i]
        return out

    def close(self) -> None:
        """Refuse a stream that ended without a header or in the middle of a section."""
        if self.roots is None:
            raise InvalidBlock("CAR: no header")
        if self._buf:
            raise InvalidBlock("CAR: truncated: the last section runs past the end")

    def _section(self, view: memoryview, i: int) -> tuple[int, int] | None:
        """(start, end) of the complete section at `i`, or None until more bytes come."""
        if not any(b < 0x80 for b in view[i:i + 10]):
            if len(view) - i >= 10:
                raise InvalidBlock("CAR: overlong varint")
            return None
        size, start = _varint(view, i)
        if size > self.max_section:
            raise InvalidBlock(f"CAR: a section of {size} bytes is over the limit of {self.max_section}")
        return (start, start + size) if start + size <= len(view) else None


def _header(raw: bytes) -> list[str]:
    try:
        header = cbrrr.decode_dag_cbor(raw)
    except (ValueError, cbrrr.CbrrrDecodeError) as e:
        raise InvalidBlock(f"CAR: bad header ({e})") from e
    if not isinstance(header, dict) or header.get("version") != 1:
        raise InvalidBlock("CAR: not a CARv1 archive")
    roots = header.get("roots")
    if not isinstance(roots, list):
        raise InvalidBlock("CAR: the header's roots are not a list")
    out = []
    for r in roots:
        if not isinstance(r, cbrrr.CID):
            raise InvalidBlock("CAR: a root in the header is not a link")
        out.append(codec.cid_str(r.cid_bytes))
    return out


def _block(view: memoryview, start: int, end: int) -> tuple[str, bytes] | None:
    n = _cid_length(view, start)
    if start + n > end:
        raise InvalidBlock("CAR: a CID runs past the end of its section")
    cid = bytes(view[start:start + n])
    if len(cid) != codec.CID_BYTES or cid[2:4] != b"\x12\x20":
        return None
    block = bytes(view[start + n:end])
    if cid[4:] != hashlib.sha256(block).digest():
        raise InvalidBlock(f"CAR: block {codec.cid_str(cid)} does not match its CID")
    return codec.cid_str(cid), block


def read_car(data: bytes) -> Iterator[tuple[str, bytes]]:
    """Yield (CID, block) for every sha2-256 block whose bytes match its CID; refuse the rest."""
    reader = CarReader(max_section=len(data))
    yield from reader.feed(data)
    reader.close()
