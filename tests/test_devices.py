"""Paired devices on a home server (FORMAT.md section 17): one-time codes, credentials kept
hashed, revocation, brute force bounded on pairing and login, and the web UI beyond loopback
refusing everyone but paired devices, with its Host, CSRF and CSP protections kept."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import conftest
import pytest
from flask import Flask
from flask.testing import FlaskClient
from ipfeed.web import create_app
from ipfeed.web.worker import Worker

from ipfeed import devices, handover, tls
from ipfeed.devices import Devices
from ipfeed.errors import InvalidInput, NotPaired, RateLimited, Revoked
from ipfeed.identity import Identity
from ipfeed.service import Service

HTTPS = "https://127.0.0.1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Devices]:
    s = Devices(tmp_path)
    yield s
    s.close()


def test_a_pairing_code_works_once(store: Devices) -> None:
    p = store.open_pairing("laptop")
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", p.code)
    device, token = store.redeem(p.code.lower().replace("-", " "), "", "10.0.0.1")  # as typed
    assert device.label == "laptop" and token.startswith(devices.TOKEN_PREFIX)
    assert store.authenticate(token).id == device.id
    with pytest.raises(NotPaired, match="wrong or expired"):
        store.redeem(p.code, "again", "10.0.0.1")


def test_an_expired_code_is_refused(store: Devices) -> None:
    p = store.open_pairing()
    store.db.execute("UPDATE pairings SET expires = 1")  # ten minutes later
    with pytest.raises(NotPaired, match="wrong or expired"):
        store.redeem(p.code, "phone", "10.0.0.1")


def test_guessing_codes_voids_every_open_pairing(store: Devices) -> None:
    """Five wrong codes, from any addresses, while a pairing is open: it is void, so a
    guesser gets at most five tries at one code (5 / 31^12)."""
    p = store.open_pairing()
    for i in range(devices.CODE_MISSES - 1):
        with pytest.raises(NotPaired, match="wrong or expired"):
            store.redeem("AAAA-AAAA-AAAA", "x", f"10.0.0.{i}")
    with pytest.raises(NotPaired, match="every open pairing is void"):
        store.redeem("AAAA-AAAA-AAAB", "x", "10.0.1.1")
    with pytest.raises(NotPaired):
        store.redeem(p.code, "phone", "10.0.0.1")  # the right code, too late
    assert store.devices() == []


def test_one_address_is_rate_limited_even_with_a_right_code(store: Devices) -> None:
    for _ in range(devices.CLIENT_FAILURES):
        with pytest.raises(NotPaired):
            store.redeem("AAAA-AAAA-AAAA", "x", "203.0.113.9")
    p = store.open_pairing()
    with pytest.raises(RateLimited, match="too many failed pairing attempts"):
        store.redeem(p.code, "phone", "203.0.113.9")
    device, _ = store.redeem(p.code, "phone", "198.51.100.2")  # another address is not punished
    assert device.label == "phone"


def test_all_addresses_together_are_rate_limited(store: Devices) -> None:
    """A guesser spread over many addresses meets the global bound."""
    for i in range(devices.ALL_FAILURES):
        with pytest.raises(NotPaired):
            store.redeem("AAAA-AAAA-AAAA", "x", f"10.1.{i // 250}.{i % 250}")
    p = store.open_pairing()
    with pytest.raises(RateLimited):
        store.redeem(p.code, "phone", "192.0.2.200")


def test_login_brute_force_is_bounded(store: Devices) -> None:
    store.open_pairing()
    _, token = store.redeem(store.open_pairing().code, "phone", "10.0.0.1")
    for i in range(devices.CLIENT_FAILURES):
        with pytest.raises(NotPaired):
            store.login(f"ipfd_guess{i}", "203.0.113.7")
    with pytest.raises(RateLimited, match="too many failed login attempts"):
        store.login(token, "203.0.113.7")
    assert store.login(token, "10.0.0.1")


def test_a_revoked_credential_is_refused(store: Devices) -> None:
    device, token = store.redeem(store.open_pairing().code, "phone", "10.0.0.1")
    store.revoke(device.id)
    with pytest.raises(Revoked, match="was revoked"):
        store.authenticate(token)
    assert store.devices()[0].revoked is not None
    with pytest.raises(InvalidInput, match="no paired device"):
        store.revoke("nope")


def test_credentials_and_codes_are_stored_hashed_in_a_private_file(tmp_path: Path) -> None:
    s = Devices(tmp_path)
    p = s.open_pairing()
    _, token = s.redeem(p.code, "phone", "10.0.0.1")
    s.close()
    path = tmp_path / "devices.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = b"".join(f.read_bytes() for f in tmp_path.glob("devices.sqlite*"))
    assert token.encode() not in raw and p.code.replace("-", "").encode() not in raw
    assert devices.digest(token).encode() in raw


@pytest.mark.parametrize("label", ["", "x" * 101, "a\u202eb", "tab\there"],
                         ids=["empty", "long", "bidi", "control"])
def test_device_labels_are_checked(store: Devices, label: str) -> None:
    with pytest.raises(InvalidInput):
        store.open_pairing(label)


@pytest.mark.parametrize("body, error", [
    ([], "a JSON object"),
    ({"id": "short", "created": 1, "text": "hi"}, "16 to 64"),
    ({"id": "a" * 20, "created": 10**15, "text": "hi"}, "not in the future"),
    ({"id": "a" * 20, "created": True, "text": "hi"}, "time in ms"),
    ({"id": "a" * 20, "created": 1, "text": 5}, "text is a string"),
    ({"id": "a" * 20, "created": 1, "text": "   "}, "only white space"),
    ({"id": "a" * 20, "created": 1, "text": "hi", "files": ["k51"]}, "unknown handover fields: files"),
    ({"id": "a" * 20, "created": 1, "text": "hi", "sensitive": "yes"}, "true or false"),
], ids=["not-object", "short-id", "future", "bool-time", "text-type", "blank", "unknown-field", "bool"])
def test_a_bad_handover_is_refused_naming_what_is_wrong(body: Any, error: str) -> None:
    with pytest.raises(InvalidInput, match=error):
        handover.parse(body)


def test_fingerprints_are_normalized_and_checked(tmp_path: Path) -> None:
    fp = tls.fingerprint(tmp_path)
    assert re.fullmatch(r"([0-9A-F]{2}:){31}[0-9A-F]{2}", fp)
    assert tls.normalize_fingerprint("SHA256:" + fp.replace(":", "").lower()) == fp
    assert stat.S_IMODE(tls.paths(tmp_path)[1].stat().st_mode) == 0o600
    with pytest.raises(InvalidInput, match="fingerprint"):
        tls.normalize_fingerprint("AB:CD")


# -- the web UI beyond loopback --------------------------------------------------------------

@pytest.fixture
def home(tmp_path: Path) -> Iterator[tuple[Service, Flask, Flask]]:
    """A home (no node: pairing and handing over need none) with its loopback and remote apps."""
    settings = conftest.test_settings(tmp_path / "alice")
    svc = Service(settings)
    svc.init("Alice")
    worker = Worker(svc)
    yield svc, create_app(settings, worker=worker), create_app(settings, worker=worker, remote=True)
    worker.stop()


def _csrf(client: FlaskClient, path: str = "/pair") -> str:
    page = client.get(path, base_url=HTTPS).get_data(as_text=True)
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def _pair(svc: Service, client: FlaskClient) -> str:
    code = svc.open_pairing("phone").code
    r = client.post("/pair", data={"csrf": _csrf(client), "code": code, "label": "phone"}, base_url=HTTPS)
    assert r.status_code == 200, r.get_data(as_text=True)
    cookie = next(c for c in r.headers.getlist("Set-Cookie") if c.startswith("__Host-ipfeed_device="))
    return cookie.split(";")[0].split("=", 1)[1]


def test_a_non_paired_browser_gets_401_with_a_plain_message(home: Any) -> None:
    svc, _, remote = home
    for path in ("/", "/following", "/profile", f"/feed/{svc.identity().name}"):
        r = remote.test_client().get(path, base_url=HTTPS)
        assert r.status_code == 401
        assert "answers paired devices only" in r.get_data(as_text=True)
    r = remote.test_client().get("/api/timeline", base_url=HTTPS)
    assert r.status_code == 401 and "paired devices only" in r.json["error"]


def test_a_post_from_a_non_paired_browser_is_refused_before_anything(home: Any) -> None:
    svc, _, remote = home
    r = remote.test_client().post("/post", data={"text": "sneaky"}, base_url=HTTPS)
    assert r.status_code == 401
    with svc.home.outbox() as box:
        assert box.count_posts() == 0


def test_loopback_stays_unauthenticated_and_has_no_device_routes(home: Any) -> None:
    _, local, _ = home
    assert local.test_client().get("/").status_code == 200
    assert local.test_client().get("/pair").status_code == 404
    assert local.test_client().post("/api/handover", json={}).status_code in (403, 404)


def test_pairing_sets_a_secure_httponly_strict_cookie_and_lets_the_device_in(home: Any) -> None:
    svc, _, remote = home
    client = remote.test_client()
    code = svc.open_pairing().code
    r = client.post("/pair", data={"csrf": _csrf(client), "code": code, "label": "phone"}, base_url=HTTPS)
    cookies = r.headers.getlist("Set-Cookie")
    device = next(c for c in cookies if c.startswith("__Host-ipfeed_device="))
    for attribute in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert attribute in device
    assert "Domain" not in device
    page = client.get("/", base_url=HTTPS)
    assert page.status_code == 200 and "Log out" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'; script-src 'self'")
    session = client.get_cookie("__Host-ipfeed_session", domain="127.0.0.1")
    assert session is not None and session.secure and session.http_only


def test_csrf_and_host_checks_are_kept_beyond_loopback(home: Any) -> None:
    svc, _, remote = home
    client = remote.test_client()
    _pair(svc, client)
    r = client.post("/post", data={"text": "no token"}, base_url=HTTPS)
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    r = client.post("/pair", data={"csrf": _csrf(client), "code": "x"}, base_url=HTTPS,
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "another origin" in r.get_data(as_text=True)
    assert client.get("/", base_url="https://evil.example").status_code == 400
    assert svc.drafts() == []


def test_a_revoked_browser_gets_403(home: Any) -> None:
    svc, _, remote = home
    client = remote.test_client()
    _pair(svc, client)
    svc.revoke_device(svc.devices()[0].id)
    r = client.get("/", base_url=HTTPS)
    assert r.status_code == 403 and "was revoked" in r.get_data(as_text=True)


def test_login_with_the_device_key_and_logout(home: Any) -> None:
    svc, _, remote = home
    token = _pair(svc, remote.test_client())
    client = remote.test_client()
    r = client.post("/login", data={"csrf": _csrf(client, "/login"), "token": "ipfd_wrong"}, base_url=HTTPS)
    assert r.status_code == 401
    r = client.post("/login", data={"csrf": _csrf(client, "/login"), "token": token}, base_url=HTTPS)
    assert r.status_code == 302 and client.get("/", base_url=HTTPS).status_code == 200
    client.post("/logout", data={"csrf": _csrf(client, "/login")}, base_url=HTTPS)
    assert client.get("/", base_url=HTTPS).status_code == 401


def test_pairing_page_brute_force_gets_429(home: Any) -> None:
    svc, _, remote = home
    client = remote.test_client()
    for _ in range(devices.CLIENT_FAILURES):
        r = client.post("/pair", data={"csrf": _csrf(client), "code": "AAAA-AAAA-AAAA"}, base_url=HTTPS)
        assert r.status_code == 401
    code = svc.open_pairing().code
    r = client.post("/pair", data={"csrf": _csrf(client), "code": code}, base_url=HTTPS)
    assert r.status_code == 429 and "too many failed pairing attempts" in r.get_data(as_text=True)


def _api_pair(svc: Service, remote: Flask) -> str:
    r = remote.test_client().post("/api/pair", json={"code": svc.open_pairing().code, "label": "laptop"},
                                  base_url=HTTPS)
    assert r.status_code == 200, r.json
    assert r.json["name"] == svc.identity().name
    return str(r.json["token"])


def _handover(remote: Flask, auth: dict[str, str], *drafts: Any) -> Any:
    return remote.test_client().post("/api/handover", json={"handovers": list(drafts)}, headers=auth,
                                     base_url=HTTPS)


def _draft(n: int, text: str) -> dict[str, Any]:
    return {"id": f"draft-{n:020d}", "created": 1_700_000_000_000 + n, "text": text}


def test_a_replayed_handover_is_posted_once(home: Any) -> None:
    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    first = _handover(remote, auth, _draft(1, "from the laptop"))
    assert first.status_code == 200
    [one] = first.json["results"]
    assert one["already"] is False and one["cid"] and one["seq"] == 1
    again = _handover(remote, auth, _draft(1, "from the laptop"), _draft(2, "and the next"))
    replayed, new = again.json["results"]
    assert replayed["already"] is True and replayed["cid"] == one["cid"]
    assert new["already"] is False and new["seq"] == 2
    with svc.home.outbox() as box:
        assert box.drafts() == [] and box.count_posts() == 2 and box.post_cid(1) == one["cid"]


def test_a_refused_draft_does_not_hold_the_others(home: Any) -> None:
    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    r = _handover(remote, auth, _draft(1, "first"), {"id": "x", "text": "bad id"},
                  {**_draft(2, "reply to nothing"), "reply_to": "not-a-cid"}, _draft(3, "last"))
    results = r.json["results"]
    assert r.status_code == 200 and [x.get("seq") for x in results] == [1, None, None, 2]
    assert "16 to 64" in results[1]["error"] and results[1]["id"] == "x"
    assert results[2]["id"] == "draft-00000000000000000002" and results[2]["error"]


def test_the_api_refuses_a_revoked_device_and_bad_requests(home: Any) -> None:
    svc, _, remote = home
    token = _api_pair(svc, remote)
    auth = {"Authorization": f"Bearer {token}"}
    r = remote.test_client().post("/api/handover", json=_draft(1, "not in a list"), headers=auth,
                                  base_url=HTTPS)
    assert r.status_code == 400 and "handovers" in r.json["error"]
    r = _handover(remote, auth, *[_draft(i, "many") for i in range(101)])
    assert r.status_code == 400 and "1 to 100" in r.json["error"]
    r = remote.test_client().post("/api/handover", data="text", headers=auth, base_url=HTTPS)
    assert r.status_code == 403  # not JSON: a form post without a CSRF token
    svc.revoke_device(svc.devices()[0].id)
    r = _handover(remote, auth, _draft(1, "after revocation"))
    assert r.status_code == 403 and "was revoked" in r.json["error"]
    with svc.home.outbox() as box:
        assert box.count_posts() == 0


def test_behind_a_proxy_only_requests_that_came_through_tls_are_answered(tmp_path: Path) -> None:
    settings = conftest.test_settings(tmp_path / "alice")
    svc = Service(settings)
    svc.init("Alice")
    worker = Worker(svc)
    try:
        app = create_app(settings, worker=worker, remote=True, behind_proxy=True,
                         public_names=("home.example",))
        plain = app.test_client().get("/", base_url="http://127.0.0.1")
        assert plain.status_code == 400 and "did not come through TLS" in plain.get_data(as_text=True)
        proxied = app.test_client().get("/", base_url="http://127.0.0.1", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "home.example",
            "X-Forwarded-For": "198.51.100.4"})
        assert proxied.status_code == 401
    finally:
        worker.stop()


def test_devices_db_is_sqlite_with_no_plain_secret_columns(tmp_path: Path) -> None:
    Devices(tmp_path).close()
    db = sqlite3.connect(tmp_path / "devices.sqlite")
    columns = {row[1] for row in db.execute("PRAGMA table_info(devices)")}
    db.close()
    assert "token_hash" in columns and "token" not in columns


# -- the commands --------------------------------------------------------------------------

def test_serve_never_binds_the_unauthenticated_ui_beyond_loopback(make_user: Any) -> None:
    alice = make_user("alice", start=False)
    r = alice.cli("serve", "--host", "0.0.0.0")
    assert r.exit_code == 2 and "binds loopback only" in r.output
    r = alice.cli("serve", "--remote-port", "8788")
    assert r.exit_code == 2 and "--public-name" in r.output
    r = alice.cli("serve", "--remote-port", "8788", "--behind-proxy", "--public-name", "home.example")
    assert r.exit_code == 2 and "bind the devices' listener on loopback" in r.output


def test_device_pair_ls_revoke(make_user: Any) -> None:
    alice = make_user("alice", start=False)
    printed = alice.cli_ok("device", "pair", "--name", "tablet", "--url", "https://home.example:8788/")
    code = re.search(r"pairing code: (\S+)", printed).group(1)  # type: ignore[union-attr]
    fp = alice.service.tls_fingerprint()
    assert "open: https://home.example:8788/pair" in printed and fp in printed
    assert f"ipfeed remote add https://home.example:8788 --code {code} --fingerprint {fp}" in printed
    device, _ = alice.service.redeem_pairing(code, "", "10.0.0.1")
    assert f"{device.id}  tablet  paired" in alice.cli_ok("device", "ls")
    assert "revoked" in alice.cli_ok("device", "revoke", device.id)
    assert "revoked" in alice.cli_ok("device", "ls").split("paired", 1)[1]
    r = alice.cli("device", "revoke", "ffffffff")
    assert r.exit_code == 1 and "no paired device 'ffffffff'" in r.output


def test_device_pair_needs_the_feed_key(make_user: Any) -> None:
    laptop = make_user("laptop", start=False, init=False)
    r = laptop.cli("device", "pair")
    assert r.exit_code == 1 and "ipfeed init" in r.output


def test_the_same_draft_handed_over_at_once_from_several_connections_is_posted_once(home: Any) -> None:
    """A retry that overlaps the first attempt (a timeout on a slow link): the outbox's
    transaction decides, one draft is saved, every answer names the same post."""
    import threading

    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    answers: list[Any] = []
    threads = [threading.Thread(target=lambda: answers.append(_handover(remote, auth, _draft(7, "once"))))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    results = [a.json["results"][0] for a in answers]
    assert len(results) == 6 and len({r["draft"] for r in results}) == 1
    with svc.home.outbox() as box:
        assert box.count_posts() == 1 and box.drafts() == []
        posted = box.post_cid(1)
    assert {r["cid"] for r in results if r["cid"]} <= {posted}


OTHER = Identity.generate().name
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


def _upload(remote: Flask, auth: dict[str, str], data: bytes, digest: str | None = None) -> Any:
    return remote.test_client().put(f"/api/upload/{digest or hashlib.sha256(data).hexdigest()}",
                                    data=data, headers={**auth, "Content-Type": "application/octet-stream"},
                                    base_url=HTTPS)


def test_an_action_that_cannot_be_applied_now_waits_with_all_after_it(home: Any) -> None:
    """With the node down, following a feed not known here cannot be checked: it waits, and
    the post after it is not applied either (order kept); with --force it is saved."""
    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    follow = {"id": f"draft-{2:020d}", "created": 1_700_000_000_002, "kind": "follow", "name": OTHER}
    r = _handover(remote, auth, _draft(1, "first"), follow, _draft(3, "after"))
    first, waits, after = r.json["results"]
    assert first["seq"] == 1 and waits["wait"] is True and after["wait"] is True
    assert after["id"] == f"draft-{3:020d}" and "not applied yet" in after["error"]
    with svc.home.outbox() as box:
        assert box.count_posts() == 1 and box.drafts() == []
    forced = {**follow, "id": f"draft-{4:020d}", "force": True}
    r = _handover(remote, auth, forced, _draft(3, "after"))
    applied, later = r.json["results"]
    assert applied == {"id": forced["id"], "draft": None, "seq": None, "cid": None, "already": False}
    assert later["seq"] == 2
    assert OTHER in [f.name for f in svc.follows()]
    again = _handover(remote, auth, forced).json["results"]
    assert again[0]["already"] is True


def test_an_attachment_is_uploaded_ahead_and_checked_by_its_sha256(home: Any) -> None:
    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    digest = hashlib.sha256(PNG).hexdigest()
    r = _upload(remote, auth, PNG + b"x", digest)
    assert r.status_code == 400 and "do not have the SHA-256" in r.json["error"]
    r = _upload(remote, auth, PNG, "../../etc")
    assert r.status_code in (400, 404)
    r = _upload(remote, {}, PNG)
    assert r.status_code == 401
    att = {"name": "cat.png", "sha256": digest, "size": len(PNG), "alt": "a cat"}
    r = _handover(remote, auth, {**_draft(1, "too early"), "attachments": [att]})
    assert "was not uploaded" in r.json["results"][0]["error"]
    assert _upload(remote, auth, PNG).json == {"sha256": digest, "size": len(PNG)}
    r = _handover(remote, auth, {**_draft(2, "a cat"), "attachments": [att]}, _draft(3, "after"))
    cat, after = r.json["results"]
    assert cat["draft"] and cat["seq"] is None  # signed once the node has the file
    assert after["seq"] is None  # after it in the chain: waits for it too
    with svc.home.outbox() as box:
        [d, _] = box.drafts()
    assert (d.text, [a["name"] for a in d.attachments], d.extra["alts"]) == ("a cat", ["cat.png"], ["a cat"])
    assert not (svc.settings.home / "uploads" / svc.devices()[0].id / digest).exists()  # staged now


@pytest.mark.parametrize("body", [
    {"kind": "react", "cid": "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei"},
    {"kind": "edit", "cid": "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei", "text": "x"},
    {"kind": "delete", "cid": "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei"},
    *({"kind": k, "name": OTHER} for k in ("follow", "unfollow", "mute", "unmute", "block", "unblock",
                                           "accept", "ignore")),
    {"text": "private", "to": [OTHER]},
], ids=lambda b: str(b.get("kind", "private post")))
def test_a_revoked_device_is_refused_every_action_and_upload(home: Any, body: dict[str, Any]) -> None:
    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    svc.revoke_device(svc.devices()[0].id)
    r = _handover(remote, auth, {"id": f"draft-{1:020d}", "created": 1_700_000_000_000, **body})
    assert r.status_code == 403 and "was revoked" in r.json["error"]
    r = _upload(remote, auth, PNG)
    assert r.status_code == 403 and "was revoked" in r.json["error"]
    assert svc.follows() == () and svc.moderation().muted == set()
    with svc.home.outbox() as box:
        assert box.count_posts() == 0 and box.drafts() == []


def test_uploads_waiting_for_their_posts_are_bounded_and_a_refused_posts_are_dropped(home: Any) -> None:
    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    blobs = [b"%d" % n for n in range(handover.MAX_UPLOADS + 1)]
    for blob in blobs[:-1]:
        assert _upload(remote, auth, blob).status_code == 200
    r = _upload(remote, auth, blobs[-1])
    assert r.status_code == 400 and "wait for their posts already" in r.json["error"]
    assert _upload(remote, auth, blobs[0]).status_code == 200  # the same one again: fine
    digest = hashlib.sha256(blobs[0]).hexdigest()
    att = {"name": "a.txt", "sha256": digest, "size": len(blobs[0])}
    r = _handover(remote, auth, {**_draft(1, "reply to nothing"), "reply_to": "not-a-cid",
                                 "attachments": [att]})
    assert r.json["results"][0]["error"]
    assert not (svc.settings.home / "uploads" / svc.devices()[0].id / digest).exists()
    assert _upload(remote, auth, blobs[-1]).status_code == 200  # room again


def test_actions_on_posts_become_entries_in_order_each_once(home: Any) -> None:
    """react, unreact, repost, unrepost, edit, delete handed over (no node: each is signed at
    once); the same request again applies none of them a second time."""
    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    [mine] = _handover(remote, auth, _draft(1, "my post")).json["results"]
    cid = mine["cid"]
    actions = [{"kind": "react", "cid": cid, "emoji": "👍"}, {"kind": "unreact", "cid": cid},
               {"kind": "repost", "cid": cid}, {"kind": "unrepost", "cid": cid},
               {"kind": "edit", "cid": cid, "text": "my post, fixed"}, {"kind": "delete", "cid": cid}]
    bodies = [{"id": f"draft-{n:020d}", "created": 1_700_000_000_000 + n, **a}
              for n, a in enumerate(actions, 2)]
    results = _handover(remote, auth, *bodies).json["results"]
    assert [r.get("seq") for r in results] == [2, 3, 4, 5, 6, 7], results
    with svc.home.index() as index:
        kinds = [index.entry(r["cid"])[2] for r in results]  # type: ignore[index]
    assert kinds == ["reaction", "delete", "repost", "delete", "edit", "delete"]
    again = _handover(remote, auth, *bodies).json["results"]
    assert [(r["already"], r["cid"]) for r in again] == [(True, r["cid"]) for r in results]
    with svc.home.outbox() as box:
        assert box.count_posts() == 7


def test_a_revoked_devices_uploads_are_dropped_on_revoke(home: Any) -> None:
    svc, _, remote = home
    keep = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    gone = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    assert _upload(remote, keep, b"kept").status_code == 200
    assert _upload(remote, gone, b"for a post never handed over").status_code == 200
    kept_id, gone_id = (d.id for d in svc.devices())
    uploads = svc.settings.home / "uploads"
    svc.revoke_device(gone_id)
    assert not (uploads / gone_id).exists()
    assert [f.name for f in (uploads / kept_id).iterdir()] == [hashlib.sha256(b"kept").hexdigest()]


def test_uploads_no_handover_used_within_a_week_are_dropped(home: Any) -> None:
    svc, _, remote = home
    auth = {"Authorization": f"Bearer {_api_pair(svc, remote)}"}
    for blob in (b"old", b"new"):
        assert _upload(remote, auth, blob).status_code == 200
    folder = svc.settings.home / "uploads" / svc.devices()[0].id
    old = folder / hashlib.sha256(b"old").hexdigest()
    week_and_a_day = (handover.ORPHAN_UPLOAD_MS // 1000) + 24 * 3600
    os.utime(old, (old.stat().st_atime - week_and_a_day, old.stat().st_mtime - week_and_a_day))
    (svc.settings.home / "uploads" / "0badc0de").mkdir()  # a device this home does not know
    (svc.settings.home / "uploads" / "0badc0de" / "x").write_bytes(b"x")
    assert svc.clean_uploads() == 2
    assert [f.name for f in folder.iterdir()] == [hashlib.sha256(b"new").hexdigest()]
    assert not (svc.settings.home / "uploads" / "0badc0de").exists()
    att = {"name": "a.txt", "sha256": hashlib.sha256(b"new").hexdigest(), "size": 3}
    [done] = _handover(remote, auth, {**_draft(1, "with the new one"), "attachments": [att]}).json["results"]
    assert "error" not in done, done  # a fresh one is still there for its post


def test_the_home_servers_round_drops_orphan_uploads(make_user: Any) -> None:
    alice = make_user("alice")
    device, _ = alice.service.redeem_pairing(alice.service.open_pairing().code, "laptop", "127.0.0.1")
    folder = alice.home / "uploads" / device.id
    folder.mkdir(parents=True)
    stale = folder / ("ab" * 32)
    stale.write_bytes(b"never used")
    long_ago = stale.stat().st_mtime - handover.ORPHAN_UPLOAD_MS // 1000 - 3600
    os.utime(stale, (long_ago, long_ago))
    r = alice.cli("daemon", "--rounds", "1")
    assert r.exit_code == 0 and "uploads: dropped 1 that no handover will use" in r.output, r.output
    assert not stale.exists()
