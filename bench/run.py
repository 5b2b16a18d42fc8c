"""`make bench`: run the limits and the cases, print one table, save it as JSON with the machine.

Usage: python -m bench.run [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import bulk, calls, cases, cold, homeserver, limits, propagation, syncing, timeline
from .homes import Home
from .nodes import BenchNode, connected_nodes, kubo_version
from .report import Row, machine, notes, table, write_json


@dataclass(frozen=True)
class Plan:
    """How much work each part does."""

    runs: int  # every figure is the median of this many runs (>= 3)
    node_runs: int  # the same for the slowest cases (>= 3)
    op_scale: float  # fraction of the full operation counts for the crypto and codec limits
    chain_sizes: tuple[int, ...]
    ingest_posts: int
    publish_per_run: int
    bulk_sizes: tuple[int, ...]
    bulk_baseline_posts: int  # posts of the CLI loop, extrapolated per post
    sync_posts: int  # the feed synced over the network
    walk_posts: int  # posts of the CLI reading walk, extrapolated per post
    local_sync_sizes: tuple[int, ...]
    incremental_sizes: tuple[int, ...]  # the largest is also the cold node's feed
    reaction_entries: int  # entries of the cold node's mostly-reactions feed (95% reactions)
    web_posts: int
    flood_reactions: int  # reactions from one followed feed, indexed beside the web_posts
    propagation_per_run: int
    follows: int
    profile: bool  # profile the cases that miss their targets (cProfile), for the notes
    peer_messages: int  # messages of the SSB and Nostr runs (a bulk size and the sync size too)


FULL = Plan(runs=5, node_runs=3, op_scale=1.0, chain_sizes=(1_000, 10_000, 100_000), ingest_posts=10_000,
            publish_per_run=20, bulk_sizes=(1_000, 10_000), bulk_baseline_posts=200, sync_posts=10_000,
            walk_posts=100, local_sync_sizes=(1_000, 4_000), incremental_sizes=(1_000, 10_000, 100_000),
            reaction_entries=100_000,
            web_posts=100_000, flood_reactions=100_000, propagation_per_run=8, follows=1_000, profile=True,
            peer_messages=10_000)
QUICK = Plan(runs=3, node_runs=3, op_scale=0.25, chain_sizes=(1_000, 5_000), ingest_posts=5_000,
             publish_per_run=8, bulk_sizes=(1_000, 10_000), bulk_baseline_posts=25, sync_posts=1_000,
             walk_posts=20, local_sync_sizes=(250, 1_000), incremental_sizes=(1_000, 10_000),
             reaction_entries=10_000,
             web_posts=10_000, flood_reactions=20_000, propagation_per_run=4, follows=100, profile=False,
             peer_messages=1_000)


_STARTED = time.perf_counter()


def _say(message: str) -> None:
    print(f"bench {time.perf_counter() - _STARTED:5.0f}s: {message}", file=sys.stderr, flush=True)


def attempt(title: str, case: Callable[..., list[Row]], *args: Any) -> list[Row]:
    """Run one case; a case that fails becomes a row saying how, and the others still run."""
    with calls.recorded() as seen:
        try:
            return case(*args)
        except Exception as e:  # a broken case is a finding, not the end of the benchmark
            traceback.print_exc()
            last = f"; the last node call was {seen[-1].name}, {seen[-1].seconds:.1f} s" if seen else ""
            _say(f"{title}: FAILED ({e})")
            return [Row(title, "", target="completes", met=False,
                        note=f"FAILED: {type(e).__name__}: {str(e)[:400]}{last}")]


CASES = ("chain", "timeline", "publish", "bulk", "sync", "local", "cold", "propagation", "incremental",
         "homeserver", "peers")  # the keys of --only


def run(plan: Plan, only: frozenset[str] = frozenset(CASES)) -> list[Row]:
    """Measure everything (or the cases in `only`); the crypto limits first, then the cases."""
    _say(f"crypto and codec limits ({plan.runs} runs)")
    lims = limits.crypto_and_codec(plan.runs, plan.op_scale)
    verify = next(r.limit for r in lims if r.case.startswith("ed25519 verify"))
    sign = next(r.limit for r in lims if r.case.startswith("ed25519 sign"))
    assert verify is not None and sign is not None
    slow = plan.node_runs
    rows: list[Row] = []
    if "chain" in only:
        _say(f"in-memory chains of {', '.join(f'{n:,}' for n in plan.chain_sizes)} posts")
        rows += cases.chain(plan.chain_sizes, slow, verify, sign)
    with tempfile.TemporaryDirectory(prefix="ipfeed-bench-homes-") as tmp:
        work = Path(tmp)
        if "timeline" in only:
            _say(f"web timeline page at {plan.web_posts:,} indexed posts")
            rows += attempt("web timeline page", lambda: timeline.timeline(work, plan.web_posts, slow,
                                                                           profile=plan.profile))
            _say(f"web timeline page flooded by {plan.flood_reactions:,} reactions")
            rows += attempt("web timeline flood", timeline.flood, work, plan.web_posts, plan.flood_reactions,
                            slow)
        if only & {"publish", "bulk", "sync", "local", "cold", "propagation", "incremental"}:
            _say("starting three Kubo daemons (loopback, temporary repos)")
            with connected_nodes(3) as (a, b, c):
                rows += _three_nodes(plan, only, lims, a, b, c, work, verify, sign)
        if "homeserver" in only:
            _say(f"starting two fresh daemons: a home server following {plan.follows:,} feeds")
            with connected_nodes(2) as (a, b):
                rows += attempt("home server", homeserver.home_server, a, b, work, plan.follows, slow)
    if "peers" in only:
        _say("daemons stopped; the peer systems (SSB, Nostr) on the same machine")
        rows += attempt("peers", cases.peers, rows, plan.peer_messages, slow, _say)
    return [*lims, *rows]


def _three_nodes(plan: Plan, only: frozenset[str], lims: list[Row], a: BenchNode, b: BenchNode,
                 c: BenchNode, work: Path, verify: float, sign: float) -> list[Row]:
    """The cases on three connected daemons (appending Kubo's ingest limit to `lims`)."""
    runs, slow = plan.runs, plan.node_runs
    rows: list[Row] = []
    feeds: dict[int, Home] = {}
    if "bulk" in only:
        _say(f"Kubo ingest: dag import of {plan.ingest_posts:,} posts")
        lims.append(limits.kubo_ingest(b, runs, plan.ingest_posts))
    if "publish" in only:
        _say(f"publish latency: {runs} runs of {plan.publish_per_run} posts, ipfeed and CLI")
        rows += attempt("publish one post end to end", cases.publish, a, b, runs, plan.publish_per_run)
    if "bulk" in only:
        ingest = lims[-1].limit
        assert ingest is not None
        _say(f"bulk publish of {', '.join(f'{n:,}' for n in plan.bulk_sizes)} posts, and the CLI loop")

        def bulk_publish() -> list[Row]:
            made, made_feeds = bulk.bulk_publish(a, work, plan.bulk_sizes, runs, plan.bulk_baseline_posts,
                                                 sign, ingest, profile=plan.profile)
            feeds.update(made_feeds)
            return made
        rows += attempt("bulk publish", bulk_publish)
    if "sync" in only:
        _say(f"first sync of a {plan.sync_posts:,}-post feed over the network ({slow} runs)")
        rows += attempt("sync a feed from another node", syncing.first_sync, a, b, work, plan.sync_posts,
                        slow, plan.walk_posts, verify)
    if "local" in only:
        _say(f"first sync of feeds already on the node: {plan.local_sync_sizes} posts")
        rows += attempt("first sync of a feed already on the node", syncing.local_sync, a, b, work,
                        plan.local_sync_sizes, slow, verify)
    if only & {"cold", "propagation", "incremental"}:
        _say(f"feeds of {', '.join(f'{n:,}' for n in plan.incremental_sizes)} posts on node A")
        feeds = syncing.feeds_of(a, work, plan.incremental_sizes, feeds)
    largest = max(plan.incremental_sizes)
    if "cold" in only:
        _say(f"newest 20 posts of the {largest:,}-post feed on a cold node")
        rows += attempt("newest 20 posts on a cold node", cold.cold_show, c, feeds[largest], largest, runs)
        _say(f"newest 20 posts of a {plan.reaction_entries:,}-entry feed of 95% reactions on a cold node")
        rows += attempt("newest 20 posts of a mostly-reactions feed on a cold node", cold.cold_show_reactions,
                        a, c, work, plan.reaction_entries, runs)
    if "propagation" in only:
        _say("propagation from Alice to Bob")
        rows += attempt("propagation", propagation.propagation, a, b, work, runs, plan.propagation_per_run)
    # Last on these daemons: a Kubo call that times out may go on working in the daemon.
    if "incremental" in only:
        _say("incremental sync of 10 new posts on each feed")
        rows += attempt("incremental sync of 10 new posts", syncing.incremental, b, work, feeds, slow)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bench.run`."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small version (a few minutes)")
    parser.add_argument("--only", default="", help=f"comma-separated cases to run, of: {', '.join(CASES)}")
    parser.add_argument("--follows", type=int, help="feeds the home server follows (default: 1,000; "
                        "100 with --quick; the follow list holds at most 5,000)")
    parser.add_argument("--local-sizes", default="", help="feed sizes of the local first sync, "
                        "e.g. 1000,4000")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    only = frozenset(x.strip() for x in args.only.split(",") if x.strip()) or frozenset(CASES)
    if unknown := only - set(CASES):
        parser.error(f"unknown cases: {', '.join(sorted(unknown))}")
    if args.follows:
        plan = dataclasses.replace(plan, follows=args.follows)
    if args.local_sizes:
        plan = dataclasses.replace(plan, local_sync_sizes=tuple(int(x) for x in args.local_sizes.split(",")))
    started = dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    info = machine(kubo_version())
    rows = run(plan, only)
    seconds = time.perf_counter() - t0
    path = write_json(rows, info, started, quick=args.quick, runs=plan.runs, seconds=seconds)
    print(f"ipfeed {info['ipfeed']} bench{' (quick)' if args.quick else ''}, "
          f"{started:%Y-%m-%d %H:%M %Z}: {info['cpu_model']}, {info['nproc']} cores, "
          f"Python {info['python']}, Kubo {info['kubo']}")
    print(table(rows))
    print("Figures are medians of runs; ratios: how many times faster ipfeed is (>1 = faster).")
    print(notes(rows))
    print(f"{seconds:.0f} s; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
