"""Reading feeds: `show` (fetched and verified now) and the queries over the local index."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import codec, feed, history, identity, livesync, post, private, sync
from .contentblock import Content
from .entry import Chained, parse_chained
from .errors import Fork, InvalidInput, IpfeedError, NotFound
from .feed import Follow, Profile, Root
from .homedir import Home, bounded, latest_root, now_ms
from .identity import Identity
from .index import FeedState, IndexedPost
from .post import Post


@dataclass(frozen=True)
class FeedView:
    """A verified feed: its root and its newest posts, newest first."""

    name: str
    root: Root
    posts: list[Chained] = field(default_factory=list)  # private ones only if they opened
    opened: dict[str, private.Opened] = field(default_factory=dict)
    contents: dict[str, Content] = field(default_factory=dict)  # v2: a post's current content
    counts: dict[str, dict[str, Any]] = field(default_factory=dict)  # what the index counts of each

    def post_json(self, p: Chained) -> dict[str, Any]:
        """One post for output, decrypted if it is private."""
        out = p.to_json() if isinstance(p, Post) else livesync.entry_json(p, self.contents.get(p.cid))
        out.update(self.counts.get(p.cid, {}))
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


async def show(home: Home, name: str, limit: int = 20) -> FeedView:
    """Resolve a name and fetch, verify and return its root and newest `limit` posts."""
    try:
        public = identity.public_from_name(name)
    except InvalidInput as e:  # a post's CID: a deleted one says so, without its content
        if deleted(home, name):
            raise NotFound(f"post {name.strip()} was deleted by its author; ipfeed does not show "
                           "its content") from e
        raise
    name = identity.name_from_public(public)
    if limit < 0:
        raise InvalidInput("--limit must not be negative")
    with home.index() as index:
        known = index.feed(name)
        if known and known.fork:
            raise Fork(f"{name}: this feed is flagged as forked (its author signed two posts "
                       "or two roots with one sequence number; both kept as evidence, see `ipfeed "
                       "status`); `show` prints nothing of it: `ipfeed timeline` has its posts "
                       "verified on the known chain")
        async with home.kubo() as kubo:
            head = await history.verified_head(kubo, index, name, home.settings, now_ms(), stale=False)
            root = head.root or feed.parse(await kubo.block_get(head.cid, feed.MAX_ROOT_BYTES), head.cid)
            if root.version == feed.VERSION_2:  # the newest page is what `posts` lists: one round trip
                get = kubo.block_get
                if limit <= len(root.posts) or len(root.posts) < feed.RECENT:
                    entries, got = await livesync.newest_page(get, root, limit)
                else:
                    entries, got = await livesync.walk_page(get, root, limit,
                                                            home.settings.fetch_concurrency)
                opened = livesync.open_contents(_identity(home), entries, {c.cid: c for c in got.values()})
                return FeedView(name, root, [e for e in entries if not (got.get(e.cid) and got[e.cid].private)
                                             or e.cid in opened], opened, got, _counts(home, entries))
            n = min(limit, root.count)
            first = list(root.recent[:n])
            blocks = await bounded(home.settings.fetch_concurrency,
                                   [kubo.block_get(c, post.MAX_POST_BYTES) for c in first])
            posts: list[Chained] = [parse_chained(b, c) for b, c in zip(blocks, first, strict=True)]
            while len(posts) < n:
                prev = posts[-1].prev
                assert prev is not None  # seq > 1 always has prev (post.parse checks)
                posts.append(parse_chained(await kubo.block_get(prev, post.MAX_POST_BYTES), prev))
            feed.check_page(root, posts)
            if known and known.count and known.head and posts and posts[-1].seq > known.count + 1:
                # The page ends above the known head: it must still lead down to it.
                await history.reaches(lambda c, lim: kubo.block_get(c, lim), posts[-1], known.count,
                                      known.head, f"{name}: root {root.cid}")
            elif known and known.count and posts and posts[-1].seq == known.count + 1 \
                    and posts[-1].prev != known.head:
                raise Fork(f"{name}: root {root.cid}: post {posts[-1].cid} (seq {posts[-1].seq}) "
                           f"does not follow the known post {known.head}; not shown")
    opened = sync.open_all(_identity(home), posts)
    return FeedView(name, root, [p for p in posts if not (isinstance(p, Post) and p.private)
                                 or p.cid in opened], opened, counts=_counts(home, posts))


def follows(home: Home) -> tuple[Follow, ...]:
    """The user's follow list, as their newest root says."""
    return home.own_linked(lambda r: r.follows, "the follow list",
                           lambda b, c: feed.parse_follows(b, c), ())


def timeline(home: Home, limit: int = 20, before: str | None = None,
             tag: str | None = None, hide: Collection[str] = ()) -> list[IndexedPost]:
    """The user's and followed feeds merged (with their reposts), newest first, from the index;
    nothing by the feeds in `hide` (muted or blocked)."""
    me = home.identity().name
    names = [me, *(f.name for f in follows(home))]
    names += moved_from(home, names)
    with home.index() as index:
        return index.timeline(names, limit, before, tag, hide)


def moved_from(home: Home, names: Sequence[str]) -> list[str]:
    """The old feeds that moved to one of `names` (their history stays in the timeline and pinned;
    FORMAT.md section 18), following moves of moves (bounded by the number of moves)."""
    with home.index() as index:
        moves = index.db.execute("SELECT name, moved_to FROM moves").fetchall()
    found: list[str] = []
    wanted = set(names)
    for _ in range(len(moves)):
        more = [old for old, new in moves if new in wanted and old not in wanted]
        if not more:
            break
        found += more
        wanted.update(more)
    return found


def versions(home: Home, cid: str) -> list[IndexedPost]:
    """A post's live versions, newest first."""
    with home.index() as index:
        return index.history(codec.parse_cid(cid))


def _counts(home: Home, posts: Sequence[Chained]) -> dict[str, dict[str, Any]]:
    """What the index counts of these posts (reactions, reposts, quotes, replies, edited)."""
    out = {}
    with home.index() as index:
        for p in posts:
            if (known := index.post(p.cid)) is not None:
                j = known.to_json()
                out[p.cid] = {k: j[k] for k in ("reactions", "likes", "reposts", "quotes", "replies",
                                                "my_reaction", "reposted", "edited")}
    return out


def _identity(home: Home) -> Identity | None:
    try:
        return home.identity()
    except IpfeedError:
        return None


def status(home: Home) -> list[tuple[Follow, FeedState | None]]:
    """Each follow with what the index knows of it (last sync, head, errors, fork)."""
    listed = follows(home)
    with home.index() as index:
        return [(f, index.feed(f.name)) for f in listed]


def feed_state(home: Home, name: str) -> FeedState | None:
    """What the index knows of one feed."""
    with home.index() as index:
        return index.feed(identity.normalize_name(name))


def feed_states(home: Home, names: Sequence[str]) -> dict[str, FeedState]:
    """What the index knows of several feeds (canonical names; unknown ones left out)."""
    with home.index() as index:
        return {st.name: st for st in index.feeds(names)}


def feed_posts(home: Home, name: str, limit: int = 20, before: str | None = None) -> list[IndexedPost]:
    """One feed's indexed posts, newest first."""
    with home.index() as index:
        return index.timeline([identity.normalize_name(name)], limit, before)


def deleted(home: Home, cid: str) -> bool:
    """Whether `cid` is a post the index held and its author then deleted (False if not a CID)."""
    try:
        cid = codec.parse_cid(cid.strip())
    except InvalidInput:
        return False
    with home.index() as index:
        return index.deleted(cid)


def indexed_post(home: Home, cid: str) -> tuple[IndexedPost | None, list[IndexedPost]]:
    """A post by CID and its known replies."""
    cid = codec.parse_cid(cid)
    with home.index() as index:
        return index.post(cid), index.replies(cid)


def search(home: Home, query: str, limit: int = 50, hide: Collection[str] = ()) -> list[IndexedPost]:
    """Indexed posts whose text contains every word of `query`, none by the feeds in `hide`."""
    with home.index() as index:
        return index.search(query, limit, hide)


def attachment(home: Home, post_cid: str, cid: str) -> dict[str, Any] | None:
    """Verified metadata of an attachment, as the post that carries it declares it."""
    with home.index() as index:
        return index.attachment(codec.parse_cid(post_cid), cid)


def own_profile(home: Home) -> Profile:
    """The user's current profile (from the outbox)."""
    with home.outbox() as box:
        root = latest_root(box)
    return root.profile if root else Profile()


async def cat(home: Home, cid: str, max_bytes: int) -> bytes:
    """A file from the node, refusing more than `max_bytes`."""
    async with home.kubo() as kubo:
        return await kubo.cat(cid, max_bytes, timeout=home.settings.timeout)


async def attachment_data(home: Home, cid: str, meta: dict[str, Any]) -> bytes:
    """An attachment's bytes as its post declares it (`attachment()`'s metadata): read from the
    node no further than its size (plus the MAC of a private post's blob), and opened if private."""
    sealed = "key" in meta  # a private post's attachment: encrypted on the network
    data = await cat(home, cid, int(meta["size"]) + (private.MAC_BYTES if sealed else 0))
    if sealed:
        data = private.decrypt_file(bytes.fromhex(meta["key"]), bytes.fromhex(meta["nonce"]), data)
    return data


def forks(home: Home, name: str) -> list[tuple[int, str]]:
    """Fork evidence kept for a feed."""
    with home.index() as index:
        return index.forks(identity.normalize_name(name))
