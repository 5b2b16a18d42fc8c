"""The one async facade the CLI, the web UI and the home server call: a method per use case,
each a delegation into the module that owns the concern (README, "Development")."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import (
    archive,
    archives,
    devices,
    drafts,
    following,
    handover,
    homeserver,
    identity,
    inbox,
    interact,
    keys,
    kinds,
    moderation,
    moving,
    notify,
    peers,
    people,
    publishing,
    reading,
    remote,
    threads,
    tls,
)
from .config import Settings
from .devices import Device, Pairing
from .drafts import PostResult, check_avatar, media_type_of
from .errors import InvalidInput, IpfeedError, RemoteError
from .feed import Follow, Profile
from .handover import Action as HandoverAction
from .handover import Item as HandoverItem
from .homedir import Home, now_ms
from .identity import Identity, normalize_name
from .inboxdb import NOTIFICATIONS, REQUESTS, Outgoing, Received
from .index import FeedState, IndexedPost
from .moderation import Changed, Lists
from .notify import Delivery
from .outbox import Draft
from .publishing import BULK_CHUNK, PublishResult
from .reading import FeedView
from .recovery import RecoveryKey
from .remote import HomeLists as RemoteLists
from .remote import Inbox as RemoteInbox
from .remote import Pairing as RemotePairing
from .remote import PushResult, Waiting
from .sync import Progress, SyncResult
from .threads import Thread

__all__ = ["NOTIFICATIONS", "REQUESTS", "Changed", "Delivery", "FeedView", "Lists", "PostResult",
           "PublishResult", "Service", "check_avatar", "media_type_of", "now_ms"]


class Service:
    """ipfeed for one home: the only entry point of the CLI and the web UI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = Home(settings)
        self._receiver: inbox.Receiver | None = None

    # -- identity (keys.py) -------------------------------------------------------------
    def identity(self) -> Identity:
        """The home's key (refused if missing or readable by others)."""
        return self.home.identity()

    def init(self, display_name: str = "", *, fresh: bool = False) -> tuple[Identity, bool]:
        """Create the identity and the first root; a no-op if the home has a key already."""
        if (paired := self.remote()) is not None:
            raise InvalidInput(f"this home is a paired device of {paired.url}: its posts are signed "
                               "there, so it has no feed key of its own (`ipfeed remote rm` first)")
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
        """Write a post: saved durably first, then signed, stored, pinned and published (and
        the feeds it replies to, quotes or mentions notified)."""
        result = await publishing.post(self.home, text, reply_to, attach, to, quote=quote, cw=cw,
                                       sensitive=sensitive, alts=alts, card=card)
        await self._notify_soon()
        return result

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

    async def complete_chain(self) -> int:
        """Before a delete, unreact or unrepost in a home that continued the feed with a
        restored key: fetch and verify the older entries a deletion needs (no node is needed
        when the home holds its whole chain); how many it fetched."""
        return await publishing.complete_chain(self.home)

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
        """How many of the user's updates wait for the node (drafts, an avatar) or for publishing."""
        return drafts.pending(self.home)

    def kept_avatar(self) -> str | None:
        """The file name of a new avatar saved while the node was down, until it is published."""
        with self.home.outbox() as box:
            staged = drafts.kept_avatar(box)
        return str(staged["name"]) if staged else None

    async def publish(self) -> PublishResult:
        """Seal pending drafts and bring the node and IPNS up to the newest root; then send
        the notices of what is new (bounded; what is not delivered waits in the outbox)."""
        result = await publishing.publish(self.home)
        await self._notify_soon()
        return result

    async def profile_set(self, name: str | None = None, bio: str | None = None,
                          avatar: Path | None = None) -> PublishResult:
        """Change the profile in a new root and publish it."""
        return await publishing.profile_set(self.home, name, bio, avatar)

    # -- reading (reading.py) -----------------------------------------------------------
    async def show(self, name: str, limit: int = 20) -> FeedView:
        """Resolve a name and fetch, verify and return its root and newest `limit` posts (none
        of a blocked feed)."""
        view = await reading.show(self.home, name, limit)
        if self.blocked(view.name):
            return replace(view, posts=[], opened={}, contents={})
        return view

    def timeline(self, limit: int = 20, before: str | None = None,
                 tag: str | None = None) -> list[IndexedPost]:
        """The user's and followed feeds merged (with their reposts), newest first, from the
        index; with `tag`, only posts with that tag; nothing by muted or blocked feeds."""
        return reading.timeline(self.home, limit, before, tag, self.moderation().hidden)

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
        """One feed's indexed posts, newest first (a muted feed's too: its page opens; none of a
        blocked feed's)."""
        if self.blocked(name):
            return []
        return reading.feed_posts(self.home, name, limit, before)

    def indexed_post(self, cid: str) -> tuple[IndexedPost | None, list[IndexedPost]]:
        """A post by CID and its known replies (none by muted or blocked feeds)."""
        post, replies = reading.indexed_post(self.home, cid)
        hidden = self.moderation().hidden
        return post, [r for r in replies if r.name not in hidden]

    def deleted(self, cid: str) -> bool:
        """Whether a post was indexed here and then deleted by its author."""
        return reading.deleted(self.home, cid)

    def thread(self, cid: str) -> Thread | None:
        """A post in its conversation (ancestors and replies of replies), from the index,
        without the posts of muted and blocked feeds (the post itself is kept: the caller
        says when its author is blocked)."""
        return threads.thread(self.home, cid, self.moderation().hidden)

    def reply_authors(self, cids: Sequence[str]) -> dict[str, str]:
        """The author of each of these posts that the index holds (for "in reply to")."""
        return threads.authors(self.home, cids)

    def find_people(self, query: str, follows: Sequence[Follow] = ()) -> list[FeedState]:
        """Feeds whose display name or alias (from `follows`) holds every word of `query`
        (blocked ones left out)."""
        return people.find(self.home, query, follows, hide=self.moderation().blocked)

    def held(self) -> AbstractContextManager[None]:
        """A scope (per thread) in which the index and the outbox are opened once: a page."""
        return self.home.held()

    def search(self, query: str, limit: int = 50) -> list[IndexedPost]:
        """Indexed posts whose text contains every word of `query` (a `#tag` word: tagged so),
        none by muted or blocked feeds."""
        return reading.search(self.home, query, limit, self.moderation().hidden)

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

    # -- mute and block (moderation.py) -------------------------------------------------
    def moderation(self) -> Lists:
        """The user's mute and block lists (sealed in their feed; only this key opens them)."""
        return moderation.lists(self.home)

    def muted(self, name: str) -> bool:
        """Whether the user muted this feed (any spelling of its name)."""
        return identity.normalize_name(name) in self.moderation().muted

    def blocked(self, name: str) -> bool:
        """Whether the user blocked this feed: its posts are hidden everywhere and its notices
        dropped (any spelling of its name)."""
        return identity.normalize_name(name) in self.moderation().blocked

    def resolve_listed(self, text: str) -> str:
        """The feed a NAME argument stands for: a name, a followed feed's alias or display
        name, or a muted or blocked feed's display name."""
        return moderation.resolve(self.home, text, self.moderation().hidden)

    async def mute(self, name: str) -> Changed:
        """Hide a feed's posts and reposts from the timeline, threads and search (its page
        still opens); the lists are sealed in a new root and published."""
        return await moderation.change(self.home, name, moderation.MUTE)

    async def unmute(self, name: str) -> Changed:
        """Show a muted feed again."""
        return await moderation.change(self.home, name, moderation.UNMUTE)

    async def block(self, name: str) -> Changed:
        """Hide a feed everywhere and drop its notices; a followed feed is also unfollowed."""
        return await moderation.change(self.home, name, moderation.BLOCK)

    async def unblock(self, name: str) -> Changed:
        """Stop blocking a feed (it is not followed again by this)."""
        return await moderation.change(self.home, name, moderation.UNBLOCK)

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
        """Add a feed to the signed follow list and publish it (not a blocked one), and
        notify that feed."""
        if self.blocked(name):
            raise InvalidInput(f"you blocked {identity.normalize_name(name)}; unblock it first "
                               "(`ipfeed unblock`, or Unblock on its page)")
        result = await following.follow(self.home, name, alias, force=force)
        await self._notify_soon()
        return result

    async def unfollow(self, name: str) -> PublishResult:
        """Remove a feed from the follow list and publish it."""
        return await following.unfollow(self.home, name)

    async def sync(self, names: Sequence[str] = (), progress: Progress | None = None, *,
                   force: bool = False) -> list[SyncResult]:
        """Sync the named feeds now, or the user's own and every followed feed that is due;
        then follow the migrations of followed feeds (FORMAT.md section 18) and sync the new names."""
        results = await following.sync_follows(self.home, names, progress, force=force)
        if not names and (moved := await moving.follow_moves(self.home, force=force)):
            results += await following.sync_follows(self.home, [m.new for m in moved], progress)
        return results

    # -- recovery and migration (moving.py) ------------------------------------------------
    def recovery_commit(self, rk: RecoveryKey) -> int:
        """Sign this feed's commitment to a recovery key (a draft: `publish` sends it)."""
        return moving.commit(self.home, rk)

    async def recovery_setup(self, rk: RecoveryKey) -> PublishResult:
        """Commit an existing feed to a recovery key and publish it."""
        return await moving.setup(self.home, rk)

    async def recover(self, rk: RecoveryKey, old: str,
                      since: int | None = None) -> tuple[Identity, int, PublishResult]:
        """On a fresh home: a new feed whose genesis is the recovery key's migration of `old`."""
        return await moving.recover(self.home, rk, old, since=since)

    async def rotate(self, rk: RecoveryKey) -> tuple[Identity, int]:
        """A planned rotation: the old chain's migration entry, then this home's new feed."""
        return await moving.rotate(self.home, rk)

    async def follow_moves(self, *, force: bool = True) -> list[moving.Moved]:
        """Follow the migrations of followed feeds now (unforced: beacons looked up hourly)."""
        return await moving.follow_moves(self.home, force=force)

    def moved_from(self, name: str) -> list[str]:
        """The old feeds that moved to this one (and to those, in turn)."""
        return reading.moved_from(self.home, [name])

    def migration_problems(self, name: str) -> str | None:
        """Why a migration of this feed was refused (a thief's, a forged one), if one was."""
        return moving.problems(self.home, name)

    def competing_moves(self, name: str) -> bool:
        """Whether competing migrations of a feed were seen (the lowest seq won)."""
        return moving.competing(self.home, name)

    def moved_to(self, name: str) -> tuple[str, int] | None:
        """The name a feed moved to and the seq from which its old key is not the owner."""
        return moving.moved_to(self.home, name)

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

    # -- inbox (inbox.py, notify.py, inboxdb.py) ----------------------------------------
    def receiver(self) -> inbox.Receiver:
        """This process's inbox (budgets, the verification queue, its figures)."""
        if self._receiver is None:
            self._receiver = inbox.Receiver(self.home, blocked=self._blocked)
        return self._receiver

    def _blocked(self, name: str) -> bool:
        """Whether a feed is blocked: its notices are dropped on arrival (ipfeed.moderation)."""
        return name in self.moderation().blocked

    def _hidden(self) -> list[str]:
        """Feeds whose notices are not shown: muted or blocked (ipfeed.moderation)."""
        return sorted(self.moderation().hidden)

    async def inbox_serve(self, ready: Callable[[], None] | None = None) -> None:
        """Receive notices over /x/ipfeed/inbox/1 until cancelled, coming back after a node restart."""
        while True:
            with contextlib.suppress(IpfeedError, OSError):
                async with self.home.kubo() as kubo:
                    await inbox.serve(self.receiver(), kubo, ready)
            await asyncio.sleep(2)

    async def deliver_notices(self) -> Delivery:
        """Queue notices for the user's new entries and follows, and deliver those due."""
        return await notify.deliver(self.home)

    async def _notify_soon(self) -> None:
        with contextlib.suppress(IpfeedError, OSError, TimeoutError):
            async with asyncio.timeout(notify.SEND_TIMEOUT + 5):
                await notify.deliver(self.home)

    def notifications(self, box: str | None = NOTIFICATIONS, *, unread_only: bool = False,
                      limit: int = 100, before: int = 0) -> list[Received]:
        """Recorded, verified notices of one box (or both), newest first (below id `before`)."""
        with self.home.inbox() as db:
            return db.notices(box, unread_only=unread_only, limit=limit, before=before,
                              hidden=self._hidden())

    def unread(self) -> dict[str, int]:
        """Unread notices per box (notifications, requests)."""
        with self.home.inbox() as db:
            return db.unread(self._hidden())

    def mark_read(self, box: str | None = None, upto: int | None = None) -> int:
        """Mark the unread notices of a box (or all) read (those up to id `upto`, if given)."""
        with self.home.inbox() as db:
            return db.mark_read(box, upto)

    async def accept_request(self, name: str) -> PublishResult:
        """Accept a request: follow its feed; its notices move to Notifications."""
        name = normalize_name(name)
        result = await self.follow(name)
        with self.home.inbox() as db:
            db.set_sender(name, box=NOTIFICATIONS)
        return result

    def ignore_request(self, name: str) -> int:
        """Ignore a feed's requests: they are no longer shown."""
        with self.home.inbox() as db:
            return db.set_sender(normalize_name(name), state="ignored")

    def outgoing_notices(self) -> list[Outgoing]:
        """The notices this home sent or still has to send, newest first."""
        with self.home.inbox() as db:
            return db.outgoing()

    def rejected_notices(self, limit: int = 100) -> list[tuple[str | None, str, int]]:
        """Why recent notices were refused: (sender, reason, when), newest first."""
        with self.home.inbox() as db:
            return db.rejections(limit)

    async def set_inbox(self, peers: Sequence[tuple[str, Sequence[str]]] = (), *,
                        here: bool = True) -> PublishResult:
        """Name where notices for this feed are delivered (this node, `here`, and `peers`)."""
        listed: list[tuple[str, tuple[str, ...]]] = []
        if here:
            async with self.home.kubo() as kubo:
                info = await kubo.id()
            own = [a.rsplit("/p2p/", 1)[0] for a in info.get("Addresses") or []]
            listed.append((str(info["ID"]), tuple(own[:8])))
        listed += [(p, tuple(a)) for p, a in peers if p not in {x for x, _ in listed}]
        return await publishing.profile_set(self.home, inbox=tuple(listed))

    async def host_inbox(self, name: str) -> tuple[bool, str | None]:
        """Agree to receive notices for another feed (its owner lists this node in its profile's
        inbox, and fetches them with a request signed by its key); its feed is synced so that
        notices about its posts can be checked. (False if it was hosted already, why its feed
        did not verify yet, if it did not: each notice syncs it again.)"""
        name = normalize_name(name)
        if name == self.identity().name:
            raise InvalidInput("this node receives for your own feed already")
        with self.home.inbox() as db:
            added = db.host(name)
        if self._receiver is not None:
            self._receiver.hosted_changed()
        return added, (await following.sync_follows(self.home, [name]))[0].error

    def unhost_inbox(self, name: str) -> int:
        """Stop receiving for a feed: its notices kept here are dropped (how many)."""
        with self.home.inbox() as db:
            dropped = db.unhost(normalize_name(name))
        if self._receiver is not None:  # at once in this process (another re-reads within 5 s)
            self._receiver.hosted_changed()
        return dropped

    def hosted_inboxes(self) -> list[tuple[str, int]]:
        """The feeds this node receives for besides its own, with how many notices it keeps."""
        with self.home.inbox() as db:
            return [(name, db.count(name)) for name in db.hosted()]

    async def fetch_notifications(self, *, required: bool = True) -> int:
        """Read the notices the user's home server (or a server hosting the inbox) kept, signed
        by the feed key, verify and record them here; how many (`required`: a profile naming no
        other inbox peer is an error, else 0)."""
        return await notify.fetch_from_home(self.home, self.receiver(), required=required)

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

    # -- devices paired with this home server (devices.py, handover.py; FORMAT.md section 17)
    def open_pairing(self, label: str = "new device") -> Pairing:
        """A one-time code (ten minutes, once) for pairing one more device."""
        with devices.opened(self.settings.home) as store:
            return store.open_pairing(label)

    def redeem_pairing(self, code: str, label: str, client: str) -> tuple[Device, str]:
        """A new device and its credential (returned once) for a valid pairing code."""
        with devices.opened(self.settings.home) as store:
            return store.redeem(code, label, client)

    def authenticate_device(self, token: str) -> Device:
        """The paired, unrevoked device a credential belongs to (NotPaired, Revoked)."""
        with devices.opened(self.settings.home) as store:
            return store.authenticate(token)

    def login_device(self, token: str, client: str) -> Device:
        """The same for a credential typed into the login page (rate limited)."""
        with devices.opened(self.settings.home) as store:
            return store.login(token, client)

    def devices(self) -> list[Device]:
        """Every device paired with this home, revoked ones too."""
        with devices.opened(self.settings.home) as store:
            return store.devices()

    def revoke_device(self, device_id: str) -> Device:
        """Refuse a device's credential from now on; drop what it uploaded for posts it never
        handed over (no handover of it is taken any more)."""
        with devices.opened(self.settings.home) as store:
            device = store.revoke(device_id)
        self.clean_uploads()
        return device

    def clean_uploads(self) -> int:
        """Drop the uploads of revoked (or unknown) devices and those no handover used within
        handover.ORPHAN_UPLOAD_MS (a home server's round does it too); how many files."""
        active = {d.id for d in self.devices() if d.revoked is None}
        return handover.clean_uploads(self.home, active)

    def device_setting(self, key: str, value: str | None = None) -> str | None:
        """A setting of the remote listener (e.g. its URL, for `device pair`); set with `value`."""
        with devices.opened(self.settings.home) as store:
            if value is not None:
                store.set(key, value)
            return store.get(key)

    def tls_fingerprint(self, names: Sequence[str] = ()) -> str:
        """The fingerprint of this home's TLS certificate (made first if it has none)."""
        tls.ensure_cert(self.settings.home, names)
        return tls.fingerprint(self.settings.home)

    def handover(self, device_id: str, bodies: Any,
                 run: Callable[[Coroutine[Any, Any, object]], object]) -> list[dict[str, Any]]:
        """A paired device's drafts and actions, in order: each checked and applied once by its
        draft id, then signed in the chain; a result for each (what it became, why it was
        refused, or why it waits). `run` runs an action on a feed (it publishes) to its end."""
        return handover.accept(self.home, device_id, bodies, lambda a, f: run(self._on_feed(a, f)),
                               lambda: run(self.complete_chain()))

    def store_upload(self, device_id: str, digest: str, read: Callable[[int], bytes], length: int) -> int:
        """Keep an attachment a paired device sends ahead of its post (checked by its SHA-256)."""
        return handover.store_upload(self.home, device_id, digest, read, length)

    async def _on_feed(self, a: HandoverAction, avatar: Path | None) -> object:
        """A paired device's action on a feed (or its profile), exactly as the CLI's command
        does it here."""
        if a.kind == handover.PROFILE:
            return await self.profile_set(a.display_name, a.bio, avatar)
        name = a.name or ""
        if a.kind == "follow":
            return await self.follow(name, a.alias, force=a.force)
        if a.kind == "ignore":
            return self.ignore_request(name)
        calls = {"unfollow": self.unfollow, "accept": self.accept_request, "mute": self.mute,
                 "unmute": self.unmute, "block": self.block, "unblock": self.unblock}
        return await calls[a.kind](name)

    # -- this home as a paired device of a home server (remote.py) ----------------------
    def remote(self) -> RemotePairing | None:
        """This home's pairing with a home server (a laptop's), if any."""
        return remote.pairing(self.settings.home)

    def remote_add(self, url: str, code: str, fingerprint: str | None, label: str) -> RemotePairing:
        """Pair this home with a home server, which then signs what this home posts."""
        return remote.add(self.settings.home, url, code, fingerprint, label, self.settings.timeout)

    def remote_rm(self) -> bool:
        """Unpair this home (drafts waiting here stay)."""
        return remote.forget(self.settings.home)

    def remote_post(self, text: str, reply_to: str | None = None, attach: Sequence[Path] = (),
                    to: Sequence[str] = (), *, quote: str | None = None, cw: str = "",
                    sensitive: bool = False, alts: Sequence[str] = (),
                    card: bool = True) -> tuple[str, PushResult]:
        """Save a post in this device's outbox, then hand over everything waiting, in order."""
        h = remote.new_post(self.settings.home, self._paired(), text, reply_to, attach, to, quote=quote,
                            cw=cw, sensitive=sensitive, alts=alts, card=card)
        return self._remote_queue(h)

    def remote_post_many(self, texts: Sequence[str]) -> PushResult:
        """`post --many` on a paired device: every text saved in this device's outbox at once (all,
        or none if one is invalid), as plain posts, then handed over in order (in requests of
        100, each signed by the home server under one new root)."""
        self._paired()
        items = remote.new_plain_posts(texts)
        box = remote.Outbox(self.settings.home)
        try:
            box.add_all(items)
        finally:
            box.close()
        sent: list[tuple[str, str | None, str]] = []
        refused: list[str] = []
        while True:  # one push hands over at most remote.MAX_HANDOVERS_AT_ONCE
            r = self.remote_push()
            sent += r.sent
            refused += r.refused
            if not r.sent or not r.waiting or r.error:
                return replace(r, sent=sent, refused=refused)

    def remote_profile(self, name: str | None, bio: str | None,
                       avatar: Path | None) -> tuple[str, PushResult]:
        """`profile set` on a paired device: saved in its outbox, then handed over in order;
        the home server changes the profile as its own `profile set` does."""
        return self._remote_queue(remote.new_profile(self.settings.home, name, bio, avatar))

    def remote_lists(self) -> RemoteLists:
        """The home server's follow, mute and block lists (while it cannot be reached: the copy
        kept here, marked offline)."""
        return remote.lists(self.settings.home, self._paired(), self.settings.timeout)

    def remote_hidden(self) -> tuple[set[str], set[str]]:
        """(muted, blocked) on a paired device: the home server's lists, with the mutes and
        blocks still waiting here applied."""
        try:
            lists = self.remote_lists()
        except RemoteError:  # none kept yet, a broken answer, or a home server without GET
            lists = self._kept_lists()  # /api/lists (its answers are filtered by its lists already)
        return lists.hidden(self.remote_waiting())

    def _kept_lists(self) -> RemoteLists:
        with contextlib.suppress(RemoteError):
            if (kept := remote.kept_lists(self.settings.home)) is not None:
                return kept
        return remote.HomeLists([], [], [], 0)

    def remote_act(self, kind: str, target: str, *, emoji: str = "", text: str = "", alias: str = "",
                   force: bool = False) -> tuple[str, PushResult]:
        """Save an action (react, follow, mute, accept, …) in this device's outbox, then hand
        over everything waiting, in order: the home server applies it as its CLI would."""
        a = remote.new_action(kind, target, emoji=emoji, text=text, alias=alias, force=force)
        return self._remote_queue(a)

    def _remote_queue(self, item: HandoverItem) -> tuple[str, PushResult]:
        self._paired()
        box = remote.Outbox(self.settings.home)
        try:
            box.add(item)
        finally:
            box.close()
        return item.id, self.remote_push()

    def remote_push(self) -> PushResult:
        """Hand the drafts waiting here to the home server, oldest first."""
        return remote.push(self.settings.home, self._paired(), self.settings.timeout)

    def remote_waiting(self) -> list[Waiting]:
        """Drafts this device has not handed over yet, oldest first."""
        box = remote.Outbox(self.settings.home)
        try:
            return box.waiting()
        finally:
            box.close()

    def remote_timeline(self, limit: int = 20, before: str | None = None,
                        tag: str | None = None) -> dict[str, Any]:
        """The home server's timeline (`ipfeed timeline --json`'s shape; with `tag`, only posts
        with that #tag), without the posts and reposts of feeds muted or blocked there or by
        what waits here to be handed over."""
        page = remote.timeline(self._paired(), limit, before, self.settings.timeout, tag)
        muted, blocked = self.remote_hidden()
        hidden = muted | blocked
        return {**page, "posts": [p for p in page["posts"] if p["name"] not in hidden
                                  and p.get("reposted_by") not in hidden]}

    def remote_notifications(self, box: str, unread_only: bool = True, limit: int = 100,
                             before: int = 0) -> RemoteInbox:
        """The home server's notifications or requests, and its unread counts (checked),
        without the notices of feeds blocked there or by a block waiting here."""
        page = remote.notifications(self._paired(), box, unread_only, limit, before,
                                    self.settings.timeout)
        _, blocked = self.remote_hidden()
        return {**page, "notices": [n for n in page["notices"] if n["from"] not in blocked]}

    def remote_mark_read(self, box: str, upto: int) -> int:
        """Mark a box's unread notices read at the home server (ids up to `upto`)."""
        return remote.mark_read(self._paired(), box, upto, self.settings.timeout)

    def _paired(self) -> RemotePairing:
        p = self.remote()
        if p is None:
            raise InvalidInput("this home is not paired with a home server (`ipfeed remote add`)")
        return p
