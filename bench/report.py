"""Bench results: rows of figures, ratios, machine facts, the printed table and the JSON file."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import ipfeed

RESULTS = Path(__file__).parent / "results"


def median(xs: Sequence[float]) -> float:
    """The median (of runs)."""
    return float(statistics.median(xs))


def percentile(xs: Sequence[float], q: float) -> float:
    """The q-th percentile (0 < q <= 100), nearest-rank: always a measured sample."""
    ordered = sorted(xs)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def p95(xs: Sequence[float]) -> float:
    """The 95th percentile, nearest-rank (no interpolation past the worst sample)."""
    return percentile(xs, 95)


def rates(work: Callable[[], int], runs: int) -> list[float]:
    """Operations per second of `work` (which returns how many it did), once per run."""
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        n = work()
        out.append(n / (time.perf_counter() - t0))
    return out


LOWER_IS_BETTER = frozenset({"ms", "s", "trips", "MB"})  # every other unit is a rate ("/s")


@dataclass
class Row:
    """One line of the table: ipfeed's figure next to the baseline's, the limit's and a peer
    system's (SSB, Nostr), the target it is held to (if any), whether it met it, and a note
    (why, when it did not)."""

    case: str
    unit: str  # "/s" for rates (higher is better); "ms", "s", "trips", "MB" (lower is better)
    ipfeed: float | None = None
    baseline: float | None = None
    limit: float | None = None
    peer: float | None = None  # the same work done by another system (bench/peers), same run
    detail: dict[str, Any] = field(default_factory=dict)
    target: str = ""
    met: bool | None = None
    note: str = ""

    def _speedup(self, other: float | None) -> float | None:
        """How many times faster ipfeed is than `other` (>1: ipfeed faster)."""
        if self.ipfeed is None or other is None or self.ipfeed <= 0 or other <= 0:
            return None
        return other / self.ipfeed if self.unit in LOWER_IS_BETTER else self.ipfeed / other

    @property
    def vs_baseline(self) -> float | None:
        """ipfeed's speed relative to the baseline."""
        return self._speedup(self.baseline)

    @property
    def vs_limit(self) -> float | None:
        """ipfeed's speed relative to the limit."""
        return self._speedup(self.limit)

    @property
    def vs_peer(self) -> float | None:
        """ipfeed's speed relative to the peer system."""
        return self._speedup(self.peer)

    def to_json(self) -> dict[str, Any]:
        """The row with its ratios, for the JSON file."""
        return {**asdict(self), "vs_baseline": self.vs_baseline, "vs_limit": self.vs_limit,
                "vs_peer": self.vs_peer}


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.1f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "trips":
        return f"{value:g} trips"
    if unit == "MB":
        return f"{value:,.0f} MB"
    return f"{value:,.0f}/s"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _target(row: Row) -> str:
    if not row.target:
        return ""
    return f"{row.target}: {'met' if row.met else 'MISSED'}" if row.met is not None else row.target


def table(rows: Sequence[Row]) -> str:
    """The rows as an aligned plain-text table; notes are numbered and listed by `notes`. The
    peer columns are there only when some row has a peer figure."""
    peers = any(r.peer is not None for r in rows)
    head = ("case", "ipfeed", "baseline", "limit", *(("peer",) if peers else ()), "vs baseline", "vs limit",
            *(("vs peer",) if peers else ()), "target", "note")
    numbered = iter(range(1, len(rows) + 1))
    body = [(r.case, _figure(r.ipfeed, r.unit), _figure(r.baseline, r.unit), _figure(r.limit, r.unit),
             *((_figure(r.peer, r.unit),) if peers else ()), _ratio(r.vs_baseline), _ratio(r.vs_limit),
             *((_ratio(r.vs_peer),) if peers else ()), _target(r),
             f"[{next(numbered)}]" if r.note else "") for r in rows]
    widths = [max(len(line[i]) for line in (head, *body)) for i in range(len(head))]
    left = {0, len(head) - 2, len(head) - 1}  # case, target and note read left to right

    def fmt(line: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) if i in left else c.rjust(w)
                         for i, (c, w) in enumerate(zip(line, widths, strict=True))).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(head), rule, *(fmt(line) for line in body)])


def notes(rows: Sequence[Row]) -> str:
    """The rows' notes, numbered as the table's note column numbers them."""
    return "\n".join(f"[{i}] {r.note}" for i, r in enumerate((r for r in rows if r.note), 1))


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def machine(kubo: str) -> dict[str, Any]:
    """Facts about this machine and the versions measured."""
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kubo": kubo,
        "ipfeed": ipfeed.__version__,
        "pynacl": _version("pynacl"),
        "cbrrr": _version("cbrrr"),
        "aioipfs": _version("aioipfs"),
    }


def write_json(rows: Sequence[Row], info: dict[str, Any], started: dt.datetime, *,
               quick: bool, runs: int, seconds: float) -> Path:
    """Write the results under bench/results/, named by date; return the path."""
    RESULTS.mkdir(exist_ok=True)
    stamp = started.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"bench-{stamp}{'-quick' if quick else ''}.json"
    doc = {
        "date": started.isoformat(timespec="seconds"),
        "quick": quick,
        "runs": runs,
        "seconds": round(seconds, 1),
        "machine": info,
        "ratios": "vs_* = how many times faster ipfeed is (>1: ipfeed faster); figures are medians of runs; "
                  "peer = the same work done by SSB or Nostr (bench/peers) in the same run",
        "rows": [r.to_json() for r in rows],
    }
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return path
