"""The home server's side of a paired device writing through it (FORMAT.md section 17): a
handed-over draft (a post of any kind the CLI writes) or action (react, follow, mute, accept,
…) is checked, applied once by its draft id, and signed in the one chain, so devices never
fork the feed."""

from __future__ import annotations

import contextlib
import hashlib
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import drafts, feed, interact, kinds, media, post
from .errors import InvalidInput, IpfeedError, NotFound, PublishPending
from .homedir import Home, now_ms

DRAFT_ID = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z")
SHA256 = re.compile(r"\A[0-9a-f]{64}\Z")
FUTURE_SLACK_MS = 5 * 60 * 1000  # a device's clock may run a little ahead, not more
FIELDS = {"id", "created", "kind", "text", "reply_to", "cw", "sensitive", "card", "quote", "to",
          "attachments", "plain"}
ATTACHMENT_FIELDS = {"name", "sha256", "size", "alt"}
MAX_RECIPIENTS = 32  # names a device may give to `--to` (each resolved by the home server)
ON_POSTS = {"react", "unreact", "repost", "unrepost", "edit", "delete"}  # saved as entries
ON_FEEDS = {"follow", "unfollow", "mute", "unmute", "block", "unblock", "accept", "ignore"}
PROFILE = "profile"  # `ipfeed profile set`: no entry, a new root (as on the home server)
ACTION_FIELDS = {**{k: {"cid"} for k in ON_POSTS}, **{k: {"name"} for k in ON_FEEDS},
                 "react": {"cid", "emoji"}, "edit": {"cid", "text"},
                 "follow": {"name", "alias", "force"}, PROFILE: {"display_name", "bio", "avatar"}}
AVATAR_FIELDS = {"name", "sha256", "size"}
ORPHAN_UPLOAD_MS = 7 * 24 * 3600 * 1000  # an upload no handover used within this is dropped


@dataclass(frozen=True)
class Handover:
    """A post a paired device hands over: what the user wrote there, and when; its
    attachments travel ahead of it (PUT /api/upload), named here by their SHA-256."""

    id: str  # the device's own draft id: the same id is posted once, whatever the retries
    created: int
    text: str
    reply_to: str | None = None
    cw: str = ""
    sensitive: bool = False
    card: bool = True
    quote: str | None = None
    to: list[str] = field(default_factory=list)  # sealed to these by the home server
    attachments: list[dict[str, Any]] = field(default_factory=list)  # {name, sha256, size, alt}
    plain: bool = False  # `post --many`: text only, no #tags, @mentions or card read from it

    def to_json(self) -> dict[str, Any]:
        """The request body a device sends (`plain` only when true)."""
        return {"id": self.id, "created": self.created, "text": self.text, "reply_to": self.reply_to,
                "cw": self.cw, "sensitive": self.sensitive, "card": self.card, "quote": self.quote,
                "to": list(self.to), "attachments": [dict(a) for a in self.attachments],
                **({"plain": True} if self.plain else {})}

    @property
    def uploads(self) -> list[dict[str, Any]]:
        """The files that travel ahead of it (PUT /api/upload)."""
        return self.attachments

    def describe(self) -> str:
        """A line about it for `ipfeed remote status`."""
        extra = f" [{len(self.attachments)} attachments]" if self.attachments else ""
        return ("[private] " if self.to else "[plain] " if self.plain else "") + self.text[:60] + extra


@dataclass(frozen=True)
class Action:
    """Something a paired device does that is not a new post: on a post (`cid`: react, unreact,
    repost, unrepost, edit, delete) or on a feed (`name`: follow, unfollow, mute, unmute,
    block, unblock, accept or ignore a request)."""

    id: str
    created: int
    kind: str
    cid: str | None = None
    name: str | None = None
    emoji: str = ""
    text: str = ""
    alias: str = ""
    force: bool = False
    display_name: str | None = None  # profile: the new display name (None: unchanged)
    bio: str | None = None  # profile: the new bio (None: unchanged)
    avatar: dict[str, Any] | None = None  # profile: {name, sha256, size} of a new avatar

    def to_json(self) -> dict[str, Any]:
        """The request body a device sends: the fields of its kind only."""
        full = {"cid": self.cid, "name": self.name, "emoji": self.emoji, "text": self.text,
                "alias": self.alias, "force": self.force, "display_name": self.display_name,
                "bio": self.bio, "avatar": dict(self.avatar) if self.avatar else None}
        return {"id": self.id, "created": self.created, "kind": self.kind,
                **{k: full[k] for k in sorted(ACTION_FIELDS[self.kind])}}

    @property
    def uploads(self) -> list[dict[str, Any]]:
        """The files that travel ahead of it (a profile's new avatar)."""
        return [self.avatar] if self.avatar else []

    def describe(self) -> str:
        """A line about it for `ipfeed remote status`."""
        if self.kind == PROFILE:
            parts = [f"name {self.display_name[:40]!r}" if self.display_name is not None else "",
                     f"bio {self.bio[:40]!r}" if self.bio is not None else "",
                     f"avatar {self.avatar['name']}" if self.avatar else ""]
            return f"[profile: {', '.join(p for p in parts if p)}]"
        return f"[{self.kind} {self.cid or self.name}]" + (f" {self.text[:50]}" if self.text else "")


Item = Handover | Action


def load(body: dict[str, Any]) -> Item:
    """A handover as a device's outbox keeps it (its own JSON, written by to_json)."""
    if body.get("kind", kinds.POST) == kinds.POST:
        return Handover(**{k: v for k, v in body.items() if k != "kind"})
    return Action(**body)


def parse(body: Any, now: int | None = None) -> Item:
    """A handover from a device's request body, every field checked (untrusted input)."""
    if not isinstance(body, dict):
        raise InvalidInput("a handover is a JSON object")
    kind = body.get("kind", kinds.POST)
    if kind != kinds.POST and kind not in ACTION_FIELDS:
        raise InvalidInput(f"a handover's kind is post or one of {', '.join(sorted(ACTION_FIELDS))}")
    allowed = FIELDS if kind == kinds.POST else {"id", "created", "kind", *ACTION_FIELDS[kind]}
    unknown = set(body) - allowed
    if unknown:
        raise InvalidInput(f"unknown handover fields: {', '.join(sorted(map(str, unknown)))}")
    draft_id, created = body.get("id"), body.get("created")
    if not isinstance(draft_id, str) or not DRAFT_ID.match(draft_id):
        raise InvalidInput("a handover's id is 16 to 64 letters, digits, - or _")
    limit = (now or now_ms()) + FUTURE_SLACK_MS
    if isinstance(created, bool) or not isinstance(created, int) or not 0 < created <= limit:
        raise InvalidInput("a handover's created is a time in ms, not in the future")
    if kind != kinds.POST:
        return _parse_action(body, draft_id, created, kind)
    text = body.get("text")
    if not isinstance(text, str):
        raise InvalidInput("a handover's text is a string")
    reply_to, quote, cw = body.get("reply_to"), body.get("quote"), body.get("cw", "")
    if not all(v is None or isinstance(v, str) for v in (reply_to, quote)):
        raise InvalidInput("a handover's reply_to and quote are CIDs or null")
    if not isinstance(cw, str):
        raise InvalidInput("a handover's cw is a string")
    sensitive, card = body.get("sensitive", False), body.get("card", True)
    if not isinstance(sensitive, bool) or not isinstance(card, bool):
        raise InvalidInput("a handover's sensitive and card are true or false")
    to = body.get("to", [])
    if not isinstance(to, list) or len(to) > MAX_RECIPIENTS or not all(
            isinstance(n, str) and 0 < len(n) <= 200 for n in to):
        raise InvalidInput(f"a handover's to is a list of at most {MAX_RECIPIENTS} names")
    atts = [_attachment(a) for a in _listed(body.get("attachments", []))]
    plain = body.get("plain", False)
    if not isinstance(plain, bool):
        raise InvalidInput("a handover's plain is true or false")
    if plain and (reply_to or quote or cw or sensitive or to or atts):
        raise InvalidInput("a plain handover (`post --many`) is text only: no reply_to, quote, cw, "
                           "sensitive, to or attachments")
    post.check_text(text, len(atts) or (1 if quote else 0))
    return Handover(draft_id, created, text, reply_to, cw, sensitive, card, quote, list(to), atts,
                    plain)


def _listed(value: Any) -> list[Any]:
    if not isinstance(value, list) or len(value) > post.MAX_ATTACHMENTS:
        raise InvalidInput(f"a handover's attachments are a list of at most {post.MAX_ATTACHMENTS}")
    return value


def _attachment(a: Any) -> dict[str, Any]:
    """One attachment of a handover: {name, sha256, size, alt}, checked."""
    if not isinstance(a, dict) or set(a) - ATTACHMENT_FIELDS or not {"name", "sha256", "size"} <= set(a):
        raise InvalidInput("a handover's attachment is {name, sha256, size, alt}")
    name, digest, size, alt = a["name"], a["sha256"], a["size"], a.get("alt", "")
    if not isinstance(name, str) or (problem := post.file_name_problem(name)):
        raise InvalidInput(f"a handover's attachment name is not a plain file name ({problem})")
    if not isinstance(digest, str) or not SHA256.match(digest):
        raise InvalidInput("a handover's attachment sha256 is 64 lower-case hex digits")
    if type(size) is not int or not 0 <= size <= post.MAX_ATTACHMENT_SIZE:
        raise InvalidInput(f"a handover's attachment size is 0 … {post.MAX_ATTACHMENT_SIZE}")
    if not isinstance(alt, str):
        raise InvalidInput("a handover's attachment alt is a string")
    return {"name": name, "sha256": digest, "size": size, "alt": alt}


def check_profile(display_name: object, bio: object) -> None:
    """A profile change's name and bio, by the root's rules (FORMAT.md section 4), before it is
    queued on a device or applied by the home server (a root that cannot be signed would wait
    for ever)."""
    for what, value, limit in (("display_name", display_name, feed.MAX_DISPLAY_NAME_BYTES),
                               ("bio", bio, feed.MAX_BIO_BYTES)):
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"a profile handover's {what} is a string or null")
        if len(value.encode("utf-8", "surrogatepass")) > limit:
            raise InvalidInput(f"a profile's {'name' if what == 'display_name' else what} is at "
                               f"most {limit} bytes")


def _parse_profile(body: dict[str, Any], draft_id: str, created: int) -> Action:
    display_name, bio, avatar = body.get("display_name"), body.get("bio"), body.get("avatar")
    check_profile(display_name, bio)
    if avatar is not None:
        if not isinstance(avatar, dict) or set(avatar) != AVATAR_FIELDS:
            raise InvalidInput("a profile handover's avatar is {name, sha256, size} or null")
        name, digest, size = avatar["name"], avatar["sha256"], avatar["size"]
        if not isinstance(name, str) or (problem := post.file_name_problem(name)):
            raise InvalidInput(f"a profile handover's avatar name is not a plain file name ({problem})")
        if not isinstance(digest, str) or not SHA256.match(digest):
            raise InvalidInput("a profile handover's avatar sha256 is 64 lower-case hex digits")
        if type(size) is not int or not 0 < size <= media.MAX_AVATAR_BYTES:
            raise InvalidInput(f"a profile handover's avatar size is 1 … {media.MAX_AVATAR_BYTES}")
        avatar = {"name": name, "sha256": digest, "size": size}
    if display_name is None and bio is None and avatar is None:
        raise InvalidInput("a profile handover changes at least one of display_name, bio, avatar")
    return Action(draft_id, created, PROFILE, display_name=display_name, bio=bio, avatar=avatar)


def _parse_action(body: dict[str, Any], draft_id: str, created: int, kind: str) -> Action:
    if kind == PROFILE:
        return _parse_profile(body, draft_id, created)
    need = "cid" if kind in ON_POSTS else "name"
    target = body.get(need)
    if not isinstance(target, str) or not 0 < len(target) <= 200:
        raise InvalidInput(f"a {kind} handover's {need} is a string")
    emoji, text, alias, force = (body.get("emoji", ""), body.get("text", ""), body.get("alias", ""),
                                 body.get("force", False))
    if not all(isinstance(v, str) for v in (emoji, text, alias)) or not isinstance(force, bool):
        raise InvalidInput(f"a {kind} handover's emoji, text and alias are strings, force true or false")
    if kind == "edit":
        post.check_text(text, 0)
    return Action(draft_id, created, kind, target if need == "cid" else None,
                  target if need == "name" else None, emoji, text, alias, force)


@dataclass(frozen=True)
class Accepted:
    """What the home server did with a handover."""

    id: str
    draft_id: int | None  # None for an action on a feed (it is no entry)
    seq: int | None
    cid: str | None
    already: bool  # this draft id was handed over before: nothing new was saved

    def to_json(self) -> dict[str, Any]:
        """The response body."""
        return {"id": self.id, "draft": self.draft_id, "seq": self.seq, "cid": self.cid,
                "already": self.already}


def mark(device_id: str, draft_id: str) -> str:
    """The outbox state key that records one device's draft as handed over."""
    return f"handover:{device_id}:{draft_id}"


def uploads(home: Home, device_id: str) -> Path:
    """Where the attachments a device uploaded wait for their handovers."""
    return home.settings.home / "uploads" / device_id


def upload_path(home: Home, device_id: str, digest: str) -> Path:
    """Where one attachment a device uploaded waits for its handover (named by its SHA-256)."""
    return uploads(home, device_id) / digest


UPLOAD_CHUNK = 1 << 20
MAX_UPLOADS = 4 * post.MAX_ATTACHMENTS  # waiting per device (a device sends one post's at a time)


def store_upload(home: Home, device_id: str, digest: str, read: Callable[[int], bytes], length: int) -> int:
    """Keep the bytes of an attachment a device sends ahead of its handover: at most
    MAX_ATTACHMENT_SIZE, refused unless their SHA-256 is `digest`; its size."""
    if not SHA256.match(digest):
        raise InvalidInput("an upload is named by its SHA-256: 64 lower-case hex digits")
    if not 0 <= length <= post.MAX_ATTACHMENT_SIZE:
        raise InvalidInput(f"an attachment is at most {post.MAX_ATTACHMENT_SIZE} bytes")
    final = upload_path(home, device_id, digest)
    final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not final.exists() and len(list(final.parent.iterdir())) >= MAX_UPLOADS:
        raise InvalidInput(f"{MAX_UPLOADS} uploads of this device wait for their posts already: "
                           "hand those posts over first")
    h, left = hashlib.sha256(), length
    with tempfile.NamedTemporaryFile(dir=final.parent, delete=False) as f:
        try:
            while left > 0:
                chunk = read(min(UPLOAD_CHUNK, left))
                if not chunk:
                    raise InvalidInput(f"the upload ended after {length - left} of {length} bytes")
                h.update(chunk)
                f.write(chunk)
                left -= len(chunk)
            if h.hexdigest() != digest:
                raise InvalidInput("the uploaded bytes do not have the SHA-256 they were sent as")
        except BaseException:
            Path(f.name).unlink(missing_ok=True)
            raise
    Path(f.name).replace(final)
    return length


MAX_AT_ONCE = 100  # handovers in one request
OnFeed = Callable[[Action, Path | None], object]  # follow, mute, accept, profile (with the
# avatar's file, staged under its name) …: the Service's own calls
WholeChain = Callable[[], object]  # before a deletion: the Service's complete_chain, to its end
DELETIONS = {"unreact", "unrepost", "delete"}  # saved as delete entries: they need the whole chain


def accept(home: Home, device_id: str, bodies: Any, on_feed: OnFeed,
           whole_chain: WholeChain) -> list[dict[str, Any]]:
    """Apply the handovers of one request in order, each once by its draft id, then sign the
    new entries together (one new root, if no node is needed); one result per handover, in
    order: what it became, or why it was refused (`{"id", "error"}`; the others go on), or
    why it cannot be applied now (`"wait": true`; it and all after it are not applied)."""
    if not isinstance(bodies, list) or not 1 <= len(bodies) <= MAX_AT_ONCE:
        raise InvalidInput(f"a handover request carries a list of 1 to {MAX_AT_ONCE} drafts")
    done: list[tuple[str, int | None, bool] | dict[str, Any]] = []
    stopped: str | None = None  # why the rest of this request waits
    used: set[str] = set()
    for body in bodies:
        draft = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else None
        if stopped is not None:
            done.append({"id": draft, "error": f"not applied yet: {stopped}", "wait": True})
            continue
        try:
            item = parse(body)
            key = mark(device_id, item.id)
            with home.outbox() as box:
                seen = box.get(key)
            if seen is not None:
                done.append((item.id, int(seen) or None, True))
                continue
            if isinstance(item, Action) and item.kind in DELETIONS:
                whole_chain()  # as the CLI and the web UI: a restored key's home fetches the rest
            done.append((item.id, _apply(home, device_id, item, key, on_feed), False))
            used.update(a["sha256"] for a in item.uploads)
        except (InvalidInput, NotFound) as e:  # a rule of the home server: refused, the next go on
            done.append({"id": draft, "error": str(e)})
            used.update(_digests(body))  # refused for good: its uploads are not needed
        except IpfeedError as e:  # the node is down, …: this one and the rest wait, in order
            stopped = str(e)
            done.append({"id": draft, "error": stopped, "wait": True})
    for digest in used:  # staged in the outbox now, or of a post refused for good
        upload_path(home, device_id, digest).unlink(missing_ok=True)
    drafts.seal_now(home)
    with home.outbox() as box:
        return [s if isinstance(s, dict) else
                Accepted(s[0], s[1], *_sealed(box.post_of_draft(s[1]) if s[1] else None),
                         already=s[2]).to_json() for s in done]


def _digests(body: Any) -> list[str]:
    """The uploads a (perhaps malformed) handover names (a post's attachments, a profile's avatar)."""
    atts = body.get("attachments") if isinstance(body, dict) else None
    if isinstance(body, dict) and isinstance(body.get("avatar"), dict):
        atts = [body["avatar"]]
    return [a["sha256"] for a in atts if isinstance(a, dict) and isinstance(a.get("sha256"), str)
            and SHA256.match(a["sha256"])] if isinstance(atts, list) else []


_ON_A_POST: dict[str, Callable[[Home, str, interact.At], int]] = {
    "repost": interact.repost, "unreact": interact.unreact, "unrepost": interact.unrepost,
    "delete": interact.delete}


def _apply(home: Home, device_id: str, item: Item, key: str, on_feed: OnFeed) -> int | None:
    """Apply one handover, recorded under `key`; the draft it became (None: not an entry)."""
    if isinstance(item, Handover):
        return _save_post(home, device_id, item, key)
    at = interact.At(item.created, key)
    cid = item.cid or ""
    if item.kind == "react":
        return interact.react(home, cid, item.emoji or kinds.DEFAULT_EMOJI, at=at)
    if item.kind == "edit":
        return interact.edit(home, cid, item.text, at=at)
    if item.kind in _ON_A_POST:
        return _ON_A_POST[item.kind](home, cid, at)
    drafts.seal_now(home)  # what came before it is in the chain first
    with contextlib.suppress(PublishPending), _staged(home, device_id, item) as avatar:
        on_feed(item, avatar)  # saved: published when the node is back
    with home.outbox() as box:  # a crash just before this re-applies it: same state (idempotent)
        box.set(key, "0")
    return None


@contextlib.contextmanager
def _staged(home: Home, device_id: str, item: Action) -> Iterator[Path | None]:
    """A profile's avatar uploaded ahead of it, as a file under its own name, while it is applied."""
    if item.avatar is None:
        yield None
        return
    src = upload_path(home, device_id, item.avatar["sha256"])
    if not src.is_file() or src.stat().st_size != item.avatar["size"]:
        raise InvalidInput(f"avatar {item.avatar['name']} was not uploaded before its profile change")
    with tempfile.TemporaryDirectory(dir=src.parent) as tmp:
        dst = Path(tmp) / item.avatar["name"]
        shutil.copyfile(src, dst)
        yield dst


def _save_post(home: Home, device_id: str, h: Handover, key: str) -> int:
    """Save a handed-over post with the attachments uploaded ahead of it, under their names."""
    if h.plain:  # as `post --many` on the home server: the text alone, nothing read from it
        post.check_text(h.text)
        with home.outbox() as box:
            return box.add_draft(h.created, h.text, None, [], mark=key)
    folder = uploads(home, device_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        paths = []
        for i, a in enumerate(h.attachments):
            src = upload_path(home, device_id, a["sha256"])
            if not src.is_file() or src.stat().st_size != a["size"]:
                raise InvalidInput(f"attachment {a['name']} was not uploaded before its post")
            dst = Path(tmp) / str(i) / a["name"]
            dst.parent.mkdir()
            shutil.copyfile(src, dst)
            paths.append(dst)
        alts = [a["alt"] for a in h.attachments]
        while alts and not alts[-1]:
            alts.pop()
        result = drafts.save(home, h.text, h.reply_to, paths, h.to, seal=False, quote=h.quote, cw=h.cw,
                             sensitive=h.sensitive, alts=alts, card=h.card, created=h.created, mark=key)
    return result.draft_id


def clean_uploads(home: Home, active: set[str], now: int | None = None) -> int:
    """Drop the uploads no handover will use: every one of a device not in `active` (revoked,
    or unknown), and those that waited longer than ORPHAN_UPLOAD_MS (their post never came:
    the device gave it up, or uploads again before it hands it over); how many files."""
    root = home.settings.home / "uploads"
    if not root.is_dir():
        return 0
    oldest = (now or now_ms()) - ORPHAN_UPLOAD_MS
    dropped = 0
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        gone = folder.name not in active
        for f in folder.iterdir():
            if gone or (f.is_file() and f.stat().st_mtime * 1000 < oldest):
                if f.is_dir():
                    shutil.rmtree(f, ignore_errors=True)
                else:
                    f.unlink(missing_ok=True)
                dropped += 1
        if gone:
            with contextlib.suppress(OSError):
                folder.rmdir()
    return dropped


def _sealed(found: tuple[int, str] | None) -> tuple[int | None, str | None]:
    return found if found else (None, None)
