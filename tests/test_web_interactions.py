"""The interaction routes through Flask's test client against real daemons: each form saves
its draft through the Service, comes back where it was pressed with a message, and the cards
then show it. Needs format v2's Service (branch v14c)."""

from __future__ import annotations

import io
from typing import Any

import test_web
from conftest import User, run
from flask import Flask
from flask.testing import FlaskClient
from ipfeed.web import create_app
from ipfeed.web.worker import Worker
from test_devices import _api_pair, _handover
from test_e2e import PNG
from test_publish import restored_home
from test_web import get, plant_feed, post, wait_published

from ipfeed.index import IndexedPost

app, client = test_web.app, test_web.client  # the fixtures of the web tests


def newest(user: User, text: str) -> IndexedPost:
    return next(p for p in user.service.timeline(50) if p.text == text)


def test_like_and_unlike_come_back_to_the_card_with_a_message(client: FlaskClient, app: Flask,
                                                                alice: User) -> None:
    theirs = plant_feed(alice, "Bob", "a post to like")
    p = next(x for x in alice.service.feed_posts(theirs) if x.text == "a post to like")
    r = post(client, f"/post/{p.cid}/react", {"emoji": "🎉", "next": f"/feed/{theirs}"})
    assert r.headers["Location"].endswith(f"/feed/{theirs}")
    page = get(client, f"/feed/{theirs}")
    assert "Reacted with 🎉" in page and "🎉 Unlike" in page
    post(client, f"/post/{p.cid}/unreact", {"next": f"/feed/{theirs}"})
    page = get(client, f"/feed/{theirs}")
    assert "Your reaction is removed." in page and 'value="❤">❤ Like' in page


def test_repost_and_undo(client: FlaskClient, app: Flask, alice: User) -> None:
    theirs = plant_feed(alice, "Bob", "a post to repost")
    p = next(x for x in alice.service.feed_posts(theirs) if x.text == "a post to repost")
    post(client, f"/post/{p.cid}/repost", {"next": f"/post/{p.cid}"})
    page = get(client, f"/post/{p.cid}")
    assert "Reposted" in page and "Undo repost" in page
    post(client, f"/post/{p.cid}/unrepost", {"next": f"/post/{p.cid}"})
    assert "🔁 Repost" in get(client, f"/post/{p.cid}")


def test_the_composer_saves_a_quote_a_warning_sensitive_images_with_alt_text_and_no_card(
        client: FlaskClient, app: Flask, alice: User) -> None:
    theirs = plant_feed(alice, "Bob", "quoted words")
    q = next(x for x in alice.service.feed_posts(theirs) if x.text == "quoted words")
    post(client, "/post", {"text": "see https://example.org/ too", "quote": q.cid, "cw": "birds",
                           "sensitive": "1", "no_card": "1", "alt": ["a heron"],
                           "attach": (io.BytesIO(PNG), "heron.png")}, content_type="multipart/form-data")
    wait_published(app)
    mine = newest(alice, "see https://example.org/ too")
    assert mine.quote == q.cid and mine.cw == "birds" and mine.sensitive and mine.card is None
    assert mine.attachments[0].get("alt") == "a heron"
    page = get(client, "/")
    assert '<details class="cw"><summary>⚠ <bdi>birds</bdi></summary>' in page and "quoted words" in page


def test_edit_and_delete_own_posts_and_only_those(client: FlaskClient, app: Flask, alice: User) -> None:
    post(client, "/post", {"text": "first wording"})
    wait_published(app)
    mine = newest(alice, "first wording")
    r = post(client, f"/post/{mine.cid}/edit", {"text": "second wording"})
    assert r.headers["Location"].endswith(f"/post/{mine.cid}")
    page = get(client, f"/post/{mine.cid}")
    assert "second wording" in page and "Saved your edit" in page and "/history" in page
    assert "first wording" in get(client, f"/post/{mine.cid}/history")
    post(client, f"/post/{mine.cid}/edit", {"text": "   "}, status=400)
    theirs = plant_feed(alice, "Bob", "not yours")
    other = next(x for x in alice.service.feed_posts(theirs) if x.text == "not yours")
    post(client, f"/post/{other.cid}/edit", {"text": "hijacked"}, status=403)
    post(client, f"/post/{other.cid}/delete", {}, status=403)
    post(client, f"/post/{mine.cid}/delete", {})
    assert "Deleted" in get(client, "/") and "second wording" not in get(client, "/")
    gone = get(client, f"/post/{mine.cid}", 410)  # says it was deleted, shows none of it
    assert "deleted by its author" in gone and "wording" not in gone


def test_tag_pages_and_tag_search(client: FlaskClient, app: Flask, alice: User) -> None:
    app.config["PAGE_SIZE"] = 2
    for i in range(3):
        post(client, "/post", {"text": f"number {i} #counting"})
    post(client, "/post", {"text": "untagged"})
    wait_published(app)
    page = get(client, "/tag/Counting")
    assert "number 2" in page and "number 1" in page and "untagged" not in page
    older = page.split('<nav class="pager"', 1)[1].split('href="', 1)[1].split('"', 1)[0]
    assert older.startswith("/tag/counting?before=")
    assert "number 0" in get(client, older.replace("&amp;", "&"))
    found = get(client, "/search?q=%23counting")
    assert "number 0" in found and "untagged" not in found


def test_a_home_that_continued_the_feed_with_a_restored_key_deletes_an_older_post(make_user: Any) -> None:
    old, bob = make_user("old"), make_user("bob")
    bob.connect(old)
    old.cli_ok("post", "written on the old machine", "--no-card")
    name = old.service.identity().name
    bob.cli_ok("follow", name)
    run(bob.service.sync())
    old.stop()
    fresh = restored_home(old, make_user, "test")
    fresh.connect(bob)
    fresh.cli_ok("post", "written on the new machine", "--no-card")
    run(fresh.service.sync())  # its index knows the older post; its outbox does not hold it
    older = newest(fresh, "written on the old machine")
    worker = Worker(fresh.service)
    app = create_app(fresh.settings, worker=worker, test_config={"TESTING": True})
    try:
        client = app.test_client()
        post(client, f"/post/{older.cid}/delete", {})
        wait_published(app)
        page = get(client, "/")
        assert "Deleted" in page and "written on the old machine" not in page
        assert "written on the new machine" in page
    finally:
        worker.stop()
    run(bob.service.sync())
    assert [p.text for p in bob.service.feed_posts(name)] == ["written on the new machine"]


def test_a_paired_device_deletes_through_a_home_that_continued_the_feed_with_a_restored_key(
        make_user: Any) -> None:
    """A delete handed over by a paired laptop fetches the older chain first, as the CLI's and
    the web UI's do (before, it was refused for good: the home held only its own entries)."""
    old, bob = make_user("old"), make_user("bob")
    bob.connect(old)
    old.cli_ok("post", "written on the old machine", "--no-card")
    name = old.service.identity().name
    bob.cli_ok("follow", name)
    run(bob.service.sync())  # Bob holds the old chain: the fresh home fetches it from him
    old.stop()
    fresh = restored_home(old, make_user, "test")
    fresh.connect(bob)
    fresh.cli_ok("post", "written on the new machine", "--no-card")
    run(fresh.service.sync())
    older = newest(fresh, "written on the old machine")
    with fresh.service.home.outbox() as box:
        assert box.count_posts() == 1  # only what it signed itself
    worker = Worker(fresh.service)
    remote = create_app(fresh.settings, worker=worker, remote=True)
    try:
        auth = {"Authorization": f"Bearer {_api_pair(fresh.service, remote)}"}
        [done] = _handover(remote, auth, {"id": f"draft-{1:020d}", "created": 1_700_000_000_000,
                                          "kind": "delete", "cid": older.cid}).json["results"]
        assert "error" not in done and done["cid"], done
    finally:
        worker.stop()
    with fresh.service.home.outbox() as box:
        assert box.count_posts() == 3  # the old post, the new one and the delete: the whole chain
    run(fresh.service.publish())
    run(bob.service.sync())
    assert [p.text for p in bob.service.feed_posts(name)] == ["written on the new machine"]
