"""The home server loop: sync follows periodically with jitter, re-put their IPNS records."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable

from .errors import IpfeedError
from .service import Service
from .sync import SyncResult

REPUT_EVERY = 3600.0  # seconds: DHT nodes drop records after 48 h unless they are put again


async def serve_forever(service: Service, interval: float, rounds: int = 0,
                        log: Callable[[str], None] = print) -> None:
    """Sync every `interval` seconds (±20 % jitter), at once when a followed feed announces a
    new record (push), re-put follows' records hourly, serve the feeds held here to peers
    as one stream each (ipfeed.stream), receive notices (ipfeed.inbox), fetch those the other
    inbox peers the profile names kept, and deliver the user's (ipfeed.notify); `rounds` > 0
    stops after N rounds."""
    def heard(r: SyncResult) -> None:
        if r.new_posts:
            log(f"push {r.name}: {r.new_posts} new posts")

    helpers = [asyncio.create_task(service.listen(heard)), asyncio.create_task(service.share()),
               asyncio.create_task(service.inbox_serve())]
    try:
        await _rounds(service, interval, rounds, log)
    finally:
        for task in helpers:
            task.cancel()
        for task in helpers:
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def hand_over_forever(service: Service, interval: float, rounds: int = 0,
                            log: Callable[[str], None] = print) -> None:
    """A paired device's daemon: hand the posts waiting here to its home server every
    `interval` seconds (±20 % jitter); `rounds` > 0 stops after N rounds."""
    async def hand_over(_: int) -> None:
        r = await asyncio.to_thread(service.remote_push)
        if r.sent or r.refused:
            log(f"handed over {len(r.sent)} posts; {len(r.refused)} refused")
        if r.error:
            log(f"{r.waiting} waiting: {r.error}")

    await _every(interval, rounds, hand_over, lambda done, e: log(f"handover: {e}"))


async def _every(interval: float, rounds: int, step: Callable[[int], Awaitable[None]],
                 failed: Callable[[int, IpfeedError], None]) -> None:
    """Run `step(round)` every `interval` seconds (±20 % jitter), `rounds` times (0: forever)."""
    done = 0
    while rounds <= 0 or done < rounds:
        try:
            await step(done)
        except IpfeedError as e:
            failed(done, e)
        done += 1
        if rounds <= 0 or done < rounds:
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))


async def _rounds(service: Service, interval: float, rounds: int, log: Callable[[str], None]) -> None:
    last_reput = -REPUT_EVERY

    async def one(done: int) -> None:
        nonlocal last_reput
        results = await service.sync()
        for r in results:
            if r.error:
                log(f"sync {r.name}: {r.error}")
            elif r.new_posts:
                log(f"sync {r.name}: {r.new_posts} new posts")
        await service.publish()  # pending own posts, if the node was down before
        sent = await service.deliver_notices()  # and notices that waited (backoff)
        if sent.sent or sent.refused:
            log(f"notices: {sent.sent} delivered, {sent.refused} refused, {sent.waiting} waiting")
        try:  # what the other inbox peers the profile names kept while this node was away
            fetched = await service.fetch_notifications(required=False)
        except IpfeedError as e:
            log(f"notices kept by your inbox peers: {e}")
        else:
            if fetched:
                log(f"notices: {fetched} fetched from your inbox peers")
        if dropped := service.clean_uploads():  # of revoked devices, or that no handover used
            log(f"uploads: dropped {dropped} that no handover will use")
        put = 0
        if time.monotonic() - last_reput >= REPUT_EVERY:
            put = await service.republish()
            last_reput = time.monotonic()
        log(f"round {done + 1}: {len(results)} feeds synced, {put} records re-put")

    await _every(interval, rounds, one, lambda done, e: log(f"round {done + 1} failed: {e}"))
