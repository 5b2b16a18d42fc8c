"""Following: the signed follow list, checking that a feed exists, and syncing followed feeds."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

from . import drafts, feed, identity, publishing, reading, sync
from .errors import InvalidInput, IpfeedError, KuboNotFound, NodeUnavailable, NotFound
from .feed import Follow
from .homedir import Home, latest_root, now_ms
from .identity import Identity
from .outbox import feed_lock_async
from .publishing import PublishResult


def known_feed(home: Home, name: str) -> bool:
    """Whether the index holds a verified root of this feed (so it exists: no network)."""
    st = reading.feed_state(home, name)
    return st is not None and st.root_cid is not None


async def check_feed(home: Home, name: str) -> str:
    """The canonical name of a feed that exists: verified in the index already, or its
    record and root resolve and verify now; NotFound otherwise (a mistyped name is still a
    valid name, and following it would publish the typo in the user's follow list)."""
    name = identity.normalize_name(name)
    if known_feed(home, name):
        return name
    try:
        await reading.show(home, name, 0)
    except (NodeUnavailable, KuboNotFound):
        raise  # the node is away: that says nothing about the name
    except IpfeedError as e:
        raise NotFound(f"{name} could not be found: no verified feed resolves for it now ({e}); "
                       "check the name (one wrong character is still a valid name)") from e
    return name


async def follow(home: Home, name: str, alias: str = "", *, force: bool = False) -> PublishResult:
    """Add a feed to the signed follow list and publish it; unless `force`, only a feed that
    check_feed finds."""
    name = identity.normalize_name(name)
    me = home.identity()
    if name == me.name:
        raise InvalidInput("you cannot follow yourself")
    if not force:
        await check_feed(home, name)
    with home.index() as index:
        index.ensure_feed(name)

    def change(current: dict[str, Follow]) -> None:
        current[name] = Follow(name, alias)
    return await _set_follows(home, me, change)


async def unfollow(home: Home, name: str) -> PublishResult:
    """Remove a feed from the follow list and publish it."""
    name = identity.normalize_name(name)

    def change(current: dict[str, Follow]) -> None:
        if current.pop(name, None) is None:
            raise InvalidInput(f"you do not follow {name}")
    return await _set_follows(home, home.identity(), change)


async def _set_follows(home: Home, me: Identity,
                       change: Callable[[dict[str, Follow]], None]) -> PublishResult:
    """Read, change and write the follow list under the feed lock (no lost update); with
    the node down it is kept and published later (PublishPending)."""
    with home.outbox() as box:
        async with feed_lock_async(home.settings.home, home.settings.lock_timeout):
            await publishing.ensure_root(home, me, box)
            await publishing.check_own_head(home, me, box)
            current = {f.name: f for f in reading.follows(home)}
            change(current)
            block, cid = feed.build_follows(list(current.values()))
            prev = latest_root(box)
            root = feed.advance(me, prev, updated=now_ms(), follows=cid)
            box.add_root(root.seq, root.cid, root.block, (block,))
            drafts.show_own(home, me, root, follows=list(current.values()))
        return await publishing.flush_change(home, me, box, "your follow list")


async def sync_follows(home: Home, names: Sequence[str] = (), progress: sync.Progress | None = None, *,
                       force: bool = False) -> list[sync.SyncResult]:
    """Sync the named feeds now, or the user's own and every followed feed that is due
    (`force`: every one, whatever its backoff: the user asked); followed feeds are
    pinned, others (opened on demand) are not."""
    me = home.identity()
    wanted = [identity.normalize_name(n) for n in names]
    followed = frozenset(f.name for f in reading.follows(home))
    targets = wanted or [me.name, *sorted(followed)]
    with home.index() as index:
        async with home.kubo() as kubo:
            results = await sync.sync_many(kubo, index, targets, home.settings, now_ms(),
                                           force=force or bool(wanted), pin=followed, progress=progress,
                                           me=me)
    if any(r.name == me.name and not r.error for r in results):
        await _adopt_restored(home, me)
    return results


async def _adopt_restored(home: Home, me: Identity) -> None:
    """A restored key whose feed just synced: the outbox takes the feed's root (and with it the
    follow list and the sealed mute and block lists), so they are back before a first post. A
    root that cannot be adopted now is adopted, or refused with its reason, at the next write."""
    with home.outbox() as box:
        if box.latest_root() is not None:
            return
        async with feed_lock_async(home.settings.home, home.settings.lock_timeout):
            with contextlib.suppress(IpfeedError):
                await publishing.ensure_root(home, me, box)
