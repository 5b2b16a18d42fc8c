"""A paired laptop is one more face of its home server's identity (issue 17): its following,
muted and blocked lists are the home server's (fetched over the device API, kept for offline
display and marked so), its timeline and notifications are filtered by them and by the mutes
and blocks still waiting on the laptop, and `profile set` and `post --many` are handed over
like every other action. Real nodes, the home server's TLS listener, the laptop's CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import User, run
from test_remote import Listener
from test_remote_actions import PNG

from ipfeed import inboxdb, remote


@pytest.fixture
def served(alice: User) -> Any:
    listener = Listener(alice)
    listener.start()
    yield listener
    listener.stop()
    listener.worker.stop()


def _pair(laptop: User, home: User, listener: Listener) -> None:
    laptop.cli_ok("remote", "add", listener.url, "--code", home.service.open_pairing("laptop").code,
                  "--fingerprint", home.service.tls_fingerprint())


def _offline(laptop: User, *args: str) -> None:
    r = laptop.cli(*args)
    assert r.exit_code == 1 and "saved on this device" in r.output, r.output


def test_a_paired_laptop_shows_its_home_servers_lists_and_a_kept_copy_offline(
        alice: User, make_user: Any, served: Listener) -> None:
    names = {n: make_user(n, start=False).service.identity().name for n in ("bob", "carol", "dave")}
    bob, carol, dave = "bob", "carol", "dave"
    run(alice.service.follow(names[bob], "bobby", force=True))
    run(alice.service.mute(names[carol]))
    run(alice.service.block(names[dave]))
    laptop = make_user("laptop", start=False, init=False)
    _pair(laptop, alice, served)

    following = laptop.cli("following")
    assert following.exit_code == 0 and names[bob] in following.stdout and "bobby" in following.stdout
    assert "offline" not in following.output
    assert json.loads(laptop.cli_ok("following", "--json")) == [
        {"name": names[bob], "alias": "bobby", "display_name": ""}]
    assert [r["name"] for r in json.loads(laptop.cli_ok("muted", "--json"))] == [names[carol]]
    assert [r["name"] for r in json.loads(laptop.cli_ok("blocked", "--json"))] == [names[dave]]

    # the home server is away: the copy kept on the laptop, said to be one
    served.stop()
    for command, name in (("following", bob), ("muted", carol), ("blocked", dave)):
        r = laptop.cli(command)
        assert r.exit_code == 0 and names[name] in r.stdout, r.output
        assert "offline: your home server's lists as fetched" in r.output
    _offline(laptop, "unmute", names[carol])
    assert "1 changes to these lists wait here" in laptop.cli("muted").output

    # a hostile or broken answer is refused, naming what is wrong; unpairing forgets the copy
    with pytest.raises(Exception, match="does not name a feed"):
        remote.check_lists({"following": [{"name": "not-a-name"}], "muted": [], "blocked": []}, 0)
    laptop.cli_ok("remote", "rm")
    assert not remote.lists_path(laptop.home).exists()


def test_a_laptops_timeline_and_notifications_leave_out_what_it_muted_or_blocked_while_away(
        alice: User, bob: User, make_user: Any, served: Listener) -> None:
    dave = make_user("dave", start=False)
    bob_name, dave_name = bob.service.identity().name, dave.service.identity().name
    run(bob.service.post("bob says hi"))
    bob.connect(alice)
    run(alice.service.follow(bob_name, "bob", force=True))
    assert run(alice.service.sync([bob_name], force=True))[0].error is None
    with inboxdb.opened(alice.settings.inbox_path) as db:  # a notice from Dave, verified before
        assert db.record("k-dave", dave_name, "mention", None, None, inboxdb.NOTIFICATIONS, b"n", 1, 1)
    laptop = make_user("laptop", start=False, init=False)
    _pair(laptop, alice, served)
    assert "bob says hi" in laptop.cli_ok("timeline")
    notices = json.loads(laptop.cli_ok("notifications", "--all", "--json"))["notices"]
    assert [n["from"] for n in notices] == [dave_name]

    # muted and blocked on the laptop while the home server was away: not handed over yet
    served.stop()
    _offline(laptop, "mute", "bob")  # an alias, as the home server's list knows it
    _offline(laptop, "block", dave_name)
    served.start()
    assert "bob says hi" not in laptop.cli_ok("timeline")
    assert json.loads(laptop.cli_ok("notifications", "--all", "--json"))["notices"] == []

    # handed over: the home server's lists say so now, and the timeline stays filtered
    laptop.cli_ok("remote", "push")
    assert alice.service.muted(bob_name) and alice.service.blocked(dave_name)
    assert "bob says hi" not in laptop.cli_ok("timeline")
    laptop.cli_ok("unmute", "bob")
    assert "bob says hi" in laptop.cli_ok("timeline")


def test_profile_set_on_a_laptop_is_handed_over_in_order_with_its_avatar(
        alice: User, make_user: Any, served: Listener, tmp_path: Path) -> None:
    laptop = make_user("laptop", start=False, init=False)
    _pair(laptop, alice, served)
    r = laptop.cli("profile", "set", "--name", "Alice on the go", "--bio", "from the laptop")
    assert r.exit_code == 0 and "[profile: name 'Alice on the go'" in r.output, r.output
    assert (alice.service.own_profile().name, alice.service.own_profile().bio) == \
        ("Alice on the go", "from the laptop")
    assert not (laptop.home / "identity.key").exists()  # nothing signed on the laptop

    # written while the home server was away: kept, then applied once, in order with a post
    (tmp_path / "me.png").write_bytes(PNG)
    served.stop()
    _offline(laptop, "profile", "set", "--avatar", str(tmp_path / "me.png"))
    _offline(laptop, "profile", "set", "--name", "Alice again")
    assert "[profile: avatar me.png]" in laptop.cli_ok("remote", "status")
    r = laptop.cli("profile", "set", "--name", "x" * 101)
    assert r.exit_code == 1 and "at most 100 bytes" in r.output  # refused before it is queued
    served.start()
    laptop.cli_ok("remote", "push")
    assert "0 waiting" in laptop.cli_ok("remote", "status")
    mine = alice.service.own_profile()
    assert mine.name == "Alice again" and mine.bio == "from the laptop" and mine.avatar is not None
    assert list(remote.files(laptop.home).iterdir()) == []  # the home server has the image
    device = alice.service.devices()[0].id
    assert list((alice.home / "uploads" / device).iterdir()) == []  # and used it


def test_post_many_on_a_laptop_is_handed_over_as_plain_posts_in_order(
        alice: User, make_user: Any, served: Listener, tmp_path: Path) -> None:
    bob = make_user("bob", start=False)
    bob_name = bob.service.identity().name
    run(alice.service.follow(bob_name, "bob", force=True))
    laptop = make_user("laptop", start=False, init=False)
    _pair(laptop, alice, served)
    lines = ["first of many", f"hello @bob and {bob_name} #notatag https://example.com/", "third"]
    many = tmp_path / "many.jsonl"
    many.write_text("".join(json.dumps(t) + "\n" for t in lines))
    r = laptop.cli("post", "--many", str(many))
    assert r.exit_code == 0 and len(r.stdout.split()) == 3, r.output
    me = alice.service.identity().name
    posts = sorted(alice.service.feed_posts(me, 10), key=lambda p: p.seq)
    assert [p.text for p in posts] == lines
    assert all(p.mentions == [] and p.tags == [] and p.card is None for p in posts)  # plain

    # while the home server is away: all kept (or none, if one line is not a post), then in order
    served.stop()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps("fine") + "\n" + json.dumps("x" * 100_000) + "\n")
    assert laptop.cli("post", "--many", str(bad)).exit_code == 1
    assert "0 waiting" in laptop.cli_ok("remote", "status")
    many.write_text("".join(json.dumps(f"offline {n}") + "\n" for n in range(120)))
    r = laptop.cli("post", "--many", str(many))
    assert r.exit_code == 1 and "120 waiting" in r.output, r.output
    served.start()
    laptop.cli_ok("remote", "push")
    posts = sorted(alice.service.feed_posts(me, 200), key=lambda p: p.seq)
    assert [p.text for p in posts[3:]] == [f"offline {n}" for n in range(120)]
