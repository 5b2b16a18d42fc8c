"""The cases the current code supports: posting end to end, the in-memory post chain, and the
peer systems (SSB, Nostr) doing the work of ipfeed's bulk publish and first sync."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from ipfeed.contentblock import parse_content
from ipfeed.entry import Entry, check_next, parse_chained
from ipfeed.identity import Identity

from . import posts
from .cli import CliFeed
from .nodes import BenchNode
from .peers import rows as peer_rows
from .peers import runner
from .report import Row, median, p95


def chain(sizes: tuple[int, ...], runs: int, verify_limit: float, sign_limit: float) -> list[Row]:
    """A chain of N format v2 posts in memory, built (entry signed, content block encoded) then
    parsed as sync checks them: each entry verified (signature, envelope, links to the one
    before) and its content block checked against the CID the entry names. The pure-code
    ceiling of publishing and syncing."""
    # build signs once (it re-parses what it signed without verifying it); parse verifies once.
    ceiling = 1 / (1 / sign_limit + 1 / verify_limit)
    rows: list[Row] = []
    for n in sizes:
        both: list[float] = []
        build: list[float] = []
        parse: list[float] = []
        for _ in range(runs):
            me = Identity.generate()  # a fresh key per run: nothing is cached between runs
            t0 = time.perf_counter()
            chain = posts.chain_v2(me, n)
            t1 = time.perf_counter()
            older = None
            for e, c in chain:
                got = parse_chained(e.block, e.cid)
                if older is not None:
                    check_next(got, older)
                assert isinstance(got, Entry) and got.content is not None
                parse_content(c.block, got.content)
                older = got
            t2 = time.perf_counter()
            both.append(n / (t2 - t0))
            build.append(n / (t1 - t0))
            parse.append(n / (t2 - t1))
        detail = {"posts": n, "format": 2, "blocks_per_post": 2, "build_per_s": median(build),
                  "parse_per_s": median(parse), "runs_per_s": both, "parse_runs_per_s": parse,
                  "crypto_ceiling_per_s": ceiling, "vs_crypto_ceiling": median(both) / ceiling}
        rows.append(Row(f"chain of {n:,} v2 posts in memory (entry + content): build+parse", "/s",
                        ipfeed=median(both), limit=verify_limit, detail=detail))
        rows.append(Row(f"chain of {n:,} v2 posts in memory (entry + content): parse (verify) only", "/s",
                        ipfeed=median(parse), limit=verify_limit, detail={"posts": n, "runs_per_s": parse}))
    return rows


def publish(a: BenchNode, b: BenchNode, runs: int, per_run: int) -> list[Row]:
    """Latency of one post, end to end on node A peered with B: Service.post vs the CLI loop."""
    return asyncio.run(_publish(a, b, runs, per_run))


async def _publish(a: BenchNode, b: BenchNode, runs: int, per_run: int) -> list[Row]:
    svc = a.service
    me = svc.identity()
    cli = CliFeed(a, me.public)
    # Warm-up (not timed): the first post imports ipfeed's key into Kubo; both get one.
    await svc.post("warm-up")
    cli.post("warm-up")
    ours: list[list[float]] = []
    theirs: list[list[float]] = []
    last_ours: str | None = None
    last_cli = ""
    for r in range(runs):
        ours.append([])
        theirs.append([])
        for i in range(per_run):
            text = f"{posts.TEXT} run {r} post {i}"
            for who in ((0, 1) if i % 2 == 0 else (1, 0)):  # alternate who goes first
                t0 = time.perf_counter()
                if who == 0:
                    last_ours = (await svc.post(text)).cid
                    ours[-1].append((time.perf_counter() - t0) * 1000)
                else:
                    last_cli = cli.post(text)
                    theirs[-1].append((time.perf_counter() - t0) * 1000)
    # Both really published to the peer: B resolves each name to the newest post.
    view = await b.service.show(me.name, limit=1)
    if not view.posts or view.posts[0].cid != last_ours:
        raise RuntimeError(f"node B does not see ipfeed's newest post {last_ours}")
    peer = a.ipfs("id", "--format=<id>").strip()
    resolved = b.ipfs("name", "resolve", "--nocache", "--dht-timeout=20s", f"/ipns/{peer}", timeout=40)
    if resolved.strip() != f"/ipfs/{last_cli}":
        raise RuntimeError(f"node B resolves the CLI feed to {resolved.strip()}, not {last_cli}")
    flat_ours = [x for run in ours for x in run]
    flat_cli = [x for run in theirs for x in run]
    detail = {"peers": 1, "posts_per_run": per_run, "samples": len(flat_ours),
              "ipfeed_runs_ms": [median(x) for x in ours], "baseline_runs_ms": [median(x) for x in theirs]}
    name = "publish one post end to end, 1 peer"
    return [
        Row(f"{name}: median latency", "ms", ipfeed=median([median(x) for x in ours]),
            baseline=median([median(x) for x in theirs]), detail=detail),
        Row(f"{name}: p95 latency (all samples)", "ms", ipfeed=p95(flat_ours), baseline=p95(flat_cli),
            detail={"samples": len(flat_ours)}),
    ]


def peers(made: Sequence[Row], n: int, runs: int, say: Callable[[str], None] = print) -> list[Row]:
    """SSB and Nostr, `runs` runs each of n messages, beside ipfeed's post_many and first-sync
    figures of n posts from `made` (this run's rows)."""
    measured = []
    for peer in (runner.SSB, runner.NOSTR):
        say(f"{peer.name}: {runs} runs of {n:,} messages")
        measured.append(runner.measure(peer, n, runs))
        if measured[-1].reason:
            say(f"{peer.name}: not measured: {measured[-1].reason}")
    block = len(posts.sample(Identity.generate()).block)
    return peer_rows.rows(peer_rows.Ours.of(made, n, block), *measured)
