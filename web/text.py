"""Turning remote text into safe HTML: escape everything, make http(s) links clickable."""

from __future__ import annotations

import re
import time
import unicodedata

from markupsafe import Markup, escape

from ipfeed.timefmt import age, format_ms, iso_ms

_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}"
MAX_MARKS = 3  # combining marks kept on one character of a remote name


def linkify(text: str) -> Markup:
    """Escaped text whose http(s) URLs become links (no other scheme ever does)."""
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        url = m.group(0)
        stripped = url.rstrip(_TRAILING)
        end = m.start() + len(stripped)
        out.append(str(escape(text[pos:m.start()])))
        href = escape(stripped)
        out.append(f'<a href="{href}" rel="nofollow noopener noreferrer" target="_blank">{href}</a>')
        pos = end
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))


def when(ms: int | None) -> str:
    """A time in ms since the epoch, as UTC text."""
    if ms is None:
        return "never"
    return format_ms(ms)


def ago(ms: int | None) -> str:
    """How long ago a time was ("5 min ago"), or "never"."""
    if ms is None:
        return "never"
    return f"{age(ms, time.time_ns() // 1_000_000)} ago"


def short(name: str) -> str:
    """A short form of a long name or CID for display (the full one goes in a title)."""
    return name if len(name) <= 16 else f"{name[:6]}…{name[-6:]}"


def handle(name: str) -> str:
    """An IPNS name as a handle: `k51qzi5u…` and the last 10 characters (~50 bits), so a name
    with one character changed does not look the same."""
    return name if len(name) <= 20 else f"{name[:8]}…{name[-10:]}"


def display_name(name: object) -> str:
    """A remote display name made drawable: runs of combining marks capped at MAX_MARKS
    (a long run would paint up through the lines above)."""
    out: list[str] = []
    run = 0
    for c in str(name or ""):
        if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me"):
            run += 1
            if run > MAX_MARKS:
                continue
        else:
            run = 0
        out.append(c)
    return "".join(out)


def iso(ms: int | None) -> str:
    """A time in ms since the epoch for a `<time datetime>` attribute."""
    return iso_ms(ms or 0)


def highlight(text: str, terms: list[str]) -> Markup:
    """Escaped text with the words that start with a search term in <mark> (matched on the
    raw text, each piece escaped on its own: no markup of the text ever survives)."""
    words = sorted({t for t in terms if t}, key=len, reverse=True)
    if not words:
        return Markup(escape(text))
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in words) + r")\w*", re.IGNORECASE)
    out: list[str] = []
    pos = 0
    for m in pattern.finditer(text):
        out.append(str(escape(text[pos:m.start()])))
        out.append(f"<mark>{escape(m.group(0))}</mark>")
        pos = m.end()
    out.append(str(escape(text[pos:])))
    return Markup("".join(out))
