"""Which Kubo RPC calls ipfeed makes, and when: for counting sequential round trips and for
splitting a case's time into the node's part and ipfeed's own."""

from __future__ import annotations

import bisect
import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ipfeed.ipfs import Kubo


@dataclass(frozen=True)
class Call:
    """One call to the node: the Kubo method's name, its start and end (perf_counter seconds)."""

    name: str
    start: float
    end: float

    @property
    def seconds(self) -> float:
        """How long the call took."""
        return self.end - self.start


def sequential(calls: Sequence[Call]) -> int:
    """The longest chain of calls each starting after the one before ended: the round trips
    a reader waits for one after another (calls that overlap count once)."""
    ordered = sorted(calls, key=lambda c: c.end)
    ends = [c.end for c in ordered]
    best: list[int] = []  # best[i]: the longest chain among ordered[:i + 1]
    for c in ordered:
        before = min(bisect.bisect_right(ends, c.start), len(best))  # these all ended before c began
        depth = 1 + (best[before - 1] if before else 0)
        best.append(max(depth, best[-1] if best else 0))
    return best[-1] if best else 0


def total(calls: Sequence[Call], name: str) -> float:
    """Seconds spent in calls of one method (summed, so overlapping calls count twice)."""
    return sum(c.seconds for c in calls if c.name == name)


def waited(calls: Sequence[Call]) -> float:
    """Seconds during which at least one call was under way (overlapping calls count once)."""
    out = 0.0
    start = end = None
    for c in sorted(calls, key=lambda c: c.start):
        if end is None or c.start > end:
            if end is not None and start is not None:
                out += end - start
            start, end = c.start, c.end
        else:
            end = max(end, c.end)
    if end is not None and start is not None:
        out += end - start
    return out


def summary(calls: Sequence[Call]) -> str:
    """The calls by method, most time first: `block_get x1000 (20.1 s summed, 20.1 ms each)`."""
    by: dict[str, list[float]] = {}
    for c in calls:
        by.setdefault(c.name, []).append(c.seconds)
    return ", ".join(f"{name} x{len(xs)} ({sum(xs):.2f} s summed, {sum(xs) / len(xs) * 1000:.1f} ms each)"
                     for name, xs in sorted(by.items(), key=lambda kv: -sum(kv[1])))


def _wrap(name: str, method: Callable[..., Awaitable[Any]], into: list[Call]) -> Callable[..., Any]:
    @functools.wraps(method)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            into.append(Call(name, t0, time.perf_counter()))
    return timed


@contextmanager
def recorded() -> Iterator[list[Call]]:
    """Record every public Kubo RPC method call made inside the block (all Kubo instances)."""
    calls: list[Call] = []
    originals = {k: v for k, v in vars(Kubo).items()
                 if not k.startswith("_") and inspect.iscoroutinefunction(v)}
    try:
        for k, v in originals.items():
            setattr(Kubo, k, _wrap(k, v, calls))
        yield calls
    finally:
        for k, v in originals.items():
            setattr(Kubo, k, v)
