"""A device paired with a home server (a laptop's CLI): its pairing, its outbox of drafts
waiting to be handed over, and the calls to the home server's API (FORMAT.md section 17).

The home server signs and sequences; this side only keeps the user's words safe until the
home server has them: every draft is saved here first (SQLite, synchronous=FULL), handed over
in the order written, and forgotten only once the home server acknowledged its draft id.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import secrets
import ssl
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from . import drafts, feed, post, sqlite, tls
from .errors import (
    InvalidInput,
    NotPaired,
    RateLimited,
    RemoteError,
    RemoteUnreachable,
    Revoked,
)
from .handover import ON_POSTS, PROFILE, Action, Handover, Item, check_profile, load
from .homedir import now_ms, read_file
from .identity import normalize_name
from .notice import REASONS

MAX_RESPONSE_BYTES = 4 * 1024 * 1024  # a timeline page of 100 posts fits many times over
MAX_NOTICES = 100  # the API's largest page of notifications (FORMAT.md section 17.4)
MAX_SENDER_NAME = 200  # a profile name as a home server may show it, in characters
BOXES = ("notifications", "requests")
_CID = re.compile(r"[A-Za-z0-9]{1,128}")
MAX_HANDOVERS_AT_ONCE = 1000  # one push hands over at most this many (the rest: the next one)
HANDOVERS_PER_REQUEST = 100  # the home server takes at most this many drafts in one request
_LOOPBACK = ("127.0.0.1", "::1", "localhost")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS handovers (n INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL, cid TEXT, done INTEGER, refused TEXT)
"""


@dataclass(frozen=True)
class Pairing:
    """This device's pairing with its home server (`HOME/remote.json`, 0600)."""

    url: str
    fingerprint: str | None  # the pinned certificate (None: a proxy's, verified by the system's CAs)
    token: str
    device: str
    name: str  # the home server's feed


@dataclass(frozen=True)
class Waiting:
    """A draft in this device's outbox, not yet acknowledged by the home server."""

    id: str
    handover: Item
    refused: str | None  # the home server's reason when it refused it (kept, never dropped)


@dataclass(frozen=True)
class PushResult:
    """What one handover round did."""

    sent: list[tuple[str, str | None, str]]  # (draft id, CID or None while the home server's node
    # is down or for an action on a feed, what the action was or "" for a post)
    waiting: int  # drafts still to hand over (not those refused)
    refused: list[str]  # the home server's reasons for the drafts it refused in this round
    error: str | None  # why the round stopped early (home server unreachable, …)


def config_path(home: Path) -> Path:
    """Where a paired device keeps its pairing."""
    return home / "remote.json"


def pairing(home: Path) -> Pairing | None:
    """This home's pairing with a home server, if it has one."""
    try:
        raw = json.loads(config_path(home).read_text())
    except FileNotFoundError:
        return None
    return Pairing(raw["url"], raw.get("fingerprint"), raw["token"], raw["device"], raw["name"])


def check_url(url: str) -> urllib.parse.SplitResult:
    """A home server's URL: https (http only on loopback), a host, no path beyond /."""
    u = urllib.parse.urlsplit(url.strip())
    if u.scheme not in ("https", "http") or not u.hostname or u.path not in ("", "/") or u.query:
        raise InvalidInput(f"not a home server URL: {url!r} (e.g. https://home.example:8788/)")
    if u.scheme == "http" and u.hostname not in _LOOPBACK:
        raise InvalidInput("a home server beyond loopback is reached over https only: the pairing "
                           "code and the credential are never sent in the clear")
    return u


def add(home: Path, url: str, code: str, fingerprint: str | None, label: str, timeout: float) -> Pairing:
    """Pair this home with a home server: prove the pairing code over the pinned TLS channel,
    receive this device's own credential, keep it 0600."""
    if (home / "identity.key").exists():
        raise InvalidInput("this home has its own feed key: pair a separate home (--home) with "
                           "a home server, so two writers never share one feed")
    if pairing(home) is not None:
        raise InvalidInput(f"this home is paired already (with {pairing(home).url}); "  # type: ignore[union-attr]
                           "`ipfeed remote rm` first")
    u = check_url(url)
    pinned = tls.normalize_fingerprint(fingerprint) if fingerprint else None
    base = f"{u.scheme}://{u.netloc}"
    answer = _call(base, pinned, None, "POST", "/api/pair", {"code": code, "label": label}, timeout)
    if not isinstance(answer.get("token"), str) or not isinstance(answer.get("name"), str):
        raise RemoteError("the home server's answer to pairing lacks a credential")
    p = Pairing(base, pinned, answer["token"], str(answer.get("device", "")), answer["name"])
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(config_path(home), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(p.__dict__, f)
    return p


def forget(home: Path) -> bool:
    """Unpair this home (the drafts that wait stay in its outbox; the copy of the home server's
    lists goes: they are another home's)."""
    lists_path(home).unlink(missing_ok=True)
    try:
        config_path(home).unlink()
        return True
    except FileNotFoundError:
        return False


class Outbox:
    """A paired device's outbox of handovers (`HOME/remote-outbox.sqlite`)."""

    def __init__(self, home: Path) -> None:
        self.db = sqlite.connect(home / "remote-outbox.sqlite", "FULL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    def add(self, item: Item) -> Item:
        """Save a draft or action durably: from here on it cannot be lost."""
        with sqlite.transaction(self.db) as db:
            db.execute("INSERT INTO handovers (id, body) VALUES (?, ?)",
                       (item.id, json.dumps(item.to_json())))
        return item

    def add_all(self, items: Sequence[Item]) -> None:
        """Save several drafts durably in one transaction: all of them, or none."""
        with sqlite.transaction(self.db) as db:
            db.executemany("INSERT INTO handovers (id, body) VALUES (?, ?)",
                           [(i.id, json.dumps(i.to_json())) for i in items])

    def waiting(self, refused: bool = True) -> list[Waiting]:
        """Drafts not acknowledged yet, in the order written (without `refused`: only those
        still to hand over)."""
        rows = self.db.execute("SELECT id, body, refused FROM handovers WHERE done IS NULL "
                               f"{'' if refused else 'AND refused IS NULL'} ORDER BY n LIMIT ?",
                               (MAX_HANDOVERS_AT_ONCE,)).fetchall()
        return [Waiting(i, load(json.loads(b)), r) for i, b, r in rows]

    def done(self, draft_id: str, cid: str | None) -> None:
        """The home server has this draft (acknowledged): it no longer waits."""
        with sqlite.transaction(self.db) as db:
            db.execute("UPDATE handovers SET done = ?, cid = ?, refused = NULL WHERE id = ?",
                       (now_ms(), cid, draft_id))

    def refused(self, draft_id: str, reason: str) -> None:
        """The home server refused this draft: kept with the reason, for the user to see."""
        with sqlite.transaction(self.db) as db:
            db.execute("UPDATE handovers SET refused = ? WHERE id = ?", (reason, draft_id))


def _requests(waiting: list[Waiting]) -> list[list[Waiting]]:
    """The waiting handovers in requests of at most HANDOVERS_PER_REQUEST, in order; a post
    with attachments (or a profile change with an avatar) ends its request (so at most one
    handover's files are uploaded ahead)."""
    out: list[list[Waiting]] = [[]]
    for w in waiting:
        out[-1].append(w)
        if len(out[-1]) == HANDOVERS_PER_REQUEST or w.handover.uploads:
            out.append([])
    return [c for c in out if c]


def push(home: Path, p: Pairing, timeout: float) -> PushResult:
    """Hand the waiting drafts to the home server, oldest first, each until acknowledged; stop
    at the first one that cannot be handed over now (order kept). A retry of one the home
    server already has is answered with what it became (idempotent by draft id). One the home
    server refuses (its rules) stays here, marked with the reason, and is not sent again."""
    box = Outbox(home)
    sent: list[tuple[str, str | None, str]] = []
    refused: list[str] = []
    error = None
    try:
        for chunk in _requests(box.waiting(refused=False)):
            try:
                for w in chunk:  # a post's attachments go ahead of it
                    _upload(home, p, w.handover, timeout)
                answer = _call(p.url, p.fingerprint, p.token, "POST", "/api/handover",
                               {"handovers": [w.handover.to_json() for w in chunk]}, timeout)
            except (RemoteUnreachable, NotPaired, Revoked, RateLimited) as e:
                error = str(e)
                break
            results = answer.get("results")
            if not isinstance(results, list) or len(results) != len(chunk) or not all(
                    isinstance(r, dict) and r.get("id") == w.id
                    for r, w in zip(results, chunk, strict=True)):
                raise RemoteError("the home server's answer to a handover does not match what was sent")
            for w, r in zip(chunk, results, strict=True):
                if r.get("wait") is True:  # the home server cannot apply it now: it and the
                    error = f"the home server: {r.get('error')}"  # ones after it wait, in order
                    break
                if "error" in r:  # refused by a rule of the home server: kept here with the
                    box.refused(w.id, str(r["error"]))  # reason, not sent again; the next go on
                    refused.append(f"draft {w.id} refused by the home server: {r['error']}")
                    continue
                cid = r.get("cid") if isinstance(r.get("cid"), str) else None
                box.done(w.id, cid)
                _forget_files(home, w.handover)
                sent.append((w.id, cid, w.handover.describe() if isinstance(w.handover, Action) else ""))
            if error is not None:
                break
        left = len(box.waiting(refused=False))
    finally:
        box.close()
    return PushResult(sent, left, refused, error)


Inbox = dict[str, Any]  # {"box", "unread": {box: n}, "notices": [notice, …], "next": id or None}


def notifications(p: Pairing, box: str, unread_only: bool, limit: int, before: int,
                  timeout: float) -> Inbox:
    """One page of the home server's notifications or requests, newest first, and its unread
    counts; every field checked (an answer is untrusted input) before anything is shown."""
    limit = min(MAX_NOTICES, max(1, limit))
    query = urllib.parse.urlencode({"box": box, "limit": limit, "all": "0" if unread_only else "1",
                                    **({"before": before} if before else {})})
    page = _call(p.url, p.fingerprint, p.token, "GET", f"/api/notifications?{query}", None, timeout)
    return check_inbox(page, box, limit)


def check_inbox(page: dict[str, Any], box: str, limit: int) -> Inbox:
    """A home server's answer to GET /api/notifications, or RemoteError naming what is wrong."""
    def bad(what: str) -> RemoteError:
        return RemoteError(f"the home server's notifications are not what the API defines "
                           f"(section 17.4): {what}")
    unread, notices, more = page.get("unread"), page.get("notices"), page.get("next")
    if page.get("box") != box:
        raise bad(f"asked for box {box!r}, got {str(page.get('box'))[:40]!r}")
    if not isinstance(unread, dict) or set(unread) != set(BOXES) or not all(
            type(n) is int and 0 <= n < 2**53 for n in unread.values()):
        raise bad("unread is not {notifications: count, requests: count}")
    if not isinstance(notices, list) or len(notices) > limit:
        raise bad(f"notices is not a list of at most {limit}")
    if not (more is None or (type(more) is int and more > 0)):
        raise bad("next is not an id or null")
    return {"box": box, "unread": dict(unread), "notices": [_check_notice(n, box, bad) for n in notices],
            "next": more}


def _check_notice(n: object, box: str, bad: Any) -> dict[str, Any]:
    if not isinstance(n, dict):
        raise bad("a notice is not an object")
    ints = ("id", "created", "received")
    if not all(type(n.get(k)) is int and 0 <= n[k] < 2**63 for k in ints):
        raise bad(f"a notice's {', '.join(ints)} are not all non-negative integers")
    try:
        sender = normalize_name(str(n["from"]) if isinstance(n.get("from"), str) else "")
    except InvalidInput as e:
        raise bad(f"notice {n['id']}: from is not a feed name ({e})") from e
    if n.get("reason") not in REASONS or n.get("box") != box or n.get("state") not in ("unread", "read"):
        raise bad(f"notice {n['id']}: reason, box or state is not one the API defines")
    for k in ("entry", "subject"):
        if not (n.get(k) is None or (isinstance(n[k], str) and _CID.fullmatch(n[k]))):
            raise bad(f"notice {n['id']}: {k} is not a CID or null")
    name = n.get("sender_name", "")
    if not isinstance(name, str) or len(name) > MAX_SENDER_NAME:
        raise bad(f"notice {n['id']}: sender_name is not a string of at most {MAX_SENDER_NAME}")
    return {"id": n["id"], "from": sender, "sender_name": name, "reason": n["reason"],
            "entry": n.get("entry"), "subject": n.get("subject"), "box": box, "state": n["state"],
            "created": n["created"], "received": n["received"]}


def mark_read(p: Pairing, box: str, upto: int, timeout: float) -> int:
    """Mark a box's unread notices up to id `upto` read at the home server; how many it marked."""
    answer = _call(p.url, p.fingerprint, p.token, "POST", "/api/notifications/read",
                   {"box": box, "upto": upto}, timeout)
    if type(answer.get("marked")) is not int or answer["marked"] < 0:
        raise RemoteError("the home server's answer to marking read lacks a count (section 17.4)")
    return int(answer["marked"])


def timeline(p: Pairing, limit: int, before: str | None, timeout: float,
             tag: str | None = None) -> dict[str, Any]:
    """The home server's timeline, as `ipfeed timeline --json` prints it (with `tag`, only
    posts with that #tag)."""
    query = urllib.parse.urlencode({"limit": limit, **({"before": before} if before else {}),
                                    **({"tag": tag} if tag else {})})
    page = _call(p.url, p.fingerprint, p.token, "GET", f"/api/timeline?{query}", None, timeout)
    posts, more = page.get("posts"), page.get("next")
    shape = {"cid": str, "name": str, "text": str, "seq": int, "created": int}
    if not isinstance(posts, list) or not (more is None or isinstance(more, str)) or not all(
            isinstance(item, dict) and all(isinstance(item.get(k), t) for k, t in shape.items())
            for item in posts):
        raise RemoteError("the home server's timeline is not what the API defines (section 17)")
    return {"posts": posts, "next": more}


@dataclass(frozen=True)
class Listed:
    """A feed on one of the home server's lists, with the names it shows for it."""

    name: str
    alias: str = ""
    display_name: str = ""


@dataclass(frozen=True)
class HomeLists:
    """The home server's follow, mute and block lists (it is their one writer: it signs the
    follow list and holds the sealed mute and block lists), as this device last fetched them."""

    following: list[Listed]
    muted: list[Listed]
    blocked: list[Listed]
    fetched: int  # when this device fetched them (ms)
    offline: str | None = None  # why they come from the copy kept here (None: fetched just now)

    def to_json(self) -> dict[str, Any]:
        """As the API answers them (and as the copy kept here holds them)."""
        return {k: [x.__dict__ for x in getattr(self, k)] for k in LISTS}

    def resolve(self, text: str) -> str | None:
        """The feed a NAME argument stands for here: a name, or one followed feed's alias or
        display name (case-insensitive), as the home server resolves it."""
        try:
            return normalize_name(text)
        except InvalidInput:
            pass
        wanted = text.strip().casefold()
        for field in ("alias", "display_name"):
            found = {f.name for f in self.following if getattr(f, field).casefold() == wanted}
            if len(found) == 1:
                return found.pop()
        return None

    def hidden(self, waiting: Sequence[Waiting]) -> tuple[set[str], set[str]]:
        """(muted, blocked) as they will be once the mutes and blocks waiting on this device
        are handed over: the home server's lists with those applied, in order."""
        muted, blocked = {f.name for f in self.muted}, {f.name for f in self.blocked}
        for w in waiting:
            a = w.handover
            if w.refused or not isinstance(a, Action) or a.kind not in _ON_LISTS or \
                    (name := self.resolve(a.name or "")) is None:
                continue
            target, add = _ON_LISTS[a.kind]
            chosen = muted if target == "muted" else blocked
            if add:
                chosen.add(name)
            else:
                chosen.discard(name)
        return muted, blocked


LISTS = ("following", "muted", "blocked")
_ON_LISTS = {"mute": ("muted", True), "unmute": ("muted", False), "block": ("blocked", True),
             "unblock": ("blocked", False)}
MAX_LISTED = feed.MAX_FOLLOWS  # entries of one list the home server may answer


LIST_KINDS = {"follow", "unfollow", "accept", *_ON_LISTS}  # the actions that change a list


def list_changes(waiting: Sequence[Waiting]) -> int:
    """How many of the waiting handovers (not refused) change the home server's lists."""
    return sum(1 for w in waiting if not w.refused and isinstance(w.handover, Action)
               and w.handover.kind in LIST_KINDS)


def lists_path(home: Path) -> Path:
    """Where a paired device keeps its copy of the home server's lists (for offline display)."""
    return home / "remote-lists.json"


def lists(home: Path, p: Pairing, timeout: float) -> HomeLists:
    """The home server's lists, fetched over the authenticated API and kept here; while the
    home server cannot be reached, the copy kept here, marked with when it was fetched."""
    try:
        answer = _call(p.url, p.fingerprint, p.token, "GET", "/api/lists", None, timeout)
    except RemoteUnreachable as e:
        kept = kept_lists(home)
        if kept is None:
            raise RemoteUnreachable(f"{e}; no copy of its lists is kept here yet") from e
        return replace(kept, offline=str(e))
    fetched = check_lists(answer, now_ms())
    _keep(lists_path(home), json.dumps({"fetched": fetched.fetched, **fetched.to_json()}).encode())
    return fetched


def kept_lists(home: Path) -> HomeLists | None:
    """The copy of the home server's lists kept here, if any."""
    try:
        raw = json.loads(lists_path(home).read_text())
        return check_lists(raw, int(raw["fetched"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError, RemoteError) as e:
        raise RemoteError(f"the copy of the home server's lists in {lists_path(home)} is damaged "
                          f"({e}); it is fetched again when the home server can be reached") from e


def check_lists(answer: dict[str, Any], fetched: int) -> HomeLists:
    """A home server's answer to GET /api/lists, or RemoteError naming what is wrong."""
    def bad(what: str) -> RemoteError:
        return RemoteError(f"the home server's lists are not what the API defines (section 17.4): {what}")
    out: dict[str, list[Listed]] = {}
    for key in LISTS:
        items = answer.get(key)
        if not isinstance(items, list) or len(items) > MAX_LISTED:
            raise bad(f"{key} is not a list of at most {MAX_LISTED}")
        out[key] = []
        for item in items:
            if not isinstance(item, dict) or set(item) - {"name", "alias", "display_name"}:
                raise bad(f"an entry of {key} is not {{name, alias, display_name}}")
            try:
                name = normalize_name(item["name"] if isinstance(item.get("name"), str) else "")
            except InvalidInput as e:
                raise bad(f"an entry of {key} does not name a feed ({e})") from e
            texts = [item.get(k, "") for k in ("alias", "display_name")]
            if not all(isinstance(t, str) and len(t) <= MAX_SENDER_NAME for t in texts):
                raise bad(f"{name} in {key}: alias and display_name are strings of at most "
                          f"{MAX_SENDER_NAME}")
            out[key].append(Listed(name, *texts))
    return HomeLists(out["following"], out["muted"], out["blocked"], fetched)


def files(home: Path) -> Path:
    """Where a paired device keeps the attachments of its waiting posts (by SHA-256)."""
    return home / "remote-files"


def new_post(home: Path, p: Pairing, text: str, reply_to: str | None = None, attach: Sequence[Path] = (),
             to: Sequence[str] = (), *, quote: str | None = None, cw: str = "", sensitive: bool = False,
             alts: Sequence[str] = (), card: bool = True) -> Handover:
    """A post to hand over, checked as far as a device can (its text, its files' names and
    sizes); its files copied into this home, so that nothing the post needs can go missing.
    A private one only ever travels over TLS (the home server seals it)."""
    if to and urllib.parse.urlsplit(p.url).scheme != "https":
        raise InvalidInput("a private post is handed over over https only (the home server "
                           f"{p.url} is reached over plain http)")
    drafts.check_input(text, attach, alts, quote)
    atts = []
    for n, src in enumerate(attach):
        data = read_file(src, post.MAX_ATTACHMENT_SIZE)
        digest = hashlib.sha256(data).hexdigest()
        kept = files(home) / digest
        if not kept.exists():
            kept.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            _keep(kept, data)
        atts.append({"name": src.name, "sha256": digest, "size": len(data),
                     "alt": alts[n] if n < len(alts) else ""})
    return Handover(secrets.token_urlsafe(18), now_ms(), text, reply_to, cw, sensitive, card, quote,
                    list(to), atts)


def new_plain_posts(texts: Sequence[str]) -> list[Handover]:
    """`post --many` on a paired device: one plain text post to hand over per text, each checked
    first (all valid, or none queued); the home server reads no #tags, @mentions or links from
    them, as its own `post --many`."""
    for t in texts:
        post.check_text(t)
    now = now_ms()
    return [Handover(secrets.token_urlsafe(18), now, t, card=False, plain=True) for t in texts]


def new_profile(home: Path, name: str | None, bio: str | None, avatar: Path | None) -> Action:
    """`profile set` on a paired device: the change to hand over, checked as the home server
    will (the name's and bio's sizes, the avatar an image); a new avatar kept in this home
    until it is handed over."""
    if name is None and bio is None and avatar is None:
        raise InvalidInput("nothing to change: give --name, --bio or --avatar")
    check_profile(name, bio)
    kept = None
    if avatar is not None:
        if problem := post.file_name_problem(avatar.name):
            raise InvalidInput(f"the avatar's file name is not a plain file name ({problem})")
        data = drafts.check_avatar(avatar)
        digest = hashlib.sha256(data).hexdigest()
        if not (files(home) / digest).exists():
            files(home).mkdir(parents=True, exist_ok=True, mode=0o700)
            _keep(files(home) / digest, data)
        kept = {"name": avatar.name, "sha256": digest, "size": len(data)}
    return Action(secrets.token_urlsafe(18), now_ms(), PROFILE, display_name=name, bio=bio, avatar=kept)


def _keep(path: Path, data: bytes) -> None:
    """Write a file durably (fsynced, then renamed into place), 0600; a temporary name of its
    own, so that two commands writing it at once cannot clash."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def new_action(kind: str, target: str, *, emoji: str = "", text: str = "", alias: str = "",
               force: bool = False) -> Action:
    """An action to hand over: on a post (`target` a CID) or on a feed (a name)."""
    on_post = kind in ON_POSTS
    if kind == "edit":
        post.check_text(text, 0)
    return Action(secrets.token_urlsafe(18), now_ms(), kind, target if on_post else None,
                  None if on_post else target, emoji, text, alias, force)


def _upload(home: Path, p: Pairing, item: Item, timeout: float) -> None:
    """Send a post's attachments (a profile's avatar) ahead of it (the home server keeps each
    by its SHA-256)."""
    for a in item.uploads:
        answer = _call(p.url, p.fingerprint, p.token, "PUT", f"/api/upload/{a['sha256']}", None,
                       timeout, upload=files(home) / a["sha256"])
        if answer.get("sha256") != a["sha256"]:
            raise RemoteError("the home server's answer to an upload does not match what was sent")


def _forget_files(home: Path, item: Item) -> None:
    """A handed-over post's files (a profile's avatar), no longer needed here (unless a waiting
    one has them too)."""
    if not item.uploads:
        return
    box = Outbox(home)
    try:
        needed = {a["sha256"] for w in box.waiting() for a in w.handover.uploads}
    finally:
        box.close()
    for a in item.uploads:
        if a["sha256"] not in needed:
            (files(home) / a["sha256"]).unlink(missing_ok=True)


def _call(base: str, pinned: str | None, token: str | None, method: str, path: str,
          body: dict[str, Any] | None, timeout: float, upload: Path | None = None) -> dict[str, Any]:
    """One request to the home server's API (a JSON body, or a file's bytes); its answer, or
    the error it means."""
    u = urllib.parse.urlsplit(base)
    host, port = u.hostname or "", u.port
    conn: http.client.HTTPConnection
    if u.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=tls.client_context(pinned))
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.connect()
        if pinned is not None:
            assert isinstance(conn.sock, ssl.SSLSocket)
            tls.check_pinned(conn.sock, pinned)  # before the code or the credential is sent
        if upload is not None:
            headers["Content-Type"] = "application/octet-stream"
            headers["Content-Length"] = str(upload.stat().st_size)
            with upload.open("rb") as f:
                conn.request(method, path, f, headers)
                resp = conn.getresponse()
        else:
            conn.request(method, path, json.dumps(body) if body is not None else None, headers)
            resp = conn.getresponse()
        raw = resp.read(MAX_RESPONSE_BYTES + 1)
    except (TimeoutError, OSError, http.client.HTTPException) as e:
        if isinstance(e, ssl.SSLCertVerificationError):
            raise RemoteError(f"the home server's certificate does not verify: {e}") from e
        raise RemoteUnreachable(f"the home server {base} cannot be reached now ({e})") from e
    finally:
        conn.close()
    if len(raw) > MAX_RESPONSE_BYTES:
        raise RemoteError(f"the home server's answer is over {MAX_RESPONSE_BYTES} bytes")
    try:
        answer = json.loads(raw) if raw else {}
    except ValueError as e:
        raise RemoteError(f"the home server answered HTTP {resp.status} with something not JSON") from e
    if not isinstance(answer, dict):
        raise RemoteError("the home server's answer is not a JSON object")
    if resp.status >= 400:
        message = str(answer.get("error") or f"HTTP {resp.status}")
        error = {401: NotPaired, 403: Revoked, 429: RateLimited}.get(resp.status)
        if error is not None:
            raise error(f"home server: {message}")
        if resp.status >= 500:
            raise RemoteUnreachable(f"home server: {message}")
        raise RemoteError(message)
    return answer
