"""Link cards: the title, description and thumbnail of a post's first link, fetched once by the
author's node at post time (readers never fetch the link), refusing every non-public address."""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
import time
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .config import Settings
from .content import BIDI_CONTROLS, CONTROLS
from .media import sniff_image

TIMEOUT = 5.0  # seconds for the whole card: every lookup, connection and read, page and image
MAX_REDIRECTS = 3
MAX_HTML_BYTES = 512 * 1024  # what is read of a page (the rest is never downloaded)
MAX_IMAGE_BYTES = 1024 * 1024
MAX_TITLE_BYTES = 300
MAX_DESCRIPTION_BYTES = 1000
MAX_URL_CHARS = 2048
_PARSE_CHUNK = 8192
_REDIRECTS = (301, 302, 303, 307, 308)
_UNWANTED = re.compile(f"[{CONTROLS}{BIDI_CONTROLS}\ud800-\udfff]")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9._-]+)""", re.I)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class CardImage:
    """A card's thumbnail, to be stored as an attachment of the post."""

    data: bytes
    media_type: str  # by its bytes: image/png, image/jpeg, image/gif or image/webp


@dataclass(frozen=True)
class Card:
    """A link card: what a page says about itself, size-capped and cleaned."""

    url: str  # as written in the post
    title: str
    description: str
    image: CardImage | None = None


class _Refused(Exception):
    """A step of making a card failed; the message is the reason shown to the user."""


def address_problem(address: str, *, allow_loopback: bool = False) -> str | None:
    """Why a link card must not connect to `address`, or None if it is a public address: private,
    loopback, link-local, multicast, reserved, unspecified, shared (CGNAT) and documentation
    addresses are refused, IPv4-mapped and other embedded IPv4 addresses by their IPv4 part."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return f"{address} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            problem = address_problem(str(embedded), allow_loopback=allow_loopback)
            return f"{address} ({problem})" if problem else None
    if ip.is_loopback:
        return None if allow_loopback else f"{address} is a loopback address"
    for kind, flag in (("unspecified", ip.is_unspecified), ("link-local", ip.is_link_local),
                       ("multicast", ip.is_multicast), ("reserved", ip.is_reserved),
                       ("private", ip.is_private)):
        if flag:
            return f"{address} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    return None if ip.is_global else f"{address} is not a public address"


class _Deadline:
    """The end of one card's time. A timer shuts down every socket opened for the card when it
    comes, so that no lookup, handshake or read (however slowly a server drips) outlasts it."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        """Seconds left; none left is a refusal."""
        left = self.at - time.monotonic()
        if left <= 0 or self._expired:
            raise _Refused("the link took too long")
        return left

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down when the time is over (at once if it is)."""
        with self._lock:
            self._sockets.append(sock)
            if self._expired:
                _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._sockets:
                _shut(sock)

    def cancel(self) -> None:
        """Stop the timer (the card is done)."""
        self._timer.cancel()


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# How the address check holds for the address actually connected to: urllib3 opens every
# connection in HTTPConnection._new_conn, so the connection classes below replace that one step.
# They resolve the host once, refuse it if any of its addresses is not public (a name that
# answers both is a DNS-rebinding trick), connect to exactly those vetted addresses and check
# the connected socket's peer address again. TLS then runs as usual on that socket, with the
# URL's host name for SNI and certificate checks, and the Host header is the URL's host. Each
# redirect is a new request through the same check. Proxies from the environment are ignored
# (a proxy would resolve the name itself).
def _connect(host: str, port: int, deadline: _Deadline, allow_loopback: bool) -> socket.socket:
    """A socket connected to a vetted public address of `host`, before `deadline`."""
    addresses = _resolve(host, port, deadline)
    for *_, sockaddr in addresses:
        ip = str(sockaddr[0])
        if problem := address_problem(ip, allow_loopback=allow_loopback):
            raise _Refused(problem if ip == host else f"{host} has a non-public address: {problem}")
    error: OSError | None = None
    for family, kind, proto, _, sockaddr in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            deadline.watch(sock)
            sock.settimeout(deadline.left())
            sock.connect(sockaddr)
            if problem := address_problem(str(sock.getpeername()[0]), allow_loopback=allow_loopback):
                raise _Refused(problem)
            return sock
        except OSError as e:
            sock.close()
            error = e
        except _Refused:
            sock.close()
            raise
    deadline.left()
    raise _Refused(f"cannot connect to {host}: {error}")


def _resolve(host: str, port: int, deadline: _Deadline) -> list[Any]:
    """getaddrinfo in a daemon thread, so that a slow resolver cannot hold the post (or the
    process's exit) past `deadline`."""
    found: list[Any] = []
    failed: list[OSError] = []

    def look_up() -> None:
        try:
            found.extend(socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM))
        except OSError as e:
            failed.append(e)

    thread = threading.Thread(target=look_up, name="ipfeed-card-lookup", daemon=True)
    thread.start()
    thread.join(deadline.left())
    deadline.left()
    if failed or not found:
        raise _Refused(f"cannot look up {host}: {failed[0] if failed else 'no address'}")
    return found


def _adapter(deadline: _Deadline, allow_loopback: bool) -> HTTPAdapter:
    """A transport adapter whose connections go only to vetted addresses (see above)."""

    class Plain(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self._dns_host, self.port, deadline, allow_loopback)

    class Secure(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return _connect(self._dns_host, self.port, deadline, allow_loopback)

    class PlainPool(HTTPConnectionPool):
        ConnectionCls = Plain

    class SecurePool(HTTPSConnectionPool):
        ConnectionCls = Secure

    adapter = HTTPAdapter(max_retries=0)
    adapter.poolmanager.pool_classes_by_scheme = {"http": PlainPool, "https": SecurePool}
    return adapter


def make_card(url: str, settings: Settings, *, timeout: float = TIMEOUT) -> tuple[Card | None, str]:
    """The card of `url`, or None and why not (for "no link card: <reason>"); with a card, the
    reason says why it has no image, if it has none. Never raises for anything the link does."""
    if not settings.link_cards:
        return None, "link cards are off (IPFEED_LINK_CARDS)"
    deadline = _Deadline(timeout)
    try:
        with requests.Session() as session:
            session.trust_env = False  # no proxies, .netrc or CA bundles from the environment
            session.headers.update({"User-Agent": "ipfeed link card", "Accept-Encoding": "identity"})
            adapter = _adapter(deadline, settings.cards_allow_loopback)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            try:
                final, page, charset = _fetch(session, url, deadline, MAX_HTML_BYTES, "text/html")
                meta = _read_html(page, charset, deadline.at)
            except Exception as e:  # requests, urllib3, ssl, html.parser: a card never fails a post
                return None, _reason(e, deadline)
            title = _clean(meta.first("og:title", "twitter:title") or meta.title, MAX_TITLE_BYTES)
            description = _clean(meta.first("og:description", "description", "twitter:description"),
                                 MAX_DESCRIPTION_BYTES)
            if not (title or description):
                return None, "the page has no title or description"
            image, why = None, ""
            if src := meta.first("og:image", "og:image:url", "twitter:image"):
                try:
                    image = _image(session, urljoin(final, src.strip()), deadline)
                except Exception as e:
                    why = f"no image: {_reason(e, deadline)}"
            return Card(url, title, description, image), why
    finally:
        deadline.cancel()


def _reason(e: Exception, deadline: _Deadline) -> str:
    """What went wrong, for a person: our own reasons as they are, anything after the deadline
    as "too long" (the sockets were shut down under it), other errors by their class."""
    if isinstance(e, _Refused):
        return str(e)
    try:
        deadline.left()
    except _Refused as late:
        return str(late)
    if isinstance(e, requests.Timeout | urllib3.exceptions.TimeoutError | TimeoutError):
        return "the link took too long"
    return f"{type(e).__name__}: {e}"


def _check_url(url: str) -> None:
    """Only plain http(s) URLs with a host and no user name or password."""
    if len(url) > MAX_URL_CHARS:
        raise _Refused(f"the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as e:
        raise _Refused(f"{url!r} is not a valid URL") from e
    if parts.scheme.lower() not in ("http", "https"):
        raise _Refused(f"only http and https links get a card, not {parts.scheme or 'no scheme'}")
    if not host:
        raise _Refused(f"{url!r} has no host")
    if parts.username is not None or parts.password is not None:
        raise _Refused("a link with a user name or password gets no card")


def _fetch(session: requests.Session, url: str, deadline: _Deadline, limit: int,
           media: str | None) -> tuple[str, bytes, str | None]:
    """(final URL, at most `limit` bytes of the body, charset) of `url`, following at most 3
    redirects, each checked like the first; `media` is the only Content-Type accepted."""
    for _ in range(MAX_REDIRECTS + 1):
        _check_url(url)
        with session.get(url, stream=True, allow_redirects=False,
                         timeout=deadline.left()) as r:
            deadline.left()  # headers cut short by the deadline's shutdown are not an answer
            if r.status_code in _REDIRECTS and "location" in r.headers:
                url = urljoin(url, r.headers["location"])
                continue
            if r.status_code != 200:
                raise _Refused(f"the link answered HTTP {r.status_code}")
            kind, _, params = r.headers.get("content-type", "").partition(";")
            if media is not None and kind.strip().lower() != media:
                raise _Refused(f"the link is {kind.strip() or 'of no stated type'}, not {media}")
            if r.headers.get("content-encoding", "identity").lower() != "identity":
                raise _Refused("the link sent a compressed answer it was not asked for")
            m = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9._-]+)", params)
            return url, _read(r, limit, deadline), m[1] if m else None
    raise _Refused(f"the link redirects more than {MAX_REDIRECTS} times")


def _read(r: requests.Response, limit: int, deadline: _Deadline) -> bytes:
    """Up to `limit` bytes of the body, then stop reading (one recv at a time, in time)."""
    chunks, size = [], 0
    while size < limit:
        deadline.left()
        chunk = r.raw.read1(min(65536, limit - size), decode_content=False)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    deadline.left()  # nor is a body it cut short
    return b"".join(chunks)


def _image(session: requests.Session, url: str, deadline: _Deadline) -> CardImage:
    """The image at `url`: at most 1 MiB, and a PNG, JPEG, GIF or WebP by its bytes."""
    _, data, _ = _fetch(session, url, deadline, MAX_IMAGE_BYTES + 1, None)
    if len(data) > MAX_IMAGE_BYTES:
        raise _Refused(f"the image is larger than {MAX_IMAGE_BYTES // 1024} KiB")
    if (media := sniff_image(data)) is None:
        raise _Refused("the image is not a PNG, JPEG, GIF or WebP")
    return CardImage(data, media)


class _Meta(HTMLParser):
    """The <title> and the <meta> tags of a page, up to the end of its head."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self.done = False  # the head is over: nothing more to read
        self._in_title = False
        self._seen_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "meta" and len(self.meta) < 1000:
            a = {k.lower(): v or "" for k, v in attrs}
            key = (a.get("property") or a.get("name") or "").strip().lower()
            if key and "content" in a:
                self.meta.setdefault(key, a["content"])
        elif tag == "title" and not self._seen_title:
            self._in_title = self._seen_title = True
        elif tag == "body":
            self.done = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._in_title and len(self.title) < 4 * MAX_TITLE_BYTES:
            self.title += data

    def first(self, *keys: str) -> str:
        """The content of the first of these meta tags the page has, else ""."""
        return next((self.meta[k] for k in keys if self.meta.get(k, "").strip()), "")


def _read_html(page: bytes, charset: str | None, deadline: float) -> _Meta:
    """The title and meta tags of `page`, decoded by the charset of the header, of the page, else
    UTF-8. html.parser is pure Python and slow on some malformed input (seconds for 512 KiB), so
    it reads a chunk at a time, stops at the end of the head, and stops at `deadline` with what
    it found; it is never closed (closing re-reads an unfinished tag a character at a time)."""
    if charset is None and (m := _META_CHARSET.search(page[:4096])):
        charset = m[1].decode("ascii")
    try:
        text = page.decode(charset or "utf-8", "replace")
    except LookupError:  # unknown, or not a text encoding (base64, zlib, …)
        text = page.decode("utf-8", "replace")
    parser = _Meta()
    for i in range(0, len(text), _PARSE_CHUNK):
        if parser.done or time.monotonic() > deadline:
            break
        parser.feed(text[i:i + _PARSE_CHUNK])
    return parser


def _clean(text: str, limit: int) -> str:
    """Text for a card: controls and bidi controls out, whitespace collapsed, at most `limit`
    UTF-8 bytes (cut at a character boundary)."""
    text = " ".join(_UNWANTED.sub("", " ".join(unicodedata.normalize("NFC", text).split())).split())
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore").rstrip()
