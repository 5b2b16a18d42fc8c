"""What a post carries, in the clear or inside a private box: the text limit and the rules for
attachments (docs/FORMAT.md, section 3), and format v2's refs, mentions, tags and content
warnings (section 9). Pure; `post`, `private` and `contentblock` all apply them."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from . import codec
from .errors import InvalidInput
from .identity import normalize_name
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


# -- format v2: what a v2 post carries besides text and files (FORMAT.md section 9) ------------
MAX_MENTIONS = 50
MAX_TAGS = 20
MAX_TAG_BYTES = 64
MAX_CW_BYTES = 200
_TAG_CATEGORIES = ("L", "M", "Nd")  # letters (with their combining marks) and decimal digits


@dataclass(frozen=True)
class Ref:
    """A reference to an entry or v1 post of any feed: its binary CID and its author's key."""

    cid: str  # canonical text of a dag-cbor sha2-256 CID
    author: bytes  # 32-byte ed25519 public key

    def to_obj(self) -> dict[str, Any]:
        """The ref as encoded: the CID as bytes, not a link, so that nothing pins through it."""
        return {"cid": codec.cid_to_bytes(self.cid), "author": self.author}

    def to_json(self) -> dict[str, Any]:
        """The ref for JSON output."""
        return {"cid": self.cid, "author": self.author.hex()}


@dataclass(frozen=True)
class Mention:
    """A feed named in the text: its canonical k51 name and the UTF-8 byte span it covers."""

    name: str
    start: int
    end: int

    def to_obj(self) -> dict[str, Any]:
        """The mention as encoded."""
        return {"name": self.name, "start": self.start, "end": self.end}


@dataclass(frozen=True)
class Extras:
    """The v2 fields a content block shares with v2 private content: quote, mentions, tags,
    content warning and the sensitive-media flag."""

    quote: Ref | None = None
    mentions: tuple[Mention, ...] = ()
    tags: tuple[str, ...] = ()
    cw: str | None = None
    sensitive: bool = False

    def to_obj(self) -> dict[str, Any]:
        """The fields as encoded (absent when empty or false)."""
        obj: dict[str, Any] = {}
        if self.quote is not None:
            obj["quote"] = self.quote.to_obj()
        if self.mentions:
            obj["mentions"] = [m.to_obj() for m in self.mentions]
        if self.tags:
            obj["tags"] = list(self.tags)
        if self.cw is not None:
            obj["cw"] = self.cw
        if self.sensitive:
            obj["sensitive"] = True
        return obj


EXTRA_FIELDS = frozenset({"quote", "mentions", "tags", "cw", "sensitive"})


def parse_ref(value: object, what: str, error: type[Exception]) -> Ref:
    """A ref map {cid: bytes(36) dag-cbor sha2-256, author: bytes(32)}; unknown fields ignored."""
    r = Fields(value, what, error, frozenset({"cid", "author"}), ignore_unknown=True)
    return Ref(r.cid("cid"), r.blob("author", 32))


def normalize_tag(tag: str) -> str:
    """A tag in the form content blocks carry: NFKC, case-folded, NFKC again (NFKC_Casefold)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", tag).casefold())


def tag_problem(tag: str) -> str | None:
    """What keeps `tag` from being a valid tag of a content block, or None (the one rule for
    tags read and tags written)."""
    n = len(tag.encode("utf-8", "surrogatepass"))
    if not 1 <= n <= MAX_TAG_BYTES:
        return f"tag {tag!r} is {n} bytes, allowed 1..{MAX_TAG_BYTES}"
    if normalize_tag(tag) != tag:
        return f"tag {tag!r} is not NFKC-casefolded (it would be {normalize_tag(tag)!r})"
    for c in tag:
        if not is_tag_char(c):
            return f"tag {tag!r} has {c!r} (U+{ord(c):04X}): only letters, digits and _"
    return None


def is_tag_char(c: str) -> bool:
    """Whether a tag may hold this character: letters, their combining marks, decimal digits, `_`."""
    return c == "_" or unicodedata.category(c).startswith(_TAG_CATEGORIES)


def parse_extras(f: Fields, text: str, error: type[Exception]) -> Extras:
    """The v2 fields quote, mentions, tags, cw and sensitive of a content map, strictly."""
    quote = parse_ref(f.obj["quote"], f"{f.what}: quote", error) if f.has("quote") else None
    mentions = _mentions(f, text, error) if f.has("mentions") else ()
    tags: tuple[str, ...] = ()
    if f.has("tags"):
        items = f.items("tags", MAX_TAGS)
        for t in items:
            if not isinstance(t, str):
                raise f.fail("tags must be strings")
            if problem := tag_problem(t):
                raise f.fail(problem)
        if items != sorted(set(items)):
            raise f.fail("tags must be sorted (by code point) with no duplicates")
        tags = tuple(items)
    cw = f.text("cw", MAX_CW_BYTES, 1) if f.has("cw") else None
    sensitive = f.boolean("sensitive") if f.has("sensitive") else False
    return Extras(quote, mentions, tags, cw, sensitive)


def _mentions(f: Fields, text: str, error: type[Exception]) -> tuple[Mention, ...]:
    """Mentions: canonical names over sorted, non-overlapping byte spans of the text that start
    and end on character boundaries."""
    raw = text.encode("utf-8", "surrogatepass")
    out: list[Mention] = []
    for i, item in enumerate(f.items("mentions", MAX_MENTIONS)):
        m = Fields(item, f"{f.what}: mention {i}", error, frozenset({"name", "start", "end"}),
                   ignore_unknown=True)
        name = m.text("name", 100, 1)
        try:
            if normalize_name(name) != name:
                raise InvalidInput("not canonical")
        except InvalidInput as e:
            raise m.fail(f"name {name!r} is not an IPNS name in canonical k51 form") from e
        start = m.integer("start", 0, len(raw))
        end = m.integer("end", 0, len(raw))
        if not start < end:
            raise m.fail(f"start {start} must be before end {end}")
        if any(0 < k < len(raw) and raw[k] & 0xC0 == 0x80 for k in (start, end)):
            raise m.fail("start and end must fall on character boundaries of the text")
        if out and start < out[-1].end:
            raise m.fail("mentions must be sorted by start and must not overlap")
        out.append(Mention(name, start, end))
    return tuple(out)
