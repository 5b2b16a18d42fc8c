"""Propagation: Alice posts on node A; how soon Bob's home server on node B shows the post."""

from __future__ import annotations

import asyncio
import contextlib
import functools
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
PUSH_CHECK = 0.005  # seconds between looks at Bob's index while a push is under way


async def _until(check: Callable[[], Awaitable[bool]], what: str, pause: float = 0.0) -> int:
    """Await `check()` until it is true (at most DEADLINE seconds, `pause` seconds apart); how
    many tries it took."""
    deadline = time.perf_counter() + DEADLINE
    tries = 0
    while True:
        tries += 1
        if await check():
            return tries
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{what} did not show within {DEADLINE:g} s")
        await asyncio.sleep(pause)


def propagation(a: BenchNode, b: BenchNode, work: Path, runs: int, per_run: int) -> list[Row]:
    """Bob's home server hears Alice's announcement and syncs (the design: push), and, without
    push, Bob syncing Alice back to back after each post (polling when the poll comes at once).
    The CLI baseline polls `ipfs name resolve` the same way."""
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
            shows = functools.partial(_shows, bob, alice, cid)
            polls.append(await _until(shows, f"post {cid} on Bob's node"))
            ours[-1].append((time.perf_counter() - t0) * 1000)
            cid = shell.post(text)
            t0 = time.perf_counter()
            await _until(functools.partial(_resolves, b, peer, cid), f"CLI post {cid} on node B")
            theirs[-1].append((time.perf_counter() - t0) * 1000)
    pushed = await _pushed(alice, bob, runs, per_run)
    flat_push = [x for run in pushed for x in run]
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
    push_p50 = median([median(run) for run in pushed])
    push_detail = {"samples": len(flat_push), "runs_p50_ms": [median(x) for x in pushed],
                   "check_every_ms": PUSH_CHECK * 1000}
    return [
        Row(f"{name}: p50 (push: Bob's listener, from Alice's post call)", "ms", ipfeed=push_p50,
            baseline=median([median(x) for x in theirs]), detail=push_detail,
            target=f"<= {TARGET_MS:,.0f} ms", met=push_p50 <= TARGET_MS,
            note="Timed from the start of Alice's `post` call, so it includes signing, storing, pinning "
                 "and her IPNS publish; the baseline and the no-push rows start after the publish."),
        Row(f"{name}: p95 (push, all samples)", "ms", ipfeed=p95(flat_push), baseline=p95(flat_cli),
            detail={"samples": len(flat_push)}),
        Row(f"{name}: p50 (no push: Bob syncs in a loop)", "ms", ipfeed=p50,
            baseline=median([median(x) for x in theirs]), detail=detail, note=note),
        Row(f"{name}: p95 (no push, all samples)", "ms", ipfeed=p95(flat), baseline=p95(flat_cli),
            detail={"samples": len(flat)}),
    ]


async def _pushed(alice: Home, bob: Home, runs: int, per_run: int) -> list[list[float]]:
    """The design's path: Bob's home server listens for announcements (`Service.listen`, as
    `ipfeed daemon` does); each of Alice's posts is timed from the start of her `post` call
    until Bob's index holds it."""
    listener = asyncio.create_task(bob.service.listen())
    try:
        # Untimed warm-up: the first announcement that arrives proves the subscription is up.
        for i in range(int(DEADLINE)):
            cid = (await alice.service.post(f"push warm-up {i}")).cid
            try:
                indexed = functools.partial(_indexed, bob, cid)
                await asyncio.wait_for(_until(indexed, "warm-up", PUSH_CHECK), 1.0)
                break
            except TimeoutError:
                continue
        else:
            raise RuntimeError(f"no announcement from Alice reached Bob within {DEADLINE:g} s")
        out: list[list[float]] = []
        for r in range(runs):
            out.append([])
            for text in texts(per_run, f"push r{r} "):
                t0 = time.perf_counter()
                cid = (await alice.service.post(text)).cid
                await _until(functools.partial(_indexed, bob, cid), f"pushed post {cid} on Bob's node",
                             PUSH_CHECK)
                out[-1].append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def _indexed(bob: Home, cid: str | None) -> bool:
    return cid is not None and bob.service.indexed_post(cid)[0] is not None


async def _shows(bob: Home, alice: Home, cid: str) -> bool:
    await bob.service.sync([alice.name])
    return bob.service.indexed_post(cid)[0] is not None


async def _resolves(node: BenchNode, name: str, cid: str) -> bool:
    return cli.resolve(node, name) == cid
