"""Showing times that come from elsewhere: any integer a feed claims must print, never crash."""

from __future__ import annotations

from datetime import UTC, datetime


def format_ms(ms: int, fmt: str = "%Y-%m-%d %H:%M UTC") -> str:
    """A time in ms since the epoch as UTC text; beyond what a calendar can show, the raw ms."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime(fmt)
    except (ValueError, OverflowError, OSError):
        return f"{ms} ms since 1970"


def iso_ms(ms: int) -> str:
    """RFC 3339 UTC for feeds (Atom, JSON Feed), clamped to what the format can hold."""
    try:
        return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError):
        return "9999-12-31T23:59:59Z"


def age(ms: int, now: int) -> str:
    """How long ago a time was, in the largest whole unit ("5 min", "3 h", "2 days")."""
    seconds = max(now - ms, 0) // 1000
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {'day' if unit == 'days' and n == 1 else unit}"
    return f"{seconds} s"
