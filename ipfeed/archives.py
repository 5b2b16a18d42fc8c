"""Archives: export the user's feed as a CAR file, and import (verify, store, pin) one."""

from __future__ import annotations

import contextlib
from pathlib import Path

from . import (
    archive,
    codec,
    contentblock,
    feed,
    history,
    livesync,
    moderationblock,
    publishing,
    sync,
    writing,
)
from .car import car_bytes, read_car, varint
from .contents import parse_contents
from .entry import Entry, parse_chained
from .errors import Fork, InvalidArchive, InvalidInput, IpfeedError, NotFound, WouldFork
from .homedir import Home, bounded, latest_root, now_ms, read_file
from .identity import Identity
from .outbox import Outbox, feed_lock
from .post import Post

MAX_BLOCK = 2 * 1024 * 1024  # Kubo's block size limit


async def export(home: Home, path: Path, since: str | None = None) -> tuple[int, int]:
    """Write the user's feed (blocks, attachments, newest signed record) as a CAR archive;
    with `since` (a root or post CID of an earlier export), only what came after it.
    Returns (posts, bytes written)."""
    me = home.identity()
    await publishing.publish(home)  # the archive holds the newest root and its record
    with home.outbox() as box:
        root = latest_root(box)
        assert root is not None
        base = _base_of(box, since) if since else 0
        own = {seq: block for seq, block in box.post_blocks(base)}
        follows = box.block(root.follows) if root.follows else None
        box_moderation = box.block(root.moderation) if root.moderation else None
        kept = {c: b for c in _tree_and_contents(box, root) if (b := box.block(c)) is not None}
    box_blocks = kept.get
    news_contents: list[tuple[str, bytes]] = []
    async with home.kubo() as kubo:
        record = await kubo.name_get(me.name, home.settings.resolve_timeout)
        if base == 0:  # everything the root reaches, fetched by the node if needed
            cids = await kubo.refs(root.cid, timeout=home.settings.sync_timeout)
            data_blocks = await bounded(home.settings.fetch_concurrency, [
                kubo.block_get(c, MAX_BLOCK, timeout=home.settings.sync_timeout) for c in cids])
            blocks = list(zip(cids, data_blocks, strict=True))
            posts = root.count
        else:
            news = [parse_chained(b) for b in own.values()]
            files = [a.cid for p in news if isinstance(p, Post) for a in p.attachments] + \
                [c for p in news if isinstance(p, Post) for c in p.files]
            tree = writing.load_tree(root, box_blocks)
            for cid in tree.items if tree else ():
                if (b := box_blocks(cid)) is not None and any(
                        isinstance(e, Entry) and e.content == cid for e in news):
                    c = contentblock.parse_content(b, cid)
                    news_contents.append((cid, b))
                    files += [*(a.cid for a in c.attachments), *c.files,
                              *([c.card.thumb.cid] if c.card and c.card.thumb else [])]
            if root.profile.avatar:
                files.append(root.profile.avatar)
            blocks = [(p.cid, p.block) for p in news] + news_contents + (tree.blocks() if tree else [])
            if follows and root.follows:
                blocks.append((root.follows, follows))
            if root.moderation and (sealed := box_moderation) is not None:
                blocks.append((root.moderation, sealed))
            for cid in files:
                car = await kubo.dag_export(cid, home.settings.max_export_bytes,
                                            timeout=home.settings.sync_timeout)
                blocks += list(read_car(car))
            posts = len(news)
    data = archive.build(record, root, blocks)
    archive.read(data)  # never write an archive that would not import
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.rename(path)
    return posts, len(data)


async def import_archive(home: Home, path: Path) -> archive.Archive:
    """Verify an archive whole, then store, pin and index it (and republish its record).
    An archive of the user's own feed also restores the outbox's root, so the next post
    continues the chain. Nothing is stored unless everything verifies."""
    data = read_file(path, home.settings.max_export_bytes)  # the bound an export keeps to
    arch = archive.read(data)
    if arch.root.moderation and home.user_name() == arch.name:  # own lists: before anything is stored
        moderationblock.check_restored(home.identity(), arch.root, arch.blocks, "archive")
    with home.index() as index:
        known = index.feed(arch.name)

        async def in_archive(cid: str, limit: int) -> bytes:
            block = arch.blocks.get(cid)
            if block is None or len(block) > limit:
                raise NotFound(f"archive of {arch.name}: block {cid} is not in it")
            return block
        # The same rules as a sync (rollback, equivocation, `recent` against known posts).
        await history.check_root(index, arch.name, known, arch.root, in_archive, now_ms(),
                                 what=f"archive of {arch.name}", keeping="nothing stored")
        have = known.count if known else 0
        at_have = next((p for p in arch.posts if p.seq == have), None)
        if known and known.head and at_have is not None and at_have.cid != known.head:
            index.add_fork(arch.name, [(have, known.head, None), (have, at_have.cid, at_have.block)],
                           now_ms())
            raise Fork(f"archive of {arch.name}: fork at seq {have}: known post {known.head}, "
                       f"the archive has {at_have.cid}; both kept as evidence, nothing stored")
        if arch.base > 0 and not (known and have >= arch.base
                                  and index.post_by_seq(arch.name, arch.base) == arch.posts[-1].prev):
            raise InvalidArchive(
                f"archive of {arch.name} continues from post {arch.base} ({arch.posts[-1].prev}), "
                f"which this node has not verified; import the earlier archive first")
        async with home.kubo() as kubo:
            await kubo.dag_import(_car_of(arch.root.cid, arch.blocks))
            with contextlib.suppress(IpfeedError):  # the routing system has a newer one: fine
                await kubo.name_put(arch.name, arch.record.raw)
            eol = int(arch.record.validity.timestamp() * 1000)
            try:
                reader: Identity | None = home.identity()
            except IpfeedError:
                reader = None
            index.apply(arch.name, arch.root, arch.posts, now_ms(), arch.record.raw,
                        arch.record.sequence, eol,
                        opened={**sync.open_all(reader, arch.posts),
                                **livesync.open_contents(reader, arch.posts, arch.contents)},
                        contents=arch.contents)
            state = index.feed(arch.name)
            assert state is not None
            # Pinned as a sync pins: attachments only once no larger than declared.
            await sync.pin_feed(kubo, index, state, arch.root, arch.posts, True, home.settings)
    try:
        me = home.identity()
    except IpfeedError:
        return arch
    if me.name == arch.name:
        with home.outbox() as box, feed_lock(home.settings.home, home.settings.lock_timeout):
            mine = latest_root(box)
            on_chain = mine is None or mine.count == 0 or any(
                p.seq == mine.count and p.cid == mine.head for p in arch.posts)
            if mine is not None and mine.count > arch.root.count:
                pass  # this home's feed is newer than the archive: keep it
            elif not on_chain:
                raise WouldFork(f"the archive's chain does not contain your newest post "
                                f"{mine.head if mine else ''}: importing it would fork your feed")
            elif mine is None or mine.seq < arch.root.seq:
                tree = [b for c, b in arch.blocks.items() if c in arch.contents or _in_tree(arch, c)]
                sealed = (moderationblock.check_restored(me, arch.root, arch.blocks, "archive"),) \
                    if arch.root.moderation else ()
                box.add_root(arch.root.seq, arch.root.cid, arch.root.block,
                             ((arch.blocks[arch.root.follows],) if arch.root.follows else ()) + tuple(tree)
                             + sealed)
    return arch


def _tree_and_contents(box: Outbox, root: feed.Root) -> list[str]:
    """The CIDs of the contents tree of the user's newest root and the content blocks it lists."""
    tree = writing.load_tree(root, box.block)
    return [c for c, _ in tree.blocks()] + list(tree.items) if tree else []


def _in_tree(arch: archive.Archive, cid: str) -> bool:
    """Whether a block of an archive is a block of its root's contents tree."""
    if arch.root.contents is None:
        return False
    if cid == arch.root.contents:
        return True
    return cid in parse_contents(arch.blocks[arch.root.contents], arch.root.contents).parts


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
