"""End-to-end encrypted posts (pure code).

A private post carries, instead of text, a `box`: the content (text, reply, attachments'
metadata, the recipients' names) as DAG-CBOR padded to a size class and encrypted with a fresh
32-byte key (XSalsa20-Poly1305 secretbox), and that key sealed (crypto_box_seal, an anonymous
sender) to the X25519 key of each recipient and of the author, in slots padded with random
bytes to a power of two. Recipients find their slot by trial decryption, so nobody (not even
another recipient) can tell from the box who received it. X25519 keys are derived from the
ed25519 identities and used for nothing else.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from typing import Any

import nacl.encoding
import nacl.exceptions
import nacl.hash
import nacl.public
import nacl.secret
import nacl.signing

from . import codec
from .content import EXTRA_FIELDS, MAX_ATTACHMENTS, MAX_TEXT_BYTES, Extras, file_meta, parse_extras
from .errors import InvalidBlock, InvalidInput, InvalidObject, InvalidPost
from .identity import Identity, normalize_name, public_from_name
from .schema import Fields

MAX_RECIPIENTS = 15  # plus the author: at most 16 key slots
COMMIT_PERSON = b"ipfeed-key"  # BLAKE2b personalisation of the key commitment
MAC_BYTES = 16  # what crypto_secretbox adds to a file (Poly1305)
SLOT_BYTES = 80  # crypto_box_seal of a 32-byte key: 32 (ephemeral key) + 16 (MAC) + 32
NONCE_BYTES = nacl.secret.SecretBox.NONCE_SIZE
SIZE_CLASSES = (256, 1024, 4096, 12288)  # padded plaintext sizes the network can see


@dataclass(frozen=True)
class Opened:
    """The content of a private post, for someone who could open it."""

    text: str
    reply_to: str | None
    attachments: list[dict[str, Any]]  # {cid (encrypted file), type, size, name, nonce, key} (hex)
    to: list[str]  # the recipients' names (the author is not listed)
    extras: Extras = field(default_factory=Extras)  # format v2 content: quote, mentions, tags, cw, …


def x25519_public(public: bytes) -> bytes:
    """The X25519 encryption key of an ed25519 identity key."""
    try:
        return bytes(nacl.signing.VerifyKey(public).to_curve25519_public_key())
    except (nacl.exceptions.RuntimeError, ValueError) as e:
        raise InvalidInput("that key cannot receive private posts") from e


def _x25519_private(me: Identity) -> nacl.public.PrivateKey:
    return me.signing_key.to_curve25519_private_key()


def pad(content: dict[str, Any], classes: tuple[int, ...] = SIZE_CLASSES,
        what: str = "the private post") -> bytes:
    """DAG-CBOR of the content with a `pad` field that brings it to its size class: the
    smallest one the encoding can land on exactly. (A byte string's length prefix grows at 24,
    256 and 65536 bytes, so a gap of exactly 24, 257 or 65538 bytes cannot be filled: the next
    class then.)"""
    content = {**content, "pad": b""}
    base = len(codec.encode(content))
    for target in (c for c in classes if c >= base):
        for extra in range(target - base, max(target - base - 5, -1), -1):
            content["pad"] = bytes(extra)
            if len(data := codec.encode(content)) == target:
                return data
    raise InvalidInput(f"{what} is too long")


def seal(me: Identity, recipients: list[str], text: str, reply_to: str | None = None,
         attachments: list[dict[str, Any]] | None = None,
         content_key: bytes | None = None, extras: Extras | None = None) -> dict[str, Any]:
    """The `box` of a private post from `me` to `recipients` (IPNS names); `extras` only in a
    format v2 content block's box (quote, mentions, tags, cw, sensitive)."""
    names = sorted(set(recipients) - {me.name})
    if not names:
        raise InvalidInput("a private post needs at least one recipient besides you")
    if len(names) > MAX_RECIPIENTS:
        raise InvalidInput(f"at most {MAX_RECIPIENTS} recipients per private post")
    keys = [x25519_public(public_from_name(n)) for n in names] + [x25519_public(me.public)]
    content: dict[str, Any] = {"text": text, "to": names}
    if reply_to:
        content["reply_to"] = codec.cid_to_bytes(reply_to)
    if attachments:
        content["attachments"] = attachments
    if extras is not None:
        content.update(extras.to_obj())
    return make_box(keys, pad(content), content_key)


def make_box(keys: list[bytes], plain: bytes, content_key: bytes | None = None) -> dict[str, Any]:
    """A box of `plain` (already padded) whose content key is sealed to each X25519 key of
    `keys`, in 2, 4, 8 or 16 slots: the one sealing of private posts and of the sealed lists."""
    key = content_key or os.urandom(32)
    nonce = os.urandom(NONCE_BYTES)
    ct = nacl.secret.SecretBox(key).encrypt(plain, nonce).ciphertext
    slots = [bytes(nacl.public.SealedBox(nacl.public.PublicKey(k)).encrypt(key)) for k in keys]
    size = 2
    while size < len(slots):
        size *= 2
    # Padding slots are real sealed boxes to throwaway keys, indistinguishable from the rest.
    slots += [bytes(nacl.public.SealedBox(nacl.public.PrivateKey.generate().public_key)
                    .encrypt(os.urandom(32))) for _ in range(size - len(slots))]
    random.SystemRandom().shuffle(slots)
    return {"commit": commitment(key), "ct": ct, "keys": slots, "nonce": nonce}


def commitment(key: bytes) -> bytes:
    """What a box declares its content key hashes to (BLAKE2b-256, personalised). Every reader
    checks the key its slot gives against it, so an author cannot give different recipients
    different keys, hence different texts, under one signed post."""
    return bytes(nacl.hash.blake2b(key, digest_size=32, person=COMMIT_PERSON,
                                   encoder=nacl.encoding.RawEncoder))


def content_key(me: Identity, box: dict[str, Any], what: str,
                error: type[InvalidObject] = InvalidPost) -> bytes | None:
    """The content key of a box, if one of its slots is sealed to `me`; a key that is not the
    one the box commits to is refused."""
    opener = nacl.public.SealedBox(_x25519_private(me))
    for slot in box["keys"]:
        try:
            key = bytes(opener.decrypt(slot))
        except nacl.exceptions.CryptoError:
            continue
        if commitment(key) != box["commit"]:
            raise error(f"{what}: the key sealed to you is not the one the box commits to "
                              "(its author gave recipients different keys)")
        return key
    return None


def open_box(me: Identity, box: dict[str, Any], what: str,
             files: tuple[str, ...] | None = None, *, v2: bool = False) -> Opened | None:
    """The content of a box for `me`, or None if it was not sent to `me`. `files` is the
    post's `files` (Post.files, or Content.files of a v2 content block); a reader passes it,
    and the content's attachments must be exactly those blobs (None skips that check, for a box
    without its post). `v2`: the box of a content block, whose content may also hold the v2
    fields quote, mentions, tags, cw and sensitive."""
    found = open_plain(me, box, what)
    if found is None:
        return None
    key, plain = found
    c = codec.decode(plain, max_size=SIZE_CLASSES[-1], what=f"{what}: private content")
    opened = _content(c, key, f"{what}: private content", v2)
    if files is not None:
        check_files(opened, files, what)
    return opened


def open_plain(me: Identity, box: dict[str, Any], what: str,
               error: type[InvalidObject] = InvalidPost) -> tuple[bytes, bytes] | None:
    """(content key, padded plaintext) of a box for `me`, or None if no slot is sealed to `me`."""
    key = content_key(me, box, what, error)
    if key is None:
        return None
    try:
        return key, bytes(nacl.secret.SecretBox(key).decrypt(box["ct"], box["nonce"]))
    except nacl.exceptions.CryptoError as e:
        raise error(f"{what}: the box does not decrypt with its own key") from e


def check_files(opened: Opened, files: tuple[str, ...], what: str) -> None:
    """A private post's `files` lists exactly the `cid`s of its content's attachments, in the
    same order (FORMAT.md 3a): what the feed pins is what the recipients are shown."""
    inside = tuple(a["cid"] for a in opened.attachments)
    if inside != files:
        raise InvalidPost(f"{what}: files ({len(files)}) are not the encrypted attachments of its "
                          f"content ({len(inside)}), in the same order")


def _content(c: object, key: bytes, what: str, v2: bool = False) -> Opened:
    """Validate decrypted content by the same rules as a public post's fields (and, in v2, the
    content block's quote, mentions, tags, cw and sensitive)."""
    optional = frozenset({"reply_to", "attachments"}) | (EXTRA_FIELDS if v2 else frozenset())
    f = Fields(c, what, InvalidPost, frozenset({"text", "to", "pad"}), optional)
    text = f.text("text", MAX_TEXT_BYTES)
    to = f.items("to", MAX_RECIPIENTS)
    for n in to:
        try:
            if not isinstance(n, str) or normalize_name(n) != n:
                raise InvalidInput("not canonical")
        except InvalidInput as e:
            raise f.fail("to must list canonical k51 names") from e
    if not isinstance(f.obj["pad"], bytes) or any(f.obj["pad"]):
        raise f.fail("pad must be zero bytes")
    reply = None
    if f.has("reply_to"):
        try:
            reply = codec.check_cid_bytes(f.obj["reply_to"], (codec.PREFIX_DAG_CBOR,), "reply_to")
        except InvalidBlock as e:
            raise f.fail(str(e)) from e
    atts = []
    for i, item in enumerate(f.items("attachments", MAX_ATTACHMENTS) if f.has("attachments") else []):
        a = Fields(item, f"{what}: attachment {i}", InvalidPost,
                   frozenset({"cid", "type", "size", "name", "nonce"}))
        try:
            cid = codec.check_cid_bytes(item["cid"], codec.FILE_PREFIXES, "cid")
        except InvalidBlock as e:
            raise a.fail(str(e)) from e
        media, size, name = file_meta(a)
        nonce = a.blob("nonce", NONCE_BYTES)
        atts.append({"cid": cid, "type": media, "size": size, "name": name, "nonce": nonce.hex(),
                     "key": key.hex()})
    extras = parse_extras(f, text, InvalidPost) if v2 else Extras()
    return Opened(text, reply, atts, list(to), extras)


def check_box(box: object, what: str, classes: tuple[int, ...] = SIZE_CLASSES,
              error: type[InvalidObject] = InvalidPost) -> dict[str, Any]:
    """The shape rules of a box (what anyone can check without opening it)."""
    if not isinstance(box, dict) or set(box) != {"commit", "ct", "keys", "nonce"}:
        raise error(f"{what}: box must have exactly commit, ct, keys and nonce")
    commit, nonce, ct, keys = box["commit"], box["nonce"], box["ct"], box["keys"]
    if not isinstance(commit, bytes) or len(commit) != 32:
        raise error(f"{what}: box commit must be 32 bytes")
    if not isinstance(nonce, bytes) or len(nonce) != NONCE_BYTES:
        raise error(f"{what}: box nonce must be {NONCE_BYTES} bytes")
    if not isinstance(ct, bytes) or len(ct) - MAC_BYTES not in classes:
        raise error(f"{what}: box ciphertext is not of a size class")
    if (not isinstance(keys, list) or len(keys) not in (2, 4, 8, 16)
            or not all(isinstance(k, bytes) and len(k) == SLOT_BYTES for k in keys)):
        raise error(f"{what}: box keys must be 2, 4, 8 or 16 slots of {SLOT_BYTES} bytes")
    return box


def encrypt_file(key: bytes, data: bytes) -> tuple[bytes, bytes]:
    """An attachment encrypted with the post's content key: (nonce, ciphertext)."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce, bytes(nacl.secret.SecretBox(key).encrypt(data, nonce).ciphertext)


def decrypt_file(key: bytes, nonce: bytes, data: bytes) -> bytes:
    """An attachment decrypted (checked by its MAC)."""
    try:
        return bytes(nacl.secret.SecretBox(key).decrypt(data, nonce))
    except nacl.exceptions.CryptoError as e:
        raise InvalidPost("an encrypted attachment does not decrypt") from e
