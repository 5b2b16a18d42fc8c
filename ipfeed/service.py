"""The one async facade the CLI and the web UI call: identity, posting, publishing, reading."""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import archive, backup, bulk, codec, feed, identity, ipfs, media, node, pins, post, private, push, sync
from .car import car_bytes, read_car, varint
from .config import Settings
from .errors import (
    AnotherHome,
    InvalidInput,
    InvalidObject,
    IpfeedError,
    KuboNotFound,
    MissingIdentity,
    NodeError,
    NodeUnavailable,
    NotFound,
    PublishPending,
)
from .faults import crashpoint
from .feed import Follow, Profile, Root
from .identity import Identity
from .index import FeedState, Index, IndexedPost
from .ipfs import Kubo
from .ipns import parse_record
from .outbox import Draft, Outbox, feed_lock, feed_lock_async
from .post import Attachment, Post
from .sync import SyncResult

T = TypeVar("T")
MAX_BLOCK = 2 * 1024 * 1024  # Kubo's block size limit
_UNSIGNED_CID = re.compile(r"\Apost \S+: ")  # how post.build names a post it refused
OWN_HEAD_TIMEOUT = 5.0  # seconds the check for another home publishing this feed may take


def now_ms() -> int:
    """The current time in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class PostResult:
    """What `post` did: the post (if it could be signed yet) and whether it is published."""

    seq: int | None
    cid: str | None
    published: bool
    draft_id: int = 0


@dataclass(frozen=True)
class PublishResult:
    """What `publish` did."""

    name: str
    root: str
    count: int
    sealed: int  # drafts turned into signed posts


@dataclass(frozen=True)
class FeedView:
    """A verified feed: its root and its newest posts, newest first."""

    name: str
    root: Root
    posts: list[Post] = field(default_factory=list)  # private ones only if they opened
    opened: dict[str, private.Opened] = field(default_factory=dict)

    def post_json(self, p: Post) -> dict[str, Any]:
        """One post for output, decrypted if it is private."""
        out = p.to_json()
        if (o := self.opened.get(p.cid)) is not None:
            out.update(text=o.text, reply_to=o.reply_to, recipients=o.to,
                       attachments=[{k: a[k] for k in ("cid", "type", "size", "name")}
                                    for a in o.attachments])
        return out

    def to_json(self) -> dict[str, Any]:
        """The feed for `ipfeed show --json`."""
        return {
            "name": self.name,
            "root": self.root.cid,
            "count": self.root.count,
            "updated": self.root.updated,
            "profile": self.root.profile.to_json(),
            "posts": [self.post_json(p) for p in self.posts],
        }


YOUNG_NODE = 60.0  # seconds after a start during which publishing waits for the DHT table
BULK_CHUNK = 1000  # posts `post_many` signs at a time while the node stores the chunk before


class Service:
    """ipfeed for one home: the only entry point of the CLI and the web UI."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._follows: tuple[str, tuple[Follow, ...]] | None = None  # (list CID, parsed): pages ask a lot

    # -- identity ---------------------------------------------------------------------
    def identity(self) -> Identity:
        """The home's key (refused if missing or readable by others)."""
        return identity.load(self.settings.key_path)

    def init(self, display_name: str = "", *, fresh: bool = False) -> tuple[Identity, bool]:
        """Create the identity and the first root; a no-op if the home has a key already.

        A key put into a home by hand (restored) gets no new root here: the existing feed is
        fetched from the network before the first post, so it is continued, never forked.
        `fresh=True` starts a new feed for such a key (only right if it never published)."""
        try:
            me = self.identity()
        except MissingIdentity:
            if self.settings.key_path.exists():
                raise
            me = Identity.generate()
            identity.save(me, self.settings.key_path)
            fresh = True
        else:
            if not fresh:
                return me, False
        with self._outbox() as box, feed_lock(self.settings.home, self.settings.lock_timeout):
            if box.latest_root() is not None:
                return me, False
            root = feed.advance(me, None, updated=now_ms(), profile=Profile(name=display_name))
            box.add_root(root.seq, root.cid, root.block)
        return me, True

    def key_export(self, path: Path, passphrase: str, strength: str = "moderate") -> str:
        """Write the identity key encrypted with a passphrase; return the name."""
        me = self.identity()
        data = backup.export_key(me, passphrase, strength)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return me.name

    def key_import(self, path: Path, passphrase: str) -> str:
        """Restore the identity from a backup into this home (which must have none yet). The
        feed itself is fetched from the network, or an imported archive, before a new post."""
        if self.settings.key_path.exists():
            raise InvalidInput(f"{self.settings.key_path} exists: this home already has an identity")
        try:
            data = path.read_bytes()
        except OSError as e:
            raise InvalidInput(f"cannot read {path}: {e.strerror}") from e
        me = backup.import_key(data, passphrase)
        identity.save(me, self.settings.key_path)
        return me.name

    def _outbox(self) -> _OutboxContext:
        return _OutboxContext(self.settings.outbox_path)

    def _index(self) -> _IndexContext:
        return _IndexContext(self.settings.index_path)

    def _kubo(self) -> Kubo:
        return Kubo(node.api_address(self.settings), self.settings.timeout)

    # -- writing ----------------------------------------------------------------------
    def save(self, text: str, reply_to: str | None = None, attach: Sequence[Path] = (),
             to: Sequence[str] = (), *, seal: bool = True) -> PostResult:
        """Write a post to the outbox (never lost from here on) and sign it if no node is needed
        (and `seal`); publishing is a separate step (`publish`). With `to`, or in reply to a
        private post, it is end-to-end encrypted to those recipients."""
        me = self.identity()
        post.check_text(text, len(attach))
        reply = codec.parse_cid(reply_to) if reply_to else None
        recipients = self._recipients(me, to, reply)
        if len(attach) > post.MAX_ATTACHMENTS:
            raise InvalidInput(f"at most {post.MAX_ATTACHMENTS} attachments per post")
        for p in attach:  # every name checked before any file is copied
            _attachment_name(p)
        with self._outbox() as box:
            files = [_stage(box.files, p) for p in attach]
            # A dry run through the one post validator, so no draft can fail to seal later.
            placeholder = codec.cid_str(codec.PREFIX_RAW + bytes(32))
            try:
                post.build(me, seq=1, prev=None, created=now_ms(), text=text, reply_to=reply,
                           attachments=tuple(Attachment(placeholder, f["type"], f["size"], f["name"])
                                             for f in files))
                if recipients:
                    private.seal(me, recipients, text, reply,
                                 [{"cid": codec.cid_to_bytes(placeholder), "type": f["type"],
                                   "size": f["size"], "name": f["name"], "nonce": bytes(24)}
                                  for f in files])
            except InvalidInput as e:
                for f in files:
                    Path(f["path"]).unlink(missing_ok=True)
                raise InvalidInput(_refused(e)) from e
            draft_id = box.add_draft(now_ms(), text, reply, files, recipients)
            crashpoint("saved", self.settings.home)
            if seal and not files:
                with feed_lock(self.settings.home, self.settings.lock_timeout):
                    self._seal_offline(me, box)
            sealed = box.post_of_draft(draft_id)
        return PostResult(sealed[0] if sealed else None, sealed[1] if sealed else None, False,
                          draft_id)

    def save_many(self, texts: Sequence[str]) -> int:
        """Write many text posts at once: one transaction, one new root; publish them with
        `publish` (or use `post_many`). Returns how many were signed."""
        me = self.identity()
        with self._outbox() as box:
            _add_texts(box, texts)
            with feed_lock(self.settings.home, self.settings.lock_timeout):
                return self._seal_offline(me, box)

    async def post_many(self, texts: Sequence[str], chunk: int = BULK_CHUNK) -> PublishResult:
        """Write and publish many text posts (an import) with one IPNS update: all saved
        durably first, then signed CHUNK at a time in a thread while the node stores the
        chunk before (so both cores work), then pinned and published once."""
        me = self.identity()
        with self._outbox() as box:
            _add_texts(box, texts)
            try:
                return await self._flush(me, box, chunk=chunk)
            except IpfeedError as e:
                raise PublishPending(f"{len(texts)} posts are saved but not all published: {e}") from e

    def resolve_recipient(self, text: str) -> str:
        """The IPNS name a recipient stands for: a name itself, else the one followed feed whose
        alias (yours, so it wins) or else verified display name is `text` (case-insensitive)."""
        text = text.strip()
        try:
            return identity.normalize_name(text)
        except InvalidInput as e:
            reason = str(e)
        wanted = text.casefold()
        follows = self.follows()
        states = self.feed_states([f.name for f in follows])
        by_alias = [f.name for f in follows if f.alias.strip().casefold() == wanted]
        by_name = [f.name for f in follows if (st := states.get(f.name))
                   and str(st.profile.get("name") or "").strip().casefold() == wanted]
        found = by_alias or by_name
        if len(found) == 1:
            return found[0]
        if found:
            listed = "; ".join(f"{n} ({self._label(n, follows, states)})" for n in found)
            raise InvalidInput(f"{text!r} could be any of {len(found)} feeds you follow: {listed}; "
                               "give the name (k51…) of the one you mean")
        raise InvalidInput(f"{reason}, nor the alias or display name of a feed you follow")

    @staticmethod
    def _label(name: str, follows: Sequence[Follow], states: dict[str, FeedState]) -> str:
        alias = next((f.alias for f in follows if f.name == name), "")
        shown = str(states[name].profile.get("name") or "") if name in states else ""
        return ", ".join(x for x in (f"alias {alias!r}" if alias else "",
                                     f"display name {shown!r}" if shown else "") if x) or "no name"

    def _recipients(self, me: Identity, to: Sequence[str], reply: str | None) -> list[str]:
        """Names a post is encrypted to: as given (names, aliases or display names of
        follows: resolve_recipient), or a private parent's thread."""
        names = {self.resolve_recipient(n) for n in to if n.strip()}
        if reply and not names:
            with self._index() as index:
                parent = index.post(reply)
            if parent and parent.private:
                names = {*parent.recipients, parent.name}
        return sorted(names - {me.name})

    async def post(self, text: str, reply_to: str | None = None,
                   attach: Sequence[Path] = (), to: Sequence[str] = ()) -> PostResult:
        """Write a post: saved durably first, then signed (once the network shows no other home
        publishing this feed, or the node is offline), stored, pinned and published."""
        saved = self.save(text, reply_to, attach, to, seal=False)
        with self._outbox() as box:
            try:
                await self._flush(self.identity(), box)
            except IpfeedError as e:
                sealed = box.post_of_draft(saved.draft_id)
                where = f"post {sealed[1]} (seq {sealed[0]})" if sealed else "your post"
                raise PublishPending(f"{where} is saved but not published: {e}") from e
            sealed = box.post_of_draft(saved.draft_id)
        assert sealed is not None
        return PostResult(sealed[0], sealed[1], True, saved.draft_id)

    def drafts(self) -> list[Draft]:
        """The user's posts that are saved but not signed yet, oldest first."""
        with self._outbox() as box:
            return box.drafts()

    def drop_draft(self, draft_id: int) -> Draft:
        """Give up a post that was never signed (one that cannot be published blocks those
        after it); under the feed lock, so no publish is signing it meanwhile."""
        with self._outbox() as box, feed_lock(self.settings.home, self.settings.lock_timeout):
            draft = box.drop_draft(draft_id)
        if draft is None:
            raise InvalidInput(f"there is no unsigned draft {draft_id} (see `ipfeed drafts`)")
        return draft

    def pending(self) -> int:
        """How many of the user's posts wait for the node (drafts) or for publishing."""
        with self._outbox() as box:
            drafts = len(box.drafts())
            latest = box.latest_root()
            published = {v for k, v in box.items("published:")}
        root_cid = codec.cid_of(latest) if latest else None
        return drafts + (0 if root_cid in published or root_cid is None else 1)

    async def publish(self) -> PublishResult:
        """Seal pending drafts and bring the node and IPNS up to the newest root."""
        me = self.identity()
        with self._outbox() as box:
            return await self._flush(me, box)

    async def profile_set(self, name: str | None = None, bio: str | None = None,
                          avatar: Path | None = None) -> PublishResult:
        """Change the profile in a new root and publish it."""
        me = self.identity()
        with self._outbox() as box:
            avatar_cid = None
            if avatar is not None:
                data = check_avatar(avatar)
                async with self._kubo() as kubo:
                    avatar_cid, _ = await kubo.add(data, avatar.name)
            async with feed_lock_async(self.settings.home, self.settings.lock_timeout):
                await self._ensure_root(me, box)
                await self._check_own_head(me, box)
                prev = _latest_root(box)
                old = prev.profile if prev else Profile()
                new = Profile(old.name if name is None else name, old.bio if bio is None else bio,
                              avatar_cid or old.avatar)
                root = feed.advance(me, prev, updated=now_ms(), profile=new)
                box.add_root(root.seq, root.cid, root.block)
            return await self._flush(me, box)

    async def _flush(self, me: Identity, box: Outbox, chunk: int | None = None) -> PublishResult:
        """Under the feed lock: seal drafts (`chunk` at a time while the node stores them, if
        given), store blocks, move the pin, publish the name."""
        async with feed_lock_async(self.settings.home, self.settings.lock_timeout):
            await self._check_own_head(me, box)
            stored = 0
            if chunk is None or box.latest_root() is None:
                sealed = self._seal_offline(me, box)
            else:
                sealed, stored = await self._seal_while_storing(me, box, chunk)
            async with self._kubo() as kubo:
                if box.latest_root() is None:
                    await self._adopt_head(kubo, me, box)
                for d in box.drafts():
                    found = await _skip_targets(kubo, box, me)
                    try:
                        if d.recipients and d.attachments:
                            parts = await _add_private_attachments(kubo, d)
                        elif d.recipients:
                            parts = _PrivateParts(os.urandom(32), [], ())
                        else:
                            parts = None
                        atts = await _add_attachments(kubo, d) if parts is None else ()
                    except InvalidInput as e:
                        raise InvalidInput(f"draft {d.id} cannot be published: {e}; it holds back the "
                                           f"posts after it (`ipfeed drafts drop {d.id}` gives it up)") from e
                    sealed += self._seal(me, box, [(d, atts, parts)], found)
                root = _latest_root(box)
                if root is None:
                    raise MissingIdentity("this home has no feed root; run `ipfeed init`")
                await self._sync_node(kubo, me, box, root, stored)
        with contextlib.suppress(IpfeedError):  # outside the lock: the announcement is a courtesy
            async with self._kubo() as kubo:
                await push.announce(kubo, me.name, self.settings.resolve_timeout)
        return PublishResult(me.name, root.cid, root.count, sealed)

    async def _check_own_head(self, me: Identity, box: Outbox) -> None:
        """Before signing: the network's newest record for this home's own name must point at a
        root this home signed (or an older root of its chain); else another home publishes this
        feed with the same key, and going on here would fork it. With no peers, or no record
        found in OWN_HEAD_TIMEOUT, this home proceeds (the offline case)."""
        mine = _latest_root(box)
        if mine is None:
            return  # a restored key: _adopt_head continues the network's feed
        try:
            async with self._kubo() as kubo:
                if not await kubo.swarm_peers():
                    return
                raw = await kubo.name_get(me.name, min(self.settings.resolve_timeout, OWN_HEAD_TIMEOUT))
                record = parse_record(raw, me.name)
                if record.expired():
                    return
                cid = codec.parse_cid(record.value)
                if box.has_root(cid):
                    return
                try:
                    other: Root | None = feed.parse(
                        await kubo.block_get(cid, feed.MAX_ROOT_BYTES, timeout=OWN_HEAD_TIMEOUT), cid)
                except IpfeedError:
                    other = None
        except (NodeError, NotFound, InvalidInput, InvalidObject):
            return  # offline, nothing found, or nothing valid: nothing newer is known
        first = box.first_root_seq()
        if other is not None and other.author == me.public and first is not None and other.seq < first \
                and other.count <= mine.count and box.post_cid(other.count) in (other.head, None):
            return  # a root of this chain from before this home adopted it (a stale record)
        about = (f"root {cid} (root seq {other.seq}, {other.count} posts, newest post {other.head})"
                 if other is not None else f"root {cid} (not fetched)")
        raise AnotherHome(
            f"the network's newest record for your feed {me.name} (record sequence {record.sequence}) "
            f"points at {about}, which this home did not sign: another home is publishing this feed "
            f"with the same key. This home's newest root is {mine.cid} (root seq {mine.seq}, "
            f"{mine.count} posts); publishing here would fork your feed, so nothing was signed or "
            "published, and your drafts stay saved. Stop one of the two homes; to go on here, run "
            "`ipfeed export FILE` in the other home and `ipfeed import FILE` here")

    async def _ensure_root(self, me: Identity, box: Outbox) -> None:
        """Before changing the root of a home that has none (a restored key): adopt the feed's."""
        if box.latest_root() is None:
            async with self._kubo() as kubo:
                await self._adopt_head(kubo, me, box)

    async def _adopt_head(self, kubo: Kubo, me: Identity, box: Outbox) -> None:
        """A restored key: continue the feed the network has for it, verified, or refuse."""
        try:
            raw = await kubo.name_get(me.name, self.settings.resolve_timeout)
            record = parse_record(raw, me.name)
            cid = codec.parse_cid(record.value)
            root = feed.parse(await kubo.block_get(cid, feed.MAX_ROOT_BYTES), cid)
            feed.check_root_author(root, me.public, me.name)
            linked: tuple[bytes, ...] = ()
            if root.follows:  # the follow list travels with the root, or following breaks
                block = await kubo.block_get(root.follows, feed.MAX_FOLLOWS_BYTES)
                feed.parse_follows(block, root.follows)
                linked = (block,)
        except NotFound as e:
            raise IpfeedError(
                f"this home has your key but not your feed, and the network has no feed for "
                f"{me.name} now ({e}); ipfeed will not start a second chain that could fork it. "
                "Connect to a node that holds your feed (e.g. a friend's home server) and try "
                "again, or run `ipfeed init --fresh` if this key never published"
            ) from e
        box.add_root(root.seq, root.cid, root.block, linked)

    async def _seal_while_storing(self, me: Identity, box: Outbox, chunk: int) -> tuple[int, int]:
        """Sign text drafts `chunk` at a time in a thread (its own database connections) while
        the node stores the chunk signed before; return how many were signed and the sequence
        number up to which the node now holds the posts (their pin comes later, in _sync_node)."""
        sealed = stored = 0
        storing: asyncio.Future[int] | None = None
        async with self._kubo() as kubo:
            try:
                while n := await asyncio.to_thread(self._seal_chunk, me, chunk):
                    sealed += n
                    if storing is not None:
                        stored = await storing
                    root = _latest_root(box)
                    assert root is not None
                    blocks = [b for _, b in box.post_blocks(root.count - n)]
                    storing = asyncio.ensure_future(_store(kubo, root, blocks, self.settings.timeout))
            finally:
                if storing is not None:
                    stored = await storing
        return sealed, stored

    def _seal_chunk(self, me: Identity, limit: int) -> int:
        with self._outbox() as box:
            return self._seal_offline(me, box, limit)

    def _seal_offline(self, me: Identity, box: Outbox, limit: int | None = None) -> int:
        """Sign the oldest drafts that need no node (text only; at most `limit`), in order,
        under one new root; return how many (none while the home has no feed root yet)."""
        if box.latest_root() is None:
            return 0
        batch: list[tuple[Draft, tuple[Attachment, ...], _PrivateParts | None]] = []
        for d in box.drafts(limit):
            if d.attachments:
                break
            batch.append((d, (), _PrivateParts(os.urandom(32), [], ()) if d.recipients else None))
        return self._seal(me, box, batch)

    def _seal(self, me: Identity, box: Outbox,
              batch: Sequence[tuple[Draft, tuple[Attachment, ...], _PrivateParts | None]],
              found: dict[int, str] | None = None) -> int:
        """Sign drafts (in order) into posts and one root listing them; return how many.
        `found` maps sequence numbers to CIDs of older posts fetched for skip links."""
        found = found or {}
        if not batch:
            return 0
        prev_root = _latest_root(box)
        if prev_root is None:
            raise MissingIdentity("this home has no feed root; run `ipfeed init`")
        if prev_root.author != me.public:
            raise IpfeedError(f"{self.settings.outbox_path} holds another identity's feed; "
                              "this key cannot continue it")
        posts: list[Post] = []
        opened: dict[str, private.Opened] = {}
        seq, prev = prev_root.count, prev_root.head
        by_seq: dict[int, str] = {}  # this batch's posts, for skip links (no quadratic scan)
        for d, atts, secret in batch:
            seq += 1
            target = post.skip_target(seq)
            skip = None
            if target is not None:
                skip = by_seq.get(target) or box.post_cid(target) or found.get(target)
                if skip is None:
                    break  # a restored feed's old post not fetched yet: seal the rest with the node
            try:
                if secret is None:
                    p = post.build(me, seq=seq, prev=prev, created=d.created, text=d.text,
                                   reply_to=d.reply_to, attachments=atts, skip=skip)
                else:
                    sealed_box = private.seal(me, d.recipients, d.text, d.reply_to, secret.meta,
                                              content_key=secret.key)
                    p = post.build(me, seq=seq, prev=prev, created=d.created, text="", box=sealed_box,
                                   files=secret.files, skip=skip)
            except InvalidInput as e:
                raise InvalidInput(f"draft {d.id} cannot be signed: {_refused(e)}; it holds back the "
                                   f"posts after it (`ipfeed drafts drop {d.id}` gives it up)") from e
            if secret is not None:
                content = private.open_box(me, sealed_box, f"post {p.cid}", p.files)
                assert content is not None
                opened[p.cid] = content
            posts.append(p)
            by_seq[p.seq] = p.cid
            prev = p.cid
        if not posts:
            return 0
        batch = batch[:len(posts)]
        root = feed.advance(me, prev_root, updated=now_ms(), heads=[p.cid for p in posts])
        box.seal([(d.id, p.seq, p.cid, p.block) for (d, _, _), p in zip(batch, posts, strict=True)],
                 root.seq, root.cid, root.block)
        crashpoint("sealed", self.settings.home)
        for d, _, _ in batch:
            for a in d.attachments:
                Path(a["path"]).unlink(missing_ok=True)
        # The index is a cache: show the user's own posts at once, before any sync, but only
        # where they continue what the index holds (else a sync fills the gap first).
        with self._index() as index:
            known = index.feed(me.name)
            if (known.count if known else 0) == posts[0].seq - 1:
                index.apply(me.name, root, posts, now_ms(), None, None, None, opened=opened)
        return len(posts)

    async def _sync_node(self, kubo: Kubo, me: Identity, box: Outbox, root: Root, stored: int = 0) -> None:
        """Make the node hold, pin and publish `root`; each step is a per-node watermark.
        Posts up to seq `stored` were stored by this same call a moment ago."""
        peer = (await kubo.id())["ID"]
        # Blocks count as kept only once a pinned root covers them: a crash (and a garbage
        # collection) between storing and pinning just means storing them again.
        covered_key, pinned_key, published_key = (f"{k}:{peer}" for k in ("covered", "pinned", "published"))
        covered = int(box.get(covered_key, "0") or 0)
        pending = list(box.post_blocks(covered))
        await _store(kubo, root, [b for seq, b in pending if seq > stored], self.settings.timeout,
                     self.settings.fetch_concurrency)
        if root.follows and (follows_block := box.block(root.follows)) is not None:
            await kubo.block_put(follows_block)
        await kubo.block_put(root.block)
        crashpoint("stored", self.settings.home)
        pinned = box.get(pinned_key)
        if pinned != root.cid:
            news = [post.parse(b, signed_here=True) for _, b in pending]
            await pins.advance(kubo, pinned, root, news, self.settings.sync_timeout,
                               walk_ok=True)  # the user's own files, added by this home
            box.set(pinned_key, root.cid)
        box.set(covered_key, str(root.count))
        crashpoint("pinned", self.settings.home)
        unreached_key = f"unreached:{peer}"
        if box.get(published_key) == root.cid and not await _holds_record(kubo, me.name, root.cid):
            box.set(published_key, "")  # the node lost it: Kubo 0.43 drops records of older layouts
        if box.get(published_key) != root.cid:
            key = await _ensure_key(kubo, me)
            # A node started a moment ago is still connecting to its peerings: a record put
            # now would reach nobody and wait hours for Kubo's republisher.
            uptime = node.started_ago(self.settings)
            young = uptime is not None and uptime < YOUNG_NODE
            reached = await kubo.routing_warm(ipfs.ROUTING_WARMUP if young else 0)
            await kubo.name_publish(key, root.cid, lifetime=self.settings.ipns_lifetime,
                                    ttl=self.settings.ipns_ttl)
            crashpoint("published", self.settings.home)
            box.set(published_key, root.cid)
            box.set(unreached_key, "" if reached else root.cid)
        elif box.get(unreached_key) == root.cid and await kubo.dht_peers():
            # Published while no peer could take it: put the record into the DHT again now.
            await kubo.name_put(me.name, await kubo.name_get(me.name, self.settings.resolve_timeout))
            box.set(unreached_key, "")

    async def import_key(self) -> str:
        """Make sure the node's keystore holds the identity; return the key's name there."""
        async with self._kubo() as kubo:
            return await _ensure_key(kubo, self.identity())

    # -- reading ----------------------------------------------------------------------
    async def show(self, name: str, limit: int = 20) -> FeedView:
        """Resolve a name and fetch, verify and return its root and newest `limit` posts."""
        public = identity.public_from_name(name)
        name = identity.name_from_public(public)
        if limit < 0:
            raise InvalidInput("--limit must not be negative")
        with self._index() as index:
            known = index.feed(name)
            if known and known.fork:
                raise sync.Fork(f"{name}: this feed is flagged as forked (its author signed two posts "
                                "or two roots with one sequence number; both kept as evidence, see `ipfeed "
                                "status`); `show` prints nothing of it: `ipfeed timeline` has its posts "
                                "verified on the known chain")
            async with self._kubo() as kubo:
                head = await sync.verified_head(kubo, index, name, self.settings, now_ms(), stale=False)
                root = head.root or feed.parse(await kubo.block_get(head.cid, feed.MAX_ROOT_BYTES), head.cid)
                n = min(limit, root.count)
                first = list(root.recent[:n])
                blocks = await _bounded(self.settings.fetch_concurrency,
                                        [kubo.block_get(c, post.MAX_POST_BYTES) for c in first])
                posts = [post.parse(b, c) for b, c in zip(blocks, first, strict=True)]
                while len(posts) < n:
                    prev = posts[-1].prev
                    assert prev is not None  # seq > 1 always has prev (post.parse checks)
                    posts.append(post.parse(await kubo.block_get(prev, post.MAX_POST_BYTES), prev))
                feed.check_page(root, posts)
                if known and known.count and known.head and posts and posts[-1].seq > known.count + 1:
                    # The page ends above the known head: it must still lead down to it.
                    await sync.reaches(lambda c, lim: kubo.block_get(c, lim), posts[-1], known.count,
                                       known.head, f"{name}: root {root.cid}")
                elif known and known.count and posts and posts[-1].seq == known.count + 1 \
                        and posts[-1].prev != known.head:
                    raise sync.Fork(f"{name}: root {root.cid}: post {posts[-1].cid} (seq {posts[-1].seq}) "
                                    f"does not follow the known post {known.head}; not shown")
        try:
            me: Identity | None = self.identity()
        except IpfeedError:
            me = None
        opened = sync.open_all(me, posts)
        return FeedView(name, root, [p for p in posts if not p.private or p.cid in opened], opened)

    # -- archives -----------------------------------------------------------------------
    async def export(self, path: Path, since: str | None = None) -> tuple[int, int]:
        """Write the user's feed (blocks, attachments, newest signed record) as a CAR archive;
        with `since` (a root or post CID of an earlier export), only what came after it.
        Returns (posts, bytes written)."""
        me = self.identity()
        await self.publish()  # the archive holds the newest root and its record
        with self._outbox() as box:
            root = _latest_root(box)
            assert root is not None
            base = _base_of(box, since) if since else 0
            own = {seq: block for seq, block in box.post_blocks(base)}
            follows = box.block(root.follows) if root.follows else None
        async with self._kubo() as kubo:
            record = await kubo.name_get(me.name, self.settings.resolve_timeout)
            if base == 0:  # everything the root reaches, fetched by the node if needed
                cids = await kubo.refs(root.cid, timeout=self.settings.sync_timeout)
                data_blocks = await _bounded(self.settings.fetch_concurrency, [
                    kubo.block_get(c, MAX_BLOCK, timeout=self.settings.sync_timeout) for c in cids])
                blocks = list(zip(cids, data_blocks, strict=True))
                posts = root.count
            else:
                news = [post.parse(b) for b in own.values()]
                files = [a.cid for p in news for a in p.attachments] + [c for p in news for c in p.files]
                if root.profile.avatar:
                    files.append(root.profile.avatar)
                blocks = [(p.cid, p.block) for p in news]
                if follows and root.follows:
                    blocks.append((root.follows, follows))
                for cid in files:
                    car = await kubo.dag_export(cid, self.settings.max_export_bytes,
                                                timeout=self.settings.sync_timeout)
                    blocks += list(read_car(car))
                posts = len(news)
        data = archive.build(record, root, blocks)
        archive.read(data)  # never write an archive that would not import
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.rename(path)
        return posts, len(data)

    async def import_archive(self, path: Path) -> archive.Archive:
        """Verify an archive whole, then store, pin and index it (and republish its record).
        An archive of the user's own feed also restores the outbox's root, so the next post
        continues the chain. Nothing is stored unless everything verifies."""
        data = _read_file(path, self.settings.max_export_bytes)  # the bound an export keeps to
        arch = archive.read(data)
        with self._index() as index:
            known = index.feed(arch.name)

            async def in_archive(cid: str, limit: int) -> bytes:
                block = arch.blocks.get(cid)
                if block is None or len(block) > limit:
                    raise NotFound(f"archive of {arch.name}: block {cid} is not in it")
                return block
            # The same rules as a sync (rollback, equivocation, `recent` against known posts).
            await sync.check_root(index, arch.name, known, arch.root, in_archive, now_ms(),
                                  what=f"archive of {arch.name}", keeping="nothing stored")
            have = known.count if known else 0
            at_have = next((p for p in arch.posts if p.seq == have), None)
            if known and known.head and at_have is not None and at_have.cid != known.head:
                index.add_fork(arch.name, [(have, known.head, None), (have, at_have.cid, at_have.block)],
                               now_ms())
                raise sync.Fork(f"archive of {arch.name}: fork at seq {have}: known post {known.head}, "
                                f"the archive has {at_have.cid}; both kept as evidence, nothing stored")
            if arch.base > 0 and not (known and have >= arch.base
                                      and index.post_by_seq(arch.name, arch.base) == arch.posts[-1].prev):
                raise archive.InvalidArchive(
                    f"archive of {arch.name} continues from post {arch.base} ({arch.posts[-1].prev}), "
                    f"which this node has not verified; import the earlier archive first")
            async with self._kubo() as kubo:
                await kubo.dag_import(_car_of(arch.root.cid, arch.blocks))
                with contextlib.suppress(IpfeedError):  # the routing system has a newer one: fine
                    await kubo.name_put(arch.name, arch.record.raw)
                eol = int(arch.record.validity.timestamp() * 1000)
                try:
                    reader: Identity | None = self.identity()
                except IpfeedError:
                    reader = None
                index.apply(arch.name, arch.root, arch.posts, now_ms(), arch.record.raw,
                            arch.record.sequence, eol, opened=sync.open_all(reader, arch.posts))
                state = index.feed(arch.name)
                assert state is not None
                # Pinned as a sync pins: attachments only once no larger than declared.
                await sync.pin_feed(kubo, index, state, arch.root, arch.posts, True, self.settings)
        try:
            me = self.identity()
        except IpfeedError:
            return arch
        if me.name == arch.name:
            with self._outbox() as box, feed_lock(self.settings.home, self.settings.lock_timeout):
                mine = _latest_root(box)
                on_chain = mine is None or mine.count == 0 or any(
                    p.seq == mine.count and p.cid == mine.head for p in arch.posts)
                if mine is not None and mine.count > arch.root.count:
                    pass  # this home's feed is newer than the archive: keep it
                elif not on_chain:
                    raise IpfeedError(f"the archive's chain does not contain your newest post "
                                      f"{mine.head if mine else ''}: importing it would fork your feed")
                elif mine is None or mine.seq < arch.root.seq:
                    box.add_root(arch.root.seq, arch.root.cid, arch.root.block,
                                 (arch.blocks[arch.root.follows],) if arch.root.follows else ())
        return arch

    # -- following ----------------------------------------------------------------------
    def follows(self) -> tuple[Follow, ...]:
        """The user's follow list, as their newest root says."""
        with self._outbox() as box:
            root = _latest_root(box)
            if root is None or root.follows is None:
                return ()
            cached = self._follows
            if cached is not None and cached[0] == root.follows:
                return cached[1]
            block = box.block(root.follows)
        if block is None:
            raise IpfeedError(f"the follow list {root.follows} is missing from the outbox")
        follows = feed.parse_follows(block, root.follows)
        self._follows = (root.follows, follows)
        return follows

    def known_feed(self, name: str) -> bool:
        """Whether the index holds a verified root of this feed (so it exists: no network)."""
        st = self.feed_state(name)
        return st is not None and st.root_cid is not None

    async def check_feed(self, name: str) -> str:
        """The canonical name of a feed that exists: verified in the index already, or its
        record and root resolve and verify now; NotFound otherwise (a mistyped name is still a
        valid name, and following it would publish the typo in the user's follow list)."""
        name = identity.normalize_name(name)
        if self.known_feed(name):
            return name
        try:
            await self.show(name, 0)
        except (NodeUnavailable, KuboNotFound):
            raise  # the node is away: that says nothing about the name
        except IpfeedError as e:
            raise NotFound(f"{name} could not be found: no verified feed resolves for it now ({e}); "
                           "check the name (one wrong character is still a valid name)") from e
        return name

    async def follow(self, name: str, alias: str = "", *, force: bool = False) -> PublishResult:
        """Add a feed to the signed follow list and publish it; unless `force`, only a feed that
        check_feed finds."""
        name = identity.normalize_name(name)
        me = self.identity()
        if name == me.name:
            raise InvalidInput("you cannot follow yourself")
        if not force:
            await self.check_feed(name)
        with self._index() as index:
            index.ensure_feed(name)

        def change(current: dict[str, Follow]) -> None:
            current[name] = Follow(name, alias)
        return await self._set_follows(me, change)

    async def unfollow(self, name: str) -> PublishResult:
        """Remove a feed from the follow list and publish it."""
        name = identity.normalize_name(name)

        def change(current: dict[str, Follow]) -> None:
            if current.pop(name, None) is None:
                raise InvalidInput(f"you do not follow {name}")
        return await self._set_follows(self.identity(), change)

    async def _set_follows(self, me: Identity, change: Callable[[dict[str, Follow]], None]) -> PublishResult:
        """Read, change and write the follow list under the feed lock (no lost update)."""
        with self._outbox() as box:
            async with feed_lock_async(self.settings.home, self.settings.lock_timeout):
                await self._ensure_root(me, box)
                await self._check_own_head(me, box)
                current = {f.name: f for f in self.follows()}
                change(current)
                block, cid = feed.build_follows(list(current.values()))
                prev = _latest_root(box)
                root = feed.advance(me, prev, updated=now_ms(), follows=cid)
                box.add_root(root.seq, root.cid, root.block, (block,))
            return await self._flush(me, box)

    async def sync(self, names: Sequence[str] = (), progress: sync.Progress | None = None, *,
                   force: bool = False) -> list[sync.SyncResult]:
        """Sync the named feeds now, or the user's own and every followed feed that is due
        (`force`: every one, whatever its backoff: the user asked); followed feeds are
        pinned, others (opened on demand) are not."""
        me = self.identity()
        wanted = [identity.normalize_name(n) for n in names]
        followed = frozenset(f.name for f in self.follows())
        targets = wanted or [me.name, *sorted(followed)]
        with self._index() as index:
            async with self._kubo() as kubo:
                return await sync.sync_many(kubo, index, targets, self.settings, now_ms(),
                                            force=force or bool(wanted), pin=followed, progress=progress,
                                            me=me)

    async def listen(self, on_sync: Callable[[SyncResult], None] | None = None) -> None:
        """Sync a followed feed as soon as its author's node announces a new record (a push
        over pubsub); runs until cancelled, reconnecting with backoff."""
        async def wake(name: str, record: bytes) -> None:
            if name not in {f.name for f in self.follows()}:
                return
            known = self.feed_state(name)
            if known and known.record_seq is not None and \
                    parse_record(record, name).sequence <= known.record_seq:
                return  # an old record replayed: nothing new to fetch
            async with self._kubo() as kubo:
                with contextlib.suppress(IpfeedError):  # the node may know a newer one already
                    await kubo.name_put(name, record)
            for r in await self.sync([name]):
                if on_sync:
                    on_sync(r)

        while True:
            try:
                async with Kubo(node.api_address(self.settings), self.settings.timeout) as kubo:
                    await push.listen(kubo, wake)
            except asyncio.CancelledError:
                raise
            except Exception:
                pass
            await asyncio.sleep(2)

    async def share(self, ready: Callable[[], None] | None = None) -> None:
        """Offer the feeds this home holds (its own and those it synced) to peers as one
        stream each (ipfeed.bulk); runs until cancelled, coming back after a node restart."""
        while True:
            with contextlib.suppress(IpfeedError, OSError):  # the node is away: try again
                async with self._kubo() as kubo:
                    await bulk.serve(kubo, self._held, ready)
            await asyncio.sleep(2)

    async def _held(self, kubo: Kubo, name: str) -> bulk.Held | None:
        """A feed this home can stream: its own from the outbox (every block of it is there),
        another it synced from the node."""
        if name == self.identity().name:
            with self._outbox() as box:
                root = _latest_root(box)
                if root is None:
                    return None
                follows = box.block(root.follows) if root.follows else None
                posts = [b for _, b in box.post_blocks(0)]
            return root.cid, bulk.listed([root.block, *([follows] if follows else []), *posts])
        state = self.feed_state(name)
        if state is None or state.root_cid is None:
            return None
        return state.root_cid, bulk.node_blocks(kubo, state.root_cid)

    async def republish(self) -> int:
        """Re-put the newest verified IPNS records of followed feeds."""
        names = [f.name for f in self.follows()]
        with self._index() as index:
            async with self._kubo() as kubo:
                return await sync.republish(kubo, index, names, now_ms())

    def timeline(self, limit: int = 20, before: str | None = None) -> list[IndexedPost]:
        """The user's and followed feeds merged, newest first, from the index."""
        names = [self.identity().name, *(f.name for f in self.follows())]
        with self._index() as index:
            return index.timeline(names, limit, before)

    def status(self) -> list[tuple[Follow, FeedState | None]]:
        """Each follow with what the index knows of it (last sync, head, errors, fork)."""
        follows = self.follows()
        with self._index() as index:
            return [(f, index.feed(f.name)) for f in follows]

    def feed_state(self, name: str) -> FeedState | None:
        """What the index knows of one feed."""
        with self._index() as index:
            return index.feed(identity.normalize_name(name))

    def feed_states(self, names: Sequence[str]) -> dict[str, FeedState]:
        """What the index knows of several feeds (canonical names; unknown ones left out)."""
        with self._index() as index:
            return {st.name: st for st in index.feeds(names)}

    def feed_posts(self, name: str, limit: int = 20, before: str | None = None) -> list[IndexedPost]:
        """One feed's indexed posts, newest first."""
        with self._index() as index:
            return index.timeline([identity.normalize_name(name)], limit, before)

    def indexed_post(self, cid: str) -> tuple[IndexedPost | None, list[IndexedPost]]:
        """A post by CID and its known replies."""
        cid = codec.parse_cid(cid)
        with self._index() as index:
            return index.post(cid), index.replies(cid)

    def search(self, query: str, limit: int = 50) -> list[IndexedPost]:
        """Indexed posts whose text contains every word of `query`."""
        with self._index() as index:
            return index.search(query, limit)

    def attachment(self, post_cid: str, cid: str) -> dict[str, Any] | None:
        """Verified metadata of an attachment, as the post that carries it declares it."""
        with self._index() as index:
            return index.attachment(codec.parse_cid(post_cid), cid)

    def own_profile(self) -> Profile:
        """The user's current profile (from the outbox)."""
        with self._outbox() as box:
            root = _latest_root(box)
        return root.profile if root else Profile()

    async def cat(self, cid: str, max_bytes: int) -> bytes:
        """A file from the node, refusing more than `max_bytes`."""
        async with self._kubo() as kubo:
            return await kubo.cat(cid, max_bytes, timeout=self.settings.timeout)

    def forks(self, name: str) -> list[tuple[int, str]]:
        """Fork evidence kept for a feed."""
        with self._index() as index:
            return index.forks(identity.normalize_name(name))

    # -- node -------------------------------------------------------------------------
    async def addrs(self) -> list[str]:
        """The node's swarm multiaddrs, each ending in /p2p/PEERID."""
        async with self._kubo() as kubo:
            info = await kubo.id()
        return [str(a) for a in info.get("Addresses") or []]

    async def connect(self, maddr: str) -> None:
        """Connect to a peer now."""
        _peer_id(maddr)
        async with self._kubo() as kubo:
            await kubo.swarm_connect(maddr)

    async def peers(self) -> list[dict[str, Any]]:
        """The persistent peerings (Kubo's Peering.Peers)."""
        async with self._kubo() as kubo:
            return list(await kubo.config_get("Peering.Peers") or [])

    async def peer_add(self, maddr: str) -> None:
        """Keep a persistent peering with a peer (from the next node start) and connect now."""
        pid = _peer_id(maddr)
        addr = maddr[: maddr.rindex("/p2p/")]
        async with self._kubo() as kubo:
            peers = list(await kubo.config_get("Peering.Peers") or [])
            entry = next((p for p in peers if p.get("ID") == pid), None)
            if entry is None:
                peers.append({"ID": pid, "Addrs": [addr] if addr else []})
            elif addr and addr not in (entry.get("Addrs") or []):
                entry["Addrs"] = [*(entry.get("Addrs") or []), addr]
            await kubo.config_set("Peering.Peers", peers)
            if addr:
                await kubo.swarm_connect(maddr)

    async def peer_rm(self, maddr_or_id: str) -> bool:
        """Forget a persistent peering; False if there was none."""
        pid = _peer_id(maddr_or_id) if "/p2p/" in maddr_or_id else maddr_or_id
        async with self._kubo() as kubo:
            peers = list(await kubo.config_get("Peering.Peers") or [])
            kept = [p for p in peers if p.get("ID") != pid]
            await kubo.config_set("Peering.Peers", kept)
        return len(kept) != len(peers)


class _IndexContext:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Index:
        self.index = Index(self.path)
        return self.index

    def __exit__(self, *exc: object) -> None:
        self.index.close()


class _OutboxContext:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Outbox:
        self.box = Outbox(self.path)
        return self.box

    def __exit__(self, *exc: object) -> None:
        self.box.close()


def _add_texts(box: Outbox, texts: Sequence[str]) -> None:
    """Save text posts as drafts in one durable transaction (all valid, or none saved)."""
    for t in texts:  # text is all a text post has that could be invalid
        post.check_text(t)
    now = now_ms()
    box.add_drafts([(now, t, None, []) for t in texts])


async def _store(kubo: Kubo, root: Root, blocks: Sequence[bytes], timeout: float, at_once: int = 16) -> int:
    """Put post blocks into the node (many: one CAR import; few: a call each); return the
    sequence number of `root`, which lists the newest of them."""
    if len(blocks) > 64:
        await kubo.dag_import(car_bytes([codec.cid_bytes_of(root.block)], blocks),
                              timeout=timeout + len(blocks) / 1000)
    else:
        await _bounded(at_once, [kubo.block_put(b) for b in blocks])
    return root.count


def _base_of(box: Outbox, since: str) -> int:
    """The post count an earlier export ended at, from its root or head post CID."""
    cid = codec.parse_cid(since)
    for seq, block in box.post_blocks(0):
        if codec.cid_of(block) == cid:
            return seq
    for block in box.root_blocks():
        if codec.cid_of(block) == cid:
            return feed.parse(block, cid).count
    raise InvalidInput(f"{cid} is neither a post nor a root of your feed known to this home")


def _car_of(root: str, blocks: dict[str, bytes]) -> bytes:
    """A CAR of any verified blocks (dag-cbor, raw or dag-pb), for `dag import`."""
    parts = [car_bytes([codec.cid_to_bytes(root)], [])]
    for cid, block in blocks.items():
        raw = codec.cid_to_bytes(cid)
        parts.append(varint(len(raw) + len(block)) + raw + block)
    return b"".join(parts)


def _refused(e: InvalidInput) -> str:
    """Why post.build refused a draft, without the CID of the post it never signed."""
    return _UNSIGNED_CID.sub("cannot post: ", str(e), count=1)


def _latest_root(box: Outbox) -> Root | None:
    block = box.latest_root()
    return feed.parse(block) if block is not None else None


def _read_file(path: Path, limit: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > limit:
            raise InvalidInput(f"{path.name} is {size} bytes, over the limit of {limit} bytes "
                               f"({limit / (1024 * 1024):g} MiB)")
        return path.read_bytes()
    except OSError as e:
        raise InvalidInput(f"cannot read {path}: {e.strerror}") from e


def _attachment_name(src: Path) -> str:
    """The file name an attachment gets, by the same rule every reader applies (post.py)."""
    if problem := post.file_name_problem(src.name):
        # A name that is not UTF-8 arrives with surrogate escapes: show its bytes as \xNN.
        shown = os.fsencode(src).decode("utf-8", "backslashreplace")
        raise InvalidInput(f"cannot attach {shown}: the file {problem}")
    return src.name


# What a compressed file is (mimetypes gives `a.tar.gz` the type of what is inside, x-tar).
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
               "compress": "application/x-compress"}


def media_type_of(name: str) -> str:
    """The media type an attachment is declared with: that of the bytes as they are (a
    compressed file is its compression's type), application/octet-stream when unsure."""
    guessed, encoding = mimetypes.guess_type(name)
    if encoding is not None:
        return _COMPRESSED.get(encoding, "application/octet-stream")
    media = (guessed or "application/octet-stream").lower()
    return media if post.MEDIA_TYPE.match(media) else "application/octet-stream"


def check_avatar(path: Path) -> bytes:
    """An avatar's bytes: a PNG, JPEG, GIF or WebP image (by its bytes) of at most 5 MiB."""
    data = _read_file(path, media.MAX_AVATAR_BYTES)
    if media.sniff_image(data[:16]) is None:
        raise InvalidInput(f"{path.name}: an avatar must be a {media.IMAGE_NAMES} image "
                           f"(up to {media.MAX_AVATAR_BYTES // (1024 * 1024)} MiB); this file is not one")
    return data


def _stage(folder: Path, src: Path) -> dict[str, Any]:
    """Copy an attachment into the outbox so the draft survives the original's deletion; an
    image's type is what its bytes are, whatever its file name says."""
    name = _attachment_name(src)
    data = _read_file(src, post.MAX_ATTACHMENT_SIZE)
    kind = media.sniff_image(data[:16]) or media_type_of(name)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    dest = folder / f"{now_ms()}-{codec.cid_of(data)[-16:]}"
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(dest)
    return {"path": str(dest), "name": name, "type": kind, "size": len(data)}


async def _skip_targets(kubo: Kubo, box: Outbox, me: Identity) -> dict[int, str]:
    """For a feed restored from the network (its old posts are not in the outbox): the CID of
    the post the next post's skip link needs, found in O(log n) verified hops from the head."""
    root = _latest_root(box)
    if root is None or root.head is None:
        return {}
    target = post.skip_target(root.count + 1)
    if target is None or box.post_cid(target):
        return {}
    at = post.parse(await kubo.block_get(root.head, post.MAX_POST_BYTES), root.head)
    while at.seq > target:
        jump = post.skip_target(at.seq)
        nxt = at.skip if jump is not None and jump >= target else at.prev
        assert nxt is not None
        older = post.parse(await kubo.block_get(nxt, post.MAX_POST_BYTES), nxt)
        if older.author != me.public:
            raise IpfeedError(f"post {nxt} in your feed is not yours")
        at = older
    return {target: at.cid}


@dataclass(frozen=True)
class _PrivateParts:
    """What a private draft needs to be sealed: its content key and encrypted attachments."""

    key: bytes
    meta: list[dict[str, Any]]  # inside the box: {cid (bytes), type, size, name, nonce}
    files: tuple[str, ...]  # outside: links to the encrypted blobs, so pins keep them


async def _add_private_attachments(kubo: Kubo, d: Draft) -> _PrivateParts:
    key = os.urandom(32)
    meta, files = [], []
    for a in d.attachments:
        data = _read_file(Path(a["path"]), post.MAX_ATTACHMENT_SIZE)
        nonce, blob = private.encrypt_file(key, data)
        cid, _ = await kubo.add(blob, "blob")
        meta.append({"cid": codec.cid_to_bytes(cid), "type": a["type"], "size": len(data),
                     "name": a["name"], "nonce": nonce})
        files.append(cid)
    return _PrivateParts(key, meta, tuple(files))


async def _add_attachments(kubo: Kubo, d: Draft) -> tuple[Attachment, ...]:
    out = []
    for a in d.attachments:
        data = _read_file(Path(a["path"]), post.MAX_ATTACHMENT_SIZE)
        cid, _ = await kubo.add(data, a["name"])
        out.append(Attachment(cid, a["type"], len(data), a["name"]))
    return tuple(out)


async def _ensure_key(kubo: Kubo, me: Identity) -> str:
    for key_name, key_id in (await kubo.key_names()).items():
        if key_id == me.name:
            return key_name
    key_name = f"ipfeed-{me.name}"
    imported = await kubo.key_import(key_name, me.libp2p_private_key())
    if imported != me.name:
        raise NodeError(f"the node imported the key as {imported}, expected {me.name}")
    return key_name


async def _holds_record(kubo: Kubo, name: str, root: str) -> bool:
    """Whether the node itself stores a valid record of `name` pointing at `root` (one local
    read: no network)."""
    try:
        record = parse_record(await kubo.name_get(name, 10, offline=True), name)
    except (NotFound, InvalidObject):
        return False
    return record.value == f"/ipfs/{root}" and not record.expired()


def _peer_id(maddr: str) -> str:
    if "/p2p/" not in maddr:
        raise InvalidInput(f"{maddr!r} has no /p2p/PEERID part")
    return maddr.rsplit("/p2p/", 1)[1]


async def _bounded(limit: int, aws: Sequence[Awaitable[T]]) -> list[T]:
    """Await all, at most `limit` at a time, results in order."""
    sem = asyncio.Semaphore(limit)

    async def one(aw: Awaitable[T]) -> T:
        async with sem:
            return await aw

    return list(await asyncio.gather(*(one(a) for a in aws)))

