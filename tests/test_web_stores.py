"""Pages keep their stores open between requests (homedir's pools) and the key read while its
file is unchanged: what a page shows is still what is on disk now. Through Flask's test client
against a real daemon where a page is involved; a new notice, a mute written by another
process, an outbox moved aside, a deleted index and a changed key file are each seen at once."""

from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
import test_web
from conftest import User, run
from conftest import test_settings as settings_for
from flask import Flask
from flask.testing import FlaskClient
from test_web import get, post

from ipfeed import Service
from ipfeed.errors import InsecureKeyFile, MissingIdentity
from ipfeed.homedir import Home
from ipfeed.identity import Identity
from ipfeed.inboxdb import NOTIFICATIONS, REQUESTS, InboxDB

app, client = test_web.app, test_web.client  # the fixtures of the web tests

UNREAD = re.compile(r'id="nav-notifications"[^>]*>Notifications'
                    r'(?: <span class="count"[^>]*>(\d+)</span>)?</a>')


def header_count(page: str) -> int:
    """The unread count the header shows (0: none shown)."""
    m = UNREAD.search(page)
    assert m, "no Notifications link in the header"
    return int(m[1] or 0)


def record(path: Path, box: str, n: int) -> None:
    """What the inbox's receiver does with a verified notice, on a connection of its own."""
    db = InboxDB(path)
    try:
        db.record(f"key-{box}-{n}", Identity.generate().name, "reply", None, None, box, b"notice", n, n)
    finally:
        db.close()


def test_a_new_notice_shows_in_the_header_on_the_next_page(client: FlaskClient, app: Flask,
                                                           alice: User) -> None:
    inbox = alice.settings.inbox_path
    assert header_count(get(client, "/")) == 0
    kept = app.extensions["ipfeed"].home._pools["inbox"]
    assert len(kept.free) == 1  # the page's inbox stays open for the next one
    first = kept.free[0][0]
    record(inbox, NOTIFICATIONS, 1)
    assert header_count(get(client, "/")) == 1
    record(inbox, REQUESTS, 2)
    page = get(client, "/")
    assert header_count(page) == 2 and "2 unread, 1 of them requests" in page
    assert kept.free[0][0] is first  # the same connection answered every page
    post(client, "/notifications/read", {})
    assert header_count(get(client, "/")) == 0
    record(inbox, NOTIFICATIONS, 3)  # and from another thread, as the home server's receiver
    writer = threading.Thread(target=record, args=(inbox, NOTIFICATIONS, 4))
    writer.start()
    writer.join(30)
    assert header_count(get(client, "/notifications")) == 2


def test_a_mute_made_by_another_process_hides_the_feed_on_the_next_page(
        client: FlaskClient, alice: User, bob: User) -> None:
    alice.connect(bob)
    run(bob.service.post("bob was here"))
    b = bob.service.identity().name
    alice.cli_ok("follow", b)
    run(alice.service.sync())
    assert "bob was here" in get(client, "/")
    alice.cli_ok("mute", b)  # another process writes the outbox the pages keep open
    assert "bob was here" not in get(client, "/")
    alice.cli_ok("unmute", b)
    assert "bob was here" in get(client, "/")
    post(client, f"/feed/{b}/mute", {"next": "/"})
    assert "bob was here" not in get(client, "/")


def _home(tmp_path: Path) -> Home:
    settings = settings_for(tmp_path / "home")
    Service(settings).init("me")
    return Home(settings)


def test_an_outbox_moved_aside_or_a_deleted_index_is_never_used_through_a_kept_store(tmp_path: Path) -> None:
    home = _home(tmp_path)
    s = home.settings
    with home.held(), home.outbox() as box, home.index() as index:
        assert box.latest_root() is not None
        index.ensure_feed("k51old")
    aside = tmp_path / "retired"
    aside.mkdir()
    for path in s.outbox_path.parent.glob(s.outbox_path.name + "*"):  # as a key rotation retires it
        path.rename(aside / path.name)
    s.index_path.unlink()  # "deleting index.sqlite loses nothing"
    with home.held(), home.outbox() as box, home.index() as index:
        assert box.latest_root() is None  # a new, empty outbox: not the retired one
        box.db.execute("CREATE TABLE written_here (x)")
        assert index.feed("k51old") is None
    retired = InboxDB(aside / s.outbox_path.name)  # any SQLite file opens so
    try:
        tables = {r[0] for r in retired.db.execute("SELECT name FROM sqlite_master")}
    finally:
        retired.close()
    assert "written_here" not in tables and "roots" in tables
    home.close()


def test_pages_served_at_once_each_get_a_store_of_their_own(tmp_path: Path) -> None:
    home = _home(tmp_path)
    both = threading.Barrier(2, timeout=30)
    seen: list[int] = []

    def page() -> None:
        with home.held(), home.index() as index:
            both.wait()  # the two scopes overlap
            seen.append(id(index.db))
            index.db.execute("SELECT COUNT(*) FROM posts").fetchone()
            both.wait()

    threads = [threading.Thread(target=page) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(set(seen)) == 2
    with home.held(), home.index() as index:  # and later pages reuse them
        assert id(index.db) in seen
    home.close()


def test_the_key_is_read_again_when_its_file_changes(tmp_path: Path) -> None:
    home = _home(tmp_path)
    path = home.settings.key_path
    me = home.identity()
    assert home.identity() is me  # unchanged: not read again
    os.chmod(path, 0o644)
    with pytest.raises(InsecureKeyFile):
        home.identity()
    os.chmod(path, 0o600)
    assert home.identity().name == me.name
    other = _home(tmp_path / "other").settings.key_path
    path.unlink()
    with pytest.raises(MissingIdentity):
        home.identity()
    shutil.copy2(other, path)
    assert home.identity().name != me.name
