"""Writing posts: drafts saved durably, their attachments staged, and signing them into posts."""

from __future__ import annotations

import json
import mimetypes
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import codec, entry, feed, identity, interact, kinds, livesync, media, post, private, reading, writing
from .contentblock import Attachment as ContentAttachment
from .contentblock import Content, parse_content
from .entry import Chained, Entry
from .errors import InvalidInput, MissingIdentity, OutboxDamaged
from .faults import crashpoint
from .feed import Follow, Root
from .homedir import Home, latest_root, now_ms, read_file
from .identity import Identity
from .index import FeedState
from .outbox import Draft, Outbox, feed_lock
from .post import Attachment

_UNSIGNED_CID = re.compile(r"\Apost \S+: ")  # how post.build names a post it refused


@dataclass(frozen=True)
class PostResult:
    """What `post` did: the post (if it could be signed yet) and whether it is published."""

    seq: int | None
    cid: str | None
    published: bool
    draft_id: int = 0
    warnings: tuple[str, ...] = ()  # e.g. an @word that names no feed you follow


def save(home: Home, text: str, reply_to: str | None = None, attach: Sequence[Path] = (),
         to: Sequence[str] = (), *, seal: bool = True, quote: str | None = None, cw: str = "",
         sensitive: bool = False, alts: Sequence[str] = (), card: bool = True,
         created: int | None = None, mark: str | None = None) -> PostResult:
    """Write a post to the outbox (never lost from here on) and sign it if no node is needed
    (and `seal`); publishing is a separate step (`publish`). With `to`, or in reply to a
    private post, it is end-to-end encrypted to those recipients. Mentions and tags are read
    from the text; the first link gets a card (unless `card` is False or cards are off).
    A paired device's handover gives its own `created` and a `mark` that records it once."""
    me = home.identity()
    check_input(text, attach, alts, quote)
    reply = codec.parse_cid(reply_to) if reply_to else None
    recipients = _recipients(home, me, to, reply)
    extra, warnings = interact.post_extra(home, me, text, reply, quote, cw, sensitive, alts,
                                          card and not recipients)
    with home.outbox() as box:
        files = [_stage(box.files, p) for p in attach]
        thumb = extra.get("card", {}).pop("image", None)
        if thumb is not None:
            extra["card"]["thumb"] = _stage_bytes(box.files, thumb[0], thumb[1])
        draft = Draft(0, created or now_ms(), text, reply, files, recipients, kinds.POST, None, extra)
        try:
            check_draft(me, draft)
        except InvalidInput as e:
            for f in [*files, *([extra["card"]["thumb"]] if "thumb" in extra.get("card", {}) else [])]:
                Path(f["path"]).unlink(missing_ok=True)
            raise InvalidInput(refused(e)) from e
        draft_id = box.add_draft(draft.created, text, reply, files, recipients, extra=extra, mark=mark)
        crashpoint("saved", home.settings.home)
        if seal and not files and "thumb" not in extra.get("card", {}):
            with feed_lock(home.settings.home, home.settings.lock_timeout):
                seal_offline(home, me, box)
        sealed = box.post_of_draft(draft_id)
    return PostResult(sealed[0] if sealed else None, sealed[1] if sealed else None, False,
                      draft_id, tuple(warnings))


def check_draft(me: Identity, d: Draft) -> None:
    """A dry run through the one content and entry validators, so no draft can fail to seal
    (identity entries have theirs in interact.save_identity_entry: their seq is part of them)."""
    if d.kind in kinds.IDENTITY_KINDS:
        return
    fake = writing.placeholder()
    atts = tuple(Attachment(fake, f["type"], f["size"], f["name"]) for f in d.attachments)
    secret = writing.Secret(bytes(32), [{"cid": codec.cid_to_bytes(fake), "type": f["type"],
                                         "size": f["size"], "name": f["name"], "nonce": bytes(24)}
                                        for f in d.attachments],
                            tuple(fake for _ in d.attachments)) if d.recipients else None
    t = d.extra.get("card", {}).get("thumb")
    thumb = ContentAttachment(fake, t["type"], t["size"], t["name"]) if t else None
    content = writing.content_of(me, d, atts, secret, thumb) if d.kind in kinds.WITH_CONTENT else None
    fake_prev = codec.cid_str(codec.PREFIX_DAG_CBOR + bytes(32))
    writing.entry_of(me, d, seq=2, prev=fake_prev, skip=None, content=content)


def save_many(home: Home, texts: Sequence[str]) -> int:
    """Write many text posts at once: one transaction, one new root; publish them with
    `publish` (or use `post_many`). Returns how many were signed."""
    me = home.identity()
    with home.outbox() as box:
        add_texts(box, texts)
        with feed_lock(home.settings.home, home.settings.lock_timeout):
            return seal_offline(home, me, box)


def resolve_recipient(home: Home, text: str) -> str:
    """The IPNS name a recipient stands for: a name itself, else the one followed feed whose
    alias (yours, so it wins) or else verified display name is `text` (case-insensitive)."""
    text = text.strip()
    try:
        return identity.normalize_name(text)
    except InvalidInput as e:
        reason = str(e)
    wanted = text.casefold()
    follows = reading.follows(home)
    states = reading.feed_states(home, [f.name for f in follows])
    by_alias = [f.name for f in follows if f.alias.strip().casefold() == wanted]
    by_name = [f.name for f in follows if (st := states.get(f.name))
               and str(st.profile.get("name") or "").strip().casefold() == wanted]
    found = by_alias or by_name
    if len(found) == 1:
        return found[0]
    if found:
        listed = "; ".join(f"{n} ({_label(n, follows, states)})" for n in found)
        raise InvalidInput(f"{text!r} could be any of {len(found)} feeds you follow: {listed}; "
                           "give the name (k51…) of the one you mean")
    raise InvalidInput(f"{reason}, nor the alias or display name of a feed you follow")


def _label(name: str, follows: Sequence[Follow], states: dict[str, FeedState]) -> str:
    alias = next((f.alias for f in follows if f.name == name), "")
    shown = str(states[name].profile.get("name") or "") if name in states else ""
    return ", ".join(x for x in (f"alias {alias!r}" if alias else "",
                                 f"display name {shown!r}" if shown else "") if x) or "no name"


def _recipients(home: Home, me: Identity, to: Sequence[str], reply: str | None) -> list[str]:
    """Names a post is encrypted to: as given (names, aliases or display names of
    follows: resolve_recipient), or a private parent's thread."""
    names = {resolve_recipient(home, n) for n in to if n.strip()}
    if reply and not names:
        with home.index() as index:
            parent = index.post(reply)
        if parent and parent.private:
            names = {*parent.recipients, parent.name}
    return sorted(names - {me.name})


def drafts(home: Home) -> list[Draft]:
    """The user's posts that are saved but not signed yet, oldest first."""
    with home.outbox() as box:
        return box.drafts()


def drop_draft(home: Home, draft_id: int) -> Draft:
    """Give up a post that was never signed (one that cannot be published blocks those
    after it); under the feed lock, so no publish is signing it meanwhile."""
    with home.outbox() as box, feed_lock(home.settings.home, home.settings.lock_timeout):
        draft = box.drop_draft(draft_id)
    if draft is None:
        raise InvalidInput(f"there is no unsigned draft {draft_id} (see `ipfeed drafts`)")
    return draft


def pending(home: Home) -> int:
    """How many of the user's updates wait for the node (drafts, a kept avatar) or for publishing."""
    with home.outbox() as box:
        drafts = len(box.drafts())
        latest = box.latest_root()
        published = {v for k, v in box.items("published:")}
        avatar = 1 if kept_avatar(box) else 0
    root_cid = codec.cid_of(latest) if latest else None
    return drafts + avatar + (0 if root_cid in published or root_cid is None else 1)


def seal_now(home: Home) -> int:
    """Sign the drafts that need no node now, under the feed's lock; how many."""
    with home.outbox() as box, feed_lock(home.settings.home, home.settings.lock_timeout):
        return seal_offline(home, home.identity(), box)


def seal_chunk(home: Home, me: Identity, limit: int) -> int:
    """Sign up to `limit` text drafts through a connection of its own (it runs in a thread)."""
    with home.outbox() as box:
        return seal_offline(home, me, box, limit)


def seal_offline(home: Home, me: Identity, box: Outbox, limit: int | None = None) -> int:
    """Sign the oldest drafts that need no node (text only; at most `limit`), in order,
    under one new root; return how many (none while the home has no feed root yet)."""
    if box.latest_root() is None:
        return 0
    batch: list[tuple[Draft, tuple[Attachment, ...], PrivateParts | None]] = []
    for d in box.drafts(limit):
        if d.attachments or "thumb" in d.extra.get("card", {}):
            break
        batch.append((d, (), PrivateParts(os.urandom(32), [], ()) if d.recipients else None))
    return seal(home, me, box, batch)


def seal(home: Home, me: Identity, box: Outbox,
         batch: Sequence[tuple[Draft, tuple[Attachment, ...], PrivateParts | None]],
         found: dict[int, str] | None = None,
         thumbs: dict[int, ContentAttachment] | None = None) -> int:
    """Sign drafts (in order) into v2 entries (with their content blocks) and one root listing
    them; return how many. `found` maps sequence numbers to CIDs of older posts fetched for
    skip links; `thumbs` a draft's link-card image, once in the node."""
    found = found or {}
    thumbs = thumbs or {}
    contents_of: dict[str, Content] = {}
    if not batch:
        return 0
    prev_root = latest_root(box)
    if prev_root is None:
        raise MissingIdentity("this home has no feed root; run `ipfeed init`")
    if prev_root.author != me.public:
        raise OutboxDamaged(f"{home.settings.outbox_path} holds another identity's feed; "
                            "this key cannot continue it")
    posts: list[Entry] = []
    linked: list[bytes] = []
    opened: dict[str, private.Opened] = {}
    seq, prev = prev_root.count, prev_root.head
    by_seq: dict[int, str] = {}  # this batch's entries, for skip links (no quadratic scan)
    for d, atts, secret in batch:
        seq += 1
        target = post.skip_target(seq)
        skip = None
        if target is not None:
            skip = by_seq.get(target) or box.post_cid(target) or found.get(target)
            if skip is None:
                break  # a restored feed's old post not fetched yet: seal the rest with the node
        try:
            content = None
            if d.kind in kinds.WITH_CONTENT:
                content = writing.content_of(me, d, atts, secret, thumbs.get(d.id))
                linked.append(content.block)
            e = writing.entry_of(me, d, seq=seq, prev=prev, skip=skip, content=content)
        except InvalidInput as err:
            raise InvalidInput(f"draft {d.id} cannot be signed: {refused(err)}; it holds back the "
                               f"posts after it (`ipfeed drafts drop {d.id}` gives it up)") from err
        if content is not None and content.box is not None:
            o = private.open_box(me, content.box, f"post {e.cid}", content.files, v2=True)
            assert o is not None
            opened[e.cid] = o
        if content is not None:
            contents_of[content.cid] = content
        posts.append(e)
        by_seq[e.seq] = e.cid
        prev = e.cid
    if not posts:
        return 0
    batch = batch[:len(posts)]
    tree = writing.load_tree(prev_root, box.block)
    listing, tree = writing.listing(prev_root, tree, posts, lambda: own_chain(box, posts))
    root = feed.advance(me, prev_root, updated=now_ms(), heads=[p.cid for p in posts], listing=listing)
    if tree is not None:
        linked += [b for _, b in tree.blocks()]
    box.seal([(d.id, p.seq, p.cid, p.block) for (d, _, _), p in zip(batch, posts, strict=True)],
             root.seq, root.cid, root.block, linked)
    crashpoint("sealed", home.settings.home)
    for d, _, _ in batch:
        for a in d.attachments:
            Path(a["path"]).unlink(missing_ok=True)
    show_own(home, me, root, posts, opened=opened, contents=contents_of)
    return len(posts)


def own_chain(box: Outbox, new: Sequence[Entry]) -> list[Chained]:
    """Every entry of the user's feed the outbox holds, and `new` (not recorded yet)."""
    return [*(entry.parse_chained(b) for _, b in box.post_blocks(0)), *new]


def show_own(home: Home, me: Identity, root: Root, posts: Sequence[Chained] = (), *,
             opened: dict[str, private.Opened] | None = None,
             follows: Sequence[Follow] | None = None,
             contents: dict[str, Content] | None = None) -> None:
    """Show a new root of the user's own (posts, profile, follow list) at once, before any
    sync. The index is a cache, so only where the root continues what it holds; a gap (a
    crash between signing and indexing) is filled from the outbox, which holds every entry
    this home signed; `follows` is the list the root links to, if it changed."""
    with home.index() as index:
        known = index.feed(me.name)
        have = known.count if known else 0
        opened, contents = dict(opened or {}), dict(contents or {})
        if have < root.count - len(posts):
            gap = _own_gap(home, me, known, root.count - len(posts), contents, opened)
            if gap is None:
                return  # not this home's chain in the index: a sync sorts it out
            posts = [*gap, *posts]
        if have == root.count - len(posts):
            index.apply(me.name, root, posts, now_ms(), None, None, None,
                        None if follows is None else [{"name": f.name, "alias": f.alias} for f in follows],
                        opened=opened, contents=contents)


def _own_gap(home: Home, me: Identity, known: FeedState | None, upto: int,
             contents: dict[str, Content], opened: dict[str, private.Opened]) -> list[Chained] | None:
    """The user's own entries after what the index holds, up to seq `upto`, from the outbox
    (with their content blocks and the private ones opened), if the index holds this chain."""
    have = known.count if known else 0
    with home.outbox() as box:
        if have and box.post_cid(have) != (known.head if known else None):
            return None
        gap = [entry.parse_chained(b) for seq, b in box.post_blocks(have) if seq <= upto]
        for e in gap:
            if isinstance(e, Entry) and e.content and e.content not in contents \
                    and (block := box.block(e.content)) is not None:
                contents[e.content] = parse_content(block, e.content)
    if len(gap) != upto - have:
        return None
    opened.update(livesync.open_contents(me, gap, contents))
    return gap


def add_texts(box: Outbox, texts: Sequence[str]) -> None:
    """Save text posts as drafts in one durable transaction (all valid, or none saved)."""
    for t in texts:  # text is all a text post has that could be invalid
        post.check_text(t)
    now = now_ms()
    box.add_drafts([(now, t, None, []) for t in texts])


def refused(e: InvalidInput) -> str:
    """Why post.build refused a draft, without the CID of the post it never signed."""
    return _UNSIGNED_CID.sub("cannot post: ", str(e), count=1)


def check_input(text: str, attach: Sequence[Path], alts: Sequence[str], quote: str | None) -> None:
    """What a post's input must be before anything of it is kept (here, or on a paired device
    before it is queued): its text, at most MAX_ATTACHMENTS files with plain names, no more alt
    texts than files; every name checked before any file is copied."""
    post.check_text(text, len(attach) or (1 if quote else 0))
    if len(attach) > post.MAX_ATTACHMENTS:
        raise InvalidInput(f"at most {post.MAX_ATTACHMENTS} attachments per post")
    if len(alts) > len(attach):
        raise InvalidInput(f"{len(alts)} alt texts given for {len(attach)} attachments")
    for p in attach:
        _attachment_name(p)


def _attachment_name(src: Path) -> str:
    """The file name an attachment gets, by the same rule every reader applies (post.py)."""
    if problem := post.file_name_problem(src.name):
        # A name that is not UTF-8 arrives with surrogate escapes: show its bytes as \xNN.
        shown = os.fsencode(src).decode("utf-8", "backslashreplace")
        raise InvalidInput(f"cannot attach {shown}: the file {problem}")
    return src.name


# What a compressed file is (mimetypes gives `a.tar.gz` the type of what is inside, x-tar).
_COMPRESSED = {"gzip": "application/gzip", "bzip2": "application/x-bzip2", "xz": "application/x-xz",
               "compress": "application/x-compress"}


def media_type_of(name: str) -> str:
    """The media type an attachment is declared with: that of the bytes as they are (a
    compressed file is its compression's type), application/octet-stream when unsure."""
    guessed, encoding = mimetypes.guess_type(name)
    if encoding is not None:
        return _COMPRESSED.get(encoding, "application/octet-stream")
    media = (guessed or "application/octet-stream").lower()
    return media if post.MEDIA_TYPE.match(media) else "application/octet-stream"


def check_avatar(path: Path) -> bytes:
    """An avatar's bytes: a PNG, JPEG, GIF or WebP image (by its bytes) of at most 5 MiB."""
    data = read_file(path, media.MAX_AVATAR_BYTES)
    if media.sniff_image(data[:16]) is None:
        raise InvalidInput(f"{path.name}: an avatar must be a {media.IMAGE_NAMES} image "
                           f"(up to {media.MAX_AVATAR_BYTES // (1024 * 1024)} MiB); this file is not one")
    return data


KEPT_AVATAR = "avatar:kept"  # outbox state: a new avatar saved while the node was down


def keep_avatar(box: Outbox, data: bytes, name: str) -> dict[str, Any]:
    """Keep a checked avatar in the outbox until the node can store it (a newer one replaces
    it); `publishing.flush` then signs the profile with it."""
    staged = _stage_bytes(box.files, data, media.sniff_image(data[:16]) or "image/png", name)
    drop_kept_avatar(box)
    box.set(KEPT_AVATAR, json.dumps(staged))
    return staged


def kept_avatar(box: Outbox) -> dict[str, Any] | None:
    """The avatar waiting for the node ({path, name, type, size}), if any."""
    raw = box.get(KEPT_AVATAR)
    return dict(json.loads(raw)) if raw else None


def drop_kept_avatar(box: Outbox) -> None:
    """Forget the avatar waiting for the node (stored now, or replaced), and its file."""
    if (staged := kept_avatar(box)) is not None:
        box.set(KEPT_AVATAR, "")
        Path(staged["path"]).unlink(missing_ok=True)


def _stage(folder: Path, src: Path) -> dict[str, Any]:
    """Copy an attachment into the outbox so the draft survives the original's deletion; an
    image's type is what its bytes are, whatever its file name says."""
    name = _attachment_name(src)
    data = read_file(src, post.MAX_ATTACHMENT_SIZE)
    return _stage_bytes(folder, data, media.sniff_image(data[:16]) or media_type_of(name), name)


def _stage_bytes(folder: Path, data: bytes, kind: str, name: str = "thumb") -> dict[str, Any]:
    """Keep a file's bytes in the outbox until the node has them."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    dest = folder / f"{now_ms()}-{codec.cid_of(data)[-16:]}"
    tmp = dest.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(dest)
    return {"path": str(dest), "name": name, "type": kind, "size": len(data)}


PrivateParts = writing.Secret  # what a private draft needs to be sealed (its key, its files)
