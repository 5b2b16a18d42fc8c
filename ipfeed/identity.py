"""Ed25519 identities: the key that signs posts is the key that names the feed in IPNS."""

from __future__ import annotations

import asyncio
import functools
import os
import stat
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nacl.exceptions
import nacl.signing
from multiformats import CID, multibase, multihash

from .codec import shorten
from .errors import InsecureKeyFile, InvalidInput, MissingIdentity

# libp2p's protobuf PublicKey/PrivateKey framing for ed25519 (KeyType 1).
_PUBLIC_PREFIX = b"\x08\x01\x12\x20"
_PRIVATE_PREFIX = b"\x08\x01\x12\x40"
NAME_LOOKS_LIKE = "k51qzi5uqu5…"  # for error messages
_KEY_HEADER = "# ipfeed identity: ed25519 seed, hex. Keep it secret; back it up."


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True if `signature` is `public`'s ed25519 signature of `message`."""
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True


VERIFY_CHUNK = 16  # signatures per task: ~2 ms of work, a task's overhead is noise beside it
_POOL: list[ThreadPoolExecutor] = []


def _pool() -> ThreadPoolExecutor:
    """The verify workers, started on first use: one per core but the caller's (at least one)."""
    if not _POOL:
        workers = max(1, min(4, (os.cpu_count() or 2) - 1))
        _POOL.append(ThreadPoolExecutor(workers, thread_name_prefix="ipfeed-verify"))
    return _POOL[0]


def _first_bad(items: list[tuple[bytes, bytes, bytes]]) -> int | None:
    """The position of the first signature in `items` that does not verify, or None."""
    for i, (public, message, signature) in enumerate(items):
        if not verify(public, message, signature):
            return i
    return None


@dataclass
class Signatures:
    """Signatures of many blocks, checked on worker threads while the caller goes on parsing
    (PyNaCl releases the GIL, so a second core does the ed25519 work). A block whose signature
    is only `add`ed is not verified yet: nothing may use it before `check` (or `checked`)
    returns, and either raises the error of the first one, in the order added, that does not
    verify: the one a check of each in turn would have raised. While it waits, the caller
    checks the chunks no worker has started yet itself (so both cores finish the rest)."""

    _items: list[tuple[bytes, bytes, bytes]] = field(default_factory=list)
    _errors: list[Callable[[], Exception]] = field(default_factory=list)
    _tasks: list[tuple[int, int, Future[int | None]]] = field(default_factory=list)  # first, end, task
    _results: dict[int, int | None] = field(default_factory=dict)  # task -> its first bad position
    _sent: int = 0  # items handed to a task

    def add(self, public: bytes, message: bytes, signature: bytes, error: Callable[[], Exception]) -> None:
        """Check `signature` of `message` by `public` soon; `error()` is what to raise if it fails."""
        self._items.append((public, message, signature))
        self._errors.append(error)
        if len(self._items) - self._sent >= VERIFY_CHUNK:
            self._send()

    def _send(self) -> None:
        if len(self._items) > self._sent:
            start, self._sent = self._sent, len(self._items)
            self._tasks.append((start, self._sent, _pool().submit(_first_bad, self._items[start:self._sent])))

    def _steal(self) -> None:
        """Check here the chunks no worker has started (a started one is left to its worker)."""
        for i, (start, end, task) in enumerate(self._tasks):
            if i not in self._results and task.cancel():
                self._results[i] = _first_bad(self._items[start:end])

    def failure(self) -> Exception | None:
        """The error of the first signature added so far, in order, that does not verify (after
        waiting for them), or None: what to raise before another error met after them."""
        self._send()
        self._steal()
        for i, (start, _, task) in enumerate(self._tasks):
            bad = self._results[i] if i in self._results else task.result()
            if bad is not None:
                return self._errors[start + bad]()
        return None

    def check(self) -> None:
        """Wait for every signature added so far; raise the first failure's error, in order."""
        if (e := self.failure()) is not None:
            raise e

    async def checked(self) -> None:
        """`check`, without holding up the caller's event loop while the workers finish."""
        self._send()
        self._steal()
        for i, (_, _, task) in enumerate(self._tasks):
            if i not in self._results:
                await asyncio.wrap_future(task)
        self.check()


_NAME_CID_PREFIX = b"\x01\x72\x00\x24" + _PUBLIC_PREFIX  # CIDv1, libp2p-key, identity multihash of 36 bytes
_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_BASE36_SET = frozenset(_BASE36)


@functools.lru_cache(maxsize=16384)  # names recur a lot (a 5,000-feed round evicted at 4,096)
def name_from_public(public: bytes) -> str:
    """The IPNS name (`k51…`, CIDv1 libp2p-key, base36) of an ed25519 public key. Computed
    here (multiformats' CID and base36 cost ~0.3 ms; tests check both agree)."""
    if len(public) != 32:
        digest = multihash.wrap(_PUBLIC_PREFIX + public, "identity")
        return str(CID("base36", 1, "libp2p-key", digest))
    n = int.from_bytes(_NAME_CID_PREFIX + public, "big")  # no leading zero byte: no "0" digits
    digits = []
    while n:
        n, r = divmod(n, 36)
        digits.append(_BASE36[r])
    return "k" + "".join(reversed(digits))


# CID.decode costs ~0.9 ms (multiformats validates types); room for a full follow list (5,000)
# and more, or a sync round would evict each name just before it is needed again
@functools.lru_cache(maxsize=16384)
def public_from_name(name: str) -> bytes:
    """The ed25519 public key inside an IPNS name (`k51…` or a `12D3Koo…` peer ID); anything
    else, however broken, is InvalidInput with a message for a person (never library text)."""
    text = name.strip().removeprefix("/ipns/").split("/")[0]
    if text.startswith("k51") and len(text) == 62 and set(text) <= _BASE36_SET:
        raw = int(text[1:], 36).to_bytes(40, "big") if int(text[1:], 36) < 1 << 320 else b""
        if raw.startswith(_NAME_CID_PREFIX):
            return raw[len(_NAME_CID_PREFIX):]  # the canonical form: no multiformats needed
    shown = shorten(text)
    try:
        if text.startswith("12D3Koo"):
            mh = multibase.get("base58btc").decode("z" + text)
        else:
            cid = CID.decode(text)
            if cid.codec.name != "libp2p-key":
                raise InvalidInput(f"{shown} is the CID of a {cid.codec.name} block, not an IPNS name "
                                   f"(a name looks like {NAME_LOOKS_LIKE})")
            mh = bytes(cid.digest)
        code, size, rest = _unwrap(mh)
    except InvalidInput:
        raise
    except Exception as e:  # multiformats raises IndexError, KeyError, ValueError, … on junk
        raise InvalidInput(f"{shown} is not an IPNS name (a name looks like {NAME_LOOKS_LIKE})") from e
    if code != 0x00 or size != len(rest) or not rest.startswith(_PUBLIC_PREFIX) or len(rest) != 36:
        raise InvalidInput(f"{shown} is not the IPNS name of an ed25519 key")
    return rest[4:]


def _unwrap(mh: bytes) -> tuple[int, int, bytes]:
    """Split a multihash with one-byte code and length (all identity hashes of keys)."""
    if len(mh) < 2:
        raise ValueError("multihash too short")
    return mh[0], mh[1], mh[2:]


def normalize_name(name: str) -> str:
    """The canonical `k51…` form of any accepted spelling of an IPNS name."""
    return name_from_public(public_from_name(name))


@dataclass(frozen=True)
class Identity:
    """A user's ed25519 key pair."""

    signing_key: nacl.signing.SigningKey

    @property
    def public(self) -> bytes:
        """The 32-byte public key."""
        return bytes(self.signing_key.verify_key)

    @property
    def name(self) -> str:
        """The feed's IPNS name."""
        return name_from_public(self.public)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte ed25519 signature of `message`."""
        return bytes(self.signing_key.sign(message).signature)

    def libp2p_private_key(self) -> bytes:
        """The key in libp2p's protobuf framing, as `ipfs key import` takes it."""
        return _PRIVATE_PREFIX + bytes(self.signing_key) + self.public

    def __repr__(self) -> str:  # never show key material
        return f"Identity({self.name})"

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """The identity of a 32-byte seed."""
        return cls(nacl.signing.SigningKey(seed))

    @classmethod
    def generate(cls) -> Identity:
        """A fresh random identity."""
        return cls(nacl.signing.SigningKey.generate())


def load(path: Path) -> Identity:
    """Load the key file, refusing one that is missing or readable by others."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError as e:
        raise MissingIdentity(f"no identity key at {path}; run `ipfeed init`") from e
    with os.fdopen(fd, "r", encoding="ascii") as f:
        mode = os.fstat(f.fileno()).st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise InsecureKeyFile(
                f"{path} is accessible by other users (mode {stat.S_IMODE(mode):o}); "
                f"run `chmod 600 {path}`"
            )
        lines = [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")]
    try:
        seed = bytes.fromhex(lines[0])
        if len(lines) != 1 or len(seed) != 32:
            raise ValueError
    except (ValueError, IndexError) as e:
        raise MissingIdentity(f"{path} is not an ipfeed key file") from e
    return Identity.from_seed(seed)


def save(identity: Identity, path: Path) -> None:
    """Write a new key file 0600; never overwrite an existing one."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(f"{_KEY_HEADER}\n# name: {identity.name}\n{bytes(identity.signing_key).hex()}\n")
        f.flush()
        os.fsync(f.fileno())
