"""A laptop paired with Alice's home server posts through it (FORMAT.md section 17): real
nodes, the home server's TLS listener, the laptop's CLI. One chain, no fork, the posts written
while the home server was down handed over later, in order, exactly once."""

from __future__ import annotations

import json
import socket
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import DEFAULTS, User, run
from ipfeed.web import create_app
from ipfeed.web.serving import make_server
from ipfeed.web.worker import Worker
from test_inbox import until, with_inbox
from werkzeug.serving import BaseWSGIServer

from ipfeed import inboxdb, remote, tls
from ipfeed.cli.inbox import _shown
from ipfeed.errors import RemoteError
from ipfeed.identity import Identity


class Listener:
    """Alice's web UI for paired devices: TLS on 127.0.0.1, served as remote (every request
    authenticated), stoppable and restartable on the same port (the home server going down)."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.worker = Worker(user.service)
        self.app = create_app(user.settings, worker=self.worker, remote=True)
        self.port = 0
        self.server: BaseWSGIServer | None = None

    def start(self) -> None:
        ctx = tls.server_context(self.user.home)
        self.server = make_server("127.0.0.1", self.port, self.app, ctx)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"


@pytest.fixture
def listener(alice: User) -> Iterator[Listener]:
    served = Listener(alice)
    served.start()
    yield served
    served.stop()
    served.worker.stop()


def lose_last_ack(laptop: User) -> None:
    """As if the laptop crashed before it recorded the home server's answer to its last handover."""
    db = sqlite3.connect(laptop.home / "remote-outbox.sqlite")
    with db:
        db.execute("UPDATE handovers SET done = NULL, cid = NULL WHERE n = (SELECT MAX(n) FROM handovers)")
    db.close()


def _own_posts(user: User) -> list[tuple[int, str]]:
    """(seq, text) of every post of a home's own feed, by seq."""
    return sorted((p.seq, p.text) for p in user.service.feed_posts(user.service.identity().name, 100))


def test_pairing_pins_the_certificate_and_never_sends_the_code_to_another(alice: User, make_user: Any,
                                                                          listener: Listener) -> None:
    laptop = make_user("laptop", start=False, init=False)
    code = alice.service.open_pairing("laptop").code
    wrong = "AA:" * 31 + "AA"
    r = laptop.cli("remote", "add", listener.url, "--code", code, "--fingerprint", wrong)
    assert r.exit_code == 1 and "not the one paired with" in r.output
    assert alice.service.devices() == []  # nothing was sent: the code is still good
    laptop.cli_ok("remote", "add", listener.url, "--code", code, "--fingerprint",
                  alice.service.tls_fingerprint())
    assert [d.label for d in alice.service.devices()] == ["laptop"]
    assert (laptop.home / "remote.json").stat().st_mode & 0o777 == 0o600
    r = laptop.cli("remote", "add", "http://192.0.2.1:8788", "--code", code)
    assert r.exit_code == 1 and "paired already" in r.output


def test_a_home_with_its_own_key_is_not_paired(alice: User, bob: User, listener: Listener) -> None:
    r = bob.cli("remote", "add", listener.url, "--code", alice.service.open_pairing().code,
                "--fingerprint", alice.service.tls_fingerprint())
    assert r.exit_code == 1 and "its own feed key" in r.output


def test_http_beyond_loopback_is_refused(make_user: Any) -> None:
    laptop = make_user("laptop", start=False, init=False)
    r = laptop.cli("remote", "add", "http://192.0.2.1:8788", "--code", "X")
    assert r.exit_code == 1 and "https only" in r.output


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_laptop_posts_through_its_home_server_one_chain_no_fork(make_user: Any, defaults: str) -> None:
    alice = make_user("alice", defaults=defaults)
    bob = make_user("bob", defaults=defaults)
    laptop = make_user("laptop", start=False, init=False)
    served = Listener(alice)
    served.start()
    try:
        run(alice.service.post("from home 1"))
        code = alice.service.open_pairing("laptop").code
        laptop.cli_ok("remote", "add", served.url, "--code", code, "--fingerprint",
                      alice.service.tls_fingerprint())
        first = laptop.cli_ok("post", "laptop 1").strip()
        assert first.startswith("bafy")

        # the home server goes down (its web UI and its node): the laptop's posts wait there
        served.stop()
        alice.stop()
        for text in ("laptop 2, written offline", "laptop 3, written offline"):
            r = laptop.cli("post", text)
            assert r.exit_code == 1 and "saved on this device" in r.output and "waiting" in r.output
        status = laptop.cli_ok("remote", "status")
        assert "2 waiting" in status and "laptop 2" in status and "laptop 3" in status

        # back up: `publish` on the laptop hands them over, oldest first
        alice.start()
        served.start()
        handed = laptop.cli_ok("publish").split()
        assert len(handed) == 2 and all(c.startswith("bafy") for c in handed)
        assert "0 waiting" in laptop.cli_ok("remote", "status")

        # the laptop lost the acknowledgement of its last handover (a crash): replayed, not reposted
        lose_last_ack(laptop)
        assert laptop.cli_ok("remote", "push").split() == [handed[1]]
        run(alice.service.publish())

        expected = [(1, "from home 1"), (2, "laptop 1"), (3, "laptop 2, written offline"),
                    (4, "laptop 3, written offline")]
        assert _own_posts(alice) == expected
        with alice.service.home.outbox() as box:
            assert box.count_posts() == 4 and box.drafts() == []

        # another node reads one chain: every post, in order, no fork
        bob.connect(alice)
        run(bob.service.follow(alice.service.identity().name, force=True))
        results = run(bob.service.sync([alice.service.identity().name], force=True))
        assert [r.error for r in results] == [None]
        state = bob.service.feed_state(alice.service.identity().name)
        assert state is not None and not state.fork
        seen = sorted((p.seq, p.text) for p in bob.service.feed_posts(alice.service.identity().name, 10))
        assert seen == expected

        # the laptop's timeline comes from the home server
        timeline = laptop.cli_ok("timeline")
        assert timeline.index("laptop 3") < timeline.index("laptop 1") < timeline.index("from home 1")
        laptop.cli_ok("post", "laptop 4 about #Gardens")
        tagged = laptop.cli_ok("timeline", "--tag", "gardens")  # asked of the home server
        assert "laptop 4 about #Gardens" in tagged and "laptop 3" not in tagged
    finally:
        served.stop()
        served.worker.stop()


def test_a_revoked_laptop_keeps_its_post_and_is_told(alice: User, make_user: Any, listener: Listener) -> None:
    laptop = make_user("laptop", start=False, init=False)
    laptop.cli_ok("remote", "add", listener.url, "--code", alice.service.open_pairing().code,
                  "--fingerprint", alice.service.tls_fingerprint())
    alice.service.revoke_device(alice.service.devices()[0].id)
    r = laptop.cli("post", "after revocation")
    assert r.exit_code == 1 and "was revoked" in r.output and "saved on this device" in r.output
    assert "after revocation" in laptop.cli_ok("remote", "status")  # kept, never lost
    with alice.service.home.outbox() as box:
        assert box.count_posts() == 0
    r = laptop.cli("timeline")
    assert r.exit_code == 1 and "was revoked" in r.output


def test_a_draft_the_home_server_refuses_is_kept_and_the_next_go_on(alice: User, make_user: Any,
                                                                    listener: Listener) -> None:
    laptop = make_user("laptop", start=False, init=False)
    laptop.cli_ok("remote", "add", listener.url, "--code", alice.service.open_pairing().code,
                  "--fingerprint", alice.service.tls_fingerprint())
    r = laptop.cli("post", "a reply to nothing", "--reply-to", "not-a-cid")
    assert r.exit_code == 1 and "refused by the home server" in r.output
    after = laptop.cli_ok("post", "the next post").split()
    assert len(after) == 1 and after[0].startswith("bafy")
    status = laptop.cli_ok("remote", "status")
    assert "1 waiting" in status and "a reply to nothing" in status and "refused:" in status
    with alice.service.home.outbox() as box:
        assert box.count_posts() == 1


def test_a_silent_connection_does_not_hold_the_device_listener(alice: User, make_user: Any,
                                                              listener: Listener) -> None:
    """A client that connects and never starts TLS (or stops halfway) holds its own thread
    only: pairing and posting go on (werkzeug's own TLS server would wait for it)."""
    silent = socket.create_connection(("127.0.0.1", listener.port), timeout=10)
    halfway = socket.create_connection(("127.0.0.1", listener.port), timeout=10)
    halfway.send(b"\x16\x03\x01\x00\xff")  # the first bytes of a ClientHello, then nothing
    try:
        laptop = make_user("laptop", start=False, init=False)
        laptop.cli_ok("remote", "add", listener.url, "--code", alice.service.open_pairing().code,
                      "--fingerprint", alice.service.tls_fingerprint())
        assert laptop.cli_ok("post", "through a busy listener").strip().startswith("bafy")
    finally:
        silent.close()
        halfway.close()


def test_a_paired_home_makes_no_key_of_its_own(alice: User, make_user: Any, listener: Listener) -> None:
    laptop = make_user("laptop", start=False, init=False)
    laptop.cli_ok("remote", "add", listener.url, "--code", alice.service.open_pairing().code,
                  "--fingerprint", alice.service.tls_fingerprint())
    r = laptop.cli("init", "--name", "Laptop")
    assert r.exit_code == 1 and "paired device" in r.output
    assert not (laptop.home / "identity.key").exists()


def test_a_paired_laptops_daemon_hands_over_what_waits(alice: User, make_user: Any,
                                                       listener: Listener) -> None:
    laptop = make_user("laptop", start=False, init=False)
    laptop.cli_ok("remote", "add", listener.url, "--code", alice.service.open_pairing().code,
                  "--fingerprint", alice.service.tls_fingerprint())
    listener.stop()
    assert laptop.cli("post", "written while the home server was away").exit_code == 1
    listener.start()
    r = laptop.cli("daemon", "--rounds", "1")
    assert r.exit_code == 0 and "handed over 1 posts" in r.output
    assert "0 waiting" in laptop.cli_ok("remote", "status")
    with alice.service.home.outbox() as box:
        assert box.count_posts() == 1
    assert not (laptop.home / "node").exists()  # a paired device runs no node of its own


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_laptop_reads_its_home_servers_notifications_and_a_revoked_one_cannot(
        make_user: Any, defaults: str) -> None:
    """A notice from Bob reaches Alice's home server; her paired laptop (no feed key) lists it
    through the device API, sees the unread count in `status`, marks it read there."""
    alice = make_user("alice", defaults=defaults)
    bob = make_user("bob", defaults=defaults)
    laptop = make_user("laptop", start=False, init=False)
    bob.connect(alice)
    a, b = alice.service, bob.service
    run(a.set_inbox(here=True))
    hello = run(a.post("my home server keeps my inbox")).cid
    run(b.post("bob here"))
    assert run(b.sync([a.identity().name]))[0].error is None  # Bob's index knows her inbox

    async def scenario() -> str:
        reply = (await b.post("hello from bob", reply_to=hello)).cid
        await until("bob's reply at the home server", lambda: len(a.notifications(None)) == 1)
        return reply
    reply = run(with_inbox(a, scenario))
    served = Listener(alice)
    served.start()
    try:
        laptop.cli_ok("remote", "add", served.url, "--code", a.open_pairing("laptop").code,
                      "--fingerprint", a.tls_fingerprint())
        assert "inbox: 0 unread notifications, 1 requests at your home server" in laptop.cli_ok("status")
        # Alice follows nobody: Bob's reply is a request, as her home server filed it
        assert json.loads(laptop.cli_ok("notifications", "--json"))["notices"] == []
        out = json.loads(laptop.cli_ok("notifications", "--requests", "--json", "--mark-read"))
        assert out["unread"] == {"notifications": 0, "requests": 1}
        [got] = out["notices"]
        assert (got["from"], got["entry"], got["subject"], got["reason"], got["box"], got["state"]) == \
            (b.identity().name, reply, hello, "reply", "requests", "unread")
        assert a.unread() == {"notifications": 0, "requests": 0}  # marked read at the home server
        assert "0 unread notifications, 0 requests" in laptop.cli_ok("notifications", "--requests")
        listed = laptop.cli_ok("notifications", "--requests", "--all")
        assert f"Bob ({b.identity().name}) replied to your post {reply}" in listed  # her index's name
        r = laptop.cli("notifications", "--fetch")
        assert r.exit_code != 0 and "no --fetch" in r.output

        a.revoke_device(a.devices()[0].id)
        r = laptop.cli("notifications", "--requests")
        assert r.exit_code == 1 and "was revoked" in r.output and b.identity().name not in r.output
        assert "inbox: unknown (home server:" in laptop.cli_ok("status")
    finally:
        served.stop()
        served.worker.stop()


BOB = Identity.generate().name


def _page(**over: Any) -> dict[str, Any]:
    notice = {"id": 7, "from": BOB,
              "sender_name": "Bob", "reason": "reply", "entry": "bafyreiabc", "subject": None,
              "box": "requests", "state": "unread", "created": 1, "received": 2}
    page = {"box": "requests", "unread": {"notifications": 0, "requests": 1},
            "notices": [{**notice, **over.pop("notice", {})}], "next": None}
    return {**page, **over}


@pytest.mark.parametrize(("page", "named"), [
    (_page(box="notifications"), "asked for box"),
    (_page(unread={"requests": 1}), "unread is not"),
    (_page(unread={"notifications": -1, "requests": 1}), "unread is not"),
    (_page(notices=[{}] * 3), "at most 2"),
    (_page(next="x"), "next is not"),
    (_page(notice={"from": "\x1b[31mnot a name"}), "from is not a feed name"),
    (_page(notice={"reason": "\x1b]0;owned\x07"}), "reason, box or state"),
    (_page(notice={"box": "notifications"}), "reason, box or state"),
    (_page(notice={"entry": "../../etc"}), "entry is not a CID"),
    (_page(notice={"sender_name": "x" * 201}), "sender_name is not"),
    (_page(notice={"id": "7"}), "non-negative integers"),
])
def test_a_home_servers_notifications_are_checked_before_use(page: dict[str, Any], named: str) -> None:
    with pytest.raises(RemoteError, match=named):
        remote.check_inbox(page, "requests", 2)
    assert remote.check_inbox(_page(), "requests", 2)["notices"][0]["sender_name"] == "Bob"


def test_the_home_servers_inbox_comes_in_pages_and_marking_read_spares_what_came_later(
        alice: User, make_user: Any, listener: Listener) -> None:
    """Paging by id (newest first) and `upto`: a notice that arrives after the device's page
    stays unread. (The notices are written into the home server's inbox database directly:
    what is paged here is the API, the verification is test_inbox's.)"""
    laptop = make_user("laptop", start=False, init=False)
    laptop.cli_ok("remote", "add", listener.url, "--code", alice.service.open_pairing().code,
                  "--fingerprint", alice.service.tls_fingerprint())
    p = laptop.service.remote()
    assert p is not None

    def arrive(n: int) -> None:
        with inboxdb.opened(alice.settings.inbox_path) as db:
            assert db.record(f"k{n}", BOB, "follow", None, None, "requests", b"n", n, n)
    for n in range(1, 4):
        arrive(n)
    first = remote.notifications(p, "requests", True, 2, 0, 30)
    assert [n["created"] for n in first["notices"]] == [3, 2] and first["next"] is not None
    rest = remote.notifications(p, "requests", True, 2, first["next"], 30)
    assert [n["created"] for n in rest["notices"]] == [1] and rest["next"] is None
    again = laptop.cli_ok("notifications", "--requests", "--json", "--before", str(first["next"]))
    assert [n["created"] for n in json.loads(again)["notices"]] == [1]
    arrive(4)  # after the laptop's page
    assert remote.mark_read(p, "requests", max(n["id"] for n in first["notices"]), 30) == 3
    assert alice.service.unread() == {"notifications": 0, "requests": 1}
    over = remote.notifications(p, "requests", True, 1000, 0, 30)  # asked for too many: 100 at most
    assert len(over["notices"]) == 1
    with pytest.raises(RemoteError, match='box is "notifications" or "requests"'):
        remote.notifications(p, "archive", True, 10, 0, 30)


def test_a_senders_name_from_the_home_server_is_escaped_for_the_terminal() -> None:
    n = remote.check_inbox(_page(notice={"sender_name": "\x1b]0;owned\x07\u202eBob"}), "requests", 2)
    line = _shown(n["notices"][0]["sender_name"], n["notices"][0])
    assert "\x1b" not in line and "\u202e" not in line and "\\x1b]0;owned" in line and BOB in line
