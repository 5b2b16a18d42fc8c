"""Publishing: seal drafts, store, pin and publish the feed; the own-head check and node watermarks."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from . import (
    codec,
    contentblock,
    drafts,
    feed,
    ipfs,
    keys,
    livesync,
    moderationblock,
    node,
    pins,
    private,
    push,
    sync,
    writing,
)
from . import post as post_rules
from .car import car_bytes
from .contentblock import Attachment as ContentAttachment
from .contentblock import Content
from .contents import Tree
from .drafts import PostResult
from .entry import Chained, Entry, parse_chain, parse_chained
from .errors import (
    AnotherHome,
    ChainError,
    FeedNotAdopted,
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
from .feed import InboxPeer, Listing, Profile, Root
from .homedir import Home, bounded, latest_root, now_ms, read_file
from .identity import Identity
from .ipfs import Kubo
from .ipns import parse_record
from .media import MAX_AVATAR_BYTES
from .outbox import Draft, Outbox, feed_lock_async
from .post import Attachment

OWN_HEAD_TIMEOUT = 5.0  # seconds the check for another home publishing this feed may take
YOUNG_NODE = 60.0  # seconds after a start during which publishing waits for the DHT table
BULK_CHUNK = 1000  # posts `post_many` signs at a time while the node stores the chunk before


@dataclass(frozen=True)
class PublishResult:
    """What `publish` did."""

    name: str
    root: str
    count: int
    sealed: int  # drafts turned into signed posts


async def post_many(home: Home, texts: Sequence[str], chunk: int = BULK_CHUNK) -> PublishResult:
    """Write and publish many text posts (an import) with one IPNS update: all saved
    durably first, then signed CHUNK at a time in a thread while the node stores the
    chunk before (so both cores work), then pinned and published once."""
    me = home.identity()
    with home.outbox() as box:
        drafts.add_texts(box, texts)
        try:
            return await flush(home, me, box, chunk=chunk)
        except IpfeedError as e:
            raise PublishPending(f"{len(texts)} posts are saved but not all published: {e}") from e


async def post(home: Home, text: str, reply_to: str | None = None,
               attach: Sequence[Path] = (), to: Sequence[str] = (), *, quote: str | None = None,
               cw: str = "", sensitive: bool = False, alts: Sequence[str] = (),
               card: bool = True) -> PostResult:
    """Write a post: saved durably first, then signed (once the network shows no other home
    publishing this feed, or the node is offline), stored, pinned and published."""
    saved = drafts.save(home, text, reply_to, attach, to, seal=False, quote=quote, cw=cw,
                        sensitive=sensitive, alts=alts, card=card)
    return await publish_draft(home, saved)


async def publish_draft(home: Home, saved: PostResult, what: str = "post") -> PostResult:
    """Publish a saved draft (a post, reaction, repost, edit or delete) with those before it;
    if the node cannot take it now, PublishPending says it is saved."""
    with home.outbox() as box:
        try:
            await flush(home, home.identity(), box)
        except IpfeedError as e:
            sealed = box.post_of_draft(saved.draft_id)
            where = f"{what} {sealed[1]} (seq {sealed[0]})" if sealed else f"your {what}"
            raise PublishPending(f"{where} is saved but not published: {e}") from e
        sealed = box.post_of_draft(saved.draft_id)
    assert sealed is not None
    return PostResult(sealed[0], sealed[1], True, saved.draft_id, saved.warnings)


async def publish(home: Home) -> PublishResult:
    """Seal pending drafts and bring the node and IPNS up to the newest root."""
    me = home.identity()
    with home.outbox() as box:
        return await flush(home, me, box)


async def profile_set(home: Home, name: str | None = None, bio: str | None = None,
                      avatar: Path | None = None, inbox: tuple[InboxPeer, ...] | None = None
                      ) -> PublishResult:
    """Change the profile in a new root (shown at once) and publish it; with the node down
    the root is kept in the outbox and published later, like a post (PublishPending), and
    a new avatar (which must be stored in the node first) is kept like a post's attachment:
    `flush` signs the profile with it once the node is back."""
    me = home.identity()
    with home.outbox() as box:
        avatar_cid = data = None
        if avatar is not None:
            data = drafts.check_avatar(avatar)
            with contextlib.suppress(NodeUnavailable, KuboNotFound):  # kept below instead
                async with home.kubo() as kubo:
                    avatar_cid, _ = await kubo.add(data, avatar.name)
        async with feed_lock_async(home.settings.home, home.settings.lock_timeout):
            await ensure_root(home, me, box)
            await check_own_head(home, me, box)
            if avatar is not None and data is not None:  # the newest avatar wins over a kept one
                drafts.drop_kept_avatar(box)
                if avatar_cid is None:
                    drafts.keep_avatar(box, data, avatar.name)
            prev = latest_root(box)
            old = prev.profile if prev else Profile()
            new = Profile(old.name if name is None else name, old.bio if bio is None else bio,
                          avatar_cid or old.avatar, old.inbox if inbox is None else inbox)
            if new != old or avatar is None or avatar_cid is not None:
                # An inbox is a v2 profile field (docs/FORMAT.md section 15): a v1 root becomes v2.
                v2 = Listing() if new.inbox and prev is not None and prev.version == feed.VERSION else None
                root = feed.advance(me, prev, updated=now_ms(), profile=new, listing=v2)
                box.add_root(root.seq, root.cid, root.block)
                drafts.show_own(home, me, root)
        kept = avatar is not None and avatar_cid is None
        return await flush_change(home, me, box, "your profile (and new avatar)" if kept else "your profile")


async def _store_kept_avatar(home: Home, kubo: Kubo, me: Identity, box: Outbox) -> None:
    """An avatar kept while the node was down: store it now and sign the profile with it
    (again harmless after a crash: the same file gives the same CID, and no second root)."""
    staged = drafts.kept_avatar(box)
    if staged is None:
        return
    try:
        data = read_file(Path(staged["path"]), MAX_AVATAR_BYTES)
    except InvalidInput as e:
        drafts.drop_kept_avatar(box)  # it cannot be published ever: do not hold the feed back
        raise InvalidInput(f"your new avatar {staged['name']} could not be published: its kept "
                           f"copy is gone ({e}); set it again (`ipfeed profile set --avatar`)") from e
    cid, _ = await kubo.add(data, staged["name"])
    prev = latest_root(box)
    if prev is not None and prev.profile.avatar != cid:
        root = feed.advance(me, prev, updated=now_ms(), profile=replace(prev.profile, avatar=cid))
        box.add_root(root.seq, root.cid, root.block)
        drafts.show_own(home, me, root)
    drafts.drop_kept_avatar(box)


async def flush_change(home: Home, me: Identity, box: Outbox, what: str) -> PublishResult:
    """Publish a profile or follow change already kept in the outbox; if that fails, say
    plainly that it is saved and will be published later (as a post would be)."""
    try:
        return await flush(home, me, box)
    except IpfeedError as e:
        when = ("when your node is back (`ipfeed node start`; `ipfeed serve` then publishes it, "
                "or run `ipfeed publish`)" if isinstance(e, NodeUnavailable | KuboNotFound)
                else "at the next try (`ipfeed publish`)")
        raise PublishPending(f"{what} is saved here and will be published {when}: {e}") from e


async def flush(home: Home, me: Identity, box: Outbox, chunk: int | None = None) -> PublishResult:
    """Under the feed lock: seal drafts (`chunk` at a time while the node stores them, if
    given), store blocks, move the pin, publish the name."""
    async with feed_lock_async(home.settings.home, home.settings.lock_timeout):
        await check_own_head(home, me, box)
        stored, checked = 0, Rechecked()
        if chunk is None or box.latest_root() is None:
            sealed = drafts.seal_offline(home, me, box)
        else:
            sealed, stored, checked = await seal_while_storing(home, me, box, chunk)
        async with home.kubo() as kubo:
            if box.latest_root() is None:
                await adopt_head(home, kubo, me, box)
            for d in box.drafts():
                found = await _skip_targets(kubo, box, me)
                try:
                    if d.recipients and d.attachments:
                        parts = await _add_private_attachments(kubo, d)
                    elif d.recipients:
                        parts = drafts.PrivateParts(os.urandom(32), [], ())
                    else:
                        parts = None
                    atts = await _add_attachments(kubo, d) if parts is None else ()
                    thumbs = {}
                    if t := d.extra.get("card", {}).get("thumb"):
                        thumb = await _add_attachments(kubo, Draft(d.id, 0, "", None, [t], []))
                        thumbs[d.id] = ContentAttachment(*(getattr(thumb[0], k) for k in
                                                           ("cid", "type", "size", "name")))
                except InvalidInput as e:
                    raise InvalidInput(f"draft {d.id} cannot be published: {e}; it holds back the "
                                       f"posts after it (`ipfeed drafts drop {d.id}` gives it up)") from e
                sealed += drafts.seal(home, me, box, [(d, atts, parts)], found, thumbs)
            await _store_kept_avatar(home, kubo, me, box)
            root = latest_root(box)
            if root is None:
                raise MissingIdentity("this home has no feed root; run `ipfeed init`")
            await sync_node(home, kubo, me, box, root, stored, checked)
            if not sealed:  # nothing new to show, but a crash may have left the index behind
                drafts.show_own(home, me, root)
    with contextlib.suppress(IpfeedError):  # outside the lock: the announcement is a courtesy
        async with home.kubo() as kubo:
            await push.announce(kubo, me.name, home.settings.resolve_timeout)
    return PublishResult(me.name, root.cid, root.count, sealed)


async def check_own_head(home: Home, me: Identity, box: Outbox) -> None:
    """Before signing: the network's newest record for this home's own name must point at a
    root this home signed (or an older root of its chain); else another home publishes this
    feed with the same key, and going on here would fork it. With no peers, or no record
    found in OWN_HEAD_TIMEOUT, this home proceeds (the offline case)."""
    mine = latest_root(box)
    if mine is None:
        return  # a restored key: _adopt_head continues the network's feed
    try:
        async with home.kubo() as kubo:
            if not await kubo.swarm_peers():
                return
            # No settle retry (it cost every first publish 3 s): the DHT table holds a peer by
            # now (name_get waits for one), so a quick "not found" means no reachable node has
            # a record for this name, this one included; a second chain could only have been
            # started on purpose, with a copied key and `ipfeed init --fresh`.
            raw = await kubo.name_get(me.name, min(home.settings.resolve_timeout, OWN_HEAD_TIMEOUT),
                                      settle=0)
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


async def ensure_root(home: Home, me: Identity, box: Outbox) -> None:
    """Before changing the root of a home that has none (a restored key): adopt the feed's."""
    if box.latest_root() is None:
        async with home.kubo() as kubo:
            await adopt_head(home, kubo, me, box)


async def adopt_head(home: Home, kubo: Kubo, me: Identity, box: Outbox) -> None:
    """A restored key: continue the feed the network has for it, verified, or refuse."""
    try:
        raw = await kubo.name_get(me.name, home.settings.resolve_timeout)
        record = parse_record(raw, me.name)
        cid = codec.parse_cid(record.value)
        root = feed.parse(await kubo.block_get(cid, feed.MAX_ROOT_BYTES), cid)
        feed.check_root_author(root, me.public, me.name)
        linked: tuple[bytes, ...] = ()
        if root.follows:  # the follow list travels with the root, or following breaks
            block = await kubo.block_get(root.follows, feed.MAX_FOLLOWS_BYTES)
            feed.parse_follows(block, root.follows)
            linked = (block,)
        tree = await livesync.fetch_tree(lambda c, limit: kubo.block_get(c, limit), root)
        linked += tuple(b for _, b in tree.blocks()) if tree else ()  # v2: what the next post extends
        if root.moderation:  # the sealed mute and block lists: they must open with this key
            block = await kubo.block_get(root.moderation, moderationblock.MAX_BLOCK_BYTES)
            linked += (moderationblock.check_restored(me, root, {root.moderation: block},
                                                      "your feed on the network"),)
    except NotFound as e:
        raise FeedNotAdopted(
            f"this home has your key but not your feed, and the network has no feed for "
            f"{me.name} now ({e}); ipfeed will not start a second chain that could fork it. "
            "Connect to a node that holds your feed (e.g. a friend's home server) and try "
            "again, or run `ipfeed init --fresh` if this key never published"
        ) from e
    box.add_root(root.seq, root.cid, root.block, linked)


async def complete_chain(home: Home) -> int:
    """A home that continued the feed with a restored key holds only the entries it signed,
    but a deletion rebuilds the newest-posts list and the contents tree from the whole chain:
    adopt the feed's root if not yet done, then fetch the older entries and the content blocks
    they name into the outbox, each verified (the chain against the newest root's links, the
    fold against its listing), once. Returns how many entries it added; refused, with the
    reason, if they cannot be fetched."""
    me = home.identity()
    with home.outbox() as box:
        root = latest_root(box)
        if root is not None and box.count_posts() >= root.count:
            return 0
        async with feed_lock_async(home.settings.home, home.settings.lock_timeout):
            await ensure_root(home, me, box)  # a restored key not adopted yet: its feed's root first
            root = latest_root(box)
            assert root is not None
            held = [parse_chained(b) for _, b in box.post_blocks(0)]
            if len(held) >= root.count:
                return 0
            try:
                async with home.kubo() as kubo:
                    chain = await sync.fetch_chain(kubo, root, home.settings, held)
                    livesync.check_root(root, chain, writing.load_tree(root, box.block), whole=True)

                    async def get(cid: str, limit: int) -> bytes:
                        held_block = box.block(cid)  # kept here, or fetched (both checked on parsing)
                        return held_block or await kubo.block_get(cid, limit, timeout=home.settings.timeout)
                    got = await livesync.fetch_contents(get, chain, home.settings.fetch_concurrency)
            except IpfeedError as e:
                raise InvalidInput(
                    f"this home continued your feed {me.name} with a restored key and holds only "
                    f"{len(held)} of its {root.count} entries; the older ones, which a deletion "
                    f"rebuilds the list of your newest posts from, could not be fetched and verified "
                    f"({e}); nothing was saved") from e
            signed = {e.cid for e in held}
            box.add_history([(e.seq, e.cid, e.block) for e in reversed(chain) if e.cid not in signed],
                            [c.block for c in got.values() if box.block(c.cid) is None])
            return len(chain) - len(held)


async def seal_while_storing(home: Home, me: Identity, box: Outbox, chunk: int
                             ) -> tuple[int, int, Rechecked]:
    """Sign text drafts `chunk` at a time in a thread (its own database connections) while
    the node stores the chunk signed before, and another thread re-checks that chunk's
    entries and content blocks (signatures included, as sync_node would: then not again);
    return how many were signed, the sequence number up to which the node now holds the posts
    (their pin comes later, in sync_node) and what was re-checked."""
    sealed = stored = 0
    storing: asyncio.Future[int] | None = None
    checking: list[asyncio.Future[Rechecked]] = []
    async with home.kubo() as kubo:
        try:
            while n := await asyncio.to_thread(drafts.seal_chunk, home, me, chunk):
                sealed += n
                if storing is not None:
                    stored = await storing
                root = latest_root(box)
                assert root is not None
                entries = [b for _, b in box.post_blocks(root.count - n)]
                blocks = writing.with_contents(entries, box.block)  # the entries, then their contents
                check = asyncio.to_thread(_recheck, entries, blocks[len(entries):])
                checking.append(asyncio.ensure_future(check))
                storing = asyncio.ensure_future(_store(kubo, root, blocks, home.settings.timeout))
        finally:
            done = await asyncio.gather(*checking, return_exceptions=True)
            if storing is not None:
                stored = await storing
    checked = Rechecked()
    for result in done:
        if isinstance(result, BaseException):
            raise result  # an entry of the outbox that does not verify: nothing is pinned or published
        checked.entries.update(result.entries)
        checked.contents.update(result.contents)
    return sealed, stored, checked


async def sync_node(home: Home, kubo: Kubo, me: Identity, box: Outbox, root: Root, stored: int = 0,
                    checked: Rechecked | None = None) -> None:
    """Make the node hold, pin and publish `root`; each step is a per-node watermark.
    Posts up to seq `stored` were stored by this same call a moment ago; `checked`: entries
    and contents it re-checked meanwhile (seal_while_storing), not checked again."""
    peer = (await kubo.id())["ID"]
    # Blocks count as kept only once a pinned root covers them: a crash (and a garbage
    # collection) between storing and pinning just means storing them again.
    covered_key, pinned_key, published_key = (f"{k}:{peer}" for k in ("covered", "pinned", "published"))
    covered = int(box.get(covered_key, "0") or 0)
    pending = list(box.post_blocks(covered))
    checked = checked or Rechecked()
    chained = _rechecked([b for _, b in pending], checked.entries)
    named = [(e.seq, checked.contents.get(e.content) or contentblock.parse_content(c)) for e in chained
             if isinstance(e, Entry) and e.content and (c := box.block(e.content)) is not None]
    new_contents = [c for _, c in named]
    unstored = [c.block for seq, c in named if seq > stored]  # the others rode with their entries
    tree_key = f"tree:{peer}"
    old_tree = writing.load_tree(_root(box.root_block(box.get(tree_key))), box.block)
    tree = writing.load_tree(root, box.block)
    old_blocks = {c for c, _ in old_tree.blocks()} if old_tree else set()
    tree_blocks = [(c, b) for c, b in tree.blocks() if c not in old_blocks] if tree else []
    await _store(kubo, root, [b for seq, b in pending if seq > stored]
                 + unstored + [b for _, b in tree_blocks],
                 home.settings.timeout, home.settings.fetch_concurrency)
    for linked in (root.follows, root.moderation):  # the follow list and the sealed lists
        if linked and (linked_block := box.block(linked)) is not None:
            await kubo.block_put(linked_block)
    await kubo.block_put(root.block)
    crashpoint("stored", home.settings.home)
    pinned = box.get(pinned_key)
    if pinned != root.cid and root.version == feed.VERSION_2:
        previous = _root(box.root_block(pinned))
        live = set(tree.items) if tree else set()
        gone = [contentblock.parse_content(b) for c in (old_tree.items if old_tree else ())
                if c not in live and (b := box.block(c)) is not None]
        async def tree_cids() -> Tree | None:
            return tree
        await pins.advance_v2(kubo, previous, root, chained, new_contents, gone, tree_cids,
                              home.settings.sync_timeout, check=False)  # own files, added here
        box.set(pinned_key, root.cid)
        box.set(tree_key, root.cid)
    elif pinned != root.cid:
        news = [p for p in chained if isinstance(p, post_rules.Post)]
        await pins.advance(kubo, pinned, root, news, home.settings.sync_timeout,
                           walk_ok=True)  # the user's own files, added by this home
        box.set(pinned_key, root.cid)
    box.set(covered_key, str(root.count))
    crashpoint("pinned", home.settings.home)
    unreached_key = f"unreached:{peer}"
    if box.get(published_key) == root.cid and not await _holds_record(kubo, me.name, root.cid):
        box.set(published_key, "")  # the node lost it: Kubo 0.43 drops records of older layouts
    if box.get(published_key) != root.cid:
        key = await keys.ensure_node_key(kubo, me)
        # A node started a moment ago is still connecting to its peerings: a record put
        # now would reach nobody and wait hours for Kubo's republisher.
        uptime = node.started_ago(home.settings)
        young = uptime is not None and uptime < YOUNG_NODE
        reached = await kubo.routing_warm(ipfs.ROUTING_WARMUP if young else 0)
        await kubo.name_publish(key, root.cid, lifetime=home.settings.ipns_lifetime,
                                ttl=home.settings.ipns_ttl)
        crashpoint("published", home.settings.home)
        box.set(published_key, root.cid)
        box.set(unreached_key, "" if reached else root.cid)
    elif box.get(unreached_key) == root.cid and await kubo.dht_peers():
        # Published while no peer could take it: put the record into the DHT again now.
        await kubo.name_put(me.name, await kubo.name_get(me.name, home.settings.resolve_timeout))
        box.set(unreached_key, "")


@dataclass
class Rechecked:
    """Outbox blocks re-checked while the node stored them (seal_while_storing), by CID."""

    entries: dict[str, Chained] = field(default_factory=dict)
    contents: dict[str, Content] = field(default_factory=dict)


def _recheck(entries: Sequence[bytes], contents: Sequence[bytes]) -> Rechecked:
    """Parse and verify a chunk's entries (entry.parse_chain) and their content blocks."""
    return Rechecked({e.cid: e for e in parse_chain((b, None) for b in entries)},
                     {c.cid: c for c in map(contentblock.parse_content, contents)})


def _rechecked(blocks: Sequence[bytes], checked: Mapping[str, Chained]) -> list[Chained]:
    """The outbox's entries re-checked before pinning and publishing (signatures on another
    core, entry.parse_chain), but for those in `checked`: the same CID, so the same bytes."""
    cids = [codec.cid_of(b) for b in blocks]
    rest = iter(parse_chain((b, c) for b, c in zip(blocks, cids, strict=True) if c not in checked))
    return [checked[c] if c in checked else next(rest) for c in cids]


def _root(block: bytes | None) -> Root | None:
    return feed.parse(block) if block else None


async def _store(kubo: Kubo, root: Root, blocks: Sequence[bytes], timeout: float, at_once: int = 16) -> int:
    """Put post blocks into the node (many: one CAR import; few: a call each); return the
    sequence number of `root`, which lists the newest of them."""
    if len(blocks) > 64:
        await kubo.dag_import(car_bytes([codec.cid_bytes_of(root.block)], blocks),
                              timeout=timeout + len(blocks) / 1000)
    else:
        await bounded(at_once, [kubo.block_put(b) for b in blocks])
    return root.count


async def _skip_targets(kubo: Kubo, box: Outbox, me: Identity) -> dict[int, str]:
    """For a feed restored from the network (its old posts are not in the outbox): the CID of
    the post the next post's skip link needs, found in O(log n) verified hops from the head."""
    root = latest_root(box)
    if root is None or root.head is None:
        return {}
    target = post_rules.skip_target(root.count + 1)
    if target is None or box.post_cid(target):
        return {}
    at = parse_chained(await kubo.block_get(root.head, post_rules.MAX_POST_BYTES), root.head)
    while at.seq > target:
        jump = post_rules.skip_target(at.seq)
        nxt = at.skip if jump is not None and jump >= target else at.prev
        assert nxt is not None
        older = parse_chained(await kubo.block_get(nxt, post_rules.MAX_POST_BYTES), nxt)
        if older.author != me.public:
            raise ChainError(f"post {nxt} in your feed is not yours")
        at = older
    return {target: at.cid}


async def _add_private_attachments(kubo: Kubo, d: Draft) -> drafts.PrivateParts:
    key = os.urandom(32)
    meta, files = [], []
    for a in d.attachments:
        data = read_file(Path(a["path"]), post_rules.MAX_ATTACHMENT_SIZE)
        nonce, blob = private.encrypt_file(key, data)
        cid, _ = await kubo.add(blob, "blob")
        meta.append({"cid": codec.cid_to_bytes(cid), "type": a["type"], "size": len(data),
                     "name": a["name"], "nonce": nonce})
        files.append(cid)
    return drafts.PrivateParts(key, meta, tuple(files))


async def _add_attachments(kubo: Kubo, d: Draft) -> tuple[Attachment, ...]:
    out = []
    for a in d.attachments:
        data = read_file(Path(a["path"]), post_rules.MAX_ATTACHMENT_SIZE)
        cid, _ = await kubo.add(data, a["name"])
        out.append(Attachment(cid, a["type"], len(data), a["name"]))
    return tuple(out)


async def _holds_record(kubo: Kubo, name: str, root: str) -> bool:
    """Whether the node itself stores a valid record of `name` pointing at `root` (one local
    read: no network)."""
    try:
        record = parse_record(await kubo.name_get(name, 10, offline=True), name)
    except (NotFound, InvalidObject):
        return False
    return record.value == f"/ipfs/{root}" and not record.expired()
