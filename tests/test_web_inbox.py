"""Hosting someone else's inbox from the web UI's settings (Flask's test client, real daemons):
the list with counts, host by name and stop hosting, escaped names, and CSRF, Origin and Host."""

from __future__ import annotations

import test_web
from conftest import User
from flask.testing import FlaskClient
from test_web import BASE, csrf, get, post

from ipfeed import inboxdb
from ipfeed.inboxdb import REQUESTS

app, client = test_web.app, test_web.client  # the fixtures of the web tests


def test_hosting_an_inbox_from_the_settings_page(client: FlaskClient, alice: User, bob: User) -> None:
    alice.connect(bob)
    bob.cli_ok("profile", "set", "--name", "Bob <b>bold</b>")
    b, a = bob.service.identity().name, alice.service.identity().name
    assert "Inboxes you host" in get(client, "/profile")
    page = get(client, "/settings/inbox")
    assert "You host no one" in page

    token = csrf(client)  # forged requests change nothing
    evil = {"Origin": "http://evil.example"}
    for path in ("/settings/inbox/host", f"/settings/inbox/{b}/unhost"):
        for data, headers, base in (({"csrf": "wrong", "name": b}, {}, BASE),
                                    ({"csrf": token, "name": b}, evil, BASE),
                                    ({"csrf": token, "name": b}, {}, "http://evil.example:8787")):
            r = client.post(path, data=data, headers=headers, base_url=base)
            assert r.status_code in (400, 403), (path, r.status_code)
    assert alice.service.hosted_inboxes() == []

    r = post(client, "/settings/inbox/host", {"name": f"  ipns://{b}/  "})
    assert r.headers["Location"].endswith("/settings/inbox")
    page = get(client, "/settings/inbox")
    assert "Hosting the inbox of" in page and "Hosted (1)" in page and "0 notices kept" in page
    assert "Bob &lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page  # its feed synced, escaped
    assert alice.service.hosted_inboxes() == [(b, 0)]
    post(client, "/settings/inbox/host", {"name": b})
    assert "Already hosting the inbox of" in get(client, "/settings/inbox")

    for typed, said in (("not a name", "Not hosted: "), (a, "receives for your own feed already")):
        post(client, "/settings/inbox/host", {"name": typed})
        assert said in get(client, "/settings/inbox")
    assert alice.service.hosted_inboxes() == [(b, 0)]

    with inboxdb.opened(alice.settings.inbox_path) as db:  # one notice kept for Bob
        db.record(f"{b}:k", a, "reply", None, None, REQUESTS, b"n", 1, 1, b)
    assert "1 notice kept" in get(client, "/settings/inbox")
    post(client, f"/settings/inbox/{b}/unhost", {})
    page = get(client, "/settings/inbox")
    assert "No longer hosting the inbox of" in page and "dropped 1 notices" in page
    assert "Hosted (0)" in page and alice.service.hosted_inboxes() == []
    assert client.post("/settings/inbox/bad/unhost", data={"csrf": csrf(client)},
                       base_url=BASE).status_code == 404
