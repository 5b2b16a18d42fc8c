"""Realistic post blocks for the benchmarks, built with ipfeed's own code."""

from __future__ import annotations

from ipfeed import kinds, post
from ipfeed.contentblock import Content, build_content
from ipfeed.entry import Entry, build_entry
from ipfeed.identity import Identity
from ipfeed.post import Post

# A typical short post: its block is about 250 bytes, like the posts ipfeed's docs measure.
TEXT = "Trying out ipfeed: this post is signed with my own key and stored on my own node."
CREATED = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms; fixed so runs are comparable


def chain(me: Identity, count: int, text: str = TEXT, *, created: int = CREATED, step: int = 1) -> list[Post]:
    """`count` posts by `me`, each linking the one before (seq 1..count), oldest first; post
    `seq` is dated `created + seq * step` ms."""
    posts: list[Post] = []
    prev: str | None = None
    for seq in range(1, count + 1):
        target = post.skip_target(seq)
        p = post.build(me, seq=seq, prev=prev, created=created + seq * step, text=f"{text} #{seq}",
                       skip=posts[target - 1].cid if target else None)
        posts.append(p)
        prev = p.cid
    return posts


def chain_v2(me: Identity, count: int, text: str = TEXT, *,
             created: int = CREATED) -> list[tuple[Entry, Content]]:
    """`count` format v2 posts by `me` (seq 1..count, oldest first): each a signed `post` entry
    and the content block it names, as ipfeed writes them now."""
    out: list[tuple[Entry, Content]] = []
    for seq in range(1, count + 1):
        target = post.skip_target(seq)
        c = build_content(f"{text} #{seq}")
        e = build_entry(me, seq=seq, prev=out[-1][0].cid if out else None, created=created + seq,
                        kind=kinds.POST, content=c.cid, skip=out[target - 1][0].cid if target else None)
        out.append((e, c))
    return out


def sample(me: Identity) -> Post:
    """One typical post: not the first, so it carries a `prev` link like nearly all do."""
    return chain(me, 2)[-1]


def texts(count: int, tag: str = "") -> list[str]:
    """`count` typical post texts (distinct, so no two posts of a run share a CID)."""
    return [f"{TEXT} {tag}#{i}" for i in range(1, count + 1)]
