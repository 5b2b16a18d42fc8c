"""The home server's side of a paired device posting through it (FORMAT.md section 17): a
handed-over draft is checked, saved once by its draft id into the one outbox, and signed in
the one chain, so devices never fork the feed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from . import drafts, post
from .errors import InvalidInput
from .homedir import Home, now_ms

DRAFT_ID = re.compile(r"\A[A-Za-z0-9_-]{16,64}\Z")
FUTURE_SLACK_MS = 5 * 60 * 1000  # a device's clock may run a little ahead, not more
FIELDS = {"id", "created", "text", "reply_to", "cw", "sensitive", "card"}


@dataclass(frozen=True)
class Handover:
    """A draft a paired device hands over: what the user wrote there, and when."""

    id: str  # the device's own draft id: the same id is posted once, whatever the retries
    created: int
    text: str
    reply_to: str | None = None
    cw: str = ""
    sensitive: bool = False
    card: bool = True

    def to_json(self) -> dict[str, Any]:
        """The request body a device sends."""
        return {"id": self.id, "created": self.created, "text": self.text, "reply_to": self.reply_to,
                "cw": self.cw, "sensitive": self.sensitive, "card": self.card}


@dataclass(frozen=True)
class Accepted:
    """What the home server did with a handover."""

    id: str
    draft_id: int
    seq: int | None
    cid: str | None
    already: bool  # this draft id was handed over before: nothing new was saved

    def to_json(self) -> dict[str, Any]:
        """The response body."""
        return {"id": self.id, "draft": self.draft_id, "seq": self.seq, "cid": self.cid,
                "already": self.already}


def parse(body: Any, now: int | None = None) -> Handover:
    """A handover from a device's request body, every field checked (untrusted input)."""
    if not isinstance(body, dict):
        raise InvalidInput("a handover is a JSON object")
    unknown = set(body) - FIELDS
    if unknown:
        raise InvalidInput(f"unknown handover fields: {', '.join(sorted(map(str, unknown)))}")
    draft_id, created, text = body.get("id"), body.get("created"), body.get("text")
    if not isinstance(draft_id, str) or not DRAFT_ID.match(draft_id):
        raise InvalidInput("a handover's id is 16 to 64 letters, digits, - or _")
    limit = (now or now_ms()) + FUTURE_SLACK_MS
    if isinstance(created, bool) or not isinstance(created, int) or not 0 < created <= limit:
        raise InvalidInput("a handover's created is a time in ms, not in the future")
    if not isinstance(text, str):
        raise InvalidInput("a handover's text is a string")
    reply_to, cw = body.get("reply_to"), body.get("cw", "")
    if reply_to is not None and not isinstance(reply_to, str):
        raise InvalidInput("a handover's reply_to is a CID or null")
    if not isinstance(cw, str):
        raise InvalidInput("a handover's cw is a string")
    sensitive, card = body.get("sensitive", False), body.get("card", True)
    if not isinstance(sensitive, bool) or not isinstance(card, bool):
        raise InvalidInput("a handover's sensitive and card are true or false")
    post.check_text(text, 0)
    return Handover(draft_id, created, text, reply_to, cw, sensitive, card)


def mark(device_id: str, draft_id: str) -> str:
    """The outbox state key that records one device's draft as handed over."""
    return f"handover:{device_id}:{draft_id}"


MAX_AT_ONCE = 100  # handovers in one request


def accept(home: Home, device_id: str, bodies: Any) -> list[dict[str, Any]]:
    """Save the handed-over drafts of one request in order, each once by its draft id, then sign
    them together (one new root, if no node is needed); one result per draft, in order: what it
    became, or why it was refused (`{"id", "error"}`; the others go on)."""
    if not isinstance(bodies, list) or not 1 <= len(bodies) <= MAX_AT_ONCE:
        raise InvalidInput(f"a handover request carries a list of 1 to {MAX_AT_ONCE} drafts")
    saved: list[tuple[str, int, bool] | dict[str, Any]] = []
    for body in bodies:
        try:
            h = parse(body)
        except InvalidInput as e:
            draft = body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else None
            saved.append({"id": draft, "error": str(e)})
            continue
        key = mark(device_id, h.id)
        with home.outbox() as box:
            seen = box.get(key)
        if seen is not None:
            saved.append((h.id, int(seen), True))
            continue
        try:
            result = drafts.save(home, h.text, h.reply_to, cw=h.cw, sensitive=h.sensitive, card=h.card,
                                 created=h.created, mark=key, seal=False)
        except InvalidInput as e:
            saved.append({"id": h.id, "error": str(e)})
            continue
        saved.append((h.id, result.draft_id, False))
    drafts.seal_now(home)
    with home.outbox() as box:
        return [s if isinstance(s, dict) else
                Accepted(s[0], s[1], *_sealed(box.post_of_draft(s[1])), already=s[2]).to_json()
                for s in saved]


def _sealed(found: tuple[int, str] | None) -> tuple[int | None, str | None]:
    return found if found else (None, None)
