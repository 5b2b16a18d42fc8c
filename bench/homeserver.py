"""A home server following many feeds: the time of a sync round, ipfeed's and Kubo's memory.

The sync rounds run in a separate `python -m bench.homeserver HOME API ROUNDS` process, so its
peak memory is the home server's alone, not the benchmark's.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ipfeed import feed
from ipfeed.car import car_bytes
from ipfeed.identity import Identity
from ipfeed.ipfs import Kubo
from ipfeed.keys import ensure_node_key
from ipfeed.service import Service, now_ms

from . import cli, posts
from .homes import NODE_TIMEOUT, new_home, set_follows
from .nodes import BenchNode, bench_settings, proc_memory_mb
from .report import Row, median

TARGET_MB = 300.0
STEADY_ROUNDS = 3  # rounds with nothing new, after the first
CLI_FEEDS = 5  # feeds the CLI baseline handles per run (extrapolated to all)
CHILD_TIMEOUT = 900.0
ROOT = Path(__file__).resolve().parent.parent


async def _publish_feeds(a: BenchNode, count: int) -> list[str]:
    """`count` identities with 1-3 posts each, all published from node A; their names."""
    ids = [Identity.generate() for _ in range(count)]
    blocks: list[bytes] = []
    roots: list[feed.Root] = []
    for i, me in enumerate(ids):
        chain = posts.chain(me, 1 + i % 3)
        root = feed.advance(me, None, updated=now_ms(), heads=[p.cid for p in chain])
        blocks += [*(p.block for p in chain), root.block]
        roots.append(root)
    s = a.settings
    async with Kubo(a.api, NODE_TIMEOUT) as kubo:
        await kubo.dag_import(car_bytes([], blocks), timeout=NODE_TIMEOUT)
        sem = asyncio.Semaphore(8)

        async def publish(me: Identity, root: feed.Root) -> None:
            async with sem:
                key = await ensure_node_key(kubo, me)
                await kubo.name_publish(key, root.cid, lifetime=s.ipns_lifetime, ttl=s.ipns_ttl)
        await asyncio.gather(*(publish(m, r) for m, r in zip(ids, roots, strict=True)))
    return [m.name for m in ids]


def _forget(b: BenchNode) -> None:
    """Unpin everything on node B and collect garbage: the next run fetches every feed again."""
    for kind in ("recursive", "direct"):
        pinned = b.ipfs("pin", "ls", f"--type={kind}", "--quiet").split()
        if pinned:
            b.ipfs("pin", "rm", *pinned)
    b.ipfs("repo", "gc", "--quiet")


def _child(home: Path, api: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "bench.homeserver", str(home), api, str(STEADY_ROUNDS)],
                         cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                         timeout=CHILD_TIMEOUT, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"the home server process failed: {out.stderr.strip()[-2000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _cli_rounds(b: BenchNode, names: Sequence[str]) -> tuple[float, float]:
    """Seconds per feed of a shell loop doing what a sync round does: `ipfs name resolve` and
    `ipfs pin add` (which fetches the feed) for feeds not seen yet, then a second round of
    `ipfs name resolve` with nothing new."""
    t0 = time.perf_counter()
    for name in names:
        b.ipfs("pin", "add", cli.resolve(b, name))
    t1 = time.perf_counter()
    for name in names:
        cli.resolve(b, name)
    return (t1 - t0) / len(names), (time.perf_counter() - t1) / len(names)


def home_server(a: BenchNode, b: BenchNode, work: Path, count: int, runs: int) -> list[Row]:
    """A fresh home on node B following `count` feeds published from node A: a first sync
    round, then rounds with nothing new; a fresh home and a cleared node B every run."""
    kubo_idle, _ = b.rss_mb()
    names = asyncio.run(_publish_feeds(a, count))
    results: list[dict[str, Any]] = []
    cli_first: list[float] = []
    cli_steady: list[float] = []
    for r in range(runs):
        reader = new_home(work / f"home-server-{r}", b)
        set_follows(reader, names)
        asyncio.run(reader.service.publish())
        results.append(_child(reader.settings.home, b.api))
        _forget(b)
        first, steady = _cli_rounds(b, names[r * CLI_FEEDS:(r + 1) * CLI_FEEDS])
        cli_first.append(first * count)
        cli_steady.append(steady * count)
        _forget(b)
    kubo_rss, kubo_peak = b.rss_mb()
    errors = sum(x["errors"] for x in results)
    if errors or any(x["new_posts"] != sum(1 + i % 3 for i in range(count)) for x in results):
        raise RuntimeError(f"home server runs: {[(x['errors'], x['new_posts']) for x in results]}")
    name = f"home server following {count:,} feeds"
    detail = {"feeds": count, "runs": results, "baseline_feeds": CLI_FEEDS,
              "baseline": "a shell loop of `ipfs name resolve` + `ipfs pin add` per feed, extrapolated"}
    hwm = median([x["hwm_mb"] for x in results])
    return [
        Row(f"{name}: first sync round (all new)", "s", ipfeed=median([x["first_s"] for x in results]),
            baseline=median(cli_first), detail=detail),
        Row(f"{name}: sync round with nothing new", "s",
            ipfeed=median([median(x["steady_s"]) for x in results]), baseline=median(cli_steady),
            detail={"feeds": count}),
        Row(f"{name}: ipfeed process peak RSS", "MB", ipfeed=hwm,
            baseline=median([x["idle_mb"] for x in results]),
            detail={"feeds": count, "baseline": "the same process before its first sync"},
            target=f"<= {TARGET_MB:.0f} MB", met=hwm <= TARGET_MB),
        Row(f"{name}: Kubo daemon RSS", "MB", ipfeed=kubo_rss, baseline=kubo_idle,
            detail={"feeds": count, "peak_mb": kubo_peak, "baseline": "the same daemon before the case"}),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    """The home server's sync rounds in a process of their own; prints one JSON line."""
    home, api, rounds = argv or sys.argv[1:]
    svc = Service(bench_settings(Path(home)).with_(api=api))
    idle, _ = proc_memory_mb()
    t0 = time.perf_counter()
    results = asyncio.run(svc.sync())
    first = time.perf_counter() - t0
    steady = []
    for _ in range(int(rounds)):
        t0 = time.perf_counter()
        again = asyncio.run(svc.sync())
        steady.append(time.perf_counter() - t0)
        results += [r for r in again if r.error]
    rss, hwm = proc_memory_mb()
    print(json.dumps({"first_s": first, "steady_s": steady, "idle_mb": idle, "rss_mb": rss, "hwm_mb": hwm,
                      "errors": sum(1 for r in results if r.error),
                      "new_posts": sum(r.new_posts for r in results)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
