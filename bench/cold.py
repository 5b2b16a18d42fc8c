"""The newest 20 posts of a large feed on a node that has never seen it: how many round trips
(a feed of posts, and a feed of mostly reactions, whose newest posts lie far behind its head)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from ipfeed import codec, kinds
from ipfeed.drafts import seal_offline
from ipfeed.outbox import Outbox, feed_lock
from ipfeed.service import now_ms

from . import calls, cli
from .homes import CHUNK, Home, new_home, newest_root
from .nodes import BenchNode
from .posts import texts
from .report import Row, median

PAGE = 20
TARGET = 4  # sequential round trips after the name resolves
RESOLVE = frozenset({"name_resolve", "name_get"})  # the calls that resolve a name


REACTIONS = 0.95  # of the entries of the mostly-reactions feed


def cold_show(c: BenchNode, home: Home, n: int, runs: int) -> list[Row]:
    """`Service.show(name, 20)` on node C after a garbage collection (so cold every run), and
    the CLI walk on the same cold node as the baseline."""
    return asyncio.run(_cold_show(c, home, n, runs, f"{n:,}-post feed"))


def cold_show_reactions(a: BenchNode, c: BenchNode, work: Path, n: int, runs: int) -> list[Row]:
    """The same on a feed of `n` entries, 95% of them reactions (to the author's own posts;
    reactions of any subject are alike here), in rounds of posts then reactions, so the
    newest post lies thousands of entries behind the head: only the root's `posts` list
    keeps its newest page cheap (FORMAT.md section 10)."""
    async def go() -> list[Row]:
        home = await reactions_author(work / f"reactions-{n}", a, n)
        return await _cold_show(c, home, n, runs, f"{n:,}-entry feed of {REACTIONS:.0%} reactions")
    return asyncio.run(go())


async def reactions_author(path: Path, node: BenchNode, n: int) -> Home:
    """A published feed of `n` entries on `node`: rounds of CHUNK entries, each its posts
    (5%) then reactions to them (95%), every round signed offline in two batches."""
    home = new_home(path, node, n)
    me, name = home.service.identity(), home.name
    per_round = min(CHUNK, n)
    posts_per_round = max(PAGE, round(per_round * (1 - REACTIONS)))
    made = 0
    box = Outbox(home.settings.outbox_path)
    try:
        while made < n:
            todo = min(per_round, n - made)
            posts = min(posts_per_round, todo)
            home.service.save_many(texts(posts, f"{path.name}-{made}"))
            mine = [codec.cid_of(b) for _, b in box.post_blocks(made)]  # the posts just signed
            if len(mine) != posts:
                raise RuntimeError(f"{path.name}: {len(mine)} new entries after saving {posts} posts")
            for i in range(todo - posts):
                box.add_draft(now_ms(), "", None, [], kind=kinds.REACTION,
                              subject={"cid": mine[i % posts], "name": name}, extra={"emoji": "👍"})
            with feed_lock(home.settings.home, home.settings.lock_timeout):
                seal_offline(home.service.home, me, box)
            made += todo
    finally:
        box.close()
    result = await home.service.publish()
    if result.count != n:
        raise RuntimeError(f"{path.name}: published {result.count} entries, not {n}")
    return home


async def _cold_show(c: BenchNode, home: Home, n: int, runs: int, what: str) -> list[Row]:
    trips: list[int] = []
    wall: list[float] = []
    after: list[float] = []
    cli_wall: list[float] = []
    kinds: Counter[str] = Counter()
    root = newest_root(home)
    head = root.posts[0].entry if root.posts else root.head  # the newest post
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
    name = f"newest {PAGE} posts of a {what} on a cold node"
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
