"""A paired laptop does everything through its home server (FORMAT.md section 17.4): posts with
an image, private, quoting, with a content warning; reactions; follows; accepting a request.
Real nodes, the home server's TLS listener behind a recording relay (to see what crossed the
wire), the laptop's CLI; some of it written while the home server was down. One chain, no
fork, the order kept, each applied once."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULTS, User, run
from test_remote import Listener, lose_last_ack

from ipfeed import inboxdb, remote

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082")


class Relay:
    """A TCP relay in front of the home server's listener that keeps every byte the laptop
    sends, so a test can check what went over the wire (TLS records, never a private text)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.sent = bytearray()
        self.firsts: list[int] = []  # the first byte of each connection
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.sock.accept()
            except TimeoutError:
                continue
            threading.Thread(target=self._pair, args=(client,), daemon=True).start()

    def _pair(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target), timeout=30)
        except OSError:
            client.close()
            return
        first = [True]

        def pump(src: socket.socket, dst: socket.socket, keep: bool) -> None:
            try:
                while chunk := src.recv(65536):
                    if keep:
                        if first[0]:
                            self.firsts.append(chunk[0])
                            first[0] = False
                        self.sent.extend(chunk)
                    dst.sendall(chunk)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
        back = threading.Thread(target=pump, args=(upstream, client, False), daemon=True)
        back.start()
        pump(client, upstream, True)
        back.join(30)
        client.close()
        upstream.close()

    def stop(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "cat.png").write_bytes(PNG)
    return tmp_path


def _own_entries(user: User) -> list[tuple[int, str, str]]:
    """(seq, kind, CID) of every entry of a home's own chain, by seq."""
    with user.service.home.outbox() as box:
        rows = box.db.execute("SELECT seq, cid FROM posts ORDER BY seq").fetchall()
    with user.service.home.index() as index:
        return [(seq, (index.entry(cid) or ("", 0, "post"))[2], cid) for seq, cid in rows]


def _pair(laptop: User, home: User, url: str) -> None:
    laptop.cli_ok("remote", "add", url, "--code", home.service.open_pairing("laptop").code,
                  "--fingerprint", home.service.tls_fingerprint())


def _offline(laptop: User, *args: str) -> None:
    r = laptop.cli(*args)
    assert r.exit_code == 1 and "saved on this device" in r.output, r.output


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_laptop_writes_every_kind_through_its_home_server_in_order(make_user: Any, files: Path,
                                                                     defaults: str) -> None:
    alice = make_user("alice", defaults=defaults)
    bob = make_user("bob", defaults=defaults)
    carol = make_user("carol", defaults=defaults)
    laptop = make_user("laptop", start=False, init=False)
    a, b, c = alice.service, bob.service, carol.service
    bob_name, carol_name = b.identity().name, c.identity().name
    bobs = run(b.post("bob's post")).cid
    run(c.post("carol here"))
    for other in (bob, carol):
        other.connect(alice)
    served = Listener(alice)
    served.start()
    relay = Relay(served.port)
    try:
        _pair(laptop, alice, f"https://127.0.0.1:{relay.port}")
        assert "handed over" in laptop.cli_ok("follow", bob_name, "--as", "bob")
        assert [f.name for f in a.follows()] == [bob_name]
        assert run(a.sync([bob_name]))[0].error is None  # the home server's daemon would do this
        image = laptop.cli_ok("post", "a cat", "--attach", str(files / "cat.png"), "--alt", "a small cat")
        assert "handed over" in image  # signed when the home server's node has the file
        assert list(remote.files(laptop.home).iterdir()) == []  # the home server has the file now
        with inboxdb.opened(alice.settings.inbox_path) as db:  # Carol's follow notice, filed as a request
            assert db.record("k-carol", carol_name, "follow", None, None, "requests", b"n", 1, 1)

        # the home server goes down: the laptop's posts and actions wait there, in order
        served.stop()
        alice.stop()
        _offline(laptop, "post", "only for bob: the door code is 4711", "--to", "bob")
        _offline(laptop, "post", "look at this", "--quote", bobs, "--cw", "spoilers", "--sensitive")
        _offline(laptop, "react", bobs, "👍")
        _offline(laptop, "accept", carol_name)
        _offline(laptop, "post", "the last one")
        status = laptop.cli_ok("remote", "status")
        assert "5 waiting" in status and "[private]" in status and "[react " in status

        alice.start()
        for other in (bob, carol):
            other.connect(alice)
        served.start()
        relay.target = served.port
        handed = laptop.cli_ok("publish").splitlines()
        assert len(handed) == 5 and "[accept " in handed[3], handed
        assert "0 waiting" in laptop.cli_ok("remote", "status")

        # the laptop lost the acknowledgement of its last handover: replayed, not applied twice
        lose_last_ack(laptop)
        assert laptop.cli_ok("remote", "push").split() == [handed[4]]
        run(a.publish())

        # one chain, in the order written, each once
        kinds = [k for _, k, _ in _own_entries(alice)]
        assert kinds == ["post", "post", "post", "reaction", "post"], kinds
        assert sorted(f.name for f in a.follows()) == sorted([bob_name, carol_name])
        with inboxdb.opened(alice.settings.inbox_path) as db:
            assert db.unread()[inboxdb.REQUESTS] == 0  # Carol's request was accepted
        mine = {p.text: p for p in a.feed_posts(a.identity().name, 10)}
        cat = mine["a cat"]
        assert [(x["name"], x.get("alt")) for x in cat.attachments] == [("cat.png", "a small cat")]
        quoting = mine["look at this"]
        assert (quoting.quote, quoting.cw, quoting.sensitive) == (bobs, "spoilers", True)

        # the private post went over TLS only, and the chain holds only its sealed form
        assert relay.firsts and set(relay.firsts) == {0x16}  # every connection a TLS handshake
        assert b"4711" not in relay.sent and b"only for bob" not in relay.sent
        with a.home.outbox() as box:
            blocks = [blk for (blk,) in box.db.execute("SELECT block FROM posts")]
            blocks += [blk for (blk,) in box.db.execute("SELECT block FROM blocks")]
        assert blocks and not any(b"4711" in blk for blk in blocks)

        # another node reads one chain, no fork; Bob, a recipient, reads the private post
        run(b.follow(a.identity().name, force=True))
        assert [r.error for r in run(b.sync([a.identity().name], force=True))] == [None]
        state = b.feed_state(a.identity().name)
        assert state is not None and not state.fork
        seen = sorted((p.seq, p.text) for p in b.feed_posts(a.identity().name, 10))
        assert [t for _, t in seen] == ["a cat", "only for bob: the door code is 4711", "look at this",
                                        "the last one"]
        assert laptop.cli_ok("timeline").count("the last one") == 1
    finally:
        relay.stop()
        served.stop()
        served.worker.stop()


def test_an_action_the_home_server_refuses_is_kept_and_the_next_go_on(alice: User, make_user: Any) -> None:
    served = Listener(alice)
    served.start()
    try:
        laptop = make_user("laptop", start=False, init=False)
        _pair(laptop, alice, served.url)
        not_known = "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei"
        r = laptop.cli("react", not_known)
        assert r.exit_code == 1 and "refused by the home server" in r.output
        assert "not a post known" in r.output
        assert laptop.cli_ok("post", "next").strip().startswith("bafy")
        status = laptop.cli_ok("remote", "status")
        assert "1 waiting" in status and "refused:" in status
    finally:
        served.stop()
        served.worker.stop()


def test_a_file_attached_offline_is_kept_on_the_laptop_until_handed_over(alice: User, make_user: Any,
                                                                         files: Path) -> None:
    served = Listener(alice)
    served.start()
    try:
        laptop = make_user("laptop", start=False, init=False)
        _pair(laptop, alice, served.url)
        served.stop()
        _offline(laptop, "post", "a cat, offline", "--attach", str(files / "cat.png"))
        (files / "cat.png").unlink()  # the original is gone: the laptop kept a copy
        [kept] = remote.files(laptop.home).iterdir()
        assert kept.read_bytes() == PNG and kept.stat().st_mode & 0o777 == 0o600
        served.start()
        assert "handed over" in laptop.cli_ok("remote", "push")
        assert list(remote.files(laptop.home).iterdir()) == []
        run(alice.service.publish())
        [cat] = alice.service.feed_posts(alice.service.identity().name, 10)
        assert cat.text == "a cat, offline" and [x["size"] for x in cat.attachments] == [len(PNG)]
    finally:
        served.stop()
        served.worker.stop()


def test_a_private_post_is_not_handed_over_in_the_clear(make_user: Any) -> None:
    laptop = make_user("laptop", start=False, init=False)
    p = remote.Pairing("http://127.0.0.1:8788", None, "ipfd_x", "d", "k51")
    with pytest.raises(Exception, match="https only"):
        remote.new_post(laptop.home, p, "secret", to=["bob"])


@pytest.fixture
def revoked(alice: User, make_user: Any) -> Iterator[tuple[User, Listener]]:
    served = Listener(alice)
    served.start()
    laptop = make_user("laptop", start=False, init=False)
    _pair(laptop, alice, served.url)
    alice.service.revoke_device(alice.service.devices()[0].id)
    yield laptop, served
    served.stop()
    served.worker.stop()


@pytest.mark.parametrize("args", [
    ("react", "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei"),
    ("unreact", "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei"),
    ("repost", "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei"),
    ("unrepost", "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei"),
    ("edit", "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei", "new text"),
    ("delete", "--yes", "bafyreib4pff766vhpbxbhjbqqnsh5emeznvujayjj4z2iu533cwgvnk6ei"),
    ("follow", "k51qzi5uqu5dgutdk6i1mcts4ywjwu2wo0hkyq4mla6q3w4qr1z3u4z5a6b7c8"),
    ("unfollow", "k51qzi5uqu5dgutdk6i1mcts4ywjwu2wo0hkyq4mla6q3w4qr1z3u4z5a6b7c8"),
    ("mute", "someone"), ("unmute", "someone"), ("block", "someone"), ("unblock", "someone"),
    ("accept", "someone"), ("ignore", "someone"),
    ("post", "with a file", "--attach", "FILE"),
], ids=lambda a: a[0])
def test_a_revoked_device_is_refused_every_action_and_keeps_it(revoked: tuple[User, Listener],
                                                               files: Path, args: tuple[str, ...]) -> None:
    laptop, _ = revoked
    r = laptop.cli(*[str(files / "cat.png") if x == "FILE" else x for x in args])
    assert r.exit_code == 1 and "was revoked" in r.output and "saved on this device" in r.output
    assert "1 waiting" in laptop.cli_ok("remote", "status")  # kept, never lost
