"""What of a v2 feed is live (docs/FORMAT.md sections 11 and 12): the fold of a chain into its
live posts, current versions, reactions and reposts (`live`), and the `ipfeed.contents` /
`ipfeed.part` tree that lists exactly the live content blocks, so that pinning a root keeps
them and nothing deleted.

Pure. A writer builds the tree once (`build_tree`) and then rewrites only the last part on
`append` and only the affected parts on `remove`; a reader parses both block types and checks
the listing against the entries it holds (`check_listed`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import codec, kinds
from .entry import Chained, Entry, check_subject, is_post
from .errors import InvalidContents, InvalidEntry
from .schema import Fields, check_version

CONTENTS_TYPE = "ipfeed.contents"
PART_TYPE = "ipfeed.part"
VERSION = 2
MAX_PARTS = 16384
PART_ITEMS = 1024  # links per part: a writer fills a part before it starts the next
MAX_TREE_BLOCK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class RootPost:
    """One live post as a v2 root lists it: its entry (or v1 post) and its current content."""

    entry: str
    content: str | None  # the newest live edit's content, else the post's; None: an unedited v1 post

    def to_obj(self) -> dict[str, Any]:
        """The listing as encoded in a root (links, so that pinning the root keeps them)."""
        obj: dict[str, Any] = {"entry": codec.link(self.entry)}
        if self.content is not None:
            obj["content"] = codec.link(self.content)
        return obj


@dataclass(frozen=True)
class Live:
    """A feed's chain folded by the v2 rules: what readers show and what the root lists."""

    posts: tuple[RootPost, ...] = ()  # live posts, newest first (a root lists the first 64)
    contents: tuple[str, ...] = ()  # live content blocks by their entry's seq, each once
    edited: frozenset[str] = frozenset()  # posts whose current version is an edit
    deleted: frozenset[str] = frozenset()  # entries a live delete names
    reactions: Mapping[str, str] = field(default_factory=dict)  # subject CID -> counted emoji
    reposts: frozenset[str] = frozenset()  # subjects reposted (once each)
    rejected: tuple[tuple[str, str], ...] = ()  # (entry CID, why): entries without effect


def live(chain: Iterable[Chained]) -> Live:
    """Fold one feed's verified chain (v1 posts and v2 entries, any order). Deletes first (a
    delete of a delete is rejected), then edits (of posts only; newest by seq wins; an edit of a
    deleted post is ignored), then the newest live reaction per subject and the reposts. A
    subject not in this chain has no effect yet (pending)."""
    items = sorted(chain, key=lambda o: o.seq)
    by_cid = {o.cid: o for o in items}
    rejected: list[tuple[str, str]] = []

    def valid(e: Entry, subject: Chained) -> bool:
        try:
            check_subject(e, subject)
        except InvalidEntry as err:
            rejected.append((e.cid, str(err)))
            return False
        return True

    deleted: dict[str, int] = {}  # entry CID -> seq of the (first) delete that names it
    for e in items:
        if isinstance(e, Entry) and isinstance(e.body, kinds.Delete):
            subject = by_cid.get(e.body.subject.cid)
            if subject is not None and valid(e, subject):
                deleted.setdefault(subject.cid, e.seq)
    current: dict[str, str | None] = {o.cid: o.content if isinstance(o, Entry) else None
                                      for o in items if is_post(o) and o.cid not in deleted}
    live_edits: set[str] = set()
    edited: set[str] = set()
    for e in items:
        if not isinstance(e, Entry) or not isinstance(e.body, kinds.Edit) or e.cid in deleted:
            continue
        subject = by_cid.get(e.body.subject.cid)
        if subject is None or not valid(e, subject):
            continue
        if subject.cid in deleted:  # deleted with its post, or made after the delete: ignored
            if e.seq > deleted[subject.cid]:
                rejected.append((e.cid, f"entry {e.cid}: an edit of a deleted post is ignored "
                                        "(rule edit-of-deleted)"))
            continue
        current[subject.cid] = e.content
        live_edits.add(e.cid)
        edited.add(subject.cid)
    contents: dict[str, None] = {}
    for o in items:
        if isinstance(o, Entry) and o.content and (o.cid in current or o.cid in live_edits):
            contents.setdefault(o.content)
    reactions: dict[str, str] = {}
    reposts: set[str] = set()
    for e in items:
        if isinstance(e, Entry) and e.cid not in deleted:
            if isinstance(e.body, kinds.Reaction):
                reactions[e.body.subject.cid] = e.body.emoji  # sorted by seq: the newest wins
            elif isinstance(e.body, kinds.Repost):
                reposts.add(e.body.subject.cid)
    posts = tuple(RootPost(o.cid, current[o.cid]) for o in reversed(items) if o.cid in current)
    return Live(posts, tuple(contents), frozenset(edited), frozenset(deleted), reactions,
                frozenset(reposts), tuple(rejected))


@dataclass(frozen=True)
class Part:
    """A verified `ipfeed.part` block: 1 … 1024 links to content blocks."""

    cid: str
    block: bytes
    items: tuple[str, ...]


@dataclass(frozen=True)
class Contents:
    """A verified `ipfeed.contents` block: 1 … 16384 links to parts, in order."""

    cid: str
    block: bytes
    parts: tuple[str, ...]


@dataclass(frozen=True)
class Tree:
    """A whole contents tree as its writer holds it: the contents block and every part."""

    contents: Contents
    parts: tuple[Part, ...]

    @property
    def items(self) -> tuple[str, ...]:
        """Every listed content block, in order."""
        return tuple(c for p in self.parts for c in p.items)

    def blocks(self) -> list[tuple[str, bytes]]:
        """(CID, bytes) of every block of the tree, the contents block first."""
        return [(self.contents.cid, self.contents.block), *((p.cid, p.block) for p in self.parts)]


def build_part(items: Sequence[str]) -> Part:
    """A part block listing `items` (1 … PART_ITEMS content CIDs)."""
    return parse_part(codec.encode({"type": PART_TYPE, "v": VERSION,
                                    "items": [codec.link(c) for c in items]}))


def build_contents(parts: Sequence[str]) -> Contents:
    """A contents block listing `parts` (1 … MAX_PARTS part CIDs)."""
    return parse_contents(codec.encode({"type": CONTENTS_TYPE, "v": VERSION,
                                        "parts": [codec.link(c) for c in parts]}))


def parse_part(block: bytes, cid: str | None = None) -> Part:
    """Decode and verify a part block (its integrity comes from the signed root's links)."""
    computed, links = _parse(block, cid, "part", PART_TYPE, "items", PART_ITEMS)
    return Part(computed, block, links)


def parse_contents(block: bytes, cid: str | None = None) -> Contents:
    """Decode and verify a contents block (its integrity comes from the signed root's link)."""
    computed, links = _parse(block, cid, "contents", CONTENTS_TYPE, "parts", MAX_PARTS)
    return Contents(computed, block, links)


def _parse(block: bytes, cid: str | None, name: str, type_: str, key: str,
           most: int) -> tuple[str, tuple[str, ...]]:
    computed, what, obj = codec.open_block(block, cid, name, MAX_TREE_BLOCK_BYTES)
    check_version(obj, type_, VERSION, what, InvalidContents)
    f = Fields(obj, what, InvalidContents, frozenset({"type", "v", key}))
    links = tuple(f.link(key, (codec.PREFIX_DAG_CBOR,), v) for v in f.items(key, most))
    if len(set(links)) != len(links):
        raise f.fail(f"{key} lists a block twice")
    return computed, links


def build_tree(items: Sequence[str]) -> Tree | None:
    """The tree listing `items` in order (full parts, the last one partial); None if empty."""
    if not items:
        return None
    parts = tuple(build_part(items[i:i + PART_ITEMS]) for i in range(0, len(items), PART_ITEMS))
    return Tree(build_contents([p.cid for p in parts]), parts)


def append(tree: Tree | None, cid: str) -> Tree:
    """The tree with `cid` listed last: only the last part (or a new one) and the contents
    block are new. A CID already listed changes nothing (each block is listed once)."""
    if tree is None:
        tree = build_tree([cid])
        assert tree is not None
        return tree
    if cid in tree.items:
        return tree
    last = tree.parts[-1]
    if len(last.items) < PART_ITEMS:
        parts = (*tree.parts[:-1], build_part([*last.items, cid]))
    else:
        parts = (*tree.parts, build_part([cid]))
    return Tree(build_contents([p.cid for p in parts]), parts)


def extend(tree: Tree | None, cids: Sequence[str]) -> Tree | None:
    """The tree with `cids` listed last, in order (as `append` of each, but the last part and
    the contents block are built once: bulk posting stays linear)."""
    listed = set(tree.items) if tree else set()
    new = [c for c in dict.fromkeys(cids) if c not in listed]
    if not new:
        return tree
    if tree is None:
        return build_tree(new)
    last = tree.parts[-1]
    tail = build_tree([*last.items, *new])
    assert tail is not None
    parts = (*tree.parts[:-1], *tail.parts)
    return Tree(build_contents([p.cid for p in parts]), parts)


def remove(tree: Tree | None, cids: Collection[str]) -> Tree | None:
    """The tree without `cids`: only the parts that listed them (dropped when emptied) and the
    contents block are new; None when nothing is left."""
    if tree is None:
        return None
    gone = set(cids)
    parts: list[Part] = []
    for p in tree.parts:
        if gone.isdisjoint(p.items):
            parts.append(p)
        elif kept := [c for c in p.items if c not in gone]:
            parts.append(build_part(kept))
    if not parts:
        return None
    if len(parts) == len(tree.parts) and all(a is b for a, b in zip(parts, tree.parts, strict=True)):
        return tree
    return Tree(build_contents([p.cid for p in parts]), tuple(parts))


def check_listed(listed: Sequence[str], named: Mapping[str, int], what: str) -> None:
    """A reader's check of a tree's listing (`what` names the root): every block is named by
    the `content` of an entry it holds (`named`: content CID -> that entry's seq), in
    increasing seq, each once. Blocks it cannot place are the root's error, named."""
    last = 0
    for i, cid in enumerate(listed):
        seq = named.get(cid)
        if seq is None:
            raise InvalidContents(f"{what}: contents lists {cid}, which no entry of the feed names")
        if seq <= last:
            raise InvalidContents(f"{what}: contents lists {cid} (item {i}, of seq {seq}) out of "
                                  "order or twice: blocks are listed by their entry's seq, once")
        last = seq
