"""Feed roots and the chain rules: what an IPNS name points at, and how posts must hang off it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import codec, notice
from .contents import Live, RootPost
from .entry import Chained, check_next, check_skip, is_post
from .errors import ChainError, InvalidBlock, InvalidFollows, InvalidInput, InvalidNotice, InvalidRoot
from .identity import Identity, normalize_name, verify
from .post import Post, skip_target
from .schema import MAX_SAFE_INT, Fields, check_version

TYPE = "ipfeed.root"
FOLLOWS_TYPE = "ipfeed.follows"
VERSION = 1  # what a root without v2 listings is written as (follow lists are v 1 too)
VERSION_2 = 2  # a root with `posts` and `contents` (docs/FORMAT.md section 10)
MAX_ROOT_BYTES = 16 * 1024
RECENT = 64  # newest posts linked from the root: the newest page costs two round trips
MAX_DISPLAY_NAME_BYTES = 100
MAX_BIO_BYTES = 2000
MAX_FOLLOWS_BYTES = 1024 * 1024
MAX_FOLLOWS = 5000
MAX_ALIAS_BYTES = 100

_REQUIRED = frozenset({"type", "v", "author", "seq", "updated", "profile", "count", "sig"})
_OPTIONAL = frozenset({"recent", "follows"})
_OPTIONAL_2 = _OPTIONAL | {"posts", "contents", "moderation"}
_PROFILE_REQUIRED = frozenset({"name", "bio"})
_PROFILE_OPTIONAL = frozenset({"avatar"})
_PROFILE_OPTIONAL_2 = _PROFILE_OPTIONAL | {"inbox"}  # v2 roots only (docs/FORMAT.md section 15)
InboxPeer = tuple[str, tuple[str, ...]]  # a peer ID and its multiaddrs


@dataclass(frozen=True)
class Profile:
    """Who a feed says it is."""

    name: str = ""
    bio: str = ""
    avatar: str | None = None  # UnixFS file CID
    inbox: tuple[InboxPeer, ...] = ()  # where notices for this feed may be delivered (v2)

    def to_obj(self) -> dict[str, Any]:
        """The profile as it is encoded in a root."""
        obj: dict[str, Any] = {"name": self.name, "bio": self.bio}
        if self.avatar is not None:
            obj["avatar"] = codec.link(self.avatar)
        if self.inbox:
            obj["inbox"] = [{"peer": p, "addrs": list(a)} for p, a in self.inbox]
        return obj

    def to_json(self) -> dict[str, Any]:
        """The profile for JSON output."""
        out: dict[str, Any] = {"name": self.name, "bio": self.bio, "avatar": self.avatar}
        if self.inbox:
            out["inbox"] = [{"peer": p, "addrs": list(a)} for p, a in self.inbox]
        return out


@dataclass(frozen=True)
class Root:
    """A verified feed root and the exact block it came from."""

    cid: str
    block: bytes
    author: bytes
    seq: int  # revision of the root; grows by one with every change
    updated: int  # milliseconds since the Unix epoch, UTC
    profile: Profile
    count: int  # number of posts = seq of the head post
    recent: tuple[str, ...] = field(default=())  # newest first; recent[0] is the head
    follows: str | None = None  # link to a follow list block
    version: int = VERSION  # 2: a v2 root, with the two listings below
    posts: tuple[RootPost, ...] = ()  # v2: the newest live posts (≤ 64), newest first
    contents: str | None = None  # v2: link to the ipfeed.contents tree of live content blocks
    moderation: str | None = None  # v2: link to the sealed mute and block lists (moderation.py)

    @property
    def head(self) -> str | None:
        """The newest post's CID, if any."""
        return self.recent[0] if self.recent else None


@dataclass(frozen=True)
class Listing:
    """What a v2 root lists besides v1's fields: the newest live posts and the contents tree
    (from contents.live and contents.build_tree)."""

    posts: tuple[RootPost, ...] = ()
    contents: str | None = None


def build(identity: Identity, *, seq: int, updated: int, profile: Profile, count: int,
          recent: Sequence[str], follows: str | None = None, listing: Listing | None = None,
          moderation: str | None = None) -> Root:
    """Sign a new root (v 2 when a `listing` is given, else v 1); it must pass the same checks
    a reader applies. `recent` lists entries of any kind; `listing.posts` at most RECENT."""
    obj: dict[str, Any] = {
        "type": TYPE, "v": VERSION if listing is None else VERSION_2, "author": identity.public,
        "seq": seq, "updated": updated, "profile": profile.to_obj(), "count": count,
    }
    if recent:
        obj["recent"] = [codec.link(c) for c in recent]
    if follows is not None:
        obj["follows"] = codec.link(follows)
    if listing is not None and listing.posts:
        obj["posts"] = [p.to_obj() for p in listing.posts]
    if listing is not None and listing.contents is not None:
        obj["contents"] = codec.link(listing.contents)
    if moderation is not None:
        if listing is None:
            raise InvalidInput("sealed lists need a v2 root (a listing)")
        obj["moderation"] = codec.link(moderation)
    obj["sig"] = identity.sign(codec.encode(obj))
    try:
        return parse(codec.encode(obj))
    except (InvalidRoot, InvalidBlock) as e:
        raise InvalidInput(str(e).replace("root: ", "cannot update the feed: ", 1)) from e


def advance(identity: Identity, previous: Root | None, *, updated: int,
            heads: Sequence[str] = (), profile: Profile | None = None,
            follows: str | None = None, listing: Listing | None = None,
            moderation: str | None = None) -> Root:
    """The next root after `previous`: optionally new entries (`heads`, oldest first), a new
    profile, a new follow list, a new v2 listing (None keeps the previous root's: a v2
    root stays v2) and/or new sealed lists (None keeps the previous root's)."""
    if previous is None:
        seq, count, old_profile, old_follows = 1, 0, Profile(), None
        recent: tuple[str, ...] = ()
    else:
        seq, count, recent = previous.seq + 1, previous.count, previous.recent
        old_profile, old_follows = previous.profile, previous.follows
    if heads:
        count, recent = count + len(heads), (*reversed(heads), *recent)[:RECENT]
    if follows is not None:
        old_follows = follows
    if listing is None and previous is not None and previous.version == VERSION_2:
        listing = Listing(previous.posts, previous.contents)
    if moderation is None and previous is not None:
        moderation = previous.moderation
    return build(identity, seq=seq, updated=updated, profile=profile or old_profile,
                 count=count, recent=recent, follows=old_follows, listing=listing,
                 moderation=moderation)


def parse(block: bytes, cid: str | None = None) -> Root:
    """Decode and fully verify one root block (format, limits, signature, CID if given)."""
    computed = codec.cid_of(block)
    what = f"root {cid or computed}"
    if cid is not None and cid != computed:
        raise InvalidBlock(f"{what}: block bytes hash to {computed}")
    obj = codec.decode(block, max_size=MAX_ROOT_BYTES, what=what)
    version = check_version(obj, TYPE, VERSION_2, what, InvalidRoot, oldest=VERSION)
    f = Fields(obj, what, InvalidRoot, _REQUIRED, _OPTIONAL if version == VERSION else _OPTIONAL_2)
    author = f.blob("author", 32)
    seq = f.integer("seq", 1)
    updated = f.integer("updated", 0, MAX_SAFE_INT)
    count = f.integer("count", 0)
    sig = f.blob("sig", 64)
    profile = _profile(Fields(obj["profile"], f"{what}: profile", InvalidRoot, _PROFILE_REQUIRED,
                              _PROFILE_OPTIONAL if version == VERSION else _PROFILE_OPTIONAL_2))
    recent: tuple[str, ...] = ()
    if count == 0 and f.has("recent"):
        raise f.fail("recent must be absent when count is 0")
    if count > 0:
        if not f.has("recent"):
            raise f.fail("recent is missing")
        want = min(count, RECENT)
        items = f.items("recent", want, want)
        recent = tuple(_link(f, v, f"recent[{i}]", (codec.PREFIX_DAG_CBOR,))
                       for i, v in enumerate(items))
        if len(set(recent)) != len(recent):
            raise f.fail("recent lists a post twice")
    follows = _link(f, obj["follows"], "follows", (codec.PREFIX_DAG_CBOR,)) if f.has("follows") else None
    posts = _posts(f) if f.has("posts") else ()
    contents = _link(f, obj["contents"], "contents", (codec.PREFIX_DAG_CBOR,)) if f.has("contents") else None
    moderation = (_link(f, obj["moderation"], "moderation", (codec.PREFIX_DAG_CBOR,))
                  if f.has("moderation") else None)
    unsigned = {k: v for k, v in obj.items() if k != "sig"}
    if not verify(author, codec.encode(unsigned), sig):
        raise f.fail("signature does not verify with the author's key")
    return Root(computed, block, author, seq, updated, profile, count, recent, follows, version,
                posts, contents, moderation)


def _posts(f: Fields) -> tuple[RootPost, ...]:
    """A v2 root's `posts`: 1 … RECENT maps {entry, content?}, no entry twice."""
    out = []
    for i, item in enumerate(f.items("posts", RECENT)):
        p = Fields(item, f"{f.what}: posts[{i}]", InvalidRoot, frozenset({"entry"}), frozenset({"content"}))
        entry = _link(p, item["entry"], "entry", (codec.PREFIX_DAG_CBOR,))
        content = _link(p, item["content"], "content", (codec.PREFIX_DAG_CBOR,)) if p.has("content") else None
        out.append(RootPost(entry, content))
    if len({p.entry for p in out}) != len(out):
        raise f.fail("posts lists an entry twice")
    return tuple(out)


def check_posts(root: Root, held: Mapping[str, Chained]) -> None:
    """A v2 root's `posts` against the entries a reader holds (`held`: CID -> verified v1 post
    or entry): each is a post by the root's author, seqs strictly decreasing, `content`
    present for a v2 post (and for a v1 post only when edited). Whether `content` is the
    newest live edit's, and that no deleted post is listed, is `contents.live`'s to say when
    the reader holds it all (check_listing)."""
    last: int | None = None
    for i, p in enumerate(root.posts):
        obj = held.get(p.entry)
        if obj is None:
            continue
        what = f"root {root.cid}: posts[{i}] {p.entry}"
        if not is_post(obj) or obj.author != root.author:
            raise InvalidRoot(f"{what}: not a post of this feed")
        if p.content is None and not isinstance(obj, Post):
            raise InvalidRoot(f"{what}: content must be given for a v2 post (a v1 post has it only "
                              "when edited)")
        if last is not None and obj.seq >= last:
            raise InvalidRoot(f"{what}: seq {obj.seq} is not below the one listed before it ({last})")
        last = obj.seq


def _link(f: Fields, value: object, key: str, prefixes: tuple[bytes, ...]) -> str:
    try:
        return codec.check_link(value, prefixes, key)
    except InvalidBlock as e:
        raise f.fail(str(e)) from e


def _profile(p: Fields) -> Profile:
    name = p.text("name", MAX_DISPLAY_NAME_BYTES)
    bio = p.text("bio", MAX_BIO_BYTES)
    avatar = _link(p, p.obj["avatar"], "avatar", codec.FILE_PREFIXES) if p.has("avatar") else None
    try:
        inbox = notice.inbox_peers(p.obj["inbox"], p.what) if p.has("inbox") else ()
    except InvalidNotice as e:
        raise InvalidRoot(str(e)) from e
    return Profile(name, bio, avatar, inbox)


def check_listing(root: Root, state: Live, listed: Sequence[str] | None) -> None:
    """A v2 root against its whole chain (`state` = contents.live of every entry down to seq 1;
    `listed` = the items of the root's contents tree, None without one): `posts` is exactly the
    newest live posts with their current contents, and the tree lists exactly the live
    content blocks in order (FORMAT.md sections 10 – 12)."""
    what = f"root {root.cid}"
    if root.posts != state.posts[:RECENT]:
        wrong = next((i for i, (a, b) in enumerate(zip(root.posts, state.posts, strict=False)) if a != b),
                     min(len(root.posts), len(state.posts)))
        raise InvalidRoot(f"{what}: posts[{wrong}] is not the newest live post at that place with its "
                          "current content (a deleted post, an old version, or one left out)")
    if (root.contents is None) != (listed is None):
        raise InvalidRoot(f"{what}: contents must be given exactly when the listing is")
    got = tuple(listed or ())
    if got != state.contents:
        extra = next((c for c in got if c not in state.contents), None)
        missing = next((c for c in state.contents if c not in got), None)
        why = (f"lists {extra}, which is not a live content block" if extra else
               f"leaves out the live content block {missing}" if missing else "lists them out of order")
        raise InvalidRoot(f"{what}: its contents tree {why}")


def check_root_author(root: Root, public: bytes, name: str) -> None:
    """The root must be signed by the key inside the name it was resolved from."""
    if root.author != public:
        raise InvalidRoot(f"root {root.cid}: signed by another key than the one in {name}")


def check_page(root: Root, posts: Sequence[Chained]) -> None:
    """Chain entries (v1 posts, v2 entries) given newest first must be the head and its
    consecutive predecessors."""
    for i, p in enumerate(posts):
        if p.author != root.author:
            raise ChainError(f"post {p.cid}: not by the feed's author")
        if p.seq != root.count - i:
            raise ChainError(f"post {p.cid}: seq {p.seq}, expected {root.count - i}")
        if i < len(root.recent) and p.cid != root.recent[i]:
            raise ChainError(f"post {p.cid}: root {root.cid} lists {root.recent[i]} at position {i}")
        if i:
            check_next(posts[i - 1], p)
    by_seq = {p.seq: p for p in posts}
    for p in posts:  # skip links inside the page must point where the rule says
        target = by_seq.get(skip_target(p.seq) or 0)
        if target is not None:
            check_skip(p, target)


@dataclass(frozen=True)
class Follow:
    """One entry of a follow list."""

    name: str
    alias: str = ""


def build_follows(follows: Sequence[Follow]) -> tuple[bytes, str]:
    """The block and CID of a follow list (sorted by name, no duplicates)."""
    items = []
    for fo in sorted(follows, key=lambda x: x.name):
        item: dict[str, Any] = {"name": fo.name}
        if fo.alias:
            item["alias"] = fo.alias
        items.append(item)
    block = codec.encode({"type": FOLLOWS_TYPE, "v": VERSION, "follows": items})
    parse_follows(block)
    return block, codec.cid_of(block)


def parse_follows(block: bytes, cid: str | None = None) -> tuple[Follow, ...]:
    """Decode and verify a follow list block (its integrity comes from the signed root's link)."""
    computed = codec.cid_of(block)
    what = f"follow list {cid or computed}"
    if cid is not None and cid != computed:
        raise InvalidBlock(f"{what}: block bytes hash to {computed}")
    obj = codec.decode(block, max_size=MAX_FOLLOWS_BYTES, what=what)
    f = Fields(obj, what, InvalidFollows, frozenset({"type", "v", "follows"}))
    f.const("type", FOLLOWS_TYPE)
    f.const("v", VERSION)
    out: list[Follow] = []
    for i, item in enumerate(f.items("follows", MAX_FOLLOWS, 0)):
        e = Fields(item, f"{what}: entry {i}", InvalidFollows, frozenset({"name"}), frozenset({"alias"}))
        name = e.text("name", 100, 1)
        try:
            canonical = normalize_name(name)
        except InvalidInput as err:
            raise e.fail(str(err)) from err
        if canonical != name:
            raise e.fail(f"name {name!r} is not in canonical k51 form")
        if out and name <= out[-1].name:
            raise e.fail("entries must be sorted by name with no duplicates")
        alias = e.text("alias", MAX_ALIAS_BYTES, 1) if e.has("alias") else ""
        out.append(Follow(name, alias))
    return tuple(out)
