"""One home on disk: its settings, and the key, outbox, index and Kubo client it opens."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

from . import feed, identity, node
from .config import Settings
from .errors import InvalidInput, IpfeedError, OutboxDamaged
from .feed import Root
from .identity import Identity
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


class _Held(threading.local):
    """The stores a `Home.held()` scope keeps open for its thread (None: open per use)."""

    index: Index | None = None
    outbox: Outbox | None = None
    depth: int = 0


class _IndexContext:
    def __init__(self, path: Path, held: _Held, me: str | None,
                 hidden: Callable[[], Collection[str]]) -> None:
        self.path, self.held, self.me, self.hidden = path, held, me, hidden

    def _open(self) -> Index:
        index = Index(self.path)
        index.me = self.me  # whose reactions and reposts are "mine" on every page
        index.hidden_source = self.hidden  # whose entries the counts leave out (muted, blocked)
        return index

    def __enter__(self) -> Index:
        if self.held.depth:
            if self.held.index is None:
                self.held.index = self._open()
            return self.held.index
        self.index = self._open()
        return self.index

    def __exit__(self, *exc: object) -> None:
        if not self.held.depth:
            self.index.close()


class _OutboxContext:
    def __init__(self, path: Path, held: _Held) -> None:
        self.path, self.held = path, held

    def __enter__(self) -> Outbox:
        if self.held.depth:
            if self.held.outbox is None:
                self.held.outbox = Outbox(self.path)
            return self.held.outbox
        self.box = Outbox(self.path)
        return self.box

    def __exit__(self, *exc: object) -> None:
        if not self.held.depth:
            self.box.close()


@dataclass
class Home:
    """One home: its settings, and the stores and node client each use case opens from them."""

    settings: Settings
    linked_cache: dict[str, object] = field(default_factory=dict)  # own_linked's blocks, parsed, by CID
    _held: _Held = field(default_factory=_Held, repr=False)
    _user: str | None = field(default=None, repr=False)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Within this scope (per thread) the index and the outbox are opened once and reused:
        one web page asks both several times. Writes still commit one transaction each."""
        held = self._held
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if not held.depth:
                for store in (held.index, held.outbox):
                    if store is not None:
                        store.close()
                held.index = held.outbox = None

    def identity(self) -> Identity:
        """The home's key (refused if missing or readable by others)."""
        return identity.load(self.settings.key_path)

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
        self._user = None
        self.linked_cache.clear()

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

    def outbox(self) -> _OutboxContext:
        """The outbox, open for one `with` block."""
        return _OutboxContext(self.settings.outbox_path, self._held)

    def index(self) -> _IndexContext:
        """The index, open for one `with` block."""
        return _IndexContext(self.settings.index_path, self._held, self.user_name(),
                             lambda: self.moderation_lists().hidden)

    def kubo(self) -> Kubo:
        """A client of this home's node (use it as `async with`)."""
        return Kubo(node.api_address(self.settings), self.settings.timeout)


def latest_root(box: Outbox) -> Root | None:
    """The newest root in the outbox, parsed."""
    block = box.latest_root()
    return feed.parse(block) if block is not None else None


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
