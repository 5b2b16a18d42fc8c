"""Keeping a growing feed pinned in work proportional to what is new, and never pinning a
file larger than the post that carries it declares.

Kubo's `pin update` diffs the old and new DAGs link by link without remembering what it saw;
on a feed (every post links `prev` and often `skip`, the root's `recent` shifts by one) that
walk explodes, and a plain recursive pin of each new root walks the whole history each time.
A recursive pin of a followed feed's root would also walk into every attachment, whatever
size it declares. So: a followed feed's posts, follow lists and roots are pinned directly
(one block each, the first time all of them, then the new ones), each attachment only after
its blocks were read with bounds and add up to no more than it declares (then recursively,
its own small DAG), and the previous root's direct pin is dropped. Every block of the feed
stays covered, and garbage collection can remove none of it. The user's own feed (signed
here, trusted) may still be pinned from its first root recursively.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

from . import codec
from .contentblock import MAX_CONTENT_BYTES, Content, parse_content
from .contents import Tree
from .entry import Chained
from .errors import InvalidBlock, IpfeedError
from .feed import MAX_ROOT_BYTES, Root
from .feed import parse as parse_root
from .ipfs import Kubo
from .post import MAX_ATTACHMENT_SIZE, Post
from .private import MAC_BYTES

MAX_NODE_BYTES = 1024 * 1024  # a dag-pb node of a file (links and sizes) is read up to this
CHECKS_AT_ONCE = 4
History = Callable[[], Awaitable[list[Post]]]  # every post of the feed, verified
Chain = Callable[[], Awaitable[Sequence[Chained]]]  # every entry of the feed, verified
Refused = Callable[[str, str, str], None]  # post CID, file CID, why


def declared_files(p: Post) -> list[tuple[str, int]]:
    """(CID, most bytes it may hold) of each file a post links: an attachment's declared size;
    an encrypted blob's size is inside the box, so the largest an attachment may be."""
    return [(a.cid, a.size) for a in p.attachments] + \
        [(f, MAX_ATTACHMENT_SIZE + MAC_BYTES) for f in p.files]


def unixfs_node(block: bytes, cid: str) -> tuple[int, list[tuple[str, int]]]:
    """A dag-pb UnixFS file node: its `filesize` and its children (CID, the file bytes under
    each, from `blocksizes`); refused unless it is a file whose sizes add up."""
    what = f"file {cid}"
    data, links = b"", []
    for number, value in codec.protobuf_fields(block, what):
        if number == 1 and isinstance(value, bytes):  # PBNode.Data
            data = value
        elif number == 2 and isinstance(value, bytes):  # PBNode.Links: PBLink.Hash is field 1
            raw = next((v for n, v in codec.protobuf_fields(value, what) if n == 1), None)
            links.append(codec.check_cid_bytes(raw, codec.FILE_PREFIXES, f"{what}: link"))
    fields = codec.protobuf_fields(data, f"{what}: UnixFS data")
    kind = next((v for n, v in fields if n == 1), None)
    if kind not in (0, 2):  # Raw or File
        raise InvalidBlock(f"{what}: not a UnixFS file (type {kind!r})")
    inline = next((v for n, v in fields if n == 2 and isinstance(v, bytes)), b"")
    sizes = [v for n, v in fields if n == 4 and isinstance(v, int)]
    size = next((v for n, v in fields if n == 3 and isinstance(v, int)), len(inline) + sum(sizes))
    if len(sizes) != len(links) or size != len(inline) + sum(sizes):
        raise InvalidBlock(f"{what}: its filesize {size} is not its data plus its blocks' sizes")
    return size, list(zip(links, sizes, strict=True))


async def file_problem(kubo: Kubo, cid: str, declared: int, timeout: float) -> str | None:
    """Why a file cannot be pinned as a file of at most `declared` bytes, or None. Its blocks
    are read top down with bounds (a dag-pb node up to 1 MiB, a raw leaf up to the size its
    parent gives), so a file declared small costs at most its root block to refuse, and an
    honest one is then fully local (its recursive pin fetches nothing more)."""
    budget = 64 + declared // 16384  # blocks: far more than `ipfs add` makes for that size
    total = 0
    todo: list[tuple[str, int | None]] = [(cid, None)]  # (CID, exact file bytes under it)
    children: list[tuple[str, int]]
    while todo:
        at, want = todo.pop()
        budget -= 1
        if budget < 0:
            return f"more blocks than a file of {declared} bytes needs"
        limit = declared - total if want is None else want
        try:
            if codec.cid_to_bytes(at)[:4] == codec.PREFIX_RAW:
                size, children = len(await kubo.block_get(at, limit, timeout)), []
            else:
                size, children = unixfs_node(await kubo.block_get(at, MAX_NODE_BYTES, timeout), at)
        except InvalidBlock as e:
            if "over the limit" in str(e):
                return f"block {at} is larger than the {limit} bytes it may hold"
            return str(e)
        if size > limit:
            return f"{size} bytes, over its declared size of {declared}" if want is None else \
                f"block {at} holds {size} bytes, over the {want} its parent gives"
        if want is not None and size != want:
            return f"block {at} holds {size} bytes, not the {want} its parent gives"
        if not children:
            total += size
        todo.extend(reversed(children))
    return None


async def _checked(kubo: Kubo, posts: Sequence[Post], root: Root, timeout: float,
                   refused: Refused | None) -> list[str]:
    """The files of these posts (and the avatar) that passed their size check."""
    wanted = [(p.cid, f, size) for p in posts for f, size in declared_files(p)]
    if root.profile.avatar:
        wanted.append((root.cid, root.profile.avatar, MAX_ATTACHMENT_SIZE))
    sem = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def one(item: tuple[str, str, int]) -> str | None:
        async with sem:
            return await file_problem(kubo, item[1], item[2], timeout)
    problems = await asyncio.gather(*(one(w) for w in wanted))
    ok = []
    for (owner, f, _), problem in zip(wanted, problems, strict=True):
        if problem is None:
            ok.append(f)
        elif refused is not None:
            refused(owner, f, problem if problem.startswith(f"file {f}") else f"file {f}: {problem}")
    return ok


# A direct pin costs Kubo about 200 times what one block of a recursive pin's walk costs
# (measured here on Kubo 0.43.1: 6.8 ms a direct pin, each one a synced write, against 0.034 ms a
# block walked): past count/200 new posts, one recursive pin of the root is the cheaper way.
DIRECT_PIN_COST = 200


async def advance(kubo: Kubo, previous: str | None, root: Root, new_posts: Sequence[Post] | None,
                  timeout: float, *, history: History | None = None, refused: Refused | None = None,
                  walk_ok: bool = False) -> None:
    """Pin `root` (its DAG) given the root pinned before and the posts added since. Not based
    on a pinned root (or not knowing the new posts): every post of `history`, or, with no
    `history` (the user's own feed only), the whole DAG recursively."""
    if previous == root.cid:
        return
    based = previous is not None and (await kubo.pinned(previous, "direct") or await kubo.pinned(previous))
    posts: Sequence[Post] | None = new_posts if based else None
    if posts is None and new_posts is not None and len(new_posts) == root.count:
        posts = new_posts  # the whole feed is new (a first sync)
    if posts is None and history is not None:
        posts = await history()
    if posts is None:
        await kubo.pin_add(root.cid, timeout)
        if previous is not None and await kubo.pinned(previous, "direct"):
            await kubo.pin_rm(previous)
        return
    if history is not None:
        files = await _checked(kubo, posts, root, timeout, refused)
    else:  # the user's own files, added by this home
        files = [f for p in posts for f, _ in declared_files(p)] + \
            ([root.profile.avatar] if root.profile.avatar else [])
    declared = sum(len(declared_files(p)) for p in posts) + (1 if root.profile.avatar else 0)
    if (walk_ok and len(files) == declared
            and (not based or len(posts) * DIRECT_PIN_COST > root.count)):
        # Every file of the feed proved no larger than declared (`walk_ok`: none refused
        # before, and all of these passed), so a recursive pin may walk into all of them.
        await kubo.pin_add(root.cid, timeout)
        if previous is not None and previous != root.cid and (
                await kubo.pinned(previous, "direct") or await kubo.pinned(previous)):
            await kubo.pin_rm(previous)
        return
    await kubo.pin_add([p.cid for p in posts] + linked(root), timeout,
                       recursive=False)
    await kubo.pin_add(files, timeout)
    await kubo.pin_add(root.cid, timeout, recursive=False)  # last: the root pinned = all of it pinned
    if previous is not None and previous != root.cid and await kubo.pinned(previous, "direct"):
        await kubo.pin_rm(previous)  # a first, recursive root (older ipfeed) stays: it holds the history


def content_files(c: Content) -> list[tuple[str, int]]:
    """(CID, most bytes it may hold) of each file a content block links: its attachments, a
    card's thumbnail, a private content's encrypted blobs."""
    out = [(a.cid, a.size) for a in c.attachments]
    if c.card is not None and c.card.thumb is not None:
        out.append((c.card.thumb.cid, c.card.thumb.size))
    return out + [(f, MAX_ATTACHMENT_SIZE + MAC_BYTES) for f in c.files]


async def advance_v2(kubo: Kubo, previous: Root | None, root: Root, entries: Sequence[Chained],
                     new: Sequence[Content], gone: Sequence[Content],
                     tree: Callable[[], Awaitable[Tree | None]],
                     timeout: float, *, check: bool, walk_ok: bool = True,
                     refused: Refused | None = None, history: Chain | None = None) -> None:
    """Pin a v2 root given the root pinned before (None: nothing of it yet). A v2 root's DAG
    is its chain and exactly the live contents (entries name their content by bytes, not a
    link), so when every file proved no larger than declared (`check`: followed feeds) and a
    walk is cheaper than direct pins (a first pin, many new entries, or a deletion) the root
    is pinned recursively and every older pin of the feed dropped. Otherwise the new entries
    are pinned directly and the live contents through the contents tree, recursively (moved
    with `pin update`, which walks only the changed parts); with a refused file, the
    direct-pin fallback: the content, part and contents blocks (`tree()`) directly, each
    checked file recursively, and what was deleted (`gone`) unpinned; an older root of the
    feed pinned recursively would still hold it, so after a deletion what it held that the
    feed still needs is pinned without it (`history`: every entry) and it is dropped."""
    wanted = [(c.cid, f, size) for c in new for f, size in content_files(c)]
    v1_posts = [p for p in entries if isinstance(p, Post)]
    v1 = [f for p in v1_posts for f, _ in declared_files(p)]
    ok = [f for _, f, _ in wanted]
    if check:
        problems = await asyncio.gather(*(file_problem(kubo, f, size, timeout) for _, f, size in wanted))
        ok = []
        for (owner, f, _), problem in zip(wanted, problems, strict=True):
            if problem is None:
                ok.append(f)
            elif refused is not None:
                refused(owner, f, f"file {f}: {problem}")
        v1_ok = await _checked(kubo, v1_posts, root, timeout, refused)
    else:
        v1_ok = v1 + ([root.profile.avatar] if root.profile.avatar else [])
    all_ok = walk_ok and len(ok) == len(wanted) and len(v1_ok) == len(v1) + (1 if root.profile.avatar else 0)
    if all_ok and (previous is None or gone or len(entries) * DIRECT_PIN_COST > root.count):
        await kubo.pin_add(root.cid, timeout)
        await _drop_older(kubo, previous, root, gone)
        return
    await kubo.pin_add([e.cid for e in entries] + linked(root), timeout,
                       recursive=False)
    await kubo.pin_add(v1_ok, timeout)  # a v1 post's files are not under the contents tree
    old_tree = previous.contents if previous is not None and previous.version == 2 else None
    if root.contents is not None and all_ok:
        if old_tree and old_tree != root.contents and await kubo.pinned(old_tree):
            await kubo.pin_update(old_tree, root.contents, timeout)
        else:
            await kubo.pin_add(root.contents, timeout)
    else:
        live = await tree()
        blocks = [*(c for c, _ in (live.blocks() if live else ())), *(c.cid for c in new)]
        switching = old_tree is not None and old_tree != root.contents and await kubo.pinned(old_tree)
        if switching and live is not None:  # the tree path pinned the older contents through its tree
            blocks += live.items
        if root.contents in blocks and await kubo.pinned(root.contents):  # pinned by the tree path before
            blocks.remove(root.contents)
        await kubo.pin_add(list(dict.fromkeys(blocks)), timeout, recursive=False)
        await kubo.pin_add(ok, timeout)
        if switching and old_tree is not None:
            await kubo.pin_rm(old_tree)  # it may list what was deleted
        await _unpin(kubo, gone)
        if gone and history is not None and (older := await _older_roots(kubo, root)):
            await _hold_live(kubo, root, live, {c.cid for c in new}, history, timeout, refused)
            for cid in older:
                await kubo.pin_rm(cid)
    await kubo.pin_add(root.cid, timeout, recursive=False)
    if previous is not None and previous.cid != root.cid and await kubo.pinned(previous.cid, "direct"):
        await kubo.pin_rm(previous.cid)
    # Otherwise an older root pinned recursively stays: it holds the chain below and, with no
    # deletion since, nothing the feed no longer has.


async def _hold_live(kubo: Kubo, root: Root, live: Tree | None, checked: set[str], history: Chain,
                     timeout: float, refused: Refused | None) -> None:
    """Pin what an older recursive root of the feed held that `root` still needs, without any
    pin walking into a refused file: the chain (its head recursively: v2 entries link only
    `prev` and `skip`; each entry directly if a v1 post in it links files, each of those
    checked), and each live content not `checked` yet directly, its files once they pass
    their size check (all local but a refused one: the older root held them)."""
    chain = await history()
    v1_posts = [p for p in chain if isinstance(p, Post) and declared_files(p)]
    if v1_posts or root.head is None:
        await kubo.pin_add([e.cid for e in chain], timeout, recursive=False)
        await kubo.pin_add(await _checked(kubo, v1_posts, root, timeout, refused), timeout)
    else:
        await kubo.pin_add(root.head, timeout)
    items = [c for c in (live.items if live else ()) if c not in checked]
    sem = asyncio.Semaphore(CHECKS_AT_ONCE)

    async def files_of(cid: str) -> list[str]:
        async with sem:
            c = parse_content(await kubo.block_get(cid, MAX_CONTENT_BYTES, timeout), cid)
            ok = []
            for f, size in content_files(c):
                if (problem := await file_problem(kubo, f, size, timeout)) is None:
                    ok.append(f)
                elif refused is not None:
                    refused(cid, f, f"file {f}: {problem}")
            return ok
    files = [f for fs in await asyncio.gather(*(files_of(c) for c in items)) for f in fs]
    await kubo.pin_add(items, timeout, recursive=False)
    await kubo.pin_add(list(dict.fromkeys(files)), timeout)


async def _older_roots(kubo: Kubo, root: Root) -> list[str]:
    """Every other root of `root`'s feed pinned recursively here (one walk of this node's
    recursive pins, which are one per feed and its files)."""
    out = []
    for cid in await kubo.pins("recursive"):
        if cid == root.cid or not cid.startswith("bafyrei"):  # dag-cbor, sha2-256: a root
            continue
        with contextlib.suppress(IpfeedError):
            older = parse_root(await kubo.block_get(cid, MAX_ROOT_BYTES, offline=True), cid)
            if older.author == root.author:
                out.append(cid)
    return out


async def _drop_older(kubo: Kubo, previous: Root | None, root: Root, gone: Sequence[Content]) -> None:
    """After a recursive pin of `root`: drop the other pins of its feed that may hold what was
    deleted: the previous root's, its contents tree's, every older root of the feed pinned
    recursively, and the direct pins of the deleted contents."""
    if previous is not None and previous.cid != root.cid:
        for cid in (previous.cid, previous.contents):
            if cid and (await kubo.pinned(cid, "direct") or await kubo.pinned(cid)):
                await kubo.pin_rm(cid)
    if gone:
        for cid in await _older_roots(kubo, root):
            await kubo.pin_rm(cid)
    await _unpin(kubo, gone)


async def _unpin(kubo: Kubo, gone: Sequence[Content]) -> None:
    for c in gone:
        for cid in [c.cid, *(f for f, _ in content_files(c))]:
            with contextlib.suppress(IpfeedError):
                await kubo.pin_rm(cid)


def linked(root: Root) -> list[str]:
    """The blocks a root links besides entries and contents: its follow list and sealed lists."""
    return [c for c in (root.follows, root.moderation) if c]
