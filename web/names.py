"""Names as people paste them, and what went wrong with one, in plain words: a feed URL
(`http://127.0.0.1:8787/feed/k51…`, `ipns://k51…`, `/ipns/k51…`) is accepted where a name
is, and a failed fetch says whether the name is mistyped, never published, or unreachable."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from ipfeed import identity
from ipfeed.errors import InvalidInput
from ipfeed.index import FeedState

from . import text

# What may come before a name: a scheme and host, then a path ending in /feed/ or /ipns/.
_URL = re.compile(r"\A(?:[a-z][a-z0-9+.-]*://)?(?:[^/\s]*/)*?(?:feed|ipns)/", re.IGNORECASE)
_SCHEME = re.compile(r"\Aipns://", re.IGNORECASE)
LOOKS_LIKE = "k51qzi5uqu5…, 62 letters and digits"


def parse(typed: str) -> str:
    """The canonical name in what was typed or pasted (a name, a feed URL, ipns://, /ipns/);
    InvalidInput with a message for a person otherwise."""
    raw = unquote(typed.strip())
    if not raw:
        raise InvalidInput(f"type or paste a name first (a name looks like {LOOKS_LIKE})")
    candidate = _SCHEME.sub("", raw)
    candidate = _URL.sub("", candidate).split("?")[0].split("#")[0].strip("/")
    candidate = re.sub(r"\.(atom|json)\Z", "", candidate.split("/")[0])
    try:
        return identity.normalize_name(candidate)
    except InvalidInput:
        raise InvalidInput(f"“{text.short(raw)}” is not a valid name: a name looks like {LOOKS_LIKE}. "
                           "Check that it was copied whole, with no character changed or missing."
                           ) from None


@dataclass(frozen=True)
class Problem:
    """Why a feed could not be shown, for a person: a title, what it means, what to do."""

    kind: str  # invalid | node-down | offline | not-found | unreachable | unverified | publish
    title: str
    message: str
    hint: str
    detail: str = ""  # the technical text, shown folded away
    status: int = 404


NODE_DOWN = ("is not running", "no kubo api", "cannot reach", "connection refused", "cannot connect")
MISSING = ("not found", "cannot resolve", "no record", "could not be found", "no verified feed")
SLOW = ("did not answer", "did not finish", "timed out", "timeout", "no peers")


def explain(name: str, error: str, known: FeedState | None) -> Problem:
    """A failed fetch of `name` (the error text of a sync or check) in plain words; `known` is
    what the index held before (a feed verified once that cannot be reached now is a friend
    offline, not a typo)."""
    low = error.lower()
    seen = known is not None and (known.root_cid is not None or known.last_ok is not None)
    if any(s in low for s in NODE_DOWN):
        return Problem("node-down", "Your node is not running",
                       "ipfeed looks names up through your own IPFS node, and it is stopped.",
                       "Start it with the button at the top of the page (or `ipfeed node start`), "
                       "then try again.", error, 503)
    if "no peers" in low:
        return Problem("offline", "Your node is not connected to any other node",
                       "Your node runs but has no peers yet, so it could not ask the network for "
                       "this name: nothing is known about it either way.",
                       "This happens right after the node starts, or without internet: wait a "
                       "minute and try again, or connect to a friend's node by its address.", error, 503)
    if seen:
        return Problem("unreachable", "This feed cannot be reached right now",
                       "ipfeed verified this feed before, but neither its owner's node nor any node "
                       "that keeps it answered now: they are probably offline.",
                       "Try again later; what was verified before stays readable.", error, 504)
    if any(s in low for s in SLOW) and not any(s in low for s in MISSING):
        return Problem("unreachable", "Nobody answered for this name",
                       "The network was asked for this name, but no node answered in time: the "
                       "owner's node may be offline, or yours has few peers yet.",
                       "Try again in a minute; if you know their node's address, add it as a peer.",
                       error, 504)
    if any(s in low for s in MISSING + SLOW):
        return Problem("not-found", "No feed was found under this name",
                       "Either the name has a typo (one changed character still looks like a valid "
                       "name), or its owner has not published anything yet, or their node is "
                       "offline and no other node keeps their feed.",
                       "Check the name with whoever gave it to you, or try again later.", error, 404)
    return Problem("unverified", "This feed failed verification",
                   "Something answered for this name, but what it sent is not a feed its key signed "
                   "as ipfeed's format requires, so none of it is shown.",
                   "Try again later; if it keeps failing, tell the feed's owner.", error, 502)


def invalid(e: InvalidInput) -> Problem:
    """A name that is not a name at all: a typo or a partial copy."""
    return Problem("invalid", "This is not a valid name", str(e),
                   "Copy the name again from where you found it: ipfeed names start with k51.",
                   "", 404)
