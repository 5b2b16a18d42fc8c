"""The web UI through Flask's test client, against real daemons: every route, every error
page, and the protections (Host, CSRF, escaping, attachment headers)."""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from typing import Any
from xml.etree import ElementTree

import pytest
from conftest import User, run
from flask import Flask
from flask.testing import FlaskClient
from ipfeed.web import create_app
from ipfeed.web.worker import Worker
from test_e2e import PNG

from ipfeed import Service

BASE = "http://127.0.0.1:8787"


@pytest.fixture
def app(alice: User) -> Iterator[Flask]:
    worker = Worker(alice.service)
    app = create_app(alice.settings, worker=worker, test_config={"TESTING": True})
    yield app
    worker.stop()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def get(client: FlaskClient, path: str, status: int = 200) -> str:
    r = client.get(path, base_url=BASE)
    assert r.status_code == status, r.get_data(as_text=True)[:500]
    return r.get_data(as_text=True)


def csrf(client: FlaskClient) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', get(client, "/"))
    assert m
    return m.group(1)


def post(client: FlaskClient, path: str, data: dict[str, Any], status: int = 303, **kw: Any) -> Any:
    r = client.post(path, data={"csrf": csrf(client), **data}, base_url=BASE, **kw)
    assert r.status_code == status, r.get_data(as_text=True)[:800]
    return r


def wait_published(app: Flask, timeout: float = 30) -> None:
    worker: Worker = app.extensions["ipfeed_worker"]
    deadline = time.monotonic() + timeout
    while worker.status.state == "publishing" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert worker.status.state == "published", worker.status


def test_compose_then_the_post_is_on_the_timeline_at_once(client: FlaskClient, app: Flask) -> None:
    post(client, "/post", {"text": "hello from the web"})
    page = get(client, "/")
    assert "hello from the web" in page
    wait_published(app)
    assert "Published: your feed is up to date" in get(client, "/")


def test_compose_with_an_image_and_a_reply(client: FlaskClient, app: Flask, alice: User) -> None:
    post(client, "/post", {"text": "first"})
    first = alice.service.timeline(1)[0].cid
    post(client, "/post", {"text": "a picture", "reply_to": first,
                           "attach": (io.BytesIO(PNG), "dot.png")}, content_type="multipart/form-data")
    wait_published(app)
    page = get(client, "/")
    [pic] = [p for p in alice.service.timeline(5) if p.text == "a picture"]
    assert pic.reply_to == first and pic.attachments[0]["name"] == "dot.png"
    url = f"/post/{pic.cid}/attachment/{pic.attachments[0]['cid']}"
    assert f'src="{url}"' in page
    assert "in reply to" in page
    r = client.get(url, base_url=BASE)
    assert r.status_code == 200 and r.data == PNG and r.mimetype == "image/png"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in r.headers["Content-Security-Policy"]
    thread = get(client, f"/post/{first}")
    assert "Replies (1)" in thread and "a picture" in thread


def test_an_attachment_is_served_as_the_post_that_links_it_declares(client: FlaskClient, app: Flask,
                                                                      alice: User) -> None:
    """Another feed may label the same file CID otherwise: each link uses its own post's label."""
    from ipfeed import feed
    from ipfeed import post as posts
    from ipfeed.identity import Identity
    from ipfeed.index import Index

    post(client, "/post", {"text": "a picture", "attach": (io.BytesIO(PNG), "dot.png")},
         content_type="multipart/form-data")
    wait_published(app)
    [pic] = alice.service.timeline(1)
    att = pic.attachments[0]
    mallory = Identity.generate()
    other = posts.build(mallory, seq=1, prev=None, created=1, text="the same file, labelled otherwise",
                        attachments=(posts.Attachment(att["cid"], "text/html", att["size"], "evil.html"),))
    index = Index(alice.settings.index_path)
    try:
        index.apply(mallory.name, feed.advance(mallory, None, updated=1, heads=[other.cid]), [other], 1,
                    None, None, None)
    finally:
        index.close()
    ours = client.get(f"/post/{pic.cid}/attachment/{att['cid']}", base_url=BASE)
    theirs = client.get(f"/post/{other.cid}/attachment/{att['cid']}", base_url=BASE)
    assert ours.mimetype == "image/png" and "dot.png" in ours.headers["Content-Disposition"]
    assert theirs.mimetype == "application/octet-stream"
    assert "evil.html" in theirs.headers["Content-Disposition"]


def test_attachment_declared_as_html_is_never_served_as_html(client: FlaskClient, app: Flask,
                                                              alice: User, tmp_path: Any) -> None:
    page = tmp_path / "evil.html"
    page.write_text("<script>alert(1)</script>")
    alice.service.save("an html file", None, [page])
    wait = app.extensions["ipfeed_worker"].call(alice.service.publish(), 30)
    assert wait.count >= 1
    [p] = alice.service.timeline(1)
    att = p.attachments[0]
    assert att["type"] == "text/html"
    r = client.get(f"/post/{p.cid}/attachment/{att['cid']}", base_url=BASE)
    assert r.status_code == 200 and r.mimetype == "application/octet-stream"
    assert r.headers["Content-Disposition"].startswith("attachment;")
    assert "image" not in get(client, "/").split("an html file")[1][:400].split("attachments")[0]


def test_remote_text_is_escaped_and_only_http_links_are_made(client: FlaskClient, alice: User) -> None:
    payload = ('<script>alert(1)</script> <img src=x onerror=alert(2)> javascript:alert(3) '
               'see https://example.org/a?b=1&c="x" and "><b>bold</b>')
    alice.service.save(payload)
    page = get(client, "/")
    assert "<script>alert(1)" not in page and "<img src=x" not in page and "<b>bold" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'href="javascript' not in page
    assert '<a href="https://example.org/a?b=1&amp;c=" rel="nofollow noopener noreferrer ugc"' in page


def test_state_changes_need_the_csrf_token(client: FlaskClient, alice: User) -> None:
    r = client.post("/post", data={"text": "forged"}, base_url=BASE)
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    r = client.post("/post", data={"text": "forged", "csrf": "wrong"}, base_url=BASE)
    assert r.status_code == 403
    r = client.post("/post", data={"text": "forged", "csrf": csrf(client)}, base_url=BASE,
                    headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "another origin" in r.get_data(as_text=True)
    assert all(p.text != "forged" for p in alice.service.timeline(10))


def test_foreign_host_header_is_refused(client: FlaskClient) -> None:
    r = client.get("/", base_url="http://evil.example:8787")
    assert r.status_code == 400 and "DNS rebinding" in r.get_data(as_text=True)
    assert client.get("/", base_url="http://localhost:8787").status_code == 200
    assert client.get("/", base_url="http://[::1]:8787").status_code == 200


def test_every_page_has_a_strict_content_security_policy(client: FlaskClient) -> None:
    for path in ("/", "/following", "/profile", "/search?q=x", "/nope"):
        r = client.get(path, base_url=BASE)
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "script-src 'self';" in csp and "unsafe" not in csp and "script-src 'self' " not in csp
        assert r.headers["X-Frame-Options"] == "DENY"
        page = r.get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=\"/static/)", page), path  # no inline script
        assert " style=" not in page and "<style" not in page, path  # the CSP forbids inline styles


def test_feed_page_fetches_an_unfollowed_name_then_follow_and_unfollow(client: FlaskClient, app: Flask,
                                                                       alice: User, bob: User) -> None:
    alice.connect(bob)
    bob.cli_ok("profile", "set", "--name", "Bob <script>", "--bio", "bio https://bob.example")
    bob.cli_ok("post", "bob's first")
    name = bob.service.identity().name
    page = get(client, f"/feed/{name}")
    assert "Bob &lt;script&gt;" in page and "bob&#39;s first" in page
    assert '<a href="https://bob.example"' in page
    assert f'href="/feed/{name}.atom"' in page and 'type="application/feed+json"' in page
    assert ">Follow<" in page
    post(client, f"/follow/{name}", {"alias": "bobby"})
    assert [f.name for f in alice.service.follows()] == [name]
    assert ">Unfollow<" in get(client, f"/feed/{name}")
    timeline = get(client, "/")  # the author's verified display name, escaped, beside the post
    assert "bob&#39;s first" in timeline and "Bob &lt;script&gt;" in timeline
    assert "bobby" in get(client, "/following")
    post(client, f"/unfollow/{name}", {})
    assert alice.service.follows() == ()


def test_feed_that_cannot_be_resolved_gets_a_clear_page(client: FlaskClient, alice: User) -> None:
    alice.settings = alice.settings.with_(resolve_timeout=2.0)
    client.application.extensions["ipfeed"].settings = alice.settings
    stranger = "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260"
    page = get(client, f"/feed/{stranger}", 503)  # Alice's node has no peers: nothing is known
    assert "Your node is not connected to any other node" in page and stranger in page
    assert "Follow anyway" in page and "Try again" in page
    assert "is not a valid name" in get(client, "/feed/not-a-name", 404)


def test_atom_and_json_feed(client: FlaskClient, alice: User) -> None:
    alice.service.save("for feed readers & <friends>")
    name = alice.service.identity().name
    r = client.get(f"/feed/{name}.atom", base_url=BASE)
    assert r.status_code == 200 and r.mimetype == "application/atom+xml"
    root = ElementTree.fromstring(r.data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    assert root.find("a:entry/a:content", ns).text == "for feed readers & <friends>"  # type: ignore[union-attr]
    r = client.get(f"/feed/{name}.json", base_url=BASE)
    doc = json.loads(r.data)
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    assert doc["items"][0]["content_text"] == "for feed readers & <friends>"
    other = "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260"
    assert client.get(f"/feed/{other}.atom", base_url=BASE).status_code == 404


def test_search_finds_indexed_text(client: FlaskClient, alice: User) -> None:
    alice.service.save("the quick brown fox")
    alice.service.save("something else")
    page = get(client, "/search?q=brown+fox")
    assert "the quick <mark>brown</mark> <mark>fox</mark>" in page and "something else" not in page
    assert "No indexed post matches" in get(client, '/search?q="unbalanced')


def test_profile_edit(client: FlaskClient, app: Flask, alice: User) -> None:
    assert 'value="Alice"' in get(client, "/profile")
    post(client, "/profile", {"name": "Alice W.", "bio": "new bio",
                              "avatar": (io.BytesIO(PNG), "me.png")}, content_type="multipart/form-data")
    assert alice.service.own_profile().name == "Alice W."
    run(alice.service.sync())
    name = alice.service.identity().name
    r = client.get(f"/avatar/{name}", base_url=BASE)
    assert r.status_code == 200 and r.mimetype == "image/png"


def test_a_saved_profile_shows_at_once_and_one_saved_offline_is_published_later(
        client: FlaskClient, app: Flask, alice: User, bob: User) -> None:
    me, bobs = alice.service.identity().name, bob.service.identity().name
    run(alice.service.publish())
    assert "Alice" in get(client, f"/feed/{me}")  # the own feed indexed, with the old profile
    r = post(client, "/profile", {"name": "Alice Now", "bio": "a new bio"})
    assert r.headers["Location"].endswith(f"/feed/{me}")
    page = get(client, f"/feed/{me}")  # no sync in between
    assert '<bdi class="dname">Alice Now</bdi>' in page and "a new bio" in page
    assert "Unnamed feed" not in page
    alice.service.save("a post of mine")
    assert "Alice Now" in get(client, "/").split("a post of mine")[0].rsplit("<article", 1)[1]

    alice.connect(bob)
    bob.cli_ok("post", "hello from Bob")
    [synced] = run(alice.service.sync([bobs]))  # known here, so followable with the node down
    assert synced.error is None, synced
    run(alice.service.publish())
    alice.stop()
    r = post(client, "/profile", {"name": "Alice Offline", "bio": "saved while stopped"})
    page = get(client, r.headers["Location"])
    assert "Saved: your profile will be published when your node is back (it is stopped now)." in page
    assert '<bdi class="dname">Alice Offline</bdi>' in page and "not saved" not in page
    r = post(client, "/follow/" + bobs, {"alias": "bobby"})
    page = get(client, r.headers["Location"])
    assert "Saved: you follow bobby; your follow list will be published when your node is back" in page
    assert "Unfollow" in page
    assert [f.name for f in alice.service.follows()] == [bobs]
    assert alice.service.pending() == 1
    strip = get(client, "/")
    assert "Your node is stopped: 1 update of your feed (posts, profile, follows) is saved here" in strip
    post(client, "/node/start", {"next": "/"})
    wait_published(app, 60)
    assert alice.service.pending() == 0


def test_timeline_pagination_and_error_pages(client: FlaskClient, app: Flask, alice: User) -> None:
    app.config["PAGE_SIZE"] = 2
    for i in range(3):
        alice.service.save(f"page post {i}")
    first = get(client, "/")
    m = re.search(r'href="/\?before=([^"]+)"', first)
    assert m and "page post 2" in first and "page post 0" not in first
    assert "page post 0" in get(client, f"/?before={m.group(1)}")
    assert "not a timeline cursor" in get(client, "/?before=junk", 400)
    unknown = "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    assert "not in the local index" in get(client, f"/post/{unknown}", 404)
    assert "is not a CID" in get(client, "/post/nonsense", 404)
    assert "Nothing here" in get(client, "/no/such/page", 404)
    assert client.get("/post", base_url=BASE).status_code == 405
    no_file = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    assert "no indexed post" in get(client, f"/post/{unknown}/attachment/{no_file}", 404)
    assert "is not a CID" in get(client, f"/post/junk/attachment/{no_file}", 404)


def test_invalid_compose_keeps_the_draft_text(client: FlaskClient) -> None:
    r = post(client, "/post", {"text": "x", "reply_to": "nonsense"}, status=400)
    page = r.get_data(as_text=True)
    assert "is not a CID" in page and ">x</textarea>" in page and 'value="nonsense"' in page


def test_private_post_from_the_composer_is_marked_with_its_recipients(client: FlaskClient, app: Flask,
                                                                       alice: User, bob: User) -> None:
    bob_name = bob.service.identity().name
    post(client, "/post", {"text": "psst, only for Bob", "to": bob_name})
    page = get(client, "/")
    assert "psst, only for Bob" in page and "Private, to" in page and f'title="{bob_name}"' in page
    [p] = alice.service.timeline(1)
    assert p.private and p.recipients == [bob_name]
    r = post(client, "/post", {"text": "x", "to": "not-a-name"}, status=400)
    assert "not an IPNS name" in r.get_data(as_text=True)


def test_open_box_redirects_to_the_feed_and_rejects_junk(client: FlaskClient, alice: User) -> None:
    name = alice.service.identity().name
    r = client.get(f"/open?name=%20{name}%20", base_url=BASE)
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/feed/{name}")
    assert "is not a valid name" in get(client, "/open?name=%3Cscript%3E", 404)


def test_home_without_identity_gets_a_clear_page(tmp_path: Any, alice: User) -> None:
    from conftest import test_settings
    settings = test_settings(tmp_path / "empty")
    worker = Worker(Service(settings))
    try:
        c = create_app(settings, worker=worker).test_client()
        r = c.get("/", base_url=BASE)
        assert r.status_code == 503 and "ipfeed init" in r.get_data(as_text=True)
    finally:
        worker.stop()


def test_upload_over_the_limit_is_refused(client: FlaskClient, app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = 1000
    r = client.post("/post", data={"csrf": csrf(client), "text": "big",
                                   "attach": (io.BytesIO(b"x" * 5000), "big.png")},
                    content_type="multipart/form-data", base_url=BASE)
    assert r.status_code == 413 and "That upload is too large" in r.get_data(as_text=True)


def test_another_site_cannot_make_the_node_fetch_a_feed(client: FlaskClient) -> None:
    stranger = "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260"
    r = client.get(f"/feed/{stranger}", base_url=BASE, headers={"Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403 and "open it from ipfeed itself" in r.get_data(as_text=True)


def test_a_post_dated_beyond_the_calendar_still_renders(client: FlaskClient, alice: User) -> None:
    from ipfeed import feed as feed_mod
    from ipfeed import post as post_mod
    from ipfeed.index import Index
    from ipfeed.timefmt import format_ms
    me = alice.service.identity()
    p = post_mod.build(me, seq=1, prev=None, created=2**53 - 1, text="from the far future")
    index = Index(alice.settings.index_path)
    try:
        index.apply(me.name, feed_mod.advance(me, None, updated=2**53 - 1, heads=[p.cid]), [p],
                    1_800_000_000_000, None, None, None)
    finally:
        index.close()
    page = get(client, "/")
    assert "from the far future" in page and "Dated in the future" in page
    assert format_ms(2**53 - 1).endswith("ms since 1970")
    assert get(client, f"/feed/{me.name}.atom").startswith("<?xml")


# -- what publishes what the user did not mean (issue #16) and hostile names (issue #12) --------

def plant_feed(user: User, display_name: str, *texts: str) -> str:
    """A verified feed of a new key with this display name (and posts), put into the user's
    index as a sync would; returns its name."""
    from ipfeed import feed
    from ipfeed import post as posts
    from ipfeed.feed import Profile
    from ipfeed.identity import Identity
    from ipfeed.index import Index

    them = Identity.generate()
    chain: list[Any] = []
    for i, t in enumerate(texts, 1):
        chain.append(posts.build(them, seq=i, prev=chain[-1].cid if chain else None,
                                 created=int(time.time() * 1000) - 1000 + i, text=t))
    root = feed.advance(them, None, updated=int(time.time() * 1000),
                        profile=Profile(name=display_name), heads=[p.cid for p in chain])
    index = Index(user.settings.index_path)
    try:
        index.apply(them.name, root, chain, int(time.time() * 1000), None, None, None)
    finally:
        index.close()
    return them.name


def form_value(page: str, name: str) -> str:
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or \
        re.search(rf'value="([^"]*)"[^>]*name="{name}"', page)
    return m.group(1) if m else ""


def test_a_failed_private_draft_keeps_recipients_and_images_and_never_goes_out_public(
        client: FlaskClient, app: Flask, alice: User) -> None:
    """The report: text, 'Private to' bob, an image; an error; Post again published it publicly."""
    r = post(client, "/post", {"text": "for bob only", "to": "bob", "attach": (io.BytesIO(PNG), "dot.png")},
             status=400, content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert "not an IPNS name" in page and "nor the alias or display name of a feed you follow" in page
    assert ">for bob only</textarea>" in page and form_value(page, "to") == "bob"
    assert "kept: <bdi>dot.png</bdi>" in page
    staged = form_value(page, "staged")
    assert staged and (alice.home / "web-staging" / staged).is_dir()
    # Emptying "Private to" does not make it public: that needs the explicit box.
    r = post(client, "/post", {"text": "for bob only", "to": "", "staged": staged,
                               "meant_private": form_value(page, "meant_private")}, status=400)
    page = r.get_data(as_text=True)
    assert "was private (to bob)" in page and 'name="public_ok"' in page and "kept: <bdi>dot.png" in page
    assert alice.service.drafts() == [] and alice.service.timeline(5) == []
    # Bob is followed under the alias "bob": the same form now goes out, private, with the image.
    bob_name = plant_feed(alice, "Robert")
    app.extensions["ipfeed_worker"].call(alice.service.follow(bob_name, "bob"), 60)
    post(client, "/post", {"text": "for bob only", "to": "bob", "staged": staged,
                           "meant_private": "bob"})
    [d] = alice.service.drafts()
    assert d.recipients == [bob_name] and [a["name"] for a in d.attachments] == ["dot.png"]
    assert d.attachments[0]["type"] == "image/png"
    assert not (alice.home / "web-staging" / staged).exists()
    wait_published(app)
    [p] = alice.service.timeline(1)
    assert p.private and p.recipients == [bob_name] and p.text == "for bob only"


def test_a_staged_upload_can_be_removed_and_belongs_to_its_session(client: FlaskClient, app: Flask,
                                                                  alice: User) -> None:
    r = post(client, "/post", {"text": "x", "reply_to": "nonsense", "attach": (io.BytesIO(PNG), "dot.png")},
             status=400, content_type="multipart/form-data")
    staged = form_value(r.get_data(as_text=True), "staged")
    other = app.test_client()  # another session cannot use (or learn about) this one's files
    r = post(other, "/post", {"text": "stolen?", "staged": staged})
    assert [d.attachments for d in alice.service.drafts()] in ([], [[]])
    post(client, "/post", {"text": "no picture after all", "staged": staged, "drop": "0"})
    wait_published(app)
    assert all(not d.attachments for d in alice.service.drafts())
    assert all(not p.attachments for p in alice.service.timeline(5))


def test_recipients_resolve_by_alias_or_display_name_in_one_place(client: FlaskClient, app: Flask,
                                                                  alice: User) -> None:
    call = app.extensions["ipfeed_worker"].call
    carol = plant_feed(alice, "Carol")
    twin_a, twin_b = plant_feed(alice, "Dana"), plant_feed(alice, "dana")
    impostor = plant_feed(alice, "bob")  # a stranger calling themselves what Alice calls Bob
    bob = plant_feed(alice, "Robert")
    for name, alias in ((carol, ""), (twin_a, ""), (twin_b, ""), (impostor, ""), (bob, "bob")):
        call(alice.service.follow(name, alias), 60)
    s = alice.service
    assert s.resolve_recipient(" carol ") == carol and s.resolve_recipient(carol) == carol
    assert s.resolve_recipient("BOB") == bob  # your own alias wins over a remote display name
    with pytest.raises(ValueError, match="could be any of 2 feeds") as e:
        s.resolve_recipient("Dana")
    assert twin_a in str(e.value) and twin_b in str(e.value)
    # The CLI's --to goes through the same resolution.
    r = alice.cli("post", "--to", "carol", "hi Carol")
    assert r.exit_code == 0, r.output
    assert any(p.private and p.recipients == [carol] for p in s.timeline(5))
    r = alice.cli("post", "--to", "dana", "which one?")
    assert r.exit_code == 1 and "could be any of 2 feeds" in r.output
    # The composer lists followed feeds to pick from (datalist and checkboxes).
    page = get(client, "/")
    assert '<datalist id="followed">' in page and f'name="pick" value="{carol}"' in page
    post(client, "/post", {"text": "ticked", "pick": carol})
    wait_published(app)
    assert any(p.text == "ticked" and p.recipients == [carol] for p in s.timeline(5))


def test_blank_posts_are_refused_without_naming_a_cid(client: FlaskClient, alice: User) -> None:
    for blank in ("   ", "\n\t \u200b\u3000", ""):
        r = post(client, "/post", {"text": blank}, status=400)
        page = r.get_data(as_text=True)
        assert "cannot post: the text is" in page and "bafy" not in page.split('role="alert">')[1][:300]
    assert alice.service.timeline(5) == [] and alice.service.drafts() == []


def test_the_text_limit_is_said_in_characters_and_bytes_and_the_text_is_kept(client: FlaskClient) -> None:
    page = get(client, "/")
    assert 'src="/static/compose.js"' in page and 'data-limit-bytes="8000"' in page
    assert 'id="text-left"' in page  # without script the hint says the limit in bytes
    r = post(client, "/post", {"text": "é" * 5000}, status=400)
    page = r.get_data(as_text=True)
    assert "your text is 5000 characters (10000 bytes); the limit is 8000 bytes" in page
    assert "é" * 5000 + "</textarea>" in page
    with client.get("/static/compose.js", base_url=BASE) as js:
        assert js.status_code == 200 and "TextEncoder" in js.get_data(as_text=True)
        assert "eval(" not in js.get_data(as_text=True) and "innerHTML" not in js.get_data(as_text=True)


def test_composer_and_profile_accept_only_images(client: FlaskClient, alice: User) -> None:
    page = get(client, "/")
    assert "PNG, JPEG, GIF or WebP; up to 8, 64 MiB each" in page
    r = post(client, "/post", {"text": "see attached", "to": "carol",
                               "attach": (io.BytesIO(b"print('hi')\n"), "evil.py")},
             status=400, content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert "evil.py is not a PNG, JPEG, GIF or WebP image: not attached" in page
    assert ">see attached</textarea>" in page and alice.service.drafts() == []
    assert form_value(page, "to") == "carol" and form_value(page, "meant_private") == "carol"
    assert "PNG, JPEG, GIF or WebP, up to 5 MiB" in get(client, "/profile")
    before = alice.service.own_profile()
    r = post(client, "/profile", {"name": "Alice Typed", "bio": "kept",
                                  "avatar": (io.BytesIO(b"import os\n"), "me.py")},
             status=400, content_type="multipart/form-data")
    page = r.get_data(as_text=True)
    assert "me.py: an avatar must be a PNG, JPEG, GIF or WebP image" in page
    assert 'value="Alice Typed"' in page and ">kept</textarea>" in page
    assert alice.service.own_profile() == before  # (the size limit: test_cli)


def test_a_name_that_cannot_be_found_is_followed_only_after_a_confirmation(client: FlaskClient, app: Flask,
                                                                          alice: User) -> None:
    alice.settings = alice.settings.with_(resolve_timeout=2.0)
    app.extensions["ipfeed"].settings = alice.settings
    typo = "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260"
    r = post(client, f"/follow/{typo}", {"alias": "friend"}, status=404)
    page = r.get_data(as_text=True)
    assert "No feed was found under this name" in page and "Follow anyway" in page and typo in page
    assert 'name="force" value="1"' in page and 'name="alias" value="friend"' in page
    assert alice.service.follows() == ()
    post(client, f"/follow/{typo}", {"alias": "friend", "force": "1"})
    assert [(f.name, f.alias) for f in alice.service.follows()] == [(typo, "friend")]
    deadline = time.monotonic() + 30  # the sync the follow started in the background ends
    while not ((st := alice.service.feed_state(typo)) and st.last_sync) and time.monotonic() < deadline:
        time.sleep(0.2)
    # The CLI refuses too, and --force follows with a warning.
    other = "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj261"
    r = alice.cli("follow", other)
    assert r.exit_code == 1 and "could not be found" in r.output
    r = alice.cli("follow", "--force", other)
    assert r.exit_code == 0 and "warning: following" in r.stderr and "without checking" in r.stderr
    assert other in [f.name for f in alice.service.follows()]


def test_identicons_and_handles_tell_look_alike_names_apart(client: FlaskClient, app: Flask,
                                                           alice: User) -> None:
    from ipfeed.web import text

    real, fake = plant_feed(alice, "Alice", "the real one"), plant_feed(alice, "Alice", "the other one")
    for n in (real, fake):
        app.extensions["ipfeed_worker"].call(alice.service.follow(n), 60)
    r = client.get(f"/identicon/{real}.svg", base_url=BASE)
    assert r.status_code == 200 and r.mimetype == "image/svg+xml"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; style-src 'none'; sandbox"
    assert r.data == client.get(f"/identicon/{real}.svg", base_url=BASE).data  # deterministic
    assert r.data != client.get(f"/identicon/{fake}.svg", base_url=BASE).data
    assert b"style" not in r.data and b"script" not in r.data
    assert client.get("/identicon/junk.svg", base_url=BASE).status_code == 404
    near = real[:-1] + ("a" if real[-1] != "a" else "b")
    assert text.handle(real) != text.handle(near) and text.handle(real) == f"{real[:8]}…{real[-10:]}"
    for path in ("/", "/following"):
        page = get(client, path)
        for n in (real, fake):
            assert f'src="/identicon/{n}.svg"' in page and text.handle(n) in page
        assert '<bdi class="dname">Alice</bdi>' in page


def test_remote_names_are_isolated_and_capped_in_every_template(client: FlaskClient, app: Flask,
                                                                alice: User) -> None:
    rlo = plant_feed(alice, "\u202egnp.exe", "from the override")
    zalgo = plant_feed(alice, "Z" + "\u0336\u0301" * 24 + "\u0301", "from the marks")
    for n in (rlo, zalgo):
        app.extensions["ipfeed_worker"].call(alice.service.follow(n, f"alias \u202e{n[-4:]}"), 60)
    for path in ("/", "/following", f"/feed/{rlo}", f"/feed/{zalgo}"):
        page = get(client, path)
        assert ("\u202egnp.exe" in page) == (path != f"/feed/{zalgo}"), path
        unisolated = _texts_outside(page, {"bdi", "title"}, "\u202e")
        assert unisolated == [], (path, unisolated)
        assert not re.search("[\u0300-\u036f]{4}", page), path


def _texts_outside(page: str, isolating: set[str], char: str) -> list[str]:
    """Text nodes containing `char` that are not inside one of the `isolating` elements."""
    from html.parser import HTMLParser

    found: list[str] = []
    stack: list[str] = []

    class Walker(HTMLParser):
        def handle_starttag(self, tag: str, attrs: Any) -> None:
            if tag not in ("img", "input", "meta", "link", "br", "option"):
                stack.append(tag)

        def handle_endtag(self, tag: str) -> None:
            if tag in stack:
                while stack.pop() != tag:
                    pass

        def handle_data(self, data: str) -> None:
            if char in data and not isolating & set(stack):
                found.append(data)

    Walker().feed(page)
    return found


def test_following_never_says_ok_for_a_feed_whose_last_check_failed(client: FlaskClient, alice: User,
                                                                      make_user: Any) -> None:
    bob = make_user("bob")
    bob.connect(alice)
    bob.cli_ok("post", "bob was here")
    name = bob.service.identity().name
    run(alice.service.follow(name))
    [r] = run(alice.service.sync([name]))
    assert r.error is None
    def row() -> str:
        [tr] = [tr for tr in get(client, "/following").split("<tr>") if name in tr]
        return tr
    assert "state-ok" in row() and "could not check" not in row()
    bob.stop()  # Alice's only peer: her node can check nothing now
    [r] = run(alice.service.sync([name], force=True))
    assert r.error
    assert "could not check" in row() and "state-failing" in row() and "state-ok" not in row()
    assert "from " in row()  # the age of the feed that was verified before


# -- what a Bluesky or Mastodon user expects (issue #16, second part) --------------------------

STRANGER = "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260"
LIBRARY_TEXT = ("Pad bits", "routing:", "HTTP 500", "Bad Gateway", "base32", "Traceback", "NodeFailed")


def visible(page: str) -> str:
    """A page without its folded-away technical details (what a person reads first)."""
    return re.sub(r'<details class="detail">.*?</details>', "", page, flags=re.S)


def test_a_pasted_feed_link_is_accepted_where_a_name_is(client: FlaskClient, alice: User) -> None:
    name = alice.service.identity().name
    for pasted in (f"{BASE}/feed/{name}", f"ipns://{name}", f"/ipns/{name}", f" {name} ",
                   f"https://ipfs.io/ipns/{name}/", f"{BASE}/feed/{name}.atom"):
        r = client.get("/open", query_string={"name": pasted}, base_url=BASE)
        assert r.status_code == 303 and r.headers["Location"].endswith(f"/feed/{name}"), pasted
    for junk, shown in (("bob", "“bob” is not a valid name"), (name[:-1], "is not a valid name"),
                        ("", "type or paste a name first")):
        page = get(client, "/open?" + f"name={junk}", 404)
        assert shown in page and "Copy the name again" in page, junk
        assert not any(t in page for t in LIBRARY_TEXT), junk
        assert 'action="/open"' in page  # a box to try again


def test_a_name_that_does_not_resolve_is_explained_with_a_retry(client: FlaskClient, alice: User,
                                                                 bob: User) -> None:
    alice.connect(bob)  # a node with a peer asks the network, and the network has nothing
    alice.settings = alice.settings.with_(resolve_timeout=2.0)
    client.application.extensions["ipfeed"].settings = alice.settings
    r = client.get(f"/feed/{STRANGER}", base_url=BASE)
    page = r.get_data(as_text=True)
    assert r.status_code == 404
    assert "<h1>No feed was found under this name</h1>" in page
    assert "has a typo" in page and "not published anything yet" in page and "What to do:" in page
    assert f'<form method="get" action="/feed/{STRANGER}"><button type="submit">Try again</button>' in page
    assert not any(t in visible(page) for t in LIBRARY_TEXT)
    assert '<details class="detail"><summary>Technical details</summary>' in page


def test_a_typo_a_missing_feed_an_offline_friend_and_a_stopped_node_are_told_apart() -> None:
    from ipfeed.web import names

    from ipfeed.index import FeedState

    def state(**kw: Any) -> FeedState:
        base = dict(name=STRANGER, root_cid=None, root_seq=None, count=0, updated=None, profile={},
                    head=None, record=None, record_seq=None, record_eol=None, pinned=None,
                    last_sync=None, last_ok=None, last_error=None, failures=0, next_try=0, fork=False,
                    follows=[])
        return FeedState(**{**base, **kw})  # type: ignore[arg-type]

    routing = "cannot resolve x: name/get: routing: not found (HTTP 500)"
    assert names.explain(STRANGER, routing, None).kind == "not-found"
    assert names.explain(STRANGER, routing, state(root_cid="bafy", last_ok=1)).kind == "unreachable"
    assert names.explain(STRANGER, "the node did not finish in 30s", None).kind == "unreachable"
    down = names.explain(STRANGER, "the node of /h is not running; run `ipfeed node start`", None)
    assert down.kind == "node-down" and down.status == 503
    assert names.explain(STRANGER, "InvalidRoot: bad signature", None).kind == "unverified"
    from ipfeed.sync import OFFLINE
    assert names.explain(STRANGER, OFFLINE, None).kind == "offline"
    for p in (names.explain(STRANGER, routing, None), down):
        assert not any(t in p.title + p.message + p.hint for t in LIBRARY_TEXT)


def test_a_post_page_shows_the_whole_conversation_with_a_focused_reply_box(
        client: FlaskClient, app: Flask, alice: User) -> None:
    s = alice.service
    me = s.identity().name
    cid = {}
    for key, parent in (("root", None), ("child", "root"), ("grandchild", "child"),
                        ("great", "grandchild"), ("sibling", "root")):
        s.save(f"post {key}", cid[parent] if parent else None)
        cid[key] = next(p.cid for p in s.timeline(10) if p.text == f"post {key}")
    page = get(client, "/")
    assert f'href="/post/{cid["root"]}?reply=1">Reply</a>' in page  # no #fragment: it would stop autofocus
    card = page.split("post grandchild")[0].rsplit("<article", 1)[1]
    assert "in reply to" in card and f'<span class="who" title="{me}">' in card.split("in reply to")[1]
    page = get(client, f"/post/{cid['child']}?reply=1")
    order = [page.index(f"post {k}<") for k in ("root", "child", "grandchild", "great")]
    assert order == sorted(order), "ancestors, then the post, then replies of replies"
    assert "post sibling" not in page  # a reply to the root is not in this post's branch
    assert 'class="post depth depth-1"' in page and 'class="post depth depth-2"' in page
    reply_box = page.split('id="reply"')[1].split("</section>")[0]
    assert "Replying to" in reply_box and f'title="{me}"' in reply_box and " autofocus" in reply_box
    assert f'name="reply_to" value="{cid["child"]}"' in reply_box
    assert 'name="from" value="thread"' in reply_box
    assert " autofocus" not in get(client, f"/post/{cid['child']}")  # only when "Reply" was pressed
    r = post(client, "/post", {"text": "a reply from the thread", "reply_to": cid["child"], "from": "thread"})
    assert r.headers["Location"].endswith(f"/post/{cid['child']}#replies")
    assert "a reply from the thread" in get(client, f"/post/{cid['child']}")
    r = post(client, "/post", {"text": "   ", "reply_to": cid["child"], "from": "thread"}, status=400)
    page = r.get_data(as_text=True)  # the error comes back on the post's page, not the timeline
    assert "cannot post: the text is" in page and "Replying to" in page and " autofocus" in page
    assert "<h1" in page and page.count("<h1") == 1


def test_the_status_strip_says_the_state_now_and_can_be_dismissed(client: FlaskClient, app: Flask,
                                                                  alice: User) -> None:
    page = get(client, "/")  # a fresh home: its first root waits, and nothing publishes it yet
    assert "1 update of your feed (posts, profile, follows) is saved here" in page
    assert 'action="/publish"' in page
    post(client, "/publish", {"next": "/"})
    wait_published(app)
    assert alice.service.pending() == 0 and 'action="/publish"' not in get(client, "/")
    post(client, "/post", {"text": "strip test"})
    wait_published(app)
    page = get(client, "/")
    assert "Published: your feed is up to date" in page and 'action="/dismiss"' in page
    key = form_value(page.split('action="/dismiss"')[1], "key")
    r = post(client, "/dismiss", {"key": key, "next": "/following"})
    assert r.headers["Location"].endswith("/following")
    assert 'id="status"' not in get(client, "/")
    r = post(client, "/dismiss", {"key": key, "next": "//evil.example/"})
    assert r.headers["Location"] in ("/", f"{BASE}/")  # only a local path
    assert "Node running" in page and 'action="/sync"' in page
    alice.stop()
    alice.service.save("written while the node is down")
    page = get(client, "/")
    assert "Your node is stopped: 1 update of your feed (posts, profile, follows) is saved here" in page
    assert "Node stopped" in page and 'action="/node/start"' in page
    r = post(client, "/node/start", {"next": "/"})
    assert "Node running" in get(client, "/")
    wait_published(app)
    assert alice.service.pending() == 0 and "Your node is stopped" not in get(client, "/")
    worker: Worker = app.extensions["ipfeed_worker"]
    post(client, "/sync", {"next": "/"})
    deadline = time.monotonic() + 60
    while worker.sync_status.state == "syncing" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert worker.sync_status.state == "synced", worker.sync_status
    assert "Synced: " in get(client, "/")
    r = client.post("/node/start", data={"next": "/"}, base_url=BASE)
    assert r.status_code == 403  # CSRF on these buttons too


def test_first_run_asks_for_a_display_name_and_explains_your_name(make_user: Any) -> None:
    newbie = make_user("newbie", init=False)
    newbie.service.init("")
    worker = Worker(newbie.service)
    try:
        c = create_app(newbie.settings, worker=worker, test_config={"TESTING": True}).test_client()
        me = newbie.service.identity().name
        page = get(c, "/")
        assert "Welcome to ipfeed" in page and 'action="/profile"' in page
        welcome = page.split('class="welcome"')[1].split("</section>")[0]
        assert 'name="name"' in welcome and 'name="bio"' in welcome and 'name="avatar"' in welcome
        assert f'value="{me}"' in welcome and "readonly" in welcome and 'data-copy="welcome-name"' in welcome
        assert f"{BASE}/feed/{me}" in welcome  # the share link
        r = post(c, "/profile", {"name": "Newbie", "bio": "", "next": "/"})
        assert r.headers["Location"] in ("/", f"{BASE}/")
        page = get(c, "/")
        assert "Welcome to ipfeed" not in page and "Saved: your display name is published" in page
        assert newbie.service.own_profile().name == "Newbie"
    finally:
        worker.stop()


def test_a_friend_is_added_by_node_address_from_the_web(client: FlaskClient, alice: User, bob: User) -> None:
    page = get(client, "/")
    assert 'action="/peer"' in page and 'action="/open"' in page
    r = post(client, "/peer", {"maddr": "not an address"}, status=400)
    assert "That is not a node address" in r.get_data(as_text=True)
    addr = bob.addr()
    post(client, "/peer", {"maddr": addr})
    assert "Connected to that node" in get(client, "/")
    bob_id = addr.rsplit("/p2p/", 1)[1]
    assert any(p.get("ID") == bob_id for p in run(alice.service.peers()))


def test_cards_have_faces_times_and_a_gallery_with_alt_text(client: FlaskClient, app: Flask, alice: User,
                                                            tmp_path: Any) -> None:
    files = []
    for i in range(3):
        f = tmp_path / f"pic{i}.png"
        f.write_bytes(PNG)
        files.append(f)
    alice.service.save("three pictures", None, files)
    app.extensions["ipfeed_worker"].call(alice.service.publish(), 60)
    run(alice.service.sync())  # the own profile (display name) is indexed
    page = get(client, "/")
    card = page.split("three pictures")[0].rsplit("<article", 1)[1] + page.split("three pictures")[1]
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ" title="[^"]+ UTC · post #\d+">'
                     r'\d+ s ago</time>', card)
    assert 'class="gallery gallery-3"' in card and 'alt="Image 1 of 3: pic0.png"' in card
    assert 'class="avatar-sm"' in card
    me = alice.service.identity().name  # the display name comes before the handle
    assert card.index('<bdi class="dname">Alice</bdi>') < card.index('<span class="handle">')
    assert card.count(f'src="/identicon/{me}.svg"') == 1  # the face only, not again by the handle


def test_each_card_shows_one_identicon_or_the_avatar(client: FlaskClient, app: Flask, alice: User,
                                                     bob: User) -> None:
    alice.connect(bob)
    bob.cli_ok("post", "from a feed with no avatar")
    me, bobs = alice.service.identity().name, bob.service.identity().name
    post(client, "/profile", {"name": "Alice", "bio": "", "avatar": (io.BytesIO(PNG), "me.png")},
         content_type="multipart/form-data")
    alice.service.save("from a feed with an avatar")
    app.extensions["ipfeed_worker"].call(alice.service.follow(bobs), 60)
    run(alice.service.sync([bobs]))
    page = get(client, "/")
    cards = re.findall(r"<article.*?</article>", page, re.S)
    by_text = {t: c for c in cards for t in ("no avatar", "an avatar") if t in c}
    assert by_text["no avatar"].count(f"/identicon/{bobs}.svg") == 1
    assert by_text["no avatar"].count("<img") == 1
    mine = by_text["an avatar"]
    assert f"/avatar/{me}" in mine and "/identicon/" not in mine and mine.count("<img") == 1


def test_every_page_has_a_title_one_h1_a_skip_link_and_the_nav_marked(client: FlaskClient, app: Flask,
                                                                      alice: User) -> None:
    alice.service.save("a post to open")
    app.extensions["ipfeed_worker"].call(alice.service.publish(), 60)
    run(alice.service.sync())
    cid = alice.service.timeline(1)[0].cid
    me = alice.service.identity().name
    for path, current in (("/", "Timeline"), ("/following", "Following"), ("/profile", "Profile"),
                          (f"/feed/{me}", "My feed"), (f"/post/{cid}", None), ("/search?q=post", None),
                          ("/nope", None), ("/open?name=bob", None)):
        page = client.get(path, base_url=BASE).get_data(as_text=True)
        assert page.count("<h1") == 1, path
        title = re.search(r"<title>([^<]+)</title>", page)
        assert title and title.group(1).strip() not in ("", "ipfeed"), path
        assert '<a class="skip" href="#main">' in page and '<main id="main"' in page, path
        assert 'rel="icon" href="/static/favicon.svg"' in page and 'rel="manifest"' in page, path
        if current:
            assert re.search(rf'aria-current="page">{current}</a>', page), path
    with client.get("/static/favicon.svg", base_url=BASE) as icon:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    with client.get("/static/manifest.webmanifest", base_url=BASE) as manifest:
        assert manifest.status_code == 200 and json.loads(manifest.data)["start_url"] == "/"
        assert "manifest-src 'self'" in manifest.headers["Content-Security-Policy"]
    with client.get("/static/ui.js", base_url=BASE) as js:
        script = js.get_data(as_text=True)
        assert not re.search(r"\beval\(", script) and "innerHTML" not in script


def test_search_matches_prefixes_plurals_and_people_with_highlights(client: FlaskClient, app: Flask,
                                                                    alice: User) -> None:
    alice.service.save("two foxes <b>jumped</b> over the fence")
    alice.service.save("unrelated")
    friend = plant_feed(alice, "Robert <i>Bobby</i> Tables", "hi")
    app.extensions["ipfeed_worker"].call(alice.service.follow(friend, "bob"), 60)
    for q in ("fox", "jump", "foxes", "FENCES"):
        page = get(client, f"/search?q={q}")
        assert "<mark>" in page and "unrelated" not in page, q
    page = get(client, "/search?q=foxes+jump")
    assert "two <mark>foxes</mark> &lt;b&gt;<mark>jumped</mark>&lt;/b&gt;" in page
    assert '<form class="search-page open" action="/search"' in page and 'value="foxes jump"' in page
    page = get(client, "/search?q=tables")
    people = page.split('id="people-title"')[1].split("</section>")[0]
    assert f'href="/feed/{friend}"' in people and "Robert &lt;i&gt;Bobby&lt;/i&gt; Tables" in people
    assert f'href="/feed/{friend}"' in get(client, "/search?q=BOB")  # your alias for them too
    page = get(client, "/search?q=%3Cmark%3E")
    assert "<mark>&lt;" not in page and "&lt;mark&gt;" in page


def test_atom_has_image_enclosures_and_json_feed_the_avatar(client: FlaskClient, app: Flask,
                                                            alice: User, tmp_path: Any) -> None:
    f = tmp_path / "pic.png"
    f.write_bytes(PNG)
    alice.service.save("with a picture", None, [f])
    post(client, "/profile", {"name": "Alice", "bio": "", "avatar": (io.BytesIO(PNG), "me.png")},
         content_type="multipart/form-data")
    run(alice.service.sync())
    name = alice.service.identity().name
    root = ElementTree.fromstring(client.get(f"/feed/{name}.atom", base_url=BASE).data)
    ns = {"a": "http://www.w3.org/2005/Atom"}
    [enc] = root.findall("a:entry/a:link[@rel='enclosure']", ns)
    assert enc.get("type") == "image/png" and enc.get("length") == str(len(PNG))
    assert "/attachment/" in (enc.get("href") or "")
    doc = json.loads(client.get(f"/feed/{name}.json", base_url=BASE).data)
    assert doc["icon"] == f"{BASE}/avatar/{name}" and doc["favicon"] == doc["icon"]
