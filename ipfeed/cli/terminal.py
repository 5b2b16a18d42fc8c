"""Remote text (names, aliases, posts, file names) made safe to print on a terminal."""

from __future__ import annotations

import re
import unicodedata

from ..post import BIDI_CONTROLS

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")  # the set FORMAT.md 3 defines
MAX_MARKS = 3  # combining marks kept in a row: enough for any script, too few to smear lines


def safe_for_terminal(text: object) -> str:
    """Remote text (names, aliases, posts, file names) for a terminal: control characters
    (escape sequences) and bidi controls (which reorder what follows) shown as \\x85, \\u202e;
    runs of more than MAX_MARKS combining marks (Unicode Mn, Me) cut to MAX_MARKS."""
    text = str(text)
    if text.isascii():
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    out, marks = [], 0
    for c in text:
        if c in "\t\n":
            out.append(c)
            marks = 0
            continue
        category = unicodedata.category(c)
        if category in ("Mn", "Me"):
            marks += 1
            if marks <= MAX_MARKS:
                out.append(c)
            continue
        marks = 0
        if category == "Cc":
            out.append(f"\\x{ord(c):02x}")
        elif _BIDI.match(c):
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)
