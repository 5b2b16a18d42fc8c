"""The web UI's timeline page over a large index (Flask's test client) against the bare query."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from ipfeed.web import create_app
from ipfeed.web.worker import Worker

from ipfeed import feed
from ipfeed.identity import Identity
from ipfeed.index import Index
from ipfeed.service import now_ms

from . import posts
from .homes import new_home, set_follows
from .profiling import hotspots
from .report import Row, median, percentile

FEEDS = 5  # followed feeds the posts are spread over
PAGE = 20  # the app's PAGE_SIZE
REQUESTS = 200  # timed requests per run and kind (the second page: in all runs together)
BASE_URL = "http://127.0.0.1:8787"  # the Host the app accepts
TARGET_MS = 20.0  # p99


def _latencies(fn: Callable[[], object], count: int) -> list[float]:
    out = []
    for _ in range(count):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def timeline(work: Path, n: int, runs: int, *, profile: bool = True) -> list[Row]:
    """GET / (and its second page) of a home following FEEDS feeds with n indexed posts in all;
    the limit is `Index.timeline`, the query the first page runs, timed the same way. A missed target
    is profiled if `profile`."""
    home = new_home(work / "web-reader")  # the page needs no node
    authors = [Identity.generate() for _ in range(FEEDS)]
    index = Index(home.settings.index_path)
    try:
        now = now_ms()
        for k, me in enumerate(authors):  # interleaved in time, as friends post
            chain = posts.chain(me, n // FEEDS, created=posts.CREATED + k, step=FEEDS)
            root = feed.advance(me, None, updated=now, heads=[p.cid for p in chain])
            index.apply(me.name, root, chain, now, None, None, None)
    finally:
        index.close()
    set_follows(home, [me.name for me in authors])
    names = [home.name, *(me.name for me in authors)]
    first = home.service.timeline(PAGE)
    cursor = first[-1].cursor
    second = home.service.timeline(PAGE, cursor)
    worker = Worker(home.service)
    index = Index(home.settings.index_path)
    try:
        client = create_app(home.settings, worker=worker).test_client()

        def page(url: str, newest: str) -> Callable[[], None]:
            def get() -> None:
                resp = client.get(url, base_url=BASE_URL)
                if resp.status_code != 200 or f"post-{newest}" not in resp.get_data(as_text=True):
                    raise RuntimeError(f"GET {url}: HTTP {resp.status_code}, or {newest} missing")
            return get

        kinds: dict[str, Callable[[], object]] = {
            "page": page("/", first[0].cid),
            "next": page(f"/?before={cursor}", second[0].cid),
            "sql": lambda: index.timeline(names, PAGE),
        }
        for fn in kinds.values():  # warm-up: templates compiled, pages cached by SQLite
            _latencies(fn, 5)
        ms: dict[str, list[list[float]]] = defaultdict(list)
        for _ in range(runs):
            for key, fn in kinds.items():  # the second page: REQUESTS in all runs together
                ms[key].append(_latencies(fn, -(-REQUESTS // runs) if key == "next" else REQUESTS))
        p = {key: {q: median([percentile(run, q) for run in runs_ms]) for q in (50, 99)}
             for key, runs_ms in ms.items()}
        pooled = [x for run in ms["next"] for x in run]
        p["next"] = {q: percentile(pooled, q) for q in (50, 99)}
        note = ""
        if max(p["page"][99], p["next"][99]) > TARGET_MS:
            note = (f"The query the page runs (Index.timeline) takes {p['sql'][50]:.1f} ms of the page's "
                    f"{p['page'][50]:.1f} ms at p50.")
            if profile:
                note += " cProfile of 200 requests, " + hotspots(lambda: _latencies(kinds["page"], 200))
    finally:
        index.close()
        worker.stop()
    name = f"web timeline page at {n:,} indexed posts, {FEEDS} followed feeds"
    detail = {"posts": n, "feeds": FEEDS, "requests_per_run": REQUESTS, "percentiles_ms": p}
    return [
        Row(f"{name}: p50", "ms", ipfeed=p["page"][50], limit=p["sql"][50], detail=detail),
        Row(f"{name}: p99", "ms", ipfeed=p["page"][99], limit=p["sql"][99], detail=detail,
            target=f"<= {TARGET_MS:.0f} ms", met=p["page"][99] <= TARGET_MS, note=note),
        Row(f"{name}: second page (before cursor), p99 (all samples)", "ms", ipfeed=p["next"][99],
            detail=detail, target=f"<= {TARGET_MS:.0f} ms", met=p["next"][99] <= TARGET_MS),
    ]
