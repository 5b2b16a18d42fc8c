"""Checks of the bench's pure helpers (`.venv/bin/pytest bench`): no daemons, no timing thresholds."""

from __future__ import annotations

import cbrrr
import pytest

from ipfeed import codec, post
from ipfeed.identity import Identity

from . import posts
from .car import car_bytes, varint
from .report import Row, p95, table


@pytest.mark.parametrize(("n", "encoded"), [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"),
                                            (300, "ac02"), (16384, "808001")])
def test_varint_matches_unsigned_varint_vectors(n: int, encoded: str) -> None:
    assert varint(n).hex() == encoded


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def test_car_holds_header_and_every_block_with_its_cid() -> None:
    chain = posts.chain(Identity.from_seed(bytes(32)), 3)
    root = codec.cid_to_bytes(chain[-1].cid)
    data = car_bytes([root], [p.block for p in chain])
    size, i = _read_varint(data, 0)
    header = cbrrr.decode_dag_cbor(data[i:i + size])
    assert header == {"version": 1, "roots": [cbrrr.CID(root)]}
    i += size
    found = []
    while i < len(data):
        size, i = _read_varint(data, i)
        cid, block = data[i:i + codec.CID_BYTES], data[i + codec.CID_BYTES:i + size]
        assert codec.cid_bytes_of(block) == cid
        found.append(post.parse(block).seq)
        i += size
    assert found == [1, 2, 3]


def test_ratios_read_as_speedups_for_rates_and_latencies() -> None:
    assert Row("r", "/s", ipfeed=50, limit=100).vs_limit == 0.5
    assert Row("l", "ms", ipfeed=20, baseline=60).vs_baseline == 3.0
    assert Row("none", "/s", limit=10).vs_limit is None


def test_p95_is_nearest_rank() -> None:
    assert p95([float(x) for x in range(1, 21)]) == 19.0
    assert p95([5.0]) == 5.0


def test_table_lists_every_case() -> None:
    out = table([Row("a case", "ms", ipfeed=1.0, baseline=2.0), Row("another", "/s", limit=3.0)])
    assert "a case" in out and "another" in out and "2.00x" in out
