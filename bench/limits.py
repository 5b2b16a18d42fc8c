"""The limits, measured in the same run: ed25519 and DAG-CBOR speed, and Kubo's own ingest rate.

Each row sets ipfeed's wrapper (identity.sign/verify, codec.encode/decode) beside the raw
library call it wraps, so the table shows what the wrapper costs.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cbrrr

from ipfeed import codec, identity, post
from ipfeed.identity import Identity

from . import posts
from .car import write_car
from .nodes import BenchNode
from .report import Row, median

Work = Callable[[], int]


def _loop(op: Callable[[], object], count: int) -> Work:
    """A work function doing `op` `count` times."""
    def work() -> int:
        for _ in range(count):
            op()
        return count
    return work


def crypto_and_codec(runs: int, scale: float) -> list[Row]:
    """Sign, verify, encode and decode one real post block: ipfeed's call against the raw library."""
    me = Identity.generate()
    p = posts.sample(me)
    obj: dict[str, Any] = codec.decode(p.block, max_size=post.MAX_POST_BYTES, what="post")
    msg = codec.encode({k: v for k, v in obj.items() if k != "sig"})
    sig: bytes = obj["sig"]
    key, vkey, public = me.signing_key, me.signing_key.verify_key, me.public
    block = p.block

    def n(count: int) -> int:
        return max(100, int(count * scale))

    pairs: dict[str, tuple[Work, Work]] = {
        "ed25519 sign, one post": (_loop(lambda: me.sign(msg), n(20_000)),
                                   _loop(lambda: key.sign(msg), n(20_000))),
        "ed25519 verify, one post": (_loop(lambda: identity.verify(public, msg, sig), n(10_000)),
                                     _loop(lambda: vkey.verify(msg, sig), n(10_000))),
        "DAG-CBOR encode (cbrrr), one post": (_loop(lambda: codec.encode(obj), n(200_000)),
                                              _loop(lambda: cbrrr.encode_dag_cbor(obj), n(200_000))),
        "DAG-CBOR decode (cbrrr), one post": (
            _loop(lambda: codec.decode(block, max_size=post.MAX_POST_BYTES, what="post"), n(200_000)),
            _loop(lambda: cbrrr.decode_dag_cbor(block), n(200_000))),
    }
    ours: dict[str, list[float]] = {k: [] for k in pairs}
    raw: dict[str, list[float]] = {k: [] for k in pairs}
    for _ in range(runs):  # interleaved, so drift on a shared machine hits both alike
        for name, (mine, lib) in pairs.items():
            ours[name].append(_rate(mine))
            raw[name].append(_rate(lib))
    detail = {"block_bytes": len(block)}
    return [Row(name, "/s", ipfeed=median(ours[name]), limit=median(raw[name]),
                detail={**detail, "ipfeed_runs": ours[name], "limit_runs": raw[name]})
            for name in pairs]


def _rate(work: Work) -> float:
    t0 = time.perf_counter()
    count = work()
    return count / (time.perf_counter() - t0)


def kubo_ingest(target: BenchNode, runs: int, count: int) -> Row:
    """Kubo's own ingest rate: `ipfs dag import` (pinning the head) of a CAR of `count` posts."""
    rates: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ipfeed-bench-car-") as tmp:
        cars: list[Path] = []
        size = 0
        for r in range(runs):  # a fresh chain per run: Kubo must not already hold the blocks
            chain = posts.chain(Identity.generate(), count)
            car = Path(tmp) / f"run{r}.car"
            size = write_car(car, [codec.cid_to_bytes(chain[-1].cid)], [p.block for p in chain])
            cars.append(car)
        warm = posts.chain(Identity.generate(), 100)  # untimed: the first import pays start-up costs
        write_car(Path(tmp) / "warm.car", [codec.cid_to_bytes(warm[-1].cid)], [p.block for p in warm])
        target.ipfs("dag", "import", "--pin-roots=true", str(Path(tmp) / "warm.car"))
        for car in cars:
            t0 = time.perf_counter()
            out = target.ipfs("dag", "import", "--stats", "--pin-roots=true", str(car))
            rates.append(count / (time.perf_counter() - t0))
            if f"Imported {count} blocks" not in out or "success" not in out:
                raise RuntimeError(f"unexpected `ipfs dag import` answer: {out.strip()!r}")
    return Row(f"Kubo dag import of {count:,} post blocks (CLI, pins head)", "/s", limit=median(rates),
               detail={"limit_runs": rates, "car_bytes": size, "blocks": count})
