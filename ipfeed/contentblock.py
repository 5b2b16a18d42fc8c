"""Format v2 content blocks (`ipfeed.content`, docs/FORMAT.md section 9): what a `post` or
`edit` entry says, in a block of its own so that deleting it can stop its being kept.

Pure. No signature: the signed entry commits to the block's CID. Unknown fields are ignored
(the growth rule); known ones are checked strictly, with the v1 rules of `content` and
`private` where they are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from . import codec
from .content import (
    BIDI_CONTROLS,
    CONTROLS,
    EXTRA_FIELDS,
    MAX_ATTACHMENTS,
    MAX_TEXT_BYTES,
    Extras,
    Ref,
    file_meta,
    parse_extras,
    parse_ref,
)
from .errors import InvalidBlock, InvalidContent, InvalidInput
from .post import Attachment as V1Attachment
from .private import check_box
from .schema import Fields, check_version

TYPE = "ipfeed.content"
VERSION = 2
MAX_CONTENT_BYTES = 16 * 1024
MAX_ALT_BYTES = 1000
MAX_URL_BYTES = 2000
MAX_TITLE_BYTES = 300
MAX_DESCRIPTION_BYTES = 1000
MAX_THUMB_SIZE = 1024 * 1024
THUMB_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
_PUBLIC = frozenset({"reply_to", "attachments", "card"}) | EXTRA_FIELDS  # never beside a box
_ATTACHMENT = frozenset({"cid", "type", "size", "name"})
_URL_BAD = re.compile(f"[ {CONTROLS}{BIDI_CONTROLS}]")


@dataclass(frozen=True)
class Attachment(V1Attachment):
    """A v2 attachment: v1's cid, type, size and name, and optional alt text."""

    alt: str = ""

    def to_obj(self) -> dict[str, Any]:
        """The attachment as encoded in a content block."""
        return {**super().to_obj(), **({"alt": self.alt} if self.alt else {})}

    def to_json(self) -> dict[str, Any]:
        """The attachment for JSON output."""
        return {**super().to_json(), "alt": self.alt}


@dataclass(frozen=True)
class Card:
    """A link card made once by the author's node: readers never fetch the link."""

    url: str
    title: str = ""
    description: str = ""
    thumb: Attachment | None = None  # an image stored with the post (pinned with it)

    def to_obj(self) -> dict[str, Any]:
        """The card as encoded."""
        obj: dict[str, Any] = {"url": self.url, "title": self.title, "description": self.description}
        if self.thumb is not None:
            obj["thumb"] = self.thumb.to_obj()
        return obj


@dataclass(frozen=True)
class Content:
    """A verified content block and the exact bytes it came from."""

    cid: str
    block: bytes
    text: str
    reply_to: Ref | None = None
    attachments: tuple[Attachment, ...] = ()
    card: Card | None = None
    extras: Extras = field(default_factory=Extras)  # quote, mentions, tags, cw, sensitive
    box: dict[str, Any] | None = None  # a private post's box (ipfeed.private, v1 section 3a)
    files: tuple[str, ...] = ()  # a private post's encrypted attachment blobs

    @property
    def private(self) -> bool:
        """Whether this is an end-to-end encrypted post's content (open it with private.open_box)."""
        return self.box is not None


def build_content(text: str = "", *, reply_to: Ref | None = None,
                  attachments: tuple[Attachment, ...] = (), card: Card | None = None,
                  extras: Extras = Extras(), box: dict[str, Any] | None = None,  # noqa: B008
                  files: tuple[str, ...] = ()) -> Content:
    """A new content block (its `block` and `cid` are what to store and name from the entry);
    the reader's rules apply, so nothing invalid is written."""
    obj: dict[str, Any] = {"type": TYPE, "v": VERSION, "text": text, **extras.to_obj()}
    if reply_to is not None:
        obj["reply_to"] = reply_to.to_obj()
    if attachments:
        obj["attachments"] = [a.to_obj() for a in attachments]
    if card is not None:
        obj["card"] = card.to_obj()
    if box is not None:
        obj["box"] = box
    if files:
        obj["files"] = [codec.link(c) for c in files]
    try:
        return parse_content(codec.encode(obj))
    except (InvalidContent, InvalidBlock) as e:
        raise InvalidInput(str(e).replace("content ", "cannot write content ", 1)) from e


def parse_content(block: bytes, cid: str | None = None) -> Content:
    """Decode and verify one content block (size, canonical DAG-CBOR, known fields, CID if
    given); a private content's box is checked for shape here and opened by private.open_box."""
    computed, what, obj = codec.open_block(block, cid, "content", MAX_CONTENT_BYTES)
    check_version(obj, TYPE, VERSION, what, InvalidContent)
    f = Fields(obj, what, InvalidContent, frozenset({"type", "v", "text"}), ignore_unknown=True)
    text = f.text("text", MAX_TEXT_BYTES)
    if f.has("box"):
        if text or any(f.has(k) for k in _PUBLIC):
            raise f.fail("a private post's content has text \"\" and nothing beside box and files")
        box = check_box(obj["box"], what)
        files: tuple[str, ...] = ()
        if f.has("files"):
            files = tuple(f.link("files", codec.FILE_PREFIXES, v) for v in f.items("files", MAX_ATTACHMENTS))
        return Content(computed, block, text, box=box, files=files)
    if f.has("files"):
        raise f.fail("files are only for private posts (with a box)")
    reply_to = parse_ref(obj["reply_to"], f"{what}: reply_to", InvalidContent) if f.has("reply_to") else None
    attachments = tuple(_attachment(item, f"{what}: attachment {i}")
                        for i, item in enumerate(f.items("attachments", MAX_ATTACHMENTS))
                        ) if f.has("attachments") else ()
    card = _card(obj["card"], f"{what}: card") if f.has("card") else None
    extras = parse_extras(f, text, InvalidContent)
    if not text and not attachments and extras.quote is None:
        raise f.fail("text is empty and there are no attachments and no quote")
    return Content(computed, block, text, reply_to, attachments, card, extras)


def _attachment(item: object, what: str) -> Attachment:
    """v1's attachment rules, plus optional alt text."""
    a = Fields(item, what, InvalidContent, _ATTACHMENT, ignore_unknown=True)
    cid = a.link("cid", codec.FILE_PREFIXES)
    media, size, name = file_meta(a)
    alt = a.text("alt", MAX_ALT_BYTES) if a.has("alt") else ""
    return Attachment(cid, media, size, name, alt)


def _card(value: object, what: str) -> Card:
    """A card: an http(s) URL, a title, a description and optionally an image thumbnail."""
    c = Fields(value, what, InvalidContent, frozenset({"url", "title", "description"}),
               ignore_unknown=True)
    url = c.text("url", MAX_URL_BYTES, 1)
    if problem := url_problem(url):
        raise c.fail(problem)
    title = c.text("title", MAX_TITLE_BYTES)
    description = c.text("description", MAX_DESCRIPTION_BYTES)
    thumb = None
    if c.has("thumb"):
        thumb = _attachment(c.obj["thumb"], f"{what}: thumb")
        if thumb.type not in THUMB_TYPES:
            raise c.fail(f"thumb type {thumb.type!r} is not one of {', '.join(sorted(THUMB_TYPES))}")
        if thumb.size > MAX_THUMB_SIZE:
            raise c.fail(f"thumb size {thumb.size} is over the limit of {MAX_THUMB_SIZE}")
    return Card(url, title, description, thumb)


def url_problem(url: str) -> str | None:
    """What keeps `url` from being a card's URL, or None: an absolute http or https URL (scheme
    in lower case) with a host, and no space, control character or bidi control."""
    if bad := _URL_BAD.search(url):
        return f"url must not hold a space, control character or bidi control (U+{ord(bad.group()):04X})"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "url is not a URL"
    if not url.startswith(("http://", "https://")) or not parts.netloc:
        return "url must be an absolute http:// or https:// URL with a host"
    return None
