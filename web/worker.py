"""One background thread with one event loop for all node work of the web UI: publishing,
syncing, on-demand fetches. Views submit coroutines and wait with a bound; nothing long runs
in a request's own loop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from ipfeed.errors import AnotherHome, IpfeedError, KuboNotFound, NodeTimeout, NodeUnavailable
from ipfeed.service import Service

T = TypeVar("T")


@dataclass
class PublishStatus:
    """What the page header shows about the user's own publishing."""

    state: str = "idle"  # idle | publishing | published | failed (syncing | synced for a sync)
    message: str = ""
    at: float = 0.0
    detail: str = ""  # the technical reason of a failure (shown on hover, not as the message)


def plain_reason(e: IpfeedError) -> str:
    """Why node work failed, in words for a person (the exception's text goes in `detail`)."""
    if isinstance(e, NodeUnavailable | KuboNotFound):
        return "your node is not running"
    if isinstance(e, AnotherHome):
        return str(e)
    if isinstance(e, NodeTimeout) or "did not finish" in str(e):
        return "your node did not answer in time"
    return "the network did not take it yet"


class Worker:
    """The UI's background loop; `pin=True` also syncs and pins follows periodically."""

    def __init__(self, service: Service, *, pin: bool = False, interval: float | None = None) -> None:
        self.service = service
        self.pin = pin
        self.interval = interval or service.settings.sync_interval
        self.status = PublishStatus()
        self.sync_status = PublishStatus()
        self._guard = threading.Lock()
        self._wanted = 0
        self._loop = asyncio.new_event_loop()
        self._publish_lock = asyncio.Lock()
        self._thread = threading.Thread(target=self._run, name="ipfeed-worker", daemon=True)
        self._thread.start()
        if pin:
            self.submit(self._home_loop())

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the worker loop."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run a coroutine on the worker loop and wait for it, at most `timeout` seconds."""
        future = self.submit(coro)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as e:
            future.cancel()
            raise NodeTimeout(f"the node did not finish in {timeout:g}s") from e

    def publish_soon(self) -> None:
        """Publish pending posts in the background; the status shows how it went. Requests
        arriving while a publish runs are folded into one more publish after it."""
        with self._guard:
            self._wanted += 1
            self.status = PublishStatus("publishing", "publishing…", time.time())
        self.submit(self._publish())

    async def _publish(self) -> None:
        async with self._publish_lock:
            with self._guard:
                if self._wanted == 0:
                    return  # an earlier run already took this request
                self._wanted = 0
            try:
                r = await self.service.publish()
                status = PublishStatus("published", f"published ({r.count} posts)", time.time())
            except IpfeedError as e:
                status = PublishStatus("failed", plain_reason(e), time.time(), str(e))
            with self._guard:
                if self._wanted == 0:
                    self.status = status

    def sync_soon(self) -> None:
        """Sync every followed feed now, whatever its backoff (the "sync now" button)."""
        with self._guard:
            if self.sync_status.state == "syncing":
                return
            self.sync_status = PublishStatus("syncing", "syncing the feeds you follow…", time.time())
        self.submit(self._sync())

    async def _sync(self) -> None:
        try:
            results = await self.service.sync(force=True)
            failed = [r for r in results if r.error and r.name != self.service.identity().name]
            new = sum(r.new_posts for r in results)
            message = f"synced: {new} new post{'' if new == 1 else 's'}"
            if failed:
                message += f"; {len(failed)} of the feeds you follow could not be checked (see Following)"
            status = PublishStatus("synced", message, time.time())
        except IpfeedError as e:
            status = PublishStatus("failed", f"could not sync: {plain_reason(e)}", time.time(), str(e))
        with self._guard:
            self.sync_status = status

    async def _home_loop(self) -> None:
        from ipfeed.home import serve_forever

        await serve_forever(self.service, self.interval, 0, lambda line: None)

    def stop(self) -> None:
        """Stop the loop (tests, shutdown)."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            if tasks:  # let each cancelled task unwind here, in the loop's own thread
                self._loop.run_until_complete(asyncio.wait(tasks, timeout=5))
            self._loop.close()


