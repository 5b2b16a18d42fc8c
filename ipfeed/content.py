"""What a post carries, in the clear or inside a private box: the text limit and the rules for
attachments (docs/FORMAT.md, section 3). Pure; `post` and `private` both apply them."""

from __future__ import annotations

import re

from .schema import Fields

MAX_TEXT_BYTES = 8000
MAX_ATTACHMENTS = 8
MAX_ATTACHMENT_SIZE = 64 * 1024 * 1024
MAX_NAME_BYTES = 255
MAX_MEDIA_TYPE_BYTES = 127
MEDIA_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*\Z")


def file_meta(a: Fields) -> tuple[str, int, str]:
    """(media type, size, name) of an attachment, by the rules of docs/FORMAT.md."""
    media = a.text("type", MAX_MEDIA_TYPE_BYTES, 3)
    if not MEDIA_TYPE.match(media):
        raise a.fail(f"type {media!r} is not a lower-case media type")
    size = a.integer("size", 0, MAX_ATTACHMENT_SIZE)
    name = a.text("name", MAX_NAME_BYTES, 1)
    if problem := file_name_problem(name):
        raise a.fail(problem)
    return media, size, name


# Unicode general category Cc, and the bidi controls that would reorder how a name reads.
CONTROLS = "\x00-\x1f\x7f-\x9f"
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_NAME_BAD = re.compile(f"[{CONTROLS}{BIDI_CONTROLS}\ud800-\udfff/\\\\]")


def file_name_problem(name: str) -> str | None:
    """What makes `name` unusable as an attachment's file name (FORMAT.md section 3), or None:
    the one rule for names read from posts, from private content and from the local disk."""
    if m := _NAME_BAD.search(name):
        c = m.group()
        if "\ud800" <= c <= "\udfff":
            return "name must be a plain file name: it is not valid UTF-8"
        if c in "/\\":
            return f"name must be a plain file name: no {c}"
        kind = "bidi control" if re.match(f"[{BIDI_CONTROLS}]", c) else "control character"
        return f"name must be a plain file name: no {kind} (U+{ord(c):04X})"
    n = len(name.encode("utf-8"))
    if not 1 <= n <= MAX_NAME_BYTES:
        return f"name must be a plain file name of 1 … {MAX_NAME_BYTES} bytes, not {n}"
    if name in (".", ".."):
        return f"name must be a plain file name, not {name}"
    return None
