"""Recovery keys and migrations (docs/FORMAT.md sections 8 and 18): the printable recovery
phrase, the beacon key derived from it, the statement a recovery key signs, and the priority
rules that decide which migration of a feed, if any, counts.

Pure: no IO. The follower's side (finding and applying migrations) is `ipfeed.moving`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from . import kinds
from .errors import InvalidInput
from .identity import Identity, name_from_public, verify

PHRASE_PERSON = b"ipfeed-phrase"  # BLAKE2b personalisation of the phrase's checksum
BEACON_PERSON = b"ipfeed-beacon"  # ... of the beacon seed derived from the recovery seed
CHECKSUM_BYTES = 3
FILE_FORMAT = "ipfeed-recovery-1"


@dataclass(frozen=True)
class RecoveryKey:
    """A recovery key: its seed (the secret), its signing identity and its beacon identity."""

    seed: bytes

    @property
    def key(self) -> Identity:
        """The key that signs migrations (its public key is what a `recovery` entry commits to)."""
        return Identity.from_seed(self.seed)

    @property
    def beacon(self) -> Identity:
        """The key whose IPNS name announces a migration (derived: anyone with the phrase has it)."""
        return Identity.from_seed(hashlib.blake2b(self.seed, digest_size=32, person=BEACON_PERSON).digest())

    @property
    def commit(self) -> bytes:
        """What the feed's `recovery` entry holds."""
        return kinds.recovery_commitment(self.key.public)

    def body(self) -> kinds.Recovery:
        """The `recovery` body committing to this key."""
        return kinds.Recovery(self.commit, self.beacon.public)

    def statement(self, source: bytes, to: bytes, seq: int) -> bytes:
        """rsig: this key's signature that feed `source` moves to `to` from old seq `seq` on."""
        return self.key.sign(kinds.migration_message(source, to, seq))

    @property
    def phrase(self) -> str:
        """The printable secret: base32 of the seed and a 3-byte checksum, 14 groups of 4."""
        raw = self.seed + _checksum(self.seed)
        text = base64.b32encode(raw).decode().lower()
        return "-".join(text[i:i + 4] for i in range(0, len(text), 4))

    @classmethod
    def generate(cls) -> RecoveryKey:
        """A new random recovery key."""
        return cls(os.urandom(32))

    @classmethod
    def from_phrase(cls, phrase: str) -> RecoveryKey:
        """The key a phrase spells; a clear error for a mistyped one (the checksum catches it)."""
        text = "".join(ch for ch in phrase.strip().upper() if ch not in " -\n\t")
        if len(text) != 56:
            raise InvalidInput("a recovery phrase has 56 letters and digits (14 groups of 4), "
                               f"not {len(text)}")
        try:
            raw = base64.b32decode(text)
        except ValueError as e:
            raise InvalidInput("a recovery phrase holds only the letters a-z and the digits 2-7") from e
        seed, check = raw[:32], raw[32:]
        if _checksum(seed) != check:
            raise InvalidInput("the recovery phrase's checksum does not match: a group is mistyped")
        return cls(seed)


def _checksum(seed: bytes) -> bytes:
    return hashlib.blake2b(seed, digest_size=CHECKSUM_BYTES, person=PHRASE_PERSON).digest()


def save_file(rk: RecoveryKey, feed: str, path: Path) -> None:
    """Write the recovery secret to a file the user chose (0600, never over an existing one)."""
    data = json.dumps({"format": FILE_FORMAT, "feed": feed, "phrase": rk.phrase}, indent=1) + "\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as e:
        raise InvalidInput(f"{path} exists; choose a new file for the recovery secret") from e
    with os.fdopen(fd, "w") as f:
        f.write(data)


def load_secret(text: str) -> tuple[RecoveryKey, str | None]:
    """A recovery key from a phrase or from a recovery file's text, and the feed a file names."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return RecoveryKey.from_phrase(stripped), None
    try:
        obj = json.loads(stripped)
    except json.JSONDecodeError as e:
        raise InvalidInput(f"not a recovery file: {e}") from e
    if not isinstance(obj, dict) or obj.get("format") != FILE_FORMAT or \
            not isinstance(obj.get("phrase"), str) or not isinstance(obj.get("feed"), str):
        raise InvalidInput(f"not a recovery file (format {FILE_FORMAT} with feed and phrase)")
    return RecoveryKey.from_phrase(obj["phrase"]), obj["feed"]


@dataclass(frozen=True)
class Commitment:
    """A `recovery` entry of the old chain: its seq, commitment and beacon key."""

    seq: int
    commit: bytes
    beacon: bytes | None = None


@dataclass(frozen=True)
class Claim:
    """A migration statement, wherever it was found: `source` moves to `to` from old seq `seq`
    on, signed `rsig` by `recovery`; `entry` is the CID that carried it (for messages)."""

    source: bytes
    to: bytes
    seq: int
    recovery: bytes
    rsig: bytes
    entry: str = ""
    genesis: str = ""

    @property
    def to_name(self) -> str:
        """The IPNS name of the feed moved to."""
        return name_from_public(self.to)


@dataclass(frozen=True)
class Verdict:
    """What the rules of section 18 decide for one feed."""

    commitment: Commitment | None
    winner: Claim | None
    rejected: tuple[tuple[Claim, str], ...] = ()
    competing: bool = False  # more than one valid migration, to different keys

    def owners(self, seq: int, cid: str = "") -> bool:
        """Whether the old chain's entry at `seq` (CID `cid`) is the owner's: every entry before
        the winning migration's seq is; the entry carrying the winning statement is too."""
        if self.winner is None or seq < self.winner.seq:
            return True
        return bool(cid) and cid == self.winner.entry and seq == self.winner.seq


def earliest(commitments: Iterable[Commitment]) -> Commitment | None:
    """The commitment that counts: the earliest (lowest seq) `recovery` entry (rule earliest-commitment)."""
    return min(commitments, key=lambda c: c.seq, default=None)


def check_claim(source: bytes, commitment: Commitment | None, c: Claim) -> str | None:
    """Why a claim does not count for feed `source`, or None if it does."""
    if c.source != source:
        return "it moves another feed (rule migration-from)"
    if commitment is None:
        return "the feed has no recovery commitment (rule migration-commitment)"
    if kinds.recovery_commitment(c.recovery) != commitment.commit:
        return (f"its recovery key does not match the feed's commitment at seq {commitment.seq} "
                "(rule migration-commitment)")
    if c.seq <= commitment.seq:
        return f"its seq {c.seq} is not after the commitment's seq {commitment.seq} (rule migration-after)"
    if c.to == source:
        return "it moves the feed to its own key"
    if not verify(c.recovery, kinds.migration_message(c.source, c.to, c.seq), c.rsig):
        return "rsig does not verify with the recovery key (rule migration-rsig)"
    return None


def decide(source: bytes, commitments: Sequence[Commitment], claims: Sequence[Claim]) -> Verdict:
    """Apply section 18: the earliest commitment counts; among the claims that verify against
    it, the lowest seq wins, then the lowest `to` bytewise; the same statement twice is one."""
    commitment = earliest(commitments)
    valid: dict[tuple[int, bytes], Claim] = {}
    rejected: list[tuple[Claim, str]] = []
    for c in claims:
        why = check_claim(source, commitment, c)
        if why is not None:
            rejected.append((c, why))
            continue
        key = (c.seq, c.to)
        old = valid.get(key)
        # A replay (the same statement again) has no effect; an in-chain copy is preferred
        # as the carrier (it is the owner's own entry at that seq).
        if old is None:
            valid[key] = c
        elif not old.entry or not old.genesis:
            valid[key] = Claim(c.source, c.to, c.seq, c.recovery, c.rsig,
                               old.entry or c.entry, old.genesis or c.genesis)
    if not valid:
        return Verdict(commitment, None, tuple(rejected))
    order = sorted(valid)
    winner = valid[order[0]]
    competing = len({to for _, to in order}) > 1
    return Verdict(commitment, winner, tuple(rejected), competing)
