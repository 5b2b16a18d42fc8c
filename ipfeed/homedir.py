"""One home on disk: its settings, and the key, outbox, index and Kubo client it opens."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast

from . import feed, identity, node
from .config import Settings
from .errors import InvalidInput, IpfeedError, OutboxDamaged
from .feed import Root
from .identity import Identity
from .inboxdb import InboxDB
from .index import Index
from .ipfs import Kubo
from .moderationblock import Lists, open_lists
from .outbox import Outbox

if TYPE_CHECKING:
    pass

T = TypeVar("T")


def now_ms() -> int:
    """The current time in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


class _Store(Protocol):
    """What the index, the outbox and the inbox database have in common."""

    db: sqlite3.Connection

    def close(self) -> None: ...


S = TypeVar("S", bound=_Store)
FileId = tuple[int, int] | None  # (device, inode) of a database file; None: there is none
POOLED = 4  # open stores of each database kept between scopes (about one per page served at once)


def _file_id(path: Path) -> FileId:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class _Pool(Generic[S]):
    """Open stores of one database kept between `held` scopes, so that a page does not open,
    migrate and close its databases each time (a fifth of a timeline page). A store is lent to
    one thread at a time; one whose file was moved aside or deleted since it was opened (a key
    rotation retires the outbox; the index may be deleted) is closed, never used again."""

    def __init__(self, path: Path, opener: Callable[[bool], S]) -> None:
        self.path, self.opener = path, opener  # opener(True): usable from any thread
        self.free: list[tuple[S, FileId]] = []
        self.lock = threading.Lock()

    def take(self) -> tuple[S, FileId]:
        """An open store for this thread only, until `give`, and the file it was opened on."""
        now = _file_id(self.path)
        with self.lock:
            while self.free:
                store, opened = self.free.pop()
                if opened == now and now is not None:
                    return store, opened
                store.close()
        store = self.opener(True)
        return store, _file_id(self.path)

    def give(self, store: S, opened: FileId) -> None:
        """A store back from its thread (a write left open is rolled back; beyond POOLED, closed)."""
        if store.db.in_transaction:
            store.db.rollback()
        with self.lock:
            if len(self.free) < POOLED:
                self.free.append((store, opened))
                return
        store.close()

    def clear(self) -> None:
        """Close the stores kept."""
        with self.lock:
            free, self.free = self.free, []
        for store, _ in free:
            store.close()


class _Held(threading.local):
    """The stores a `Home.held()` scope has borrowed for its thread, by pool (none: open per use)."""

    depth: int = 0

    def __init__(self) -> None:
        self.lent: dict[_Pool[Any], tuple[Any, FileId]] = {}


class _Scope(Generic[S]):
    """One `with` block of a store: the one this thread's `held` scope borrowed from the pool,
    or else one opened for the block and closed after it."""

    def __init__(self, pool: _Pool[S], held: _Held, prepare: Callable[[S], None] | None = None) -> None:
        self.pool, self.held, self.prepare = pool, held, prepare

    def __enter__(self) -> S:
        if self.held.depth:
            lent = self.held.lent.get(self.pool)
            if lent is None:
                lent = self.held.lent[self.pool] = self.pool.take()
            store: S = lent[0]
        else:
            store = self.own = self.pool.opener(False)
        if self.prepare is not None:
            self.prepare(store)
        return store

    def __exit__(self, *exc: object) -> None:
        if not self.held.depth:
            self.own.close()


@dataclass
class Home:
    """One home: its settings, and the stores and node client each use case opens from them."""

    settings: Settings
    linked_cache: dict[str, object] = field(default_factory=dict)  # own_linked's blocks, parsed, by CID
    _held: _Held = field(default_factory=_Held, repr=False)
    _user: str | None = field(default=None, repr=False)
    _pools: dict[str, _Pool[Any]] = field(default_factory=dict, repr=False)
    _key: tuple[tuple[int, ...], Identity] | None = field(default=None, repr=False)  # by the file's stat

    def __post_init__(self) -> None:
        s = self.settings
        self._pools.update(
            index=_Pool(s.index_path, lambda shared: Index(s.index_path, any_thread=shared)),
            outbox=_Pool(s.outbox_path, lambda shared: Outbox(s.outbox_path, any_thread=shared)),
            inbox=_Pool(s.inbox_path, lambda shared: InboxDB(s.inbox_path, any_thread=shared)))

    @contextmanager
    def held(self) -> Iterator[None]:
        """Within this scope (per thread) the index, the outbox and the inbox are opened once
        (one web page asks each several times), borrowed from stores kept open between scopes.
        Writes still commit one transaction each, and every read sees what is committed."""
        held = self._held
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if not held.depth:
                lent, held.lent = held.lent, {}
                for pool, (store, opened) in lent.items():
                    pool.give(store, opened)

    def close(self) -> None:
        """Close the stores kept open between `held` scopes."""
        for pool in self._pools.values():
            pool.clear()

    def identity(self) -> Identity:
        """The home's key (refused if missing or readable by others), read again whenever the
        file may have changed (its inode, size, time or mode): a page asks several times."""
        path = self.settings.key_path
        try:
            st = os.lstat(path)
            seen = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_mode)
        except FileNotFoundError:
            seen = None
        if seen is not None and self._key is not None and self._key[0] == seen:
            return self._key[1]
        me = identity.load(path)
        self._key = (seen, me) if seen is not None else None
        return me

    def user_name(self) -> str | None:
        """The name of this home's feed, read from the key once (None before `init`)."""
        if self._user is None:
            try:
                self._user = self.identity().name
            except IpfeedError:
                return None
        return self._user

    def forget_identity(self) -> None:
        """Read the key (and the follow list) again: it changed (a key rotation)."""
        self._user = self._key = None
        self.linked_cache.clear()
        self._pools["outbox"].clear()

    def own_linked(self, link: Callable[[Root], str | None], what: str,
                   parse: Callable[[bytes, str], T], empty: T) -> T:
        """A block the user's newest root links (the follow list, the sealed lists), parsed once
        per CID (pages ask a lot); `empty` when the root links none."""
        with self.outbox() as box:
            root = latest_root(box)
            cid = link(root) if root is not None else None
            if cid is None:
                return empty
            if cid in self.linked_cache:
                return cast(T, self.linked_cache[cid])
            block = box.block(cid)
        if block is None:
            raise OutboxDamaged(f"{what} {cid} is missing from the outbox")
        value = parse(block, cid)
        if len(self.linked_cache) > 16:  # a few CIDs per kind at most are ever current
            self.linked_cache.clear()
        self.linked_cache[cid] = value
        return value

    def moderation_lists(self) -> Lists:
        """The user's mute and block lists, from the newest root in the outbox (empty before any)."""
        return self.own_linked(lambda r: r.moderation, "the mute and block lists",
                               lambda b, c: open_lists(self.identity(), b, c), Lists())

    def outbox(self) -> _Scope[Outbox]:
        """The outbox, open for one `with` block."""
        return _Scope(self._pools["outbox"], self._held)

    def index(self) -> _Scope[Index]:
        """The index, open for one `with` block (knowing whose reactions are "mine" and whose
        entries its counts leave out)."""
        me = self.user_name()

        def hidden() -> Collection[str]:
            return self.moderation_lists().hidden

        def mine(index: Index) -> None:
            index.reader(me, hidden)
        return _Scope(self._pools["index"], self._held, mine)

    def inbox(self) -> _Scope[InboxDB]:
        """The inbox database, open for one `with` block."""
        return _Scope(self._pools["inbox"], self._held)

    def kubo(self) -> Kubo:
        """A client of this home's node (use it as `async with`)."""
        return Kubo(node.api_address(self.settings), self.settings.timeout)


def latest_root(box: Outbox) -> Root | None:
    """The newest root in the outbox, parsed (and verified) once per block: pages ask often."""
    block = box.latest_root()
    return _parsed_root(block) if block is not None else None


_parsed_root = functools.lru_cache(maxsize=16)(feed.parse)  # pure, and a Root is immutable


def read_file(path: Path, limit: int) -> bytes:
    """A local file's bytes, refused (InvalidInput) over `limit` or if unreadable."""
    try:
        size = path.stat().st_size
        if size > limit:
            raise InvalidInput(f"{path.name} is {size} bytes, over the limit of {limit} bytes "
                               f"({limit / (1024 * 1024):g} MiB)")
        return path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}") from e


async def bounded(limit: int, aws: Sequence[Awaitable[T]]) -> list[T]:
    """Await all, at most `limit` at a time, results in order."""
    sem = asyncio.Semaphore(limit)

    async def one(aw: Awaitable[T]) -> T:
        async with sem:
            return await aw

    return list(await asyncio.gather(*(one(a) for a in aws)))
