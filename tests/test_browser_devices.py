"""A phone pairs with Alice's home server and logs in over TLS, in Debian's headless Chromium
(FORMAT.md section 17). The real `ipfeed serve --remote-port` runs as its own process: its
device listener is bound to 127.0.0.1 (tests stay on loopback) but served as remote, so every
request goes through the code path of a listener beyond loopback: TLS, a paired device's
credential on every request, secure cookies, rate limits."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from conftest import CHROMIUM, OUT, User, run
from playwright.sync_api import BrowserContext, sync_playwright

from ipfeed import tls

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


@pytest.fixture
def served(alice: User) -> Iterator[tuple[str, str]]:
    """`ipfeed serve --remote-port 0 --remote-host 127.0.0.1` for Alice: (loopback URL, device URL)."""
    proc = subprocess.Popen([sys.executable, "-m", "ipfeed", "serve", "--port", "0", "--remote-port", "0",
                             "--remote-host", "127.0.0.1"], env=alice.env(), stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    deadline = time.monotonic() + 90
    local = remote = None
    while time.monotonic() < deadline and remote is None:
        time.sleep(0.2)
        text = "".join(lines)
        local = local or (m.group(1) if (m := re.search(r"web UI on (http://\S+?)/", text)) else None)
        remote = m.group(1) if (m := re.search(r"paired devices: (https://\S+?)/", text)) else None
        assert proc.poll() is None, text
    assert local and remote, "".join(lines)
    yield local, remote
    os.kill(proc.pid, signal.SIGINT)  # only the process this fixture started
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
    reader.join(10)
    proc.stderr.close()  # type: ignore[union-attr]


def _served_fingerprint(url: str) -> str:
    host, port = url.removeprefix("https://").rsplit(":", 1)
    ctx = tls.client_context("pinned below")
    with socket.create_connection((host, int(port)), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as sock:
        der = sock.getpeercert(binary_form=True)
    assert der
    return tls.fingerprint_of_der(der)


def _shot(ctx: BrowserContext, name: str) -> None:
    ctx.pages[0].screenshot(path=str(OUT / f"devices-{name}.png"), full_page=True)


def test_a_phone_pairs_and_logs_in_over_tls(alice: User, served: tuple[str, str]) -> None:
    local, remote = served
    run(alice.service.post("Hello from Alice's home server"))
    printed = alice.cli_ok("device", "pair", "--name", "phone")
    code = re.search(r"pairing code: (\S+)", printed).group(1)  # type: ignore[union-attr]
    assert f"open: {remote}/pair" in printed
    fingerprint = re.search(r"fingerprint is (\S+)", printed).group(1)  # type: ignore[union-attr]
    assert fingerprint == _served_fingerprint(remote) == alice.service.tls_fingerprint()

    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-gpu",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        # the certificate is self-signed: the test pinned it above, the browser is told to accept it
        phone = browser.new_context(ignore_https_errors=True, viewport=PHONE)  # type: ignore[arg-type]
        desktop = browser.new_context(ignore_https_errors=True, viewport=DESKTOP)  # type: ignore[arg-type]
        violations: list[str] = []
        for ctx in (phone, desktop):
            pg = ctx.new_page()
            pg.set_default_timeout(20_000)
            pg.on("console", lambda m: violations.append(m.text)
                  if "Content Security Policy" in m.text else None)
        ph, dk = phone.pages[0], desktop.pages[0]

        # not paired: refused in plain words, nothing of the feed shown
        r = ph.goto(remote + "/")
        assert r is not None and r.status == 401
        assert "answers paired devices only" in ph.content() and "Hello from Alice" not in ph.content()
        _shot(phone, "phone-not-paired")

        # a wrong code, then the right one
        ph.goto(remote + "/pair")
        ph.fill("input[name=code]", "AAAA-AAAA-AAAA")
        ph.click("button:has-text('Pair')")
        assert "wrong or expired pairing code" in ph.content()
        _shot(phone, "phone-wrong-code")
        ph.fill("input[name=code]", code.lower())
        ph.fill("input[name=label]", "Alice's phone")
        ph.click("button:has-text('Pair')")
        assert "This device is paired" in ph.content()
        key = ph.input_value("#device-key")
        _shot(phone, "phone-paired")
        cookies = {c["name"]: c for c in phone.cookies()}
        for name in ("__Host-ipfeed_device", "__Host-ipfeed_session"):
            c = cookies[name]
            assert c["secure"] and c["httpOnly"] and c["sameSite"] == "Strict"

        ph.click("text=Go to the timeline")
        assert "Hello from Alice's home server" in ph.content()
        _shot(phone, "phone-timeline")

        # the desktop browser is not paired: it logs in with the device key
        r = dk.goto(remote + "/")
        assert r is not None and r.status == 401
        _shot(desktop, "desktop-login")
        dk.fill("input[name=token]", key)
        dk.click("button:has-text('Log in')")
        assert "Hello from Alice's home server" in dk.content()
        dk.fill("textarea[name=text]", "posted from a paired browser over TLS")
        dk.click("button:has-text('Post')")
        assert "posted from a paired browser over TLS" in dk.content()
        _shot(desktop, "desktop-timeline")
        ph.reload()
        assert "posted from a paired browser over TLS" in ph.content()

        # revoked on the home server: the next request is refused
        listed = json.loads(alice.cli_ok("device", "ls", "--json"))
        assert [d["label"] for d in listed] == ["Alice's phone"]
        alice.cli_ok("device", "revoke", listed[0]["id"])
        r = ph.reload()
        assert r is not None and r.status == 403 and "was revoked" in ph.content()
        _shot(phone, "phone-revoked")
        assert violations == []
        browser.close()

    # the loopback UI is unchanged: no credential asked
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-background-networking"])
        pg = browser.new_page(viewport=DESKTOP)  # type: ignore[arg-type]
        r = pg.goto(local + "/")
        assert r is not None and r.status == 200 and "posted from a paired browser over TLS" in pg.content()
        browser.close()


def test_the_served_certificate_is_the_one_pairing_shows(alice: User, served: tuple[str, str]) -> None:
    _, remote = served
    assert _served_fingerprint(remote) == alice.service.tls_fingerprint()
    with pytest.raises(ssl.SSLError):  # a client that checks certificates the usual way refuses it
        host, port = remote.removeprefix("https://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            ssl.create_default_context().wrap_socket(raw, server_hostname=host).close()

