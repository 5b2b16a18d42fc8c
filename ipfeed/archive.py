"""Feed archives: a CAR of a feed's blocks plus its newest signed IPNS record, verified whole
before anything is stored (pure code).

Header roots: [the feed root (dag-cbor), the IPNS record (a raw block of its protobuf bytes)].
Blocks: the root, the posts from the head down (all of them, or those after a base for an
incremental archive), the follow list, and the blocks of attachments and avatar.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import cbrrr

from . import codec, contentblock, contents, feed, moderationblock
from .car import _varint, car_bytes, read_car, varint
from .contentblock import Content
from .entry import Chained, Entry, parse_chained
from .errors import InvalidArchive, InvalidBlock, IpfeedError
from .feed import Root
from .identity import name_from_public
from .ipns import Record, parse_record
from .post import Post


@dataclass(frozen=True)
class Archive:
    """A verified archive: whose feed, its record and root, and the posts it carries."""

    name: str
    record: Record
    root: Root
    posts: list[Chained]  # newest first, a verified chain from the head down (v1 posts, v2 entries)
    blocks: dict[str, bytes]  # every block to store, each checked against its CID
    contents: dict[str, Content] = field(default_factory=dict)  # v2: the live content blocks by CID

    @property
    def base(self) -> int:
        """The sequence number the archive builds on (0: it holds the whole feed)."""
        return self.posts[-1].seq - 1 if self.posts else self.root.count


def build(record: bytes, root: Root, blocks: Iterable[tuple[str, bytes]]) -> bytes:
    """The CAR bytes of an archive from (CID, block) pairs; the root and record come first."""
    record_cid = codec.PREFIX_RAW + hashlib.sha256(record).digest()
    parts = [car_bytes([codec.cid_bytes_of(root.block), record_cid], [root.block]),
             _section(record_cid, record)]
    parts += [_section(codec.cid_to_bytes(cid), block) for cid, block in blocks if block != root.block]
    return b"".join(parts)


def _section(cid: bytes, block: bytes) -> bytes:
    return varint(len(cid) + len(block)) + cid + block


def _header_roots(data: bytes) -> list[bytes]:
    size, i = _varint(data, 0)
    try:
        header: Any = cbrrr.decode_dag_cbor(data[i:i + size])
        roots = [bytes(r.cid_bytes) for r in header["roots"]]
    except (ValueError, KeyError, TypeError, AttributeError, cbrrr.CbrrrDecodeError) as e:
        raise InvalidArchive(f"archive: not a CAR with roots ({e})") from e
    return roots


def read(data: bytes) -> Archive:
    """Parse and verify an archive completely; raise InvalidArchive (or another InvalidObject)
    naming what is wrong."""
    try:
        roots = _header_roots(data)
        blocks = dict(read_car(data))
    except InvalidBlock as e:
        raise InvalidArchive(f"archive: {e}") from e
    if len(roots) != 2 or roots[0][:4] != codec.PREFIX_DAG_CBOR or roots[1][:4] != codec.PREFIX_RAW:
        raise InvalidArchive("archive: not an ipfeed archive (its roots must be a feed root and "
                             "an IPNS record)")
    root_cid, record_cid = codec.cid_str(roots[0]), codec.cid_str(roots[1])
    for cid, what in ((root_cid, "feed root"), (record_cid, "IPNS record")):
        if cid not in blocks:
            raise InvalidArchive(f"archive: the {what} {cid} is missing")
    root = feed.parse(blocks.pop(root_cid), root_cid)
    name = name_from_public(root.author)
    record = parse_record(blocks.pop(record_cid), name)
    if record.value != f"/ipfs/{root_cid}":
        raise InvalidArchive(f"archive: the IPNS record points at {record.value}, not at the root {root_cid}")
    posts: list[Chained] = []
    at = root.head
    while at is not None and at in blocks:
        posts.append(parse_chained(blocks[at], at))
        at = posts[-1].prev
    if root.head is not None and not posts:
        raise InvalidArchive(f"archive: the head post {root.head} is missing")
    feed.check_page(root, posts)
    verified = {root_cid: root.block, **{p.cid: p.block for p in posts}}
    if root.follows:
        if root.follows not in blocks:
            raise InvalidArchive(f"archive: the follow list {root.follows} is missing")
        feed.parse_follows(blocks[root.follows], root.follows)
        verified[root.follows] = blocks[root.follows]
    if root.moderation:  # sealed: anyone checks its shape, only the owner opens it (on import)
        if root.moderation not in blocks:
            raise InvalidArchive(f"archive: the mute and block lists {root.moderation} are missing")
        try:
            moderationblock.check_block(blocks[root.moderation], root.moderation)
        except IpfeedError as e:
            raise InvalidArchive(f"archive: {e}") from e
        verified[root.moderation] = blocks[root.moderation]
    live = _live(root, posts, blocks, verified)
    files = [] if root.profile.avatar is None else [root.profile.avatar]
    for c in live.values():
        thumb = [c.card.thumb.cid] if c.card and c.card.thumb else []
        for file in [*(a.cid for a in c.attachments), *c.files, *thumb]:
            if file not in blocks:
                raise InvalidArchive(f"archive: file {file} of content {c.cid} is missing")
            files.append(file)
    for p in posts:
        if not isinstance(p, Post):
            continue
        for file in [*(a.cid for a in p.attachments), *p.files]:
            if file not in blocks:
                raise InvalidArchive(f"archive: attachment {file} of post {p.cid} is missing")
            files.append(file)
    in_files = _file_blocks(files, blocks)
    for other, block in blocks.items():
        if other in verified:
            continue
        if codec.cid_to_bytes(other)[:4] == codec.PREFIX_DAG_CBOR:
            if at is not None:  # the chain stopped early while more posts were packed: a gap
                raise InvalidArchive(f"archive: post {at} (seq {posts[-1].seq - 1}) is missing")
            raise InvalidArchive(f"archive: block {other} is not part of the feed (another author's "
                                 "post, or a post outside the chain)")
        if other not in in_files:
            raise InvalidArchive(f"archive: block {other} is not part of any attachment or the avatar")
        verified[other] = block  # raw / dag-pb: attachment and avatar data, checked by hash
    return Archive(name, record, root, posts, verified, live)


def _live(root: Root, posts: list[Chained], blocks: dict[str, bytes],
          verified: dict[str, bytes]) -> dict[str, Content]:
    """A v2 root's contents tree and live content blocks, verified (against the chain too,
    when the archive holds all of it); added to `verified`."""
    if root.contents is None:
        return {}
    need = [root.contents]
    try:
        top = contents.parse_contents(blocks[root.contents], root.contents)
        need = list(top.parts)
        parts = [contents.parse_part(blocks[c], c) for c in top.parts]
        items = [c for p in parts for c in p.items]
        whole = bool(posts) and posts[-1].seq == 1
        named = {e.content for e in posts if isinstance(e, Entry) and e.content}
        need = [c for c in items if whole or c in named]  # an incremental archive: the new ones
        live = {c: contentblock.parse_content(blocks[c], c) for c in need}
    except KeyError as e:
        raise InvalidArchive(f"archive: block {e.args[0]} of the contents tree is missing "
                             f"(one of {len(need)})") from e
    if whole:
        feed.check_listing(root, contents.live(posts), items)
    else:
        feed.check_posts(root, {p.cid: p for p in posts})
    verified[top.cid] = top.block
    verified.update({p.cid: p.block for p in parts})
    verified.update({c.cid: c.block for c in live.values()})
    return live


def _file_blocks(roots: list[str], blocks: dict[str, bytes]) -> set[str]:
    """The archive's blocks that the files' roots reach: UnixFS dag-pb nodes link their parts
    (PBNode field 2, a PBLink whose field 1 is the binary CID); raw blocks are leaves."""
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        cid = todo.pop()
        if cid in seen or cid not in blocks:
            continue
        seen.add(cid)
        if codec.cid_to_bytes(cid)[:4] != codec.PREFIX_DAG_PB:
            continue
        what = f"archive: file block {cid}"
        for number, link in codec.protobuf_fields(blocks[cid], what):
            if number == 2 and isinstance(link, bytes):
                todo += [codec.cid_str(h) for n, h in codec.protobuf_fields(link, what)
                         if n == 1 and isinstance(h, bytes)]
    return seen
