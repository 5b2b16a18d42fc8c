"""The devices paired with a home server: one-time pairing codes, device credentials (only
their SHA-256 is kept), revocation, and the failure counters that bound brute force on
pairing and login (FORMAT.md section 17). `HOME/devices.sqlite`, 0600."""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import sqlite
from .errors import InvalidInput, NotPaired, RateLimited, Revoked

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L: read aloud, typed on a phone
CODE_LENGTH = 12  # 31^12: 59 bits
PAIRING_TTL_MS = 10 * 60 * 1000  # a code lives ten minutes and is used once
CODE_MISSES = 5  # wrong codes tried while a pairing is open; then every open pairing is void
WINDOW_MS = 15 * 60 * 1000  # failures count for a quarter of an hour
CLIENT_FAILURES = 10  # per client address and scope in the window, then refused (429)
ALL_FAILURES = 50  # per scope in the window, whatever the address (a distributed guesser)
TOKEN_PREFIX = "ipfd_"
MAX_LABEL_BYTES = 100
MAX_DEVICES = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pairings (code_hash TEXT PRIMARY KEY, label TEXT NOT NULL,
    created INTEGER NOT NULL, expires INTEGER NOT NULL, used INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS devices (id TEXT PRIMARY KEY, label TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, last_seen INTEGER,
    revoked INTEGER);
CREATE TABLE IF NOT EXISTS failures (scope TEXT NOT NULL, client TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS failures_at ON failures (scope, at);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL)
"""


@dataclass(frozen=True)
class Device:
    """A paired device as the home server knows it (never its credential)."""

    id: str
    label: str
    created: int
    last_seen: int | None
    revoked: int | None


@dataclass(frozen=True)
class Pairing:
    """A pairing just opened: the code to give the new device (shown once) and its expiry."""

    code: str
    expires: int


def now_ms() -> int:
    """The current time in milliseconds since the Unix epoch."""
    return time.time_ns() // 1_000_000


def digest(secret: str) -> str:
    """How a code or credential is stored: SHA-256, hex (both are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_code(typed: str) -> str:
    """A pairing code as typed (any case, dashes, spaces) in its canonical form."""
    return re.sub(r"[\s-]", "", typed).upper()


def check_label(label: str) -> str:
    """A device's label: 1 … 100 bytes, no control or format characters."""
    label = label.strip()
    if not label or len(label.encode()) > MAX_LABEL_BYTES:
        raise InvalidInput(f"a device name is 1 to {MAX_LABEL_BYTES} bytes")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in label):
        raise InvalidInput("a device name cannot hold control or formatting characters")
    return label


class Devices:
    """The device store of one home."""

    def __init__(self, home: Path) -> None:
        self.db = sqlite.connect(home / "devices.sqlite", "NORMAL")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database."""
        self.db.close()

    # -- pairing ------------------------------------------------------------------------
    def open_pairing(self, label: str = "new device") -> Pairing:
        """A new one-time code for one device."""
        label = check_label(label)
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        now = now_ms()
        with sqlite.transaction(self.db) as db:
            db.execute("INSERT INTO pairings (code_hash, label, created, expires) VALUES (?, ?, ?, ?)",
                       (digest(code), label, now, now + PAIRING_TTL_MS))
        shown = "-".join(code[i:i + 4] for i in range(0, CODE_LENGTH, 4))
        return Pairing(shown, now + PAIRING_TTL_MS)

    def redeem(self, typed: str, label: str, client: str) -> tuple[Device, str]:
        """Trade a pairing code for a new device and its credential (returned once); `label` is
        the device's own name for itself ("" keeps the one `device pair` gave)."""
        label = check_label(label) if label.strip() else ""
        self.check_allowed("pairing", client)
        now = now_ms()
        refusal: Exception | None = None
        with sqlite.transaction(self.db) as db:  # a refusal is raised after the commit: it counts
            row = db.execute("SELECT rowid, label FROM pairings WHERE code_hash = ? AND used = 0 "
                             "AND expires > ?", (digest(normalize_code(typed)), now)).fetchone()
            if row is None:
                self._fail(db, "pairing", client, now)
                missed = db.execute("SELECT COUNT(*) FROM failures WHERE scope = 'pairing' AND at >= "
                                    "(SELECT COALESCE(MIN(created), ?) FROM pairings WHERE used = 0 "
                                    "AND expires > ?)", (now, now)).fetchone()[0]
                refusal = NotPaired("wrong or expired pairing code (codes last ten minutes and work once)")
                if missed >= CODE_MISSES:  # the open codes were guessed at too often: void them
                    db.execute("UPDATE pairings SET used = 1 WHERE used = 0")
                    refusal = NotPaired(f"wrong pairing code, {CODE_MISSES} times: every open pairing "
                                        "is void now; run `ipfeed device pair` again on the home server")
            elif db.execute("SELECT COUNT(*) FROM devices WHERE revoked IS NULL").fetchone()[0] \
                    >= MAX_DEVICES:
                refusal = InvalidInput(f"{MAX_DEVICES} devices are paired already: revoke one first")
            else:
                db.execute("UPDATE pairings SET used = 1 WHERE rowid = ?", (row[0],))
                token = TOKEN_PREFIX + secrets.token_urlsafe(32)
                device = Device(secrets.token_hex(4), label or row[1], now, None, None)
                db.execute("INSERT INTO devices (id, label, token_hash, created) VALUES (?, ?, ?, ?)",
                           (device.id, device.label, digest(token), now))
        if refusal is not None:
            raise refusal
        return device, token

    # -- credentials ----------------------------------------------------------------------
    def authenticate(self, token: str) -> Device:
        """The device a credential belongs to; NotPaired or Revoked otherwise."""
        row = self.db.execute("SELECT id, label, created, last_seen, revoked FROM devices "
                              "WHERE token_hash = ?", (digest(token),)).fetchone()
        if row is None:
            raise NotPaired("not a paired device: pair it with `ipfeed device pair` on the home server")
        device = Device(*row)
        if device.revoked is not None:
            raise Revoked(f"this device ({device.label}, {device.id}) was revoked on the home server")
        now = now_ms()
        if device.last_seen is None or now - device.last_seen > 60_000:  # one write a minute at most
            with sqlite.transaction(self.db) as db:
                db.execute("UPDATE devices SET last_seen = ? WHERE id = ?", (now, device.id))
        return device

    def login(self, token: str, client: str) -> Device:
        """A credential typed into the login page: rate limited, failures counted."""
        self.check_allowed("login", client)
        try:
            return self.authenticate(token.strip())
        except NotPaired:
            with sqlite.transaction(self.db) as db:
                self._fail(db, "login", client, now_ms())
            raise

    def devices(self) -> list[Device]:
        """Every device ever paired, oldest first (revoked ones too)."""
        rows = self.db.execute("SELECT id, label, created, last_seen, revoked FROM devices "
                               "ORDER BY created, id").fetchall()
        return [Device(*r) for r in rows]

    def revoke(self, device_id: str) -> Device:
        """Refuse a device's credential from now on (every request checks it)."""
        with sqlite.transaction(self.db) as db:
            row = db.execute("SELECT id, label, created, last_seen, revoked FROM devices WHERE id = ?",
                             (device_id,)).fetchone()
            if row is None:
                raise InvalidInput(f"no paired device {device_id!r} (see `ipfeed device ls`)")
            if row[4] is None:
                db.execute("UPDATE devices SET revoked = ? WHERE id = ?", (now_ms(), device_id))
        return next(d for d in self.devices() if d.id == device_id)

    # -- brute force --------------------------------------------------------------------
    def check_allowed(self, scope: str, client: str) -> None:
        """RateLimited while `client` (or everyone together) failed too often lately."""
        since = now_ms() - WINDOW_MS
        mine, everyone = self.db.execute(
            "SELECT COALESCE(SUM(client = ?), 0), COUNT(*) FROM failures WHERE scope = ? AND at >= ?",
            (client, scope, since)).fetchone()
        if mine >= CLIENT_FAILURES or everyone >= ALL_FAILURES:
            raise RateLimited(f"too many failed {scope} attempts: try again in "
                              f"{WINDOW_MS // 60_000} minutes")

    def _fail(self, db: sqlite3.Connection, scope: str, client: str, now: int) -> None:
        db.execute("DELETE FROM failures WHERE at < ?", (now - WINDOW_MS,))
        db.execute("INSERT INTO failures (scope, client, at) VALUES (?, ?, ?)", (scope, client, now))

    # -- what the web UI's remote listener says about itself --------------------------------
    def get(self, key: str) -> str | None:
        """A state value (e.g. the URL the remote listener serves)."""
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        """Set a state value."""
        with sqlite.transaction(self.db) as db:
            db.execute("INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)", (key, value))


@contextmanager
def opened(home: Path) -> Iterator[Devices]:
    """The device store, open for one `with` block."""
    store = Devices(home)
    try:
        yield store
    finally:
        store.close()
