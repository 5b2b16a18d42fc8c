"""Propagation: Alice posts on node A; how soon Bob's home server on node B shows the post."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from ipfeed.config import Settings
from ipfeed.identity import Identity

from . import cli
from .homes import Home, new_home
from .nodes import BenchNode
from .posts import texts
from .report import Row, median, p95

DEADLINE = 30.0  # seconds one post may take to show before the case fails
TARGET_MS = 1000.0  # p50


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> int:
    """Await `check()` until it is true (at most DEADLINE seconds); how many tries it took."""
    deadline = time.perf_counter() + DEADLINE
    tries = 0
    while True:
        tries += 1
        if await check():
            return tries
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what} did not show within {DEADLINE:g} s")


def propagation(a: BenchNode, b: BenchNode, work: Path, runs: int, per_run: int) -> list[Row]:
    """Bob syncs Alice back to back after each of her posts: the delay of the polling design
    when the poll comes at once. The CLI baseline polls `ipfs name resolve` the same way."""
    return asyncio.run(_propagation(a, b, work, runs, per_run))


async def _propagation(a: BenchNode, b: BenchNode, work: Path, runs: int, per_run: int) -> list[Row]:
    interval = Settings().sync_interval  # the home server's default
    alice = new_home(work / "alice", a)
    bob = new_home(work / "bob", b)
    await alice.service.post("warm-up: the first post imports Alice's key into node A")
    await bob.service.follow(alice.name)
    await bob.service.sync([alice.name])
    peer = a.ipfs("id", "--format=<id>").strip()
    shell = cli.CliFeed(a, Identity.generate().public)
    ours: list[list[float]] = []
    theirs: list[list[float]] = []
    polls: list[int] = []
    for r in range(runs):
        ours.append([])
        theirs.append([])
        for text in texts(per_run, f"propagation r{r} "):
            cid = (await alice.service.post(text)).cid
            assert cid is not None
            t0 = time.perf_counter()
            polls.append(await _until(lambda cid=cid: _shows(bob, alice, cid), f"post {cid} on Bob's node"))
            ours[-1].append((time.perf_counter() - t0) * 1000)
            cid = shell.post(text)
            t0 = time.perf_counter()
            await _until(lambda cid=cid: _resolves(b, peer, cid), f"CLI post {cid} on node B")
            theirs[-1].append((time.perf_counter() - t0) * 1000)
    flat = [x for run in ours for x in run]
    flat_cli = [x for run in theirs for x in run]
    p50 = median([median(run) for run in ours])
    name = "propagation: Alice posts, Bob's home server shows it"
    note = (f"The home server polls: with the default sync interval of {interval:g} s a post shows after "
            f"~{interval / 2:g} s on average (up to {interval * 1.2:g} s with the ±20 % jitter). These "
            f"figures are for Bob syncing Alice back to back (median {median(polls):g} sync per post); "
            "the baseline polls `ipfs name resolve --nocache` on node B after a CLI `dag put` + "
            "`name publish`.")
    detail = {"samples": len(flat), "ipfeed_runs_p50_ms": [median(x) for x in ours],
              "baseline_runs_p50_ms": [median(x) for x in theirs], "syncs_per_post": polls,
              "sync_interval_s": interval}
    return [
        Row(f"{name}: p50 (Bob syncs in a loop)", "ms", ipfeed=p50,
            baseline=median([median(x) for x in theirs]), detail=detail,
            target=f"<= {TARGET_MS:,.0f} ms", met=p50 <= TARGET_MS, note=note),
        Row(f"{name}: p95 (all samples)", "ms", ipfeed=p95(flat), baseline=p95(flat_cli),
            detail={"samples": len(flat)}),
    ]


async def _shows(bob: Home, alice: Home, cid: str) -> bool:
    await bob.service.sync([alice.name])
    return bob.service.indexed_post(cid)[0] is not None


async def _resolves(node: BenchNode, name: str, cid: str) -> bool:
    return cli.resolve(node, name) == cid
