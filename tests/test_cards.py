"""Link cards (ipfeed/cards.py) against real HTTP servers on 127.0.0.1, started by the tests;
loopback is allowed only by the test-only setting, and no test leaves loopback."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import run
from hypothesis import given
from hypothesis import strategies as st

from ipfeed import cards
from ipfeed.cards import MAX_HTML_BYTES, MAX_IMAGE_BYTES, Card, CardImage, address_problem, make_card
from ipfeed.config import Settings
from ipfeed.errors import InvalidInput

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LOOPBACK = Settings(cards_allow_loopback=True)
Route = Callable[[BaseHTTPRequestHandler], None]


class Site:
    """An HTTP server on 127.0.0.1 whose paths answer as the test says."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.scheme = "https" if tls else "http"
        self.hosts: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.hosts.append(self.headers.get("Host", ""))
                route = site.routes.get(self.path)
                if route is None:
                    self.send_error(404)
                else:
                    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                        route(self)  # the card may stop reading, as it should

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}{path}"

    def page(self, path: str, body: bytes | str, media: str = "text/html; charset=utf-8") -> None:
        data = body.encode() if isinstance(body, str) else body

        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Type", media)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        self.routes[path] = route

    def redirect(self, path: str, to: str) -> None:
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(302)
            h.send_header("Location", to)
            h.send_header("Content-Length", "0")
            h.end_headers()

        self.routes[path] = route

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    yield s
    s.close()


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[tuple[Site, Path]]:
    """An HTTPS site on 127.0.0.1 with a self-signed certificate for that address."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    s = Site(ctx)
    yield s, cert
    s.close()


def og(title: str = "A title", description: str = "Some words", image: str = "") -> str:
    img = f'<meta property="og:image" content="{image}">' if image else ""
    return (f'<html><head><title>Plain title</title><meta property="og:title" content="{title}">'
            f'<meta name="description" content="{description}">{img}</head><body>hi</body></html>')


def test_a_page_with_og_tags_gets_a_card_with_its_image(site: Site) -> None:
    site.page("/", og("Hello &amp; welcome", "About   this\n page", "/pic.png"))
    site.page("/pic.png", PNG, "image/png")
    card, why = make_card(site.url("/"), LOOPBACK)
    assert card == Card(site.url("/"), "Hello & welcome", "About this page", CardImage(PNG, "image/png"))
    assert why == ""


def test_title_falls_back_to_the_title_element(site: Site) -> None:
    site.page("/", "<html><head><title>\n Just  a title </title></head></html>")
    card, _ = make_card(site.url("/"), LOOPBACK)
    assert card is not None and (card.title, card.description, card.image) == ("Just a title", "", None)


def test_text_is_cut_cleaned_and_bounded(site: Site) -> None:
    site.page("/", og("é" * 400, "a\u202eb\x07c\u2066 " + "x" * 2000))
    card, _ = make_card(site.url("/"), LOOPBACK)
    assert card is not None
    assert card.title == "é" * 150  # 300 bytes
    assert card.description.startswith("abc x") and len(card.description.encode()) == 1000


def test_a_huge_page_is_read_only_up_to_512_kib(site: Site) -> None:
    late = '<meta property="og:title" content="read too far">'
    body = "<html><head><title>early</title>" + " " * MAX_HTML_BYTES + late + "x" * (4 << 20)
    site.page("/", body)
    card, _ = make_card(site.url("/"), LOOPBACK)
    assert card is not None and card.title == "early"


def test_three_redirects_are_followed_and_the_image_is_relative_to_the_final_url(site: Site) -> None:
    site.redirect("/1", "/2")
    site.redirect("/2", site.url("/3"))
    site.redirect("/3", "/dir/page")
    site.page("/dir/page", og(image="pic.png"))
    site.page("/dir/pic.png", PNG, "application/octet-stream")
    card, why = make_card(site.url("/1"), LOOPBACK)
    assert card is not None and card.image == CardImage(PNG, "image/png"), why


def test_four_redirects_are_refused(site: Site) -> None:
    for i in range(4):
        site.redirect(f"/{i}", f"/{i + 1}")
    site.page("/4", og())
    assert make_card(site.url("/0"), LOOPBACK) == (None, "the link redirects more than 3 times")


@pytest.mark.parametrize(("target", "why"), [
    ("http://10.0.0.1/", "10.0.0.1 is a private address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://[fc00::1]/", "fc00::1 is a private address"),
    ("http://[::ffff:192.168.1.1]:8080/", "::ffff:192.168.1.1 (192.168.1.1 is a private address)"),
    ("http://0.0.0.0/", "0.0.0.0 is an unspecified address"),
    ("file:///etc/passwd", "only http and https links get a card, not file"),
    ("gopher://127.0.0.1/", "only http and https links get a card, not gopher"),
], ids=lambda v: str(v))
def test_a_redirect_off_loopback_to_a_private_address_is_refused(site: Site, target: str, why: str) -> None:
    site.redirect("/", target)
    assert make_card(site.url("/"), LOOPBACK) == (None, why)


def test_loopback_is_refused_unless_the_test_setting_allows_it(site: Site) -> None:
    site.page("/", og())
    assert make_card(site.url("/"), Settings()) == (None, "127.0.0.1 is a loopback address")
    card, why = make_card(site.url("/").replace("127.0.0.1", "localhost"), Settings())
    assert card is None and "loopback" in why
    assert site.hosts == []  # refused before connecting


def test_a_name_with_a_private_address_among_its_answers_is_refused(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    port = site.server.server_address[1]
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in ("127.0.0.1", "10.0.0.1")]
    monkeypatch.setattr(cards, "_resolve", lambda host, port, deadline: answers)
    site.page("/", og())
    card, why = make_card(f"http://rebind.example:{port}/", LOOPBACK)
    assert card is None and why == "rebind.example has a non-public address: 10.0.0.1 is a private address"
    assert site.hosts == []


def test_the_connection_goes_to_the_vetted_address_with_the_urls_host(
        site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    port = site.server.server_address[1]
    monkeypatch.setattr(cards, "_resolve", lambda host, port_, deadline: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))])
    site.page("/", og())
    card, _ = make_card(f"http://example.test:{port}/", LOOPBACK)
    assert card is not None and site.hosts == [f"example.test:{port}"]


def test_https_goes_through_the_vetted_connection_and_checks_the_certificate(
        tls_site: tuple[Site, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    site, cert = tls_site
    site.page("/", og())
    card, why = make_card(site.url("/"), LOOPBACK)
    assert card is None and "CERTIFICATE_VERIFY_FAILED" in why

    class Trusting(requests.Session):
        def __init__(self) -> None:
            super().__init__()
            self.verify = str(cert)

    monkeypatch.setattr(requests, "Session", Trusting)
    card, why = make_card(site.url("/"), LOOPBACK)
    assert card is not None and card.title == "A title", why
    assert make_card(site.url("/"), Settings()) == (None, "127.0.0.1 is a loopback address")


def test_a_page_that_is_not_html_gets_no_card(site: Site) -> None:
    site.page("/", b'{"title": "x"}', "application/json")
    assert make_card(site.url("/"), LOOPBACK) == (None, "the link is application/json, not text/html")


def test_an_error_status_gets_no_card(site: Site) -> None:
    assert make_card(site.url("/missing"), LOOPBACK) == (None, "the link answered HTTP 404")


def test_an_image_that_is_really_html_is_left_out(site: Site) -> None:
    site.page("/", og(image="/pic.png"))
    site.page("/pic.png", "<html><script>alert(1)</script></html>", "image/png")
    card, why = make_card(site.url("/"), LOOPBACK)
    assert card is not None and card.image is None
    assert why == "no image: the image is not a PNG, JPEG, GIF or WebP"


def test_an_image_over_1_mib_is_left_out(site: Site) -> None:
    site.page("/", og(image="/pic.png"))
    site.page("/pic.png", PNG + b"\x00" * MAX_IMAGE_BYTES, "image/png")
    card, why = make_card(site.url("/"), LOOPBACK)
    assert card is not None and card.image is None and why == "no image: the image is larger than 1024 KiB"


def test_an_image_at_a_private_address_is_left_out(site: Site) -> None:
    site.page("/", og(image="http://192.168.1.1/pic.png"))
    card, why = make_card(site.url("/"), LOOPBACK)
    assert card is not None and card.image is None and why == "no image: 192.168.1.1 is a private address"


def drip(h: BaseHTTPRequestHandler) -> None:
    """Headers, then a byte at a time, never enough to finish (a slow-loris page)."""
    h.send_response(200)
    h.send_header("Content-Type", "text/html")
    h.end_headers()
    for _ in range(600):
        h.wfile.write(b" ")
        h.wfile.flush()
        time.sleep(0.05)


def drip_headers(h: BaseHTTPRequestHandler) -> None:
    """A status line, then one header that never ends, a byte at a time."""
    h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    for _ in range(600):
        h.wfile.write(b"x")
        h.wfile.flush()
        time.sleep(0.05)


def silent(h: BaseHTTPRequestHandler) -> None:
    """Never answers."""
    time.sleep(30)


@pytest.mark.parametrize("route", [drip, drip_headers, silent], ids=["drip", "drip-headers", "silent"])
def test_a_slow_server_is_given_up_on(site: Site, route: Route) -> None:
    site.routes["/"] = route
    assert make_card(site.url("/"), LOOPBACK, timeout=0.5) == (None, "the link took too long")


def test_cards_can_be_turned_off(site: Site) -> None:
    site.page("/", og())
    off = Settings.from_env({"IPFEED_LINK_CARDS": "off", "IPFEED_CARDS_ALLOW_LOOPBACK": "on"})
    assert make_card(site.url("/"), off) == (None, "link cards are off (IPFEED_LINK_CARDS)")
    assert site.hosts == []
    assert Settings.from_env({}).link_cards and not Settings.from_env({}).cards_allow_loopback
    with pytest.raises(InvalidInput, match="IPFEED_LINK_CARDS must be on or off"):
        Settings.from_env({"IPFEED_LINK_CARDS": "maybe"})


@pytest.mark.parametrize("url", ["ftp://example.com/", "http://user:pw@127.0.0.1/", "http:///x",
                                 "javascript:alert(1)", "http://[::1/", "https://x/" + "a" * 3000])
def test_urls_that_are_not_plain_http_get_no_card(url: str) -> None:
    card, why = make_card(url, LOOPBACK)
    assert card is None and why


@pytest.mark.parametrize(("address", "problem"), [
    ("10.0.0.1", "private"), ("172.16.0.1", "private"), ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"), ("127.0.0.1", "loopback"), ("127.8.9.1", "loopback"),
    ("::1", "loopback"), ("fe80::1", "link-local"), ("fe80::1%2", "link-local"), ("fc00::1", "private"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.1.2.3", "private"), ("0.0.0.0", "unspecified"),
    ("::", "unspecified"), ("100.64.0.1", "not a public"), ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"), ("ff0e::1", "multicast"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"), ("192.0.2.1", "private"), ("2001:db8::1", "private"),
    ("2002:a00:1::", "private"), ("64:ff9b::a00:1", "private"), ("::a00:1", "reserved"),
    ("198.18.0.1", "private"), ("not-an-ip", "not an IP"),
    ("8.8.8.8", None), ("1.1.1.1", None), ("2001:4860::8888", None), ("2606:4700::1111", None),
    ("::ffff:8.8.8.8", None), ("64:ff9b::808:808", None),
], ids=lambda v: str(v))
def test_address_classifier(address: str, problem: str | None) -> None:
    got = address_problem(address)
    assert (got is None) if problem is None else (got is not None and problem in got)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_the_test_setting_allows_loopback_and_nothing_else(address: str) -> None:
    assert address_problem(address, allow_loopback=True) is None
    assert address_problem("10.0.0.1", allow_loopback=True) is not None
    assert address_problem("169.254.169.254", allow_loopback=True) is not None


def test_the_page_is_read_up_to_the_end_of_its_head(site: Site) -> None:
    site.page("/", '<html><head><title>head</title></head><body><meta property="og:title" content="body">'
              + "<a " * 100_000)
    card, _ = make_card(site.url("/"), LOOPBACK)
    assert card is not None and card.title == "head"


def test_the_charset_comes_from_the_header_or_the_page(site: Site) -> None:
    site.page("/h", "<title>café</title>".encode("latin-1"), "text/html; charset=ISO-8859-1")
    site.page("/m", '<meta charset="latin-1"><title>café</title>'.encode("latin-1"), "text/html")
    site.page("/x", "<title>café</title>".encode(), "text/html; charset=base64")
    for path in ("/h", "/m", "/x"):
        card, why = make_card(site.url(path), LOOPBACK)
        assert card is not None and card.title == "café", (path, why)


@given(st.integers(0, 2**32 - 1))
def test_an_ipv4_address_and_its_ipv6_mapped_form_get_the_same_verdict(n: int) -> None:
    v4 = ipaddress.IPv4Address(n)
    mapped = ipaddress.IPv6Address(0xFFFF00000000 | n)
    assert (address_problem(str(v4)) is None) == (address_problem(str(mapped)) is None)
    if v4.is_private or v4.is_loopback or v4.is_multicast or not v4.is_global:
        assert address_problem(str(v4)) is not None


@given(st.integers(0, 2**128 - 1))
def test_every_ipv6_address_gets_a_verdict(n: int) -> None:
    ip = ipaddress.IPv6Address(n)
    problem = address_problem(str(ip))
    if not ip.is_global or ip.is_multicast:
        assert problem is not None


def test_the_authors_node_makes_the_card_once_and_followers_never_fetch_the_link(
        site: Site, alice: Any, bob: Any) -> None:
    site.page("/", og("Made once", "by the author's node", "/pic.png"))
    site.page("/pic.png", PNG, "image/png")
    alice.settings = alice.settings.with_(cards_allow_loopback=True)
    bob.settings = bob.settings.with_(cards_allow_loopback=True)  # Bob could fetch it: he must not
    bob.connect(alice)
    run(alice.service.post(f"look {site.url('/')}"))
    assert len(site.hosts) == 2  # the page and its image, once, at post time
    name = alice.service.identity().name
    run(bob.service.follow(name))
    run(bob.service.sync(force=True))
    [p] = bob.service.feed_posts(name)
    assert p.card is not None
    assert (p.card["title"], p.card["description"]) == ("Made once", "by the author's node")
    thumb = p.card["thumb"]  # stored with the post as an attachment, served from the node
    assert thumb["type"] == "image/png" and thumb["size"] == len(PNG)
    assert run(bob.service.attachment_data(thumb["cid"], thumb)) == PNG
    row = json.loads(bob.cli_ok("timeline", "--json"))["posts"][0]
    assert row["card"]["url"] == site.url("/") and row["card"]["title"] == "Made once"
    assert len(site.hosts) == 2  # nothing more: a reader never fetches the link or its image
