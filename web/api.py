"""The home server's API for paired devices (FORMAT.md section 17): pairing a CLI, a draft
handed over (saved once by its draft id, signed in the one chain; an attachment uploaded
ahead of it), an action (react, follow, mute, accept, profile, …) likewise, the timeline, the
follow, mute and block lists and the inbox (notifications, requests, unread counts, marking read). JSON in
and out; authenticated by a bearer credential that only the remote gate accepts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g, request

from ipfeed.errors import AuthError, InvalidInput, IpfeedError
from ipfeed.inboxdb import NOTIFICATIONS, REQUESTS

from .devices import client, status_of
from .views import svc, worker

bp = Blueprint("api", __name__, url_prefix="/api")
MAX_TIMELINE = 100
MAX_NOTICES = 100
MAX_REQUEST_BYTES = 64 * 1024  # a JSON request; attachments come apart (PUT /api/upload/SHA256)
FEED_ACTION_TIMEOUT = 120  # a follow checks the feed with the node, then publishes

Answer = tuple[dict[str, Any], int]


@bp.errorhandler(IpfeedError)
def refused(e: IpfeedError) -> Answer:
    """Every refusal of the API as {"error": one plain line}."""
    code = status_of(e) if isinstance(e, AuthError) else 400 if isinstance(e, InvalidInput) else 502
    return {"error": str(e)}, code


def _body() -> Any:
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        raise InvalidInput(f"a request to the API is at most {MAX_REQUEST_BYTES} bytes")
    body = request.get_json(silent=True)
    if body is None:
        raise InvalidInput("the API takes a JSON body (Content-Type: application/json)")
    return body


@bp.post("/pair")
def pair() -> Answer:
    """Trade a pairing code for this device's credential."""
    body = _body()
    code, label = body.get("code"), body.get("label", "")
    if not isinstance(code, str) or not isinstance(label, str):
        raise InvalidInput("pairing takes {\"code\": string, \"label\": string}")
    device, token = svc().redeem_pairing(code, label, client())
    return {"device": device.id, "label": device.label, "token": token,
            "name": svc().identity().name}, 200


@bp.post("/handover")
def take_handover() -> Answer:
    """Drafts from a paired device, in order: each saved once, signed in the chain, published soon."""
    body = _body()
    if not isinstance(body, dict) or set(body) != {"handovers"}:
        raise InvalidInput('a handover request is {"handovers": [draft, …]}')
    results = svc().handover(g.device.id, body["handovers"],
                             lambda coro: worker().call(coro, FEED_ACTION_TIMEOUT))
    if any(not r.get("already") or r.get("cid") is None for r in results if "error" not in r):
        worker().publish_soon()
    return {"results": results}, 200


@bp.put("/upload/<digest>")
def upload(digest: str) -> Answer:
    """An attachment's bytes, sent ahead of the post that names it by its SHA-256."""
    length = request.content_length
    if length is None:
        raise InvalidInput("an upload needs a Content-Length")
    size = svc().store_upload(g.device.id, digest, request.stream.read, length)
    return {"sha256": digest, "size": size}, 200


@bp.get("/timeline")
def timeline() -> Answer:
    """The home server's timeline, newest first (`ipfeed timeline --json`'s shape); with
    `tag`, only posts with that #tag."""
    try:
        limit = min(MAX_TIMELINE, max(1, int(request.args.get("limit", "20"))))
    except ValueError as e:
        raise InvalidInput("limit is a number") from e
    posts = svc().timeline(limit, request.args.get("before") or None, request.args.get("tag") or None)
    more = posts[-1].cursor if len(posts) == limit else None
    return {"name": svc().identity().name, "posts": [p.to_json() for p in posts], "next": more}, 200


@bp.get("/lists")
def lists() -> Answer:
    """The home server's follow, mute and block lists (it is their one writer), with the names
    it shows for each feed, for a paired device to show and to filter by."""
    s = svc()
    with s.held():
        follows, lists = s.follows(), s.moderation()
        states = s.feed_states(sorted({f.name for f in follows} | lists.muted | lists.blocked))

    def shown(name: str) -> str:
        return str((st.profile.get("name") if (st := states.get(name)) else "") or "")
    return {"following": [{"name": f.name, "alias": f.alias, "display_name": shown(f.name)}
                          for f in follows],
            **{key: [{"name": n, "display_name": shown(n)} for n in sorted(names)]
               for key, names in (("muted", lists.muted), ("blocked", lists.blocked))}}, 200


def _box(value: object) -> str:
    if value not in (NOTIFICATIONS, REQUESTS):
        raise InvalidInput(f'box is "{NOTIFICATIONS}" or "{REQUESTS}"')
    return str(value)


@bp.get("/notifications")
def notifications() -> Answer:
    """The home server's inbox, one box, newest first; `before` is the id of the last one seen."""
    try:
        limit = min(MAX_NOTICES, max(1, int(request.args.get("limit", "20"))))
        before = max(0, int(request.args.get("before", "0")))
    except ValueError as e:
        raise InvalidInput("limit and before are numbers") from e
    s, box = svc(), _box(request.args.get("box", NOTIFICATIONS))
    with s.held():
        shown = s.notifications(box, unread_only=request.args.get("all") != "1", limit=limit,
                                before=before)
        states = s.feed_states(sorted({n.sender for n in shown}))
        unread = s.unread()
    named = [{**n.to_json(), "sender_name": str((st.profile.get("name") if (st := states.get(n.sender))
                                                   else "") or "")} for n in shown]
    more = shown[-1].id if len(shown) == limit else None
    return {"box": box, "unread": unread, "notices": named, "next": more}, 200


@bp.post("/notifications/read")
def notifications_read() -> Answer:
    """Mark a box's unread notices read (up to the newest the device saw, `upto`)."""
    body = _body()
    if not isinstance(body, dict) or set(body) != {"box", "upto"} or type(body["upto"]) is not int:
        raise InvalidInput('marking read is {"box": "notifications"|"requests", "upto": id}')
    return {"marked": svc().mark_read(_box(body["box"]), upto=body["upto"])}, 200
