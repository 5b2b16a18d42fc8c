"""One Nostr run for ipfeed's bench: a relay (nostr-sdk's LocalRelay on loopback, events in
memory) and two clients. The first signs and publishes N text notes (up to WINDOW in flight,
each acknowledged by the relay; timed); a fresh client then fetches them all, a page at a time,
and verifies every event's id and signature itself, counting them (timed). Runs in its own
virtualenv (bench/peers/nostr/.venv), set up by `make bench`.

Usage: python nostr_bench.py N TEXT   Prints one line of JSON.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from importlib import metadata
from typing import Any

import nostr_sdk as ns  # type: ignore[import-not-found]  # in the peer's own virtualenv only

TIMEOUT = dt.timedelta(seconds=600)  # the fetch gives up after this
WINDOW = 256  # notes in flight: the writer does not wait for each OK before sending the next
# LocalRelay closes a connection that sends more than 6,000 messages a minute (its default,
# which nostr-sdk 0.45.1's Python bindings cannot change): the writer opens a new one every
# PER_CONNECTION notes.
PER_CONNECTION = 5_000
PAGE = 500  # events per request: the relay's default (and common) limit
UNLIMITED = 2**32 - 1  # notes per minute: the relay must not throttle the bench


async def _client(url: ns.RelayUrl) -> ns.Client:
    client = ns.ClientBuilder().build()
    await client.add_relay(url)
    await client.connect(dt.timedelta(seconds=10))
    return client


async def _fetch_all(client: ns.Client, base: ns.Filter) -> tuple[list[ns.Event], int]:
    """Every event the filter matches, newest first, a page at a time going back with `until`
    (as a client scrolls back; the relay answers at most PAGE events per request)."""
    events: list[ns.Event] = []
    pages = 0
    until: int | None = None
    while True:
        f = base.limit(PAGE) if until is None else base.limit(PAGE).until(ns.Timestamp.from_secs(until))
        page = sorted(await client.fetch_events(ns.ReqTarget.auto([f]), TIMEOUT),
                      key=lambda e: e.created_at().as_secs(), reverse=True)
        pages += 1
        events += page
        if len(page) < PAGE:
            return events, pages
        until = page[-1].created_at().as_secs() - 1


async def run(n: int, text: str) -> dict[str, Any]:
    """Publish n notes, then fetch and verify them from a fresh client; the figures as a dict."""
    # The relay keeps events in memory, LocalRelay's default store (see bench/PERFORMANCE.md).
    relay = ns.LocalRelayBuilder().addr("127.0.0.1") \
        .rate_limit(ns.RateLimit(max_reqs=1_000, notes_per_minute=UNLIMITED)).build()
    await relay.run()
    url = await relay.url()
    keys = ns.Keys.generate()
    kind = ns.Kind.from_std(ns.KindStandard.TEXT_NOTE)
    # Note i is dated i seconds after `first`, in the past: distinct times let the reader page back.
    first = int(time.time()) - n - 60
    window = asyncio.Semaphore(WINDOW)

    async def publish(writer: ns.Client, i: int) -> ns.Event:
        async with window:
            event = ns.EventBuilder(kind, f"{text} #{i}") \
                .custom_created_at(ns.Timestamp.from_secs(first + i)).finalize(keys)
            out = await writer.send_event(event)
            if not out.success:
                raise RuntimeError(f"the relay refused note {i}: {out.failed}")
            return event

    t0 = time.perf_counter()
    sent: list[ns.Event] = []
    for start in range(1, n + 1, PER_CONNECTION):
        writer = await _client(url)
        chunk = range(start, min(n, start + PER_CONNECTION - 1) + 1)
        sent += await asyncio.gather(*(publish(writer, i) for i in chunk))
        await writer.shutdown()
    publish_s = time.perf_counter() - t0
    size = len(sent[-1].as_json().encode())

    t1 = time.perf_counter()
    reader = await _client(url)
    events, pages = await _fetch_all(reader, ns.Filter().author(keys.public_key()).kind(kind))
    verified = sum(1 for e in events if e.verify())
    fetch_s = time.perf_counter() - t1
    await reader.shutdown()
    relay.shutdown()
    if verified != n or len({e.id().to_hex() for e in events}) != n:
        raise RuntimeError(f"the fresh client verified {verified} of {len(events)} events, wanted {n}")
    return {"system": "nostr", "messages": n, "message_bytes": size, "publish_s": publish_s,
            "publish_per_s": n / publish_s, "fetch_s": fetch_s, "fetch_per_s": n / fetch_s,
            "fetched": len(events), "verified": verified, "pages": pages, "page_limit": PAGE,
            "writer_connections": -(-n // PER_CONNECTION),
            "versions": {"nostr-sdk": metadata.version("nostr-sdk"), "python": sys.version.split()[0]}}


def main(argv: list[str]) -> int:
    """Entry point: N and TEXT from the command line, one JSON line out."""
    if len(argv) != 3 or not argv[1].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    print(json.dumps(asyncio.run(run(int(argv[1]), argv[2]))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
