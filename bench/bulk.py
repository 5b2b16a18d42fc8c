"""Bulk publish: `Service.post_many` of N posts (one IPNS update), and its parts apart:
`Service.save_many` then `Service.publish`."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ipfeed.identity import Identity

from . import calls
from .cli import CliFeed
from .homes import Home, new_home
from .nodes import BenchNode
from .posts import texts
from .profiling import hotspots
from .report import Row, median

TARGET = 5_000.0  # posts/s


def end_to_end_case(n: int) -> str:
    """The case of the post_many row of n posts (the peer rows set SSB and Nostr beside it)."""
    return f"bulk publish of {n:,} posts, one IPNS update: end to end (post_many)"


@dataclass
class _Runs:
    whole: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))  # post_many
    save: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    publish: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    import_s: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    cli_put: list[float] = field(default_factory=list)  # seconds per `dag put`
    cli_publish: list[float] = field(default_factory=list)  # seconds of the one `name publish`
    homes: dict[int, Home] = field(default_factory=dict)


def bulk_publish(node: BenchNode, work: Path, sizes: tuple[int, ...], runs: int, baseline_posts: int,
                 sign: float, ingest: float, *, profile: bool = True) -> tuple[list[Row], dict[int, Home]]:
    """Rows per size, and one published feed of each size for the cases that read feeds; a
    missed target is profiled if `profile`."""
    m = asyncio.run(_measure(node, work, sizes, runs, baseline_posts))
    rows: list[Row] = []
    ceiling = min(sign, ingest)  # post_many signs on one core while Kubo ingests on the other
    for n in sizes:
        save, publish = m.save[n], m.publish[n]
        cli = [n / (n * put + pub) for put, pub in zip(m.cli_put, m.cli_publish, strict=True)]
        rate = median([n / t for t in m.whole[n]])
        name = f"bulk publish of {n:,} posts, one IPNS update"
        detail = {"posts": n, "post_many_s": m.whole[n], "save_s": save, "publish_s": publish,
                  "dag_import_s": m.import_s[n],
                  "baseline_posts": baseline_posts, "baseline_dag_put_s": m.cli_put,
                  "baseline_name_publish_s": m.cli_publish,
                  "limit": "min(sign, Kubo dag import): signing and Kubo's ingest run side by side"}
        note = ""
        if rate < TARGET:
            note = _why(node, work, n, save, publish, m.import_s[n], profile and n == max(sizes))
            if ceiling < TARGET:
                note += (f" The target is above this machine's limit: signing ({sign:,.0f}/s) and Kubo's "
                         f"ingest ({ingest:,.0f}/s) side by side allow {ceiling:,.0f} posts/s.")
        rows += [
            Row(end_to_end_case(n), "/s", ipfeed=rate, baseline=median(cli), limit=ceiling,
                detail=detail, target=f">= {TARGET:,.0f}/s", met=rate >= TARGET, note=note),
            Row(f"{name}: save_many (sign, outbox, index)", "/s", ipfeed=median([n / s for s in save]),
                limit=sign, detail={"posts": n}),
            Row(f"{name}: publish (dag import, pin, IPNS)", "/s", ipfeed=median([n / p for p in publish]),
                limit=ingest, detail={"posts": n}),
        ]
    return rows, m.homes


async def _measure(node: BenchNode, work: Path, sizes: tuple[int, ...], runs: int,
                   baseline_posts: int) -> _Runs:
    m = _Runs()
    for r in range(runs):
        for n in sizes:
            whole = new_home(work / f"bulk-whole-{n}-{r}", node, n).service
            t0 = time.perf_counter()
            result = await whole.post_many(texts(n, f"r{r} whole "))
            m.whole[n].append(time.perf_counter() - t0)
            if result.count != n:
                raise RuntimeError(f"post_many of {n} posts published {result.count}")
            home = new_home(work / f"bulk-{n}-{r}", node, n)
            svc = home.service
            with calls.recorded() as seen:
                t0 = time.perf_counter()
                svc.save_many(texts(n, f"r{r} "))
                t1 = time.perf_counter()
                result = await svc.publish()
                t2 = time.perf_counter()
            if result.count != n:
                raise RuntimeError(f"bulk publish of {n} posts published {result.count}")
            m.save[n].append(t1 - t0)
            m.publish[n].append(t2 - t1)
            m.import_s[n].append(calls.total(seen, "dag_import"))
            m.homes[n] = home
        cli = CliFeed(node, Identity.generate().public)
        t0 = time.perf_counter()
        for text in texts(baseline_posts, f"cli r{r} "):
            cli.put(text)
        t1 = time.perf_counter()
        cli.publish()
        m.cli_put.append((t1 - t0) / baseline_posts)
        m.cli_publish.append(time.perf_counter() - t1)
    return m


def _why(node: BenchNode, work: Path, n: int, save: list[float], publish: list[float],
         imports: list[float], profile: bool) -> str:
    """Where the time goes when the target is missed (with a cProfile run if `profile`)."""
    share = median(imports) / median(publish)
    why = (f"post_many signs a chunk while Kubo stores the one before; apart, save_many runs at "
           f"{n / median(save):,.0f}/s and publish at {n / median(publish):,.0f}/s, {share:.0%} of it in "
           "Kubo's dag import.")
    if not profile:
        return why
    svc = new_home(work / f"bulk-profile-{n}", node, n).service
    writing = hotspots(lambda: svc.save_many(texts(n, "profile ")))
    publishing = hotspots(lambda: asyncio.run(svc.publish()), 3)
    return f"{why} cProfile of save_many, {writing}. Of publish, {publishing}."
