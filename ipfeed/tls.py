"""TLS for the web UI beyond loopback: a self-signed certificate made once per home (its key
0600), its SHA-256 fingerprint (which pairing shows), and client contexts that pin it
(FORMAT.md section 17)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import os
import re
import ssl
from collections.abc import Sequence
from pathlib import Path

from .errors import InvalidInput, RemoteError

CERT_DAYS = 825  # the longest validity browsers accept for a certificate
_FINGERPRINT = re.compile(r"\A(?:SHA256:)?((?:[0-9A-Fa-f]{2}:?){32})\Z")


def paths(home: Path) -> tuple[Path, Path]:
    """Where a home keeps its certificate and its private key."""
    return home / "tls" / "cert.pem", home / "tls" / "key.pem"


def ensure_cert(home: Path, names: Sequence[str] = ()) -> Path:
    """The home's certificate, made (ECDSA P-256, self-signed) if it has none; `names` (host
    names or addresses) go into its subjectAltName with 127.0.0.1, ::1 and localhost."""
    cert_path, key_path = paths(home)
    if cert_path.exists() and key_path.exists():
        return cert_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for n in ("127.0.0.1", "::1", *names):
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(n)))
        except ValueError:
            alt.append(x509.DNSName(n))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ipfeed home server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path


def fingerprint_of_der(der: bytes) -> str:
    """A certificate's fingerprint as browsers show it: SHA-256 of its DER, hex pairs."""
    return ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())


def fingerprint(home: Path) -> str:
    """The fingerprint of the home's certificate (made first if missing)."""
    pem = ensure_cert(home).read_text()
    return fingerprint_of_der(ssl.PEM_cert_to_DER_cert(pem))


def normalize_fingerprint(text: str) -> str:
    """A fingerprint as typed (with or without SHA256:, colons, any case), in the shown form."""
    m = _FINGERPRINT.match(text.strip().replace(" ", ""))
    if not m:
        raise InvalidInput(f"not a SHA-256 certificate fingerprint: {text!r} (32 hex pairs expected)")
    digits = m.group(1).replace(":", "").upper()
    if len(digits) != 64:
        raise InvalidInput(f"not a SHA-256 certificate fingerprint: {text!r} (32 hex pairs expected)")
    return ":".join(digits[i:i + 2] for i in range(0, 64, 2))


def server_context(home: Path, names: Sequence[str] = ()) -> ssl.SSLContext:
    """The TLS context the web UI's remote listener serves with (TLS 1.2 or newer); the
    certificate is made for `names` if the home has none yet."""
    cert_path, key_path = paths(home)
    ensure_cert(home, names)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


def client_context(pinned: str | None) -> ssl.SSLContext:
    """A client context: with `pinned`, any certificate is accepted by the handshake and
    `check_pinned` must then compare it; without, the system's CAs verify it (a proxy's)."""
    if pinned is None:
        return ssl.create_default_context()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # self-signed: the fingerprint is the check, before any byte is sent
    return ctx


def check_pinned(sock: ssl.SSLSocket, pinned: str) -> None:
    """Refuse a connection whose certificate is not the pinned one."""
    der = sock.getpeercert(binary_form=True)
    got = fingerprint_of_der(der) if der else ""
    if not hmac.compare_digest(got, pinned):
        raise RemoteError(f"the home server's certificate is not the one paired with (fingerprint "
                          f"{got or 'none'}, expected {pinned}): refusing to send anything")
