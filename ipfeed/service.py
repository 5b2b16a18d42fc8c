"""The one async facade the CLI, the web UI and the home server call: a method per use case,
each a delegation into the module that owns the concern (README, "Development")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from . import (
    archive,
    archives,
    drafts,
    following,
    homeserver,
    interact,
    keys,
    kinds,
    peers,
    people,
    publishing,
    reading,
    threads,
)
from .config import Settings
from .drafts import PostResult, check_avatar, media_type_of
from .feed import Follow, Profile
from .homedir import Home, now_ms
from .identity import Identity
from .index import FeedState, IndexedPost
from .outbox import Draft
from .publishing import BULK_CHUNK, PublishResult
from .reading import FeedView
from .sync import Progress, SyncResult
from .threads import Thread

__all__ = ["FeedView", "PostResult", "PublishResult", "Service", "check_avatar", "media_type_of", "now_ms"]


class Service:
    """ipfeed for one home: the only entry point of the CLI and the web UI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = Home(settings)

    # -- identity (keys.py) -------------------------------------------------------------
    def identity(self) -> Identity:
        """The home's key (refused if missing or readable by others)."""
        return self.home.identity()

    def init(self, display_name: str = "", *, fresh: bool = False) -> tuple[Identity, bool]:
        """Create the identity and the first root; a no-op if the home has a key already."""
        return keys.init(self.home, display_name, fresh=fresh)

    def key_export(self, path: Path, passphrase: str, strength: str = "moderate") -> str:
        """Write the identity key encrypted with a passphrase; return the name."""
        return keys.key_export(self.home, path, passphrase, strength)

    def restore_key(self, path: Path, passphrase: str) -> str:
        """Restore the identity from a backup into this home (which must have none yet)."""
        return keys.restore_key(self.home, path, passphrase)

    async def ensure_node_key(self) -> str:
        """Make sure the node's keystore holds the identity; return the key's name there."""
        return await keys.ensure_in_node(self.home)

    # -- writing (drafts.py, publishing.py) ---------------------------------------------
    def save(self, text: str, reply_to: str | None = None, attach: Sequence[Path] = (),
             to: Sequence[str] = (), *, seal: bool = True, quote: str | None = None, cw: str = "",
             sensitive: bool = False, alts: Sequence[str] = (), card: bool = True) -> PostResult:
        """Write a post to the outbox (never lost from here on); publishing is `publish`."""
        return drafts.save(self.home, text, reply_to, attach, to, seal=seal, quote=quote, cw=cw,
                           sensitive=sensitive, alts=alts, card=card)

    def save_many(self, texts: Sequence[str]) -> int:
        """Write many text posts at once (one transaction, one new root); how many were signed."""
        return drafts.save_many(self.home, texts)

    async def post_many(self, texts: Sequence[str], chunk: int = BULK_CHUNK) -> PublishResult:
        """Write and publish many text posts (an import) with one IPNS update."""
        return await publishing.post_many(self.home, texts, chunk)

    def resolve_recipient(self, text: str) -> str:
        """The IPNS name a recipient stands for (a name, or a follow's alias or display name)."""
        return drafts.resolve_recipient(self.home, text)

    async def post(self, text: str, reply_to: str | None = None,
                   attach: Sequence[Path] = (), to: Sequence[str] = (), *, quote: str | None = None,
                   cw: str = "", sensitive: bool = False, alts: Sequence[str] = (),
                   card: bool = True) -> PostResult:
        """Write a post: saved durably first, then signed, stored, pinned and published."""
        return await publishing.post(self.home, text, reply_to, attach, to, quote=quote, cw=cw,
                                     sensitive=sensitive, alts=alts, card=card)

    # -- interactions (interact.py): saved as drafts, published like posts (`publish`) ---
    def react(self, cid: str, emoji: str = kinds.DEFAULT_EMOJI) -> int:
        """Save a reaction to a post (the newest of yours counts); its draft id."""
        return interact.react(self.home, cid, emoji)

    def unreact(self, cid: str) -> int:
        """Save deletes of your live reactions to a post; the last draft id."""
        return interact.unreact(self.home, cid)

    def repost(self, cid: str) -> int:
        """Save a repost of a post; its draft id."""
        return interact.repost(self.home, cid)

    def unrepost(self, cid: str) -> int:
        """Save deletes of your live reposts of a post; the last draft id."""
        return interact.unrepost(self.home, cid)

    def edit(self, cid: str, text: str) -> int:
        """Save a new version of one of your posts (its other fields kept); its draft id."""
        return interact.edit(self.home, cid, text)

    def delete(self, cid: str) -> int:
        """Save a delete of one of your posts or entries (final); its draft id. A deleted
        post leaves your own timeline and search at once."""
        return interact.delete(self.home, cid)

    def history(self, cid: str) -> list[IndexedPost]:
        """A post's versions, newest first (one if it was never edited; none if deleted)."""
        return reading.versions(self.home, cid)

    def drafts(self) -> list[Draft]:
        """The user's posts that are saved but not signed yet, oldest first."""
        return drafts.drafts(self.home)

    def drop_draft(self, draft_id: int) -> Draft:
        """Give up a post that was never signed."""
        return drafts.drop_draft(self.home, draft_id)

    def pending(self) -> int:
        """How many of the user's posts wait for the node (drafts) or for publishing."""
        return drafts.pending(self.home)

    async def publish(self) -> PublishResult:
        """Seal pending drafts and bring the node and IPNS up to the newest root."""
        return await publishing.publish(self.home)

    async def profile_set(self, name: str | None = None, bio: str | None = None,
                          avatar: Path | None = None) -> PublishResult:
        """Change the profile in a new root and publish it."""
        return await publishing.profile_set(self.home, name, bio, avatar)

    # -- reading (reading.py) -----------------------------------------------------------
    async def show(self, name: str, limit: int = 20) -> FeedView:
        """Resolve a name and fetch, verify and return its root and newest `limit` posts."""
        return await reading.show(self.home, name, limit)

    def timeline(self, limit: int = 20, before: str | None = None,
                 tag: str | None = None) -> list[IndexedPost]:
        """The user's and followed feeds merged (with their reposts), newest first, from the
        index; with `tag`, only posts with that tag."""
        return reading.timeline(self.home, limit, before, tag)

    def status(self) -> list[tuple[Follow, FeedState | None]]:
        """Each follow with what the index knows of it (last sync, head, errors, fork)."""
        return reading.status(self.home)

    def feed_state(self, name: str) -> FeedState | None:
        """What the index knows of one feed."""
        return reading.feed_state(self.home, name)

    def feed_states(self, names: Sequence[str]) -> dict[str, FeedState]:
        """What the index knows of several feeds (canonical names; unknown ones left out)."""
        return reading.feed_states(self.home, names)

    def feed_posts(self, name: str, limit: int = 20, before: str | None = None) -> list[IndexedPost]:
        """One feed's indexed posts, newest first."""
        return reading.feed_posts(self.home, name, limit, before)

    def indexed_post(self, cid: str) -> tuple[IndexedPost | None, list[IndexedPost]]:
        """A post by CID and its known replies."""
        return reading.indexed_post(self.home, cid)

    def deleted(self, cid: str) -> bool:
        """Whether a post was indexed here and then deleted by its author."""
        return reading.deleted(self.home, cid)

    def thread(self, cid: str) -> Thread | None:
        """A post in its conversation (ancestors and replies of replies), from the index."""
        return threads.thread(self.home, cid)

    def reply_authors(self, cids: Sequence[str]) -> dict[str, str]:
        """The author of each of these posts that the index holds (for "in reply to")."""
        return threads.authors(self.home, cids)

    def find_people(self, query: str, follows: Sequence[Follow] = ()) -> list[FeedState]:
        """Feeds whose display name or alias (from `follows`) holds every word of `query`."""
        return people.find(self.home, query, follows)

    def held(self) -> AbstractContextManager[None]:
        """A scope (per thread) in which the index and the outbox are opened once: a page."""
        return self.home.held()

    def search(self, query: str, limit: int = 50) -> list[IndexedPost]:
        """Indexed posts whose text contains every word of `query` (a `#tag` word: tagged so)."""
        return reading.search(self.home, query, limit)

    def attachment(self, post_cid: str, cid: str) -> dict[str, Any] | None:
        """Verified metadata of an attachment, as the post that carries it declares it."""
        return reading.attachment(self.home, post_cid, cid)

    def own_profile(self) -> Profile:
        """The user's current profile (from the outbox)."""
        return reading.own_profile(self.home)

    async def cat(self, cid: str, max_bytes: int) -> bytes:
        """A file from the node, refusing more than `max_bytes`."""
        return await reading.cat(self.home, cid, max_bytes)

    async def attachment_data(self, cid: str, meta: dict[str, Any]) -> bytes:
        """An attachment's bytes, bounded by its declared size, decrypted if it is private."""
        return await reading.attachment_data(self.home, cid, meta)

    def forks(self, name: str) -> list[tuple[int, str]]:
        """Fork evidence kept for a feed."""
        return reading.forks(self.home, name)

    # -- archives (archives.py) ---------------------------------------------------------
    async def export(self, path: Path, since: str | None = None) -> tuple[int, int]:
        """Write the user's feed as a CAR archive (with `since`, only what came after it)."""
        return await archives.export(self.home, path, since)

    async def import_archive(self, path: Path) -> archive.Archive:
        """Verify an archive whole, then store, pin and index it (and republish its record)."""
        return await archives.import_archive(self.home, path)

    # -- following (following.py) -------------------------------------------------------
    def follows(self) -> tuple[Follow, ...]:
        """The user's follow list, as their newest root says."""
        return reading.follows(self.home)

    def known_feed(self, name: str) -> bool:
        """Whether the index holds a verified root of this feed (so it exists: no network)."""
        return following.known_feed(self.home, name)

    async def check_feed(self, name: str) -> str:
        """The canonical name of a feed that exists (verified now or before); NotFound otherwise."""
        return await following.check_feed(self.home, name)

    async def follow(self, name: str, alias: str = "", *, force: bool = False) -> PublishResult:
        """Add a feed to the signed follow list and publish it."""
        return await following.follow(self.home, name, alias, force=force)

    async def unfollow(self, name: str) -> PublishResult:
        """Remove a feed from the follow list and publish it."""
        return await following.unfollow(self.home, name)

    async def sync(self, names: Sequence[str] = (), progress: Progress | None = None, *,
                   force: bool = False) -> list[SyncResult]:
        """Sync the named feeds now, or the user's own and every followed feed that is due."""
        return await following.sync_follows(self.home, names, progress, force=force)

    # -- home server (homeserver.py) ----------------------------------------------------
    async def listen(self, on_sync: Callable[[SyncResult], None] | None = None) -> None:
        """Sync a followed feed as soon as its author's node announces a new record (push)."""
        await homeserver.listen(self.home, on_sync)

    async def share(self, ready: Callable[[], None] | None = None) -> None:
        """Offer the feeds this home holds to peers as one stream each; runs until cancelled."""
        await homeserver.share(self.home, ready)

    async def republish(self) -> int:
        """Re-put the newest verified IPNS records of followed feeds."""
        return await homeserver.republish(self.home)

    # -- node (peers.py) ----------------------------------------------------------------
    async def addrs(self) -> list[str]:
        """The node's swarm multiaddrs, each ending in /p2p/PEERID."""
        return await peers.addrs(self.home)

    async def connect(self, maddr: str) -> None:
        """Connect to a peer now."""
        await peers.connect(self.home, maddr)

    async def peers(self) -> list[dict[str, Any]]:
        """The persistent peerings (Kubo's Peering.Peers)."""
        return await peers.peers(self.home)

    async def peer_add(self, maddr: str) -> None:
        """Keep a persistent peering with a peer (from the next node start) and connect now."""
        await peers.peer_add(self.home, maddr)

    async def peer_rm(self, maddr_or_id: str) -> bool:
        """Forget a persistent peering; False if there was none."""
        return await peers.peer_rm(self.home, maddr_or_id)
