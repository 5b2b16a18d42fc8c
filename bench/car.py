"""Writing CAR files for the Kubo ingest limit (the format itself lives in ipfeed.car)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from ipfeed.car import car_bytes, varint

__all__ = ["car_bytes", "varint", "write_car"]


def write_car(path: Path, roots: Sequence[bytes], blocks: Iterable[bytes]) -> int:
    """Write a CARv1 file; return its size in bytes."""
    data = car_bytes(roots, blocks)
    path.write_bytes(data)
    return len(data)
