"""Mute and block through Flask's test client, against real daemons: the buttons' routes, the
confirmation before a block, the pages a muted or blocked feed gets, and CSRF, Origin and Host
on every state-changing route."""

from __future__ import annotations

import json
from typing import Any

import test_web
from conftest import User, run
from flask.testing import FlaskClient
from test_web import BASE, csrf, get, post

app, client = test_web.app, test_web.client  # the fixtures of the web tests

ROUTES = ("mute", "unmute", "block", "unblock")


def test_mute_and_block_routes_pages_and_protections(client: FlaskClient, alice: User, bob: User) -> None:
    alice.connect(bob)
    bob.cli_ok("profile", "set", "--name", "Bob <b>bold</b>")
    mine = alice.cli_ok("post", "alice asks").strip()
    bob.cli_ok("follow", alice.service.identity().name)
    run(bob.service.sync())
    reply = bob.cli_ok("post", "bob answers", "--reply-to", mine).strip()
    b = bob.service.identity().name
    alice.cli_ok("follow", b)
    run(alice.service.sync())

    for route in ROUTES:  # forged requests change nothing
        token = csrf(client)
        evil = {"Origin": "http://evil.example"}
        for data, headers, base in (({"csrf": "wrong", "confirm": "1"}, {}, BASE),
                                    ({"csrf": token, "confirm": "1"}, evil, BASE),
                                    ({"csrf": token, "confirm": "1"}, {}, "http://evil.example:8787")):
            r = client.post(f"/feed/{b}/{route}", data=data, headers=headers, base_url=base)
            assert r.status_code in (400, 403), (route, r.status_code)
    assert alice.service.moderation().hidden == frozenset()

    page = get(client, f"/feed/{b}")
    assert ">Mute<" in page and "Block…" in page and "Bob &lt;b&gt;bold&lt;/b&gt;" in page
    post(client, f"/feed/{b}/mute", {"next": f"/feed/{b}"})
    assert alice.service.muted(b)
    page = get(client, f"/feed/{b}")
    assert "You muted this feed" in page and "bob answers" in page and ">Unmute<" in page
    assert "bob answers" not in get(client, "/")
    thread = get(client, f"/post/{mine}")
    assert "bob answers" not in thread and "Replies (0)" in thread
    assert "This post is by a feed you muted" in get(client, f"/post/{reply}")

    # A block needs the confirmation page's form: a bare POST only leads there.
    r = post(client, f"/feed/{b}/block", {})
    assert r.headers["Location"].endswith(f"/feed/{b}/block") and not alice.service.blocked(b)
    confirm = get(client, f"/feed/{b}/block")
    assert "blocking also unfollows it" in confirm and "Bob &lt;b&gt;bold&lt;/b&gt;" in confirm
    post(client, f"/feed/{b}/block", {"confirm": "1", "next": f"/feed/{b}"})
    assert alice.service.blocked(b) and not alice.service.muted(b)
    assert b not in {f.name for f in alice.service.follows()}
    page = get(client, f"/feed/{b}")
    assert "You blocked this feed" in page and "bob answers" not in page and ">Unblock<" in page
    assert ">Follow<" not in page
    page = get(client, f"/post/{reply}")
    assert "a feed you blocked" in page and "bob answers" not in page
    assert "bob answers" not in get(client, "/search?q=answers")
    assert "Bob &lt;b&gt;" not in get(client, "/search?q=Bob")
    r = post(client, f"/follow/{b}", {}, status=400)  # following a blocked feed is refused
    assert "unblock it first" in r.get_data(as_text=True)

    page = get(client, "/settings/moderation")
    assert "Blocked (1)" in page and "Muted (0)" in page and "Bob &lt;b&gt;bold&lt;/b&gt;" in page
    post(client, f"/feed/{b}/unblock", {"next": "/settings/moderation"})
    assert alice.service.moderation().hidden == frozenset()
    assert "No blocked feeds" in get(client, "/settings/moderation")


def _counts(p: dict[str, Any]) -> tuple[Any, ...]:
    return p["likes"], p["reactions"], p["reposts"], p["quotes"], p["replies"]


def test_counts_on_cards_show_and_timeline_leave_out_muted_and_blocked_feeds(
        client: FlaskClient, alice: User, make_user: Any) -> None:
    bob, carol = make_user("bob"), make_user("carol")
    for other in (bob, carol):
        alice.connect(other)
    bob.connect(carol)
    a, b, c = (u.service.identity().name for u in (alice, bob, carol))
    mine = alice.cli_ok("post", "alice asks").strip()
    for u in (bob, carol):
        u.cli_ok("follow", a)
        run(u.service.sync())
    bob.cli_ok("react", mine, "👍")
    bob.cli_ok("post", "bob answers", "--reply-to", mine)
    carol.cli_ok("react", mine, "🎉")
    carol.cli_ok("repost", mine)
    carol.cli_ok("post", "carol quotes", "--quote", mine)
    carol.cli_ok("post", "carol answers", "--reply-to", mine)
    alice.cli_ok("follow", b)
    alice.cli_ok("follow", c)
    run(alice.service.sync())

    def seen() -> list[tuple[Any, ...]]:
        """The counts of Alice's post in `show --json` and `timeline --json`."""
        shown = json.loads(alice.cli_ok("show", mine, "--json"))["post"]
        listed = [p for p in json.loads(alice.cli_ok("timeline", "--json", "--limit", "50"))["posts"]
                  if p["cid"] == mine and p["reposted_by"] is None]
        assert len(listed) == 1
        return [_counts(shown), _counts(listed[0])]

    assert seen() == [(2, {"👍": 1, "🎉": 1}, 1, 1, 2)] * 2
    assert 'aria-label="2 replies"' in get(client, "/")
    alice.cli_ok("mute", c)
    assert seen() == [(1, {"👍": 1}, 0, 0, 1)] * 2
    page = get(client, "/")
    assert 'aria-label="1 reply"' in page and 'aria-label="1 × 🎉"' not in page
    assert 'aria-label="1 repost"' not in page and 'aria-label="1 quote"' not in page
    alice.cli_ok("unmute", c)
    alice.cli_ok("block", b)
    assert seen() == [(1, {"🎉": 1}, 1, 1, 1)] * 2
    page = get(client, "/")
    assert 'aria-label="1 reply"' in page and 'aria-label="1 repost"' in page
    assert 'aria-label="1 quote"' in page
