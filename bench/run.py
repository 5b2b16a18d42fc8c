"""`make bench`: run the limits and the cases, print one table, save it as JSON with the machine.

Usage: python -m bench.run [--quick]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from . import cases, limits
from .nodes import connected_nodes, kubo_version
from .report import Row, machine, table, write_json


@dataclass(frozen=True)
class Plan:
    """How much work each part does."""

    runs: int  # every figure is the median of this many runs (>= 3)
    op_scale: float  # fraction of the full operation counts for the crypto and codec limits
    chain_sizes: tuple[int, ...]
    ingest_posts: int
    publish_per_run: int


FULL = Plan(runs=5, op_scale=1.0, chain_sizes=(1_000, 10_000, 100_000), ingest_posts=10_000,
            publish_per_run=20)
QUICK = Plan(runs=3, op_scale=0.25, chain_sizes=(1_000, 10_000), ingest_posts=5_000, publish_per_run=8)


def _say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def run(plan: Plan) -> list[Row]:
    """Measure everything; limits first, then the cases."""
    _say(f"crypto and codec limits ({plan.runs} runs)")
    lims = limits.crypto_and_codec(plan.runs, plan.op_scale)
    verify = next(r.limit for r in lims if r.case.startswith("ed25519 verify"))
    sign = next(r.limit for r in lims if r.case.startswith("ed25519 sign"))
    assert verify is not None and sign is not None
    _say(f"in-memory chains of {', '.join(f'{n:,}' for n in plan.chain_sizes)} posts")
    rows = cases.chain(plan.chain_sizes, plan.runs, verify, sign)
    _say("starting two Kubo daemons (loopback, temporary repos)")
    with connected_nodes(2) as (a, b):
        _say(f"Kubo ingest: dag import of {plan.ingest_posts:,} posts")
        lims.append(limits.kubo_ingest(b, plan.runs, plan.ingest_posts))
        _say(f"publish latency: {plan.runs} runs of {plan.publish_per_run} posts, ipfeed and CLI")
        rows += cases.publish(a, b, plan.runs, plan.publish_per_run)
    _say("daemons stopped")
    return [*lims, *rows]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bench.run`."""
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small version (under two minutes)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = dt.datetime.now().astimezone()
    t0 = time.perf_counter()
    info = machine(kubo_version())
    rows = run(plan)
    seconds = time.perf_counter() - t0
    path = write_json(rows, info, started, quick=args.quick, runs=plan.runs, seconds=seconds)
    print(f"ipfeed {info['ipfeed']} bench{' (quick)' if args.quick else ''}, "
          f"{started:%Y-%m-%d %H:%M %Z}: {info['cpu_model']}, {info['nproc']} cores, "
          f"Python {info['python']}, Kubo {info['kubo']}")
    print(table(rows))
    print("Figures are medians of runs; ratios: how many times faster ipfeed is (>1 = faster).")
    print(f"{seconds:.0f} s; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
