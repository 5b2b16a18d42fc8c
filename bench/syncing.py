"""Following: the first sync of a feed from another node, and the incremental sync after it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipfeed import stream
from ipfeed import sync as sync_module
from ipfeed.ipfs import Kubo

from . import calls, cli
from .homes import NODE_TIMEOUT, Home, author, copy_feed, new_home, newest_root, seed_index, set_follows
from .nodes import CLI_TIMEOUT, BenchNode
from .posts import texts
from .report import Row, median

TARGET = 5_000.0  # posts/s
NEW_POSTS = 10  # posts an author adds before each incremental sync


def first_sync_case(n: int) -> str:
    """The case of the first-sync row of an n-post feed (the peer rows set SSB and Nostr beside it)."""
    return f"sync a {n:,}-post feed from another node, verified and indexed"


async def _timed_sync(reader: Home, name: str, want: int, *, every: bool = False
                      ) -> tuple[float, list[calls.Call], sync_module.SyncResult]:
    """Time one sync of the reader (all it follows if `every`, else only `name`), recording the
    node calls; insist it brought exactly `want` new posts of `name`."""
    with calls.recorded() as seen:
        t0 = time.perf_counter()
        results = await (reader.service.sync() if every else reader.service.sync([name]))
        seconds = time.perf_counter() - t0
    result = next(r for r in results if r.name == name)
    if result.error or result.new_posts != want:
        raise RuntimeError(f"sync of {name}: {result.new_posts} new posts (wanted {want}), {result.error}")
    return seconds, seen, result


def first_sync(a: BenchNode, b: BenchNode, work: Path, n: int, runs: int, baseline_posts: int,
               verify: float) -> list[Row]:
    """Node B follows a fresh n-post feed of node A and syncs (a fresh home and feed per run,
    so every block crosses the network): with the author's home server running, which streams
    the feed (ipfeed.stream), and without one (bitswap only). The CLI walk of a feed B has not
    seen is the baseline; Kubo's own bitswap fetch (`pin add`) is shown beside."""
    return asyncio.run(_first_sync(a, b, work, n, runs, baseline_posts, verify))


@dataclass
class _Syncs:
    seconds: list[float] = field(default_factory=list)
    waiting: list[float] = field(default_factory=list)  # on node B's Kubo RPC calls
    stream: list[float] = field(default_factory=list)  # in stream.fetch (reading the peer's stream)
    trips: list[int] = field(default_factory=list)
    seen: list[calls.Call] = field(default_factory=list)

    def add(self, t: float, seen: list[calls.Call], stream: float = 0.0) -> None:
        self.seconds.append(t)
        self.waiting.append(calls.waited(seen))
        self.stream.append(stream)
        self.trips.append(calls.sequential(seen))
        self.seen = seen

    def rate(self, n: int) -> float:
        return median([n / t for t in self.seconds])

    def own(self, n: int) -> float:
        """Posts per second of ipfeed's own work: the time not waiting on the node or the peer."""
        parts = zip(self.seconds, self.waiting, self.stream, strict=True)
        return median([n / (t - w - s) for t, w, s in parts])


@contextmanager
def _stream_timed(into: list[float]) -> Iterator[None]:
    """Time `stream.fetch` (how sync reads a peer's stream) while the block runs."""
    original = stream.fetch

    async def timed(*args: Any, **kwargs: Any) -> dict[str, bytes]:
        t0 = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            into.append(time.perf_counter() - t0)
    stream.fetch = timed
    try:
        yield
    finally:
        stream.fetch = original


async def _serving(home: Home, reader: BenchNode) -> asyncio.Task[None]:
    """Start `home`'s stream server (as its home server runs it) and wait, bounded, until the
    reader's node lists the protocol for that peer."""
    ready = asyncio.Event()
    task = asyncio.create_task(home.service.share(ready.set))
    await asyncio.wait_for(ready.wait(), NODE_TIMEOUT)
    async with Kubo(home.settings.api or "", NODE_TIMEOUT) as k:
        peer = str((await k.id())["ID"])
    async with Kubo(reader.api, NODE_TIMEOUT) as k:
        for _ in range(int(NODE_TIMEOUT * 10)):
            if peer in await k.peers_speaking(stream.PROTOCOL):
                return task
            await asyncio.sleep(0.1)
    task.cancel()
    raise RuntimeError(f"node B never learned that {peer} speaks {stream.PROTOCOL}")


async def _first_sync(a: BenchNode, b: BenchNode, work: Path, n: int, runs: int, baseline_posts: int,
                      verify: float) -> list[Row]:
    streamed, plain = _Syncs(), _Syncs()
    walks: list[cli.Walk] = []
    fetch: list[float] = []  # Kubo's own rate for such a feed: `ipfs pin add` over bitswap
    stuck: list[int] = []  # runs whose `ipfs pin add` did not finish within the CLI timeout
    for r in range(runs):
        home = await author(work / f"sync-{n}-{r}", a, n)
        bare = await author(work / f"sync-bitswap-{n}-{r}", a, n)
        other = await author(work / f"walk-{n}-{r}", a, baseline_posts)
        alone = await author(work / f"fetch-{n}-{r}", a, n)
        t0 = time.perf_counter()
        try:  # Kubo alone: a fetch that outlasts the CLI timeout is a finding, not the end of the case
            b.ipfs("pin", "add", newest_root(alone).cid)
            fetch.append(n / (time.perf_counter() - t0))
        except subprocess.TimeoutExpired:
            stuck.append(r + 1)
        reader = new_home(work / f"sync-reader-{n}-{r}", b)
        await reader.service.follow(home.name)  # `Service.sync()` then syncs it (and B's own feed)
        server = await _serving(home, b)
        try:
            stream: list[float] = []
            with _stream_timed(stream):
                t, seen, result = await _timed_sync(reader, home.name, n, every=True)
            if result.streamed < n:
                raise RuntimeError(f"only {result.streamed} of {n} posts came by the stream")
            streamed.add(t, seen, sum(stream))
        finally:
            server.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await server
        reader = new_home(work / f"sync-bitswap-reader-{n}-{r}", b)
        await reader.service.follow(bare.name)
        t, seen, _ = await _timed_sync(reader, bare.name, n, every=True)
        plain.add(t, seen)
        walks.append(cli.walk(b, other.name, baseline_posts))
    rate = streamed.rate(n)
    met = rate >= TARGET and rate >= verify / 5
    name = first_sync_case(n)
    note = (f"The author's home server streams the feed (ipfeed.stream): "
            f"of {median(streamed.seconds):.2f} s, "
            f"{median(streamed.stream):.2f} s go to reading the stream and "
            f"{median(streamed.waiting):.2f} s to node B's RPC calls, whose dag_import runs while ipfeed "
            f"verifies (in a thread) and indexes the posts (last run: {calls.summary(streamed.seen)}).")
    plain_note = (f"{median(plain.waiting) / median(plain.seconds):.0%} of it is waiting for node B's Kubo, "
                  f"which fetches the blocks from node A over bitswap: {median(plain.trips):g} sequential "
                  f"round trips; the calls of the last run: {calls.summary(plain.seen)}. Kubo alone "
                  f"fetches such a feed at {median(fetch):,.0f} posts/s (the Kubo fetch row)." if fetch else
                  "Kubo's own fetch (`ipfs pin add`) never finished within the CLI timeout.")
    if stuck:
        plain_note += (f" In run(s) {', '.join(map(str, stuck))} of {runs}, Kubo's own `ipfs pin add` of "
                       f"the feed did not finish in {CLI_TIMEOUT:.0f} s (left out of the Kubo fetch figure).")
    baseline = median([n / w.seconds_for(n) for w in walks])
    return [
        Row(name, "/s", ipfeed=rate, baseline=baseline, limit=verify,
            detail={"posts": n, "seconds": streamed.seconds, "stream_s": streamed.stream,
                    "waiting_on_node_s": streamed.waiting, "baseline_posts": baseline_posts,
                    "baseline": "CLI walk (name resolve, dag get per post) of a feed B has not seen, "
                                "extrapolated to the same number of posts; nothing verified",
                    "baseline_resolve_s": [w.resolve_s for w in walks],
                    "baseline_per_post_s": [w.posts_s / w.posts for w in walks]},
            target=">= 5,000/s and >= verify/5", met=met, note=note),
        Row(f"{name}, without a home server (bitswap only)", "/s", ipfeed=plain.rate(n), baseline=baseline,
            limit=median(fetch) if fetch else None, note=plain_note,
            detail={"posts": n, "seconds": plain.seconds, "waiting_on_node_s": plain.waiting,
                    "sequential_calls": plain.trips}),
        Row(f"{name}, without a home server: ipfeed's part (time not waiting for the node)", "/s",
            ipfeed=plain.own(n), limit=verify, detail={"posts": n}),
        Row(f"Kubo fetch of a {n:,}-post feed from another node (CLI pin add, bitswap)", "/s",
            limit=median(fetch) if fetch else None,
            detail={"posts": n, "limit_runs": fetch, "stuck_runs": stuck}),
    ]


LOCAL_TARGET = 10_000.0  # posts/s, issue 18
LOCAL_TIMEOUT = 900.0  # seconds for one local first sync: block/get per block of a big feed is slow


def local_sync(a: BenchNode, b: BenchNode, work: Path, sizes: tuple[int, ...], runs: int,
               verify: float) -> list[Row]:
    """The first sync of an n-post feed whose blocks node B already holds: no network, so what
    is left is ipfeed and Kubo's local reads. Each run syncs the feed twice into fresh homes,
    back to back in alternating order: reading B's block files in bulk (ipfeed.localblocks,
    the default) and one `block/get` per block (IPFEED_LOCAL_READS=off, as before issue 18)."""
    return asyncio.run(_local_sync(a, b, work, sizes, runs, verify))


async def _local_sync(a: BenchNode, b: BenchNode, work: Path, sizes: tuple[int, ...], runs: int,
                      verify: float) -> list[Row]:
    seconds: dict[tuple[int, bool], list[float]] = defaultdict(list)
    waiting: dict[tuple[int, bool], list[float]] = defaultdict(list)
    seen: dict[tuple[int, bool], list[calls.Call]] = {}
    local_blocks: dict[int, list[int]] = defaultdict(list)
    for r in range(runs):
        for n in sizes:
            home = await author(work / f"local-{n}-{r}", a, n)
            await copy_feed(home, b, pin=False)
            for local in ((True, False) if r % 2 == 0 else (False, True)):
                reader = new_home(work / f"local-reader-{n}-{r}-{local}", b)
                reader = Home(reader.settings.with_(local_reads=local, sync_timeout=LOCAL_TIMEOUT))
                set_follows(reader, [home.name])
                t, seen[n, local], result = await _timed_sync(reader, home.name, n)
                seconds[n, local].append(t)
                waiting[n, local].append(calls.waited(seen[n, local]))
                if local:
                    local_blocks[n].append(result.local)
    rows = []
    small, big = min(sizes), max(sizes)
    rates = {key: median([key[0] / t for t in ts]) for key, ts in seconds.items()}
    for n in sizes:
        for local in (True, False):
            note = ""
            if n == big:
                share = median(waiting[big, local]) / median(seconds[big, local])
                note = (f"{rates[small, local]:,.0f}/s at {small:,} posts, {rates[big, local]:,.0f}/s at "
                        f"{big:,}; {share:.0%} of the {big:,}-post sync is waiting for the node: "
                        f"{calls.summary(seen[big, local])}.")
            how = "" if local else ", one block/get per block (IPFEED_LOCAL_READS=off)"
            rows.append(Row(f"first sync of a {n:,}-post feed already on B's node (no network){how}", "/s",
                            ipfeed=rates[n, local], limit=verify,
                            detail={"posts": n, "seconds": seconds[n, local],
                                    "waiting_on_node_s": waiting[n, local],
                                    **({"blocks_read_from_files": local_blocks[n]} if local else {})},
                            target=f">= {LOCAL_TARGET:,.0f}/s" if local and n == big else "",
                            met=rates[n, local] >= LOCAL_TARGET if local and n == big else None,
                            note=note))
    return rows


def feeds_of(a: BenchNode, work: Path, sizes: tuple[int, ...], made: dict[int, Home]) -> dict[int, Home]:
    """A published feed on node A of each size: from `made` where it has one, else new."""
    async def make() -> dict[int, Home]:
        return {n: made.get(n) or await author(work / f"feed-{n}", a, n) for n in sizes}
    return asyncio.run(make())


def incremental(b: BenchNode, work: Path, homes: dict[int, Home], runs: int) -> list[Row]:
    """B has synced an n-post feed; its author adds 10 posts; B's next sync of it is timed."""
    return asyncio.run(_incremental(b, work, homes, runs))


async def _incremental(b: BenchNode, work: Path, homes: dict[int, Home], runs: int) -> list[Row]:
    sizes = tuple(sorted(homes))
    reader = new_home(work / "incremental-reader", b)
    set_follows(reader, [h.name for h in homes.values()])  # followed feeds are pinned by sync
    # B's first sync of these, done without the network: a first sync of a long feed over the
    # network takes minutes (see first_sync); this case is about the syncs after it.
    for home in homes.values():
        await copy_feed(home, b, pin=True)
        await seed_index(reader, home, b)
    seconds: dict[int, list[float]] = defaultdict(list)
    fetched: dict[int, list[int]] = defaultdict(list)
    seen: dict[int, list[calls.Call]] = {}
    for r in range(runs):
        for n, home in homes.items():
            home.service.save_many(texts(NEW_POSTS, f"new r{r} "))
            await home.service.publish()
            t, seen[n], result = await _timed_sync(reader, home.name, NEW_POSTS)
            seconds[n].append(t * 1000)
            fetched[n].append(result.fetched)
    base = min(sizes)
    rows = []
    for n in sizes:
        ms, ratio = median(seconds[n]), median(seconds[n]) / median(seconds[base])
        note = ""
        if n != base:
            note = f"{ratio:.1f}x the {base:,}-post figure."
            if ratio > 2:
                slowest = max({c.name for c in seen[n]}, key=lambda k: calls.total(seen[n], k))
                spent, there = (calls.total(seen[m], slowest) * 1000 for m in (n, base))
                note += (f" Kubo's {slowest} took {spent:.0f} ms of the last run's {seconds[n][-1]:.0f} ms "
                         f"({spent / n * 1000:.0f} µs per post of history; {there:.0f} ms on the "
                         f"{base:,}-post feed). Calls: {calls.summary(seen[n])}.")
        rows.append(Row(f"incremental sync of {NEW_POSTS} new posts, {n:,}-post feed", "ms", ipfeed=ms,
                        detail={"posts": n, "ms": seconds[n], "blocks_fetched": fetched[n],
                                f"vs_{base}": ratio},
                        target="" if n == base else f"<= 2x the {base:,}-post figure",
                        met=None if n == base else ratio <= 2, note=note))
    return rows
