"""Encrypted key backups: the identity seed sealed with a passphrase (argon2id + secretbox).

The file is JSON so a person can see what it is: the KDF and its costs, the salt and nonce,
and the sealed seed. Pure code: the CLI reads and writes the file.
"""

from __future__ import annotations

import base64
import json

import nacl.exceptions
import nacl.secret
import nacl.utils
from nacl.pwhash import argon2id

from .errors import InvalidInput
from .identity import Identity

FORMAT = "ipfeed-key-backup-1"
STRENGTHS = {
    "interactive": (argon2id.OPSLIMIT_INTERACTIVE, argon2id.MEMLIMIT_INTERACTIVE),
    "moderate": (argon2id.OPSLIMIT_MODERATE, argon2id.MEMLIMIT_MODERATE),
    "sensitive": (argon2id.OPSLIMIT_SENSITIVE, argon2id.MEMLIMIT_SENSITIVE),
}
_MAX_OPS, _MAX_MEM = STRENGTHS["sensitive"]


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def _key(passphrase: str, salt: bytes, ops: int, mem: int) -> bytes:
    if not passphrase:
        raise InvalidInput("the passphrase is empty")
    return bytes(argon2id.kdf(nacl.secret.SecretBox.KEY_SIZE, passphrase.encode("utf-8"), salt,
                              opslimit=ops, memlimit=mem))


def export_key(me: Identity, passphrase: str, strength: str = "moderate") -> bytes:
    """The backup file's bytes."""
    ops, mem = STRENGTHS[strength]
    salt = nacl.utils.random(argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_key(passphrase, salt, ops, mem))
    sealed = box.encrypt(bytes(me.signing_key))
    doc = {"format": FORMAT, "name": me.name, "kdf": "argon2id13", "opslimit": ops, "memlimit": mem,
           "salt": _b64(salt), "nonce": _b64(sealed.nonce), "ciphertext": _b64(sealed.ciphertext)}
    return (json.dumps(doc, indent=1) + "\n").encode()


def import_key(data: bytes, passphrase: str) -> Identity:
    """The identity in a backup file; a wrong passphrase or a damaged file is a clear error."""
    try:
        doc = json.loads(data)
        if doc.get("format") != FORMAT or doc.get("kdf") != "argon2id13":
            raise ValueError("not an ipfeed key backup")
        ops, mem = int(doc["opslimit"]), int(doc["memlimit"])
        if not (0 < ops <= _MAX_OPS and 0 < mem <= _MAX_MEM):
            raise ValueError("KDF costs out of range")
        salt, nonce, ct = (base64.b64decode(doc[k], validate=True) for k in ("salt", "nonce", "ciphertext"))
    except (ValueError, KeyError, TypeError) as e:
        raise InvalidInput(f"not an ipfeed key backup ({e})") from e
    try:
        seed = nacl.secret.SecretBox(_key(passphrase, salt, ops, mem)).decrypt(ct, nonce)
    except (nacl.exceptions.CryptoError, ValueError) as e:
        raise InvalidInput("wrong passphrase, or the backup file is damaged") from e
    me = Identity.from_seed(seed)
    if doc.get("name") not in (None, me.name):
        raise InvalidInput("the backup's name does not match its key: the file was altered")
    return me
