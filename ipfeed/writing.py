"""Signing the user's drafts as format v2 entries (FORMAT.md sections 7 – 11): a post's or an
edit's content block, the entry that names it, and the next root's listing (`posts` and the
contents tree) kept up to date incrementally.

Pure: the outbox's blocks come in as arguments, nothing here talks to the node.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import codec, contents, feed, kinds, private
from .content import Extras, Mention, Ref
from .contentblock import Attachment, Card, Content, build_content
from .contents import RootPost, Tree
from .entry import Chained, Entry, build_entry, parse_chained
from .errors import InvalidInput
from .identity import Identity, public_from_name
from .outbox import Draft
from .post import Attachment as V1Attachment

Blocks = Callable[[str], bytes | None]  # a block the outbox keeps, by CID


@dataclass(frozen=True)
class Secret:
    """What a private draft needs to be sealed: its content key and encrypted attachments."""

    key: bytes
    meta: list[dict[str, Any]]  # inside the box: {cid (bytes), type, size, name, nonce}
    files: tuple[str, ...]  # outside: links to the encrypted blobs, so pins keep them


def ref(subject: dict[str, str] | None) -> Ref | None:
    """The ref of a draft's subject ({"cid", "name"})."""
    return Ref(subject["cid"], public_from_name(subject["name"])) if subject else None


def extras(d: Draft) -> Extras:
    """The v2 fields of a draft's content: quote, mentions, tags, content warning, sensitive."""
    x = d.extra
    return Extras(quote=ref(x.get("quote")),
                  mentions=tuple(Mention(m["name"], m["start"], m["end"]) for m in x.get("mentions", ())),
                  tags=tuple(x.get("tags", ())), cw=x.get("cw") or None, sensitive=bool(x.get("sensitive")))


def content_of(me: Identity, d: Draft, atts: Sequence[V1Attachment], secret: Secret | None,
               thumb: Attachment | None) -> Content:
    """The content block of a post or edit draft (attachments already in the node)."""
    x = d.extra
    if secret is not None:
        box = private.seal(me, d.recipients, d.text, d.reply_to, secret.meta, content_key=secret.key,
                           extras=extras(d))
        return build_content(box=box, files=secret.files)
    files: list[V1Attachment] = list(atts) or [
        Attachment(a["cid"], a["type"], a["size"], a["name"], a.get("alt", "")) for a in x.get("kept", ())]
    alts = list(x.get("alts", ()))
    with_alt = tuple(Attachment(a.cid, a.type, a.size, a.name,
                                alts[i] if i < len(alts) else getattr(a, "alt", ""))
                     for i, a in enumerate(files))
    card = None
    if (c := x.get("card")) is not None:
        if thumb is None and (k := c.get("kept")):
            thumb = Attachment(k["cid"], k["type"], k["size"], k["name"])
        card = Card(c["url"], c.get("title", ""), c.get("description", ""), thumb)
    return build_content(d.text, reply_to=ref(x.get("reply")), attachments=with_alt, card=card,
                         extras=extras(d))


def entry_of(me: Identity, d: Draft, *, seq: int, prev: str | None, skip: str | None,
             content: Content | None) -> Entry:
    """The signed entry a draft becomes at `seq`."""
    subject = ref(d.subject)
    body: kinds.Body | None = None
    if d.kind == kinds.REACTION:
        assert subject is not None
        body = kinds.Reaction(subject, d.extra.get("emoji") or kinds.DEFAULT_EMOJI)
    elif d.kind == kinds.REPOST:
        assert subject is not None
        body = kinds.Repost(subject)
    elif d.kind == kinds.EDIT:
        assert subject is not None
        body = kinds.Edit(subject)
    elif d.kind == kinds.DELETE:
        assert subject is not None
        body = kinds.Delete(subject)
    elif d.kind in kinds.IDENTITY_KINDS:
        body = identity_body(d.kind, d.extra)
    return build_entry(me, seq=seq, prev=prev, created=d.created, kind=d.kind, body=body,
                       content=content.cid if content else None, skip=skip)


def identity_body(kind: str, x: dict[str, Any]) -> kinds.Body:
    """The body of a recovery, migration, moved-from or migration-seen draft (its byte fields kept as hex)."""
    h = bytes.fromhex
    if kind == kinds.RECOVERY:
        return kinds.Recovery(h(x["commit"]), h(x["beacon"]) if x.get("beacon") else None)
    if kind == kinds.MIGRATION:
        return kinds.Migration(h(x["to"]), h(x["recovery"]), h(x["rsig"]))
    if kind == kinds.MIGRATION_SEEN:
        return kinds.MigrationSeen(h(x["from"]), h(x["to"]), int(x["seq"]), h(x["recovery"]), h(x["rsig"]))
    return kinds.MovedFrom(h(x["from"]), h(x["recovery"]), int(x["seq"]), h(x["rsig"]))


def load_tree(root: feed.Root | None, blocks: Blocks) -> Tree | None:
    """The contents tree a root links to, from the outbox's blocks."""
    if root is None or root.contents is None:
        return None
    raw = blocks(root.contents)
    if raw is None:
        raise InvalidInput(f"the contents tree {root.contents} of your feed is missing from the outbox")
    top = contents.parse_contents(raw, root.contents)
    parts = []
    for cid in top.parts:
        part = blocks(cid)
        if part is None:
            raise InvalidInput(f"part {cid} of your feed's contents tree is missing from the outbox")
        parts.append(contents.parse_part(part, cid))
    return Tree(top, tuple(parts))


def listing(previous: feed.Root | None, tree: Tree | None, new: Sequence[Entry],
            chain: Callable[[], Iterable[Chained]]) -> tuple[feed.Listing, Tree | None]:
    """The v2 listing after `previous` with the `new` entries (oldest first): new posts on top
    of `posts`, new contents appended to the tree; after a delete, both refolded from the
    whole chain (`chain`: every entry of the feed, from the outbox)."""
    if previous is None:
        posts: list[RootPost] = []
    elif previous.version == feed.VERSION_2:
        posts = list(previous.posts)
    else:  # a v1 feed going on: its newest posts are all live, none has a content block
        posts = [RootPost(c, None) for c in previous.recent]
    added: list[str] = []
    refold = False
    for e in new:
        if e.content is not None:
            added.append(e.content)
        if e.kind == kinds.POST:
            posts.insert(0, RootPost(e.cid, e.content))
        elif isinstance(e.body, kinds.Edit):
            subject = e.body.subject.cid
            posts = [RootPost(p.entry, e.content) if p.entry == subject else p for p in posts]
        elif isinstance(e.body, kinds.Delete):
            refold = True
    tree = contents.extend(tree, added)
    if refold:
        whole = list(chain())
        if [c.seq for c in whole] != list(range(1, len(whole) + 1)):  # a restored key's home
            raise InvalidInput("a deletion cannot be signed in this home: it does not hold your whole "
                               "feed, which the new list of your newest posts is rebuilt from "
                               "(`ipfeed drafts drop ID` gives the deletion up)")
        state = contents.live(whole)
        posts = list(state.posts)
        tree = contents.remove(tree, set(tree.items if tree else ()) - set(state.contents))
    return feed.Listing(tuple(posts[:feed.RECENT]), tree.contents.cid if tree else None), tree


def with_contents(blocks: Sequence[bytes], kept: Blocks) -> list[bytes]:
    """Entry blocks and the content blocks they name (one CAR carries both to the node). The
    blocks are the home's own, from its outbox: their signatures are checked once, before
    anything is pinned or published (publishing.sync_node), not here as well."""
    out = list(blocks)
    for b in blocks:
        e = parse_chained(b, signed_here=True)
        if isinstance(e, Entry) and e.content and (c := kept(e.content)) is not None:
            out.append(c)
    return out


def placeholder() -> str:
    """A file CID for a dry run through the validators (no file is named by it)."""
    return codec.cid_str(codec.PREFIX_RAW + bytes(32))
