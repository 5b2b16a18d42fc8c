"""The newest 20 posts of a large feed on a node that has never seen it: how many round trips."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

from . import calls, cli
from .homes import Home, newest_root
from .nodes import BenchNode
from .report import Row, median

PAGE = 20
TARGET = 4  # sequential round trips after the name resolves
RESOLVE = frozenset({"name_resolve", "name_get"})  # the calls that resolve a name


def cold_show(c: BenchNode, home: Home, n: int, runs: int) -> list[Row]:
    """`Service.show(name, 20)` on node C after a garbage collection (so cold every run), and
    the CLI walk on the same cold node as the baseline."""
    return asyncio.run(_cold_show(c, home, n, runs))


async def _cold_show(c: BenchNode, home: Home, n: int, runs: int) -> list[Row]:
    trips: list[int] = []
    wall: list[float] = []
    after: list[float] = []
    cli_wall: list[float] = []
    kinds: Counter[str] = Counter()
    head = newest_root(home).head
    for _ in range(runs):
        c.ipfs("repo", "gc")  # C forgets every block it fetched (it pins none of them)
        with calls.recorded() as seen:
            t0 = time.perf_counter()
            view = await c.service.show(home.name, PAGE)
            t1 = time.perf_counter()
        if len(view.posts) != PAGE or view.posts[0].cid != head:
            raise RuntimeError(f"show on the cold node returned {len(view.posts)} posts, newest "
                               f"{view.posts[0].cid if view.posts else None}, not {head}")
        resolved = max(x.end for x in seen if x.name in RESOLVE)
        later = [x for x in seen if x.start >= resolved]
        kinds = Counter(x.name for x in later)
        trips.append(calls.sequential(later))
        wall.append((t1 - t0) * 1000)
        after.append((t1 - resolved) * 1000)
        c.ipfs("repo", "gc")
        w = cli.walk(c, home.name, PAGE)
        cli_wall.append((w.resolve_s + w.posts_s) * 1000)
    name = f"newest {PAGE} posts of a {n:,}-post feed on a cold node"
    got = median(trips)
    calls_text = ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items()))
    return [
        Row(f"{name}: sequential round trips after the name resolves", "trips", ipfeed=got,
            baseline=1 + PAGE, detail={"posts": n, "runs": trips, "calls_after_resolve": dict(kinds),
                                       "baseline": "CLI: dag get of the root, then of each post along prev"},
            target=f"<= {TARGET}", met=got <= TARGET,
            note=f"calls after the resolve: {calls_text}, {c.settings.fetch_concurrency} at a time."),
        Row(f"{name}: wall time, resolve included", "ms", ipfeed=median(wall), baseline=median(cli_wall),
            detail={"posts": n, "ms": wall, "after_resolve_ms": after, "baseline_ms": cli_wall}),
    ]
