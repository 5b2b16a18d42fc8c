"""Reactions, reposts, edits and deletions (FORMAT.md section 8), saved as drafts in the outbox
exactly like posts (so they survive the node being down and publish in order), and the v2
fields of a new post read at save time: mentions, tags, a link card, a quote.

Every subject must be a verified post in the index; the refusing rules are named as in the
format (own-subject, edit-of-deleted, delete-of-delete).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import cards, codec, kinds, mentions, reading
from .errors import InvalidInput
from .homedir import Home, latest_root, now_ms
from .identity import Identity
from .outbox import Draft, feed_lock
from .post import skip_target

_FAKE_PREV = codec.cid_str(codec.PREFIX_DAG_CBOR + bytes(32))  # for a dry run of signing

# Why: an edit would need a new box sealed to the same recipients, and a public edit entry of a
# private post would tell everyone which post it changes and when.
PRIVATE_EDIT = "a private post cannot be edited; delete it and post it again to the same recipients"


def subject(home: Home, cid: str, what: str = "") -> dict[str, str]:
    """{"cid", "name"} of a verified post in the index (a subject must be one)."""
    cid = codec.parse_cid(cid)
    with home.index() as index:
        p = index.post(cid)
        gone = p is None and index.deleted(cid)
    if gone:
        raise InvalidInput(f"{cid} was deleted by its author{what}")
    if p is None:
        raise InvalidInput(f"{cid} is not a post known here; follow its author and sync first")
    return {"cid": p.cid, "name": p.name}


def post_extra(home: Home, me: Identity, text: str, reply: str | None, quote: str | None, cw: str,
               sensitive: bool, alts: Sequence[str], card: bool) -> tuple[dict[str, Any], list[str]]:
    """The v2 fields of a post being saved and the warnings to show (unmatched @words, no card)."""
    extra: dict[str, Any] = {}
    warnings: list[str] = []
    if reply:
        with home.index() as index:
            parent = index.post(reply)
        if parent is None:
            raise InvalidInput(f"{reply} is not a post known here; follow its author and sync first")
        extra["reply"] = {"cid": parent.cid, "name": parent.name}
    if quote:
        extra["quote"] = subject(home, quote)
    if cw.strip():
        extra["cw"] = cw.strip()
    if sensitive:
        extra["sensitive"] = True
    if alts:
        extra["alts"] = list(alts)
    found = mentions.find(text, reading.follows(home))
    extra.update(found.fields())
    warnings += [f"{w} is not the alias of a feed you follow: left as text" for w in found.unmatched]
    warnings += [f"{w} is the alias of more than one feed you follow: left as text" for w in found.ambiguous]
    url = mentions.first_url(text) if card and home.settings.link_cards else None
    if url:
        made, why = cards.make_card(url, home.settings)
        if made is None:
            warnings.append(f"no link card: {why}")
        else:
            extra["card"] = {"url": made.url, "title": made.title, "description": made.description}
            if made.image is not None:
                extra["card"]["image"] = (made.image.data, made.image.media_type)
            elif why:
                warnings.append(f"link card {why}")
    return extra, warnings


@dataclass(frozen=True)
class At:
    """When and under which key a paired device's action is saved (FORMAT.md section 17): its
    own time, and the mark that records it once."""

    created: int
    mark: str


def _save(home: Home, me: Identity, kind: str, about: dict[str, str], text: str = "",
          extra: dict[str, Any] | None = None, at: At | None = None) -> int:
    """Keep one interaction as a draft (signed at once when the outbox can: no node needed)."""
    from . import drafts  # drafts builds on this module's post_extra

    d = Draft(0, at.created if at else now_ms(), text, None, [], [], kind, about, extra or {})
    drafts.check_draft(me, d)
    if kind == kinds.DELETE:
        check_whole(home, about["cid"])
    with home.outbox() as box:
        draft_id = box.add_draft(d.created, text, None, [], kind=kind, subject=about, extra=d.extra,
                                 mark=at.mark if at else None)
        with feed_lock(home.settings.home, home.settings.lock_timeout):
            drafts.seal_offline(home, me, box)
    return draft_id


def save_identity_entry(home: Home, me: Identity, kind: str, body: dict[str, Any],
                        at_seq: int | None = None) -> int:
    """Keep a recovery, migration or moved-from entry as a draft and sign it at once; its body's
    byte fields as hex. `at_seq`: the seq it must take (a migration's rsig covers it), refused
    if other drafts would come first."""
    from . import drafts

    x = {k: v.hex() if isinstance(v, bytes) else v for k, v in body.items()}
    d = Draft(0, now_ms(), "", None, [], [], kind, None, x)
    with home.outbox() as box, feed_lock(home.settings.home, home.settings.lock_timeout):
        root = latest_root(box)
        if at_seq is not None and (box.drafts() or root is None or root.count + 1 != at_seq):
            raise InvalidInput(f"this {kind} entry must be entry {at_seq} of the feed; publish or "
                               "drop the pending drafts first")
        from .writing import entry_of

        seq = at_seq or 2
        entry_of(me, d, seq=seq, prev=None if seq == 1 else _FAKE_PREV,
                 skip=_FAKE_PREV if skip_target(seq) else None, content=None)
        draft_id = box.add_draft(d.created, "", None, [], kind=kind, subject=None, extra=x)
        drafts.seal_offline(home, me, box)
    return draft_id


def react(home: Home, cid: str, emoji: str = kinds.DEFAULT_EMOJI, at: At | None = None) -> int:
    """Save a reaction to a post (a second one replaces the first: the newest counts)."""
    me = home.identity()
    return _save(home, me, kinds.REACTION, subject(home, cid), extra={"emoji": emoji or kinds.DEFAULT_EMOJI},
                 at=at)


def repost(home: Home, cid: str, at: At | None = None) -> int:
    """Save a repost of a post."""
    me = home.identity()
    return _save(home, me, kinds.REPOST, subject(home, cid), at=at)


def _undo(home: Home, cid: str, kind: str, at: At | None) -> int:
    me = home.identity()
    about = subject(home, cid)
    with home.index() as index:
        own = index.live_entries(me.name, about["cid"], kind)
    if not own:
        raise InvalidInput(f"you have no {kind} of {about['cid']} to take back")
    last = 0
    for n, entry_cid in enumerate(own, 1):  # the mark goes with the last one
        last = _save(home, me, kinds.DELETE, {"cid": entry_cid, "name": me.name},
                     at=at if n == len(own) else None)
    return last


def unreact(home: Home, cid: str, at: At | None = None) -> int:
    """Save deletes of every live reaction of yours to a post; the last draft's id."""
    return _undo(home, cid, kinds.REACTION, at)


def unrepost(home: Home, cid: str, at: At | None = None) -> int:
    """Save deletes of every live repost of yours of a post; the last draft's id."""
    return _undo(home, cid, kinds.REPOST, at)


def _own_post(home: Home, me: Identity, cid: str, verb: str) -> dict[str, str]:
    about = subject(home, cid, ": an edit of a deleted post is ignored (rule edit-of-deleted)"
                    if verb == "edit" else "")
    if about["name"] != me.name:
        raise InvalidInput(f"cannot {verb} {about['cid']}: it is not your post (rule own-subject)")
    return about


def edit(home: Home, cid: str, text: str, *, cw: str | None = None, sensitive: bool | None = None,
         at: At | None = None) -> int:
    """Save a new version of one of your own posts; its other fields are kept unless given."""
    me = home.identity()
    about = _own_post(home, me, cid, "edit")
    with home.index() as index:
        old = index.post(about["cid"])
    assert old is not None
    if old.private:
        raise InvalidInput(f"cannot edit {about['cid']}: {PRIVATE_EDIT}")
    extra, _ = post_extra(home, me, text, old.reply_to, old.quote, old.cw if cw is None else cw,
                          old.sensitive if sensitive is None else sensitive, (), False)
    if old.card is not None:
        extra["card"] = {k: old.card[k] for k in ("url", "title", "description")}
        if old.card.get("thumb"):
            extra["card"]["kept"] = old.card["thumb"]
    if old.attachments:  # the same files, already in the node: nothing to add
        extra["kept"] = [{k: a[k] for k in ("cid", "type", "size", "name", "alt") if k in a}
                         for a in old.attachments]
    return _save(home, me, kinds.EDIT, about, text, extra, at)


def delete(home: Home, cid: str, at: At | None = None) -> int:
    """Save a delete of one of your own posts or entries (a delete is final: not of a delete)."""
    me = home.identity()
    cid = codec.parse_cid(cid)
    with home.index() as index:
        known = index.entry(cid)
        p = index.post(cid)
    if known is None and p is None:
        raise InvalidInput(f"{cid} is not a post known here; follow its author and sync first")
    name = known[0] if known else p.name if p else ""
    if name != me.name:
        raise InvalidInput(f"cannot delete {cid}: it is not yours (rule own-subject)")
    if known is not None and known[2] == kinds.DELETE:
        raise InvalidInput(f"cannot delete {cid}: it is a delete, and deletions are final "
                           "(rule delete-of-delete)")
    if known is not None and known[4] == "deleted":
        raise InvalidInput(f"{cid} is deleted already")
    return _save(home, me, kinds.DELETE, {"cid": cid, "name": me.name}, at=at)


def check_whole(home: Home, cid: str) -> None:
    """A deletion rebuilds the newest-posts list from the whole chain: refused in a home that
    holds only part of it (a restored key's) until publishing.complete_chain fetched the rest."""
    with home.outbox() as box:
        root, held = latest_root(box), box.count_posts()
    if root is None:
        raise InvalidInput(f"cannot delete {cid} from this home yet: it has your key but has not "
                           "taken up your feed; with your node running, `ipfeed delete` does that first")
    if held < root.count:
        raise InvalidInput(
            f"cannot delete {cid} from this home yet: it continued your feed with a restored key and "
            f"holds only the {held} of your {root.count} entries it signed itself, and a deletion "
            "rebuilds the list of your newest posts from the whole chain; with your node running, "
            "`ipfeed delete` fetches the older entries first")
