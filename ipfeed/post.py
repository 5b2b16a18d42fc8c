"""Posts: signed DAG-CBOR objects chained by `prev`; build one, or verify one from anywhere."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from . import codec, content
from .errors import InvalidBlock, InvalidInput, InvalidPost
from .identity import Identity, Signatures, verify
from .private import check_box
from .schema import MAX_SAFE_INT, Fields

TYPE = "ipfeed.post"
VERSION = 1
MAX_POST_BYTES = 16 * 1024
# The rules a private post's content shares live in ipfeed.content; post.X names them too.
MAX_TEXT_BYTES = content.MAX_TEXT_BYTES
MAX_ATTACHMENTS = content.MAX_ATTACHMENTS
MAX_ATTACHMENT_SIZE = content.MAX_ATTACHMENT_SIZE
MAX_NAME_BYTES = content.MAX_NAME_BYTES
MAX_MEDIA_TYPE_BYTES = content.MAX_MEDIA_TYPE_BYTES
MEDIA_TYPE = content.MEDIA_TYPE
CONTROLS = content.CONTROLS
BIDI_CONTROLS = content.BIDI_CONTROLS
file_meta = content.file_meta
file_name_problem = content.file_name_problem

_REQUIRED = frozenset({"type", "v", "author", "seq", "created", "text", "sig"})
_OPTIONAL = frozenset({"prev", "skip", "reply_to", "attachments", "box", "files"})
_ATTACHMENT = frozenset({"cid", "type", "size", "name"})
_INVISIBLE = frozenset("\u115f\u1160\u2800\u3164\uffa0")  # fillers that draw nothing


@dataclass(frozen=True)
class Attachment:
    """A file attached to a post: a UnixFS file CID and what the author said it is."""

    cid: str
    type: str
    size: int
    name: str

    def to_obj(self) -> dict[str, Any]:
        """The attachment as it is encoded in a post."""
        return {"cid": codec.link(self.cid), "type": self.type, "size": self.size, "name": self.name}

    def to_json(self) -> dict[str, Any]:
        """The attachment for JSON output."""
        return {"cid": self.cid, "type": self.type, "size": self.size, "name": self.name}


@dataclass(frozen=True)
class Post:
    """A verified post and the exact block it came from."""

    cid: str
    block: bytes
    author: bytes
    seq: int
    prev: str | None
    created: int  # milliseconds since the Unix epoch, UTC
    text: str
    reply_to: str | None
    attachments: tuple[Attachment, ...]
    box: dict[str, Any] | None = None  # a private post's encrypted content (ipfeed.private)
    files: tuple[str, ...] = ()  # a private post's encrypted attachment blobs
    skip: str | None = None  # the post at skip_target(seq): history in O(log n) hops

    @property
    def private(self) -> bool:
        """Whether this is an end-to-end encrypted post."""
        return self.box is not None

    def to_json(self) -> dict[str, Any]:
        """The post for JSON output (`ipfeed show --json`)."""
        return {
            "cid": self.cid,
            "seq": self.seq,
            "prev": self.prev,
            "created": self.created,
            "text": self.text,
            "reply_to": self.reply_to,
            "attachments": [a.to_json() for a in self.attachments],
            "private": self.private,
        }


def blank(text: str) -> bool:
    """Whether a text shows nothing: only white space and invisible format characters."""
    return all(c.isspace() or c in _INVISIBLE or unicodedata.category(c) == "Cf" for c in text)


def check_text(text: str, attachments: int = 0) -> None:
    """The text rules of a post, for checking input before anything is signed: at most
    MAX_TEXT_BYTES of UTF-8, and not blank unless something is attached."""
    if not isinstance(text, str):
        raise InvalidInput("the text must be a string")
    n = len(text.encode("utf-8", "surrogatepass"))
    if n > MAX_TEXT_BYTES:
        raise InvalidInput(f"cannot post: your text is {len(text)} characters ({n} bytes); "
                           f"the limit is {MAX_TEXT_BYTES} bytes")
    if blank(text) and not attachments:
        what = "empty" if not text else "only white space"
        raise InvalidInput(f"cannot post: the text is {what} and there are no attachments")


def build(identity: Identity, *, seq: int, prev: str | None, created: int, text: str,
          reply_to: str | None = None, attachments: tuple[Attachment, ...] = (),
          box: dict[str, Any] | None = None, files: tuple[str, ...] = (),
          skip: str | None = None) -> Post:
    """Sign a new post; the same rules as for reading apply, so nothing invalid is written."""
    obj: dict[str, Any] = {
        "type": TYPE, "v": VERSION, "author": identity.public,
        "seq": seq, "created": created, "text": text,
    }
    if prev is not None:
        obj["prev"] = codec.link(prev)
    if skip is not None:
        obj["skip"] = codec.link(skip)
    if reply_to is not None:
        obj["reply_to"] = codec.cid_to_bytes(reply_to)
    if attachments:
        obj["attachments"] = [a.to_obj() for a in attachments]
    if box is not None:
        obj["box"] = box
    if files:
        obj["files"] = [codec.link(c) for c in files]
    try:
        obj["sig"] = identity.sign(codec.encode(obj))
        block = codec.encode(obj)
        # The one validator, minus re-verifying the signature libsodium just made.
        return parse(block, signed_here=True)
    except (InvalidPost, InvalidBlock) as e:
        raise InvalidInput(str(e).replace("post: ", "cannot post: ", 1)) from e


def parse(block: bytes, cid: str | None = None, *, signed_here: bool = False,
          decoded: codec.Decoded | None = None, signatures: Signatures | None = None) -> Post:
    """Decode and fully verify one post block (format, limits, signature, CID if given);
    `signed_here` skips the signature check, for blocks this process signed or read back from
    the user's own outbox (never for a block from elsewhere); `decoded` is the block already
    decoded (entry.parse_chained); `signatures` takes the signature check instead, to run on
    another core: the post is then verified only once its `check` returns."""
    computed, what, obj = codec.open_block(block, cid, "post", MAX_POST_BYTES, decoded=decoded)
    f = Fields(obj, what, InvalidPost, _REQUIRED, _OPTIONAL)
    f.const("type", TYPE)
    f.const("v", VERSION)
    author = f.blob("author", 32)
    seq = f.integer("seq", 1)
    created = f.integer("created", 0, MAX_SAFE_INT)
    text = f.text("text", MAX_TEXT_BYTES)
    sig = f.blob("sig", 64)
    prev = _prev(f, seq)
    skip = _skip(f, seq)
    reply_to = None
    if f.has("reply_to"):
        try:
            reply_to = codec.check_cid_bytes(obj["reply_to"], (codec.PREFIX_DAG_CBOR,), "reply_to")
        except InvalidBlock as e:
            raise f.fail(str(e)) from e
    attachments = _attachments(f) if f.has("attachments") else ()
    box, files = _private(f, text, reply_to, attachments)
    if not text and not attachments and box is None:
        raise f.fail("text is empty and there are no attachments")
    if not signed_here:
        check_signature(f, obj, author, sig, signatures)
    return Post(computed, block, author, seq, prev, created, text, reply_to, attachments, box, files,
                skip)


def check_signature(f: Fields, obj: dict[str, Any], author: bytes, sig: bytes,
                     signatures: Signatures | None) -> None:
    """Check the signature over the block without its `sig` now, or hand it to `signatures`."""
    message = codec.encode({k: v for k, v in obj.items() if k != "sig"})
    if signatures is not None:
        signatures.add(author, message, sig, lambda: f.fail(BAD_SIGNATURE))
    elif not verify(author, message, sig):
        raise f.fail(BAD_SIGNATURE)


BAD_SIGNATURE = "signature does not verify with the author's key"


def skip_target(seq: int) -> int | None:
    """The sequence number a post's `skip` link points at, if it has one: with i = seq - 1,
    even i >= 2 link to i - lowbit(i) (so any earlier post is O(log n) hops away)."""
    i = seq - 1
    if i < 2 or i % 2:
        return None
    return i - (i & -i) + 1


def _skip(f: Fields, seq: int) -> str | None:
    """`skip` is present exactly when skip_target(seq) says so."""
    if skip_target(seq) is None:
        if f.has("skip"):
            raise f.fail(f"seq {seq} must not have skip")
        return None
    if not f.has("skip"):
        raise f.fail(f"seq {seq} needs skip (to seq {skip_target(seq)})")
    try:
        return codec.check_link(f.obj["skip"], (codec.PREFIX_DAG_CBOR,), "skip")
    except InvalidBlock as e:
        raise f.fail(str(e)) from e


def _private(f: Fields, text: str, reply_to: str | None,
             attachments: tuple[Attachment, ...]) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """A private post keeps everything inside its box: no text, reply or attachments outside."""
    if not f.has("box"):
        if f.has("files"):
            raise f.fail("files are only for private posts (with a box)")
        return None, ()
    if text or reply_to or attachments:
        raise f.fail("a private post has no text, reply_to or attachments outside its box")
    box = check_box(f.obj["box"], f.what)
    files: tuple[str, ...] = ()
    if f.has("files"):
        try:
            files = tuple(codec.check_link(v, codec.FILE_PREFIXES, "files")
                          for v in f.items("files", MAX_ATTACHMENTS))
        except InvalidBlock as e:
            raise f.fail(str(e)) from e
    return box, files


def _prev(f: Fields, seq: int) -> str | None:
    """`prev` is absent exactly on the first post, a dag-cbor link otherwise."""
    if seq == 1:
        if f.has("prev"):
            raise f.fail("the first post (seq 1) must not have prev")
        return None
    if not f.has("prev"):
        raise f.fail(f"seq {seq} needs prev")
    try:
        return codec.check_link(f.obj["prev"], (codec.PREFIX_DAG_CBOR,), "prev")
    except InvalidBlock as e:
        raise f.fail(str(e)) from e


def _attachments(f: Fields) -> tuple[Attachment, ...]:
    """Validate the attachment list."""
    out = []
    for i, item in enumerate(f.items("attachments", MAX_ATTACHMENTS)):
        a = Fields(item, f"{f.what}: attachment {i}", InvalidPost, _ATTACHMENT)
        try:
            cid = codec.check_link(item["cid"], codec.FILE_PREFIXES, "cid")
        except InvalidBlock as e:
            raise a.fail(str(e)) from e
        out.append(Attachment(cid, *file_meta(a)))
    return tuple(out)
