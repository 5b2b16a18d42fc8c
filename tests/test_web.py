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
    assert "published" in get(client, "/")


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
    assert '<a href="https://example.org/a?b=1&amp;c=" rel="nofollow noopener noreferrer"' in page


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
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["X-Frame-Options"] == "DENY"


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
    page = get(client, f"/feed/{stranger}", 502)
    assert "could not fetch" in page and stranger in page
    assert "not an IPNS name" in get(client, "/feed/not-a-name", 404)


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
    assert "the quick brown fox" in page and "something else" not in page
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
    assert "404" in get(client, "/no/such/page", 404)
    assert client.get("/post", base_url=BASE).status_code == 405
    no_file = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
    assert "no indexed post" in get(client, f"/post/{unknown}/attachment/{no_file}", 404)
    assert "is not a CID" in get(client, f"/post/junk/attachment/{no_file}", 404)


def test_invalid_compose_keeps_the_draft_text(client: FlaskClient) -> None:
    r = post(client, "/post", {"text": "x", "reply_to": "nonsense"}, status=400)
    page = r.get_data(as_text=True)
    assert "is not a CID" in page and ">x</textarea>" in page


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
    assert "not an IPNS name" in get(client, "/open?name=%3Cscript%3E", 404)


def test_home_without_identity_gets_a_clear_page(tmp_path: Any, alice: User) -> None:
    from conftest import test_settings
    settings = test_settings(tmp_path / "empty")
    worker = Worker(__import__("ipfeed.service", fromlist=["Service"]).Service(settings))
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
    assert r.status_code == 413 and "Too Large" in r.get_data(as_text=True)


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
