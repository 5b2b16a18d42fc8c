"""Post cards of format v2 through Flask's test client: mentions, tags, content warnings,
sensitive media, alt text, link cards, quotes, counts, edits and reposts, each with hostile
remote strings; and the interaction routes refuse a POST without the CSRF token. The posts
are built here (the index that fills these fields is tested on its own): only the Service's
read calls are replaced, and only to render."""

from __future__ import annotations

import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import User
from flask import Flask
from flask.testing import FlaskClient
from ipfeed.web import create_app
from ipfeed.web.worker import Worker
from test_web import BASE, _texts_outside, csrf, get

from ipfeed.identity import Identity
from ipfeed.index import IndexedPost

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'>'
RLO = "\u202e"
BOB = Identity.generate().name
CAROL = Identity.generate().name
QUOTED = "bafyreiquotedquotedquotedquotedquotedquotedquotedquotedq"
UNKNOWN = "bafyreiunknownunknownunknownunknownunknownunknownunknow"


def card(cid: str = "bafyreicardcardcardcardcardcardcardcardcardcardcardcardc", **kw: Any) -> IndexedPost:
    fields: dict[str, Any] = {"cid": cid, "name": BOB, "seq": 1, "prev": None, "created": 1_700_000_000_000,
                              "sort": 1_700_000_000_000, "text": "hello", "reply_to": None, "attachments": []}
    return IndexedPost(**(fields | kw))


@pytest.fixture
def shown(make_user: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FlaskClient, list[IndexedPost]]]:
    """A client whose timeline, tag pages, history and quoted posts show the posts in the list."""
    alice: User = make_user("alice", start=False)
    worker = Worker(alice.service)
    app: Flask = create_app(alice.settings, worker=worker, test_config={"TESTING": True})
    posts: list[IndexedPost] = []
    service = app.extensions["ipfeed"]
    known = {QUOTED: card(QUOTED, name=CAROL, text=f"the quoted words {XSS}")}
    states = {BOB: SimpleNamespace(profile={"name": f"Bob {RLO}evil {XSS}"}),
              CAROL: SimpleNamespace(profile={"name": "Carol"})}
    monkeypatch.setattr(service, "timeline", lambda *a, **k: list(posts))
    monkeypatch.setattr(service, "history", lambda cid: list(posts), raising=False)
    monkeypatch.setattr(service, "indexed_post", lambda cid: (known.get(cid) or next(
        (p for p in posts if p.cid == cid), None), []))
    monkeypatch.setattr(service, "feed_states", lambda names: {n: states[n] for n in names if n in states})
    yield app.test_client(), posts
    worker.stop()


def mention_of(text: str, word: str, name: str) -> dict[str, Any]:
    start = text.encode().index(word.encode())
    return {"name": name, "start": start, "end": start + len(word.encode())}


def test_mentions_tags_and_links_are_links_and_everything_else_is_escaped(shown: Any) -> None:
    client, posts = shown
    text = (f"héllo @bob and @{CAROL[:6]} see #Café and https://example.org/x?a=1&b=2 {XSS} "
            "javascript:alert(3)")
    posts.append(card(text=text, tags=["café"],
                      mentions=[mention_of(text, "@bob", BOB), mention_of(text, f"@{CAROL[:6]}", CAROL),
                                {"name": XSS, "start": 0, "end": 2},
                                {"name": BOB, "start": 1, "end": 99999}]))
    page = get(client, "/")
    assert f'<a class="mention" href="/feed/{BOB}" title="{BOB}">@<bdi>Bob {RLO}evil &lt;script&gt;' in page
    assert f'<a class="mention" href="/feed/{CAROL}" title="{CAROL}">@<bdi>Carol</bdi></a>' in page
    assert '<a class="tag" href="/tag/caf%C3%A9"><bdi>#Café</bdi></a>' in page
    assert ('<a href="https://example.org/x?a=1&amp;b=2" rel="nofollow noopener noreferrer ugc" '
            'target="_blank">') in page
    assert "<script>alert(1)" not in page and "<img src=x" not in page and 'href="javascript' not in page
    assert _texts_outside(page, {"bdi", "title"}, RLO) == []


def test_a_mention_of_an_unknown_feed_shows_its_handle(shown: Any) -> None:
    client, posts = shown
    other = Identity.generate().name
    text = f"hi {other}"
    posts.append(card(text=text, mentions=[mention_of(text, other, other)]))
    page = get(client, "/")
    assert f'href="/feed/{other}" title="{other}">@<bdi>{other[:8]}…{other[-10:]}</bdi></a>' in page


def test_search_highlights_the_plain_text_between_links(shown: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client, posts = shown
    text = "gardens #garden https://garden.example gardening"
    posts.append(card(text=text, tags=["garden"]))
    monkeypatch.setattr(client.application.extensions["ipfeed"], "search", lambda q, limit=50: list(posts))
    page = get(client, "/search?q=garden")
    assert "<mark>gardens</mark>" in page and "<mark>gardening</mark>" in page
    assert '<a class="tag" href="/tag/garden"><bdi>#garden</bdi></a>' in page
    assert '>https://garden.example</a>' in page
    tag_search = get(client, "/search?q=%23garden")
    assert 'Searching the tag <a class="tag" href="/tag/garden">' in tag_search


def test_a_content_warning_hides_text_media_card_and_quote_until_opened(shown: Any) -> None:
    client, posts = shown
    posts.append(card(text="the spoiler", cw=f"Spoilers {XSS}{RLO}", quote=QUOTED,
                      attachments=[{"cid": "bafyimg", "type": "image/png", "size": 3, "name": "a.png"}]))
    page = get(client, "/")
    details = page.split('<details class="cw">', 1)[1].split("</details>\n", 1)[0]
    assert details.startswith("<summary>⚠ <bdi>Spoilers &lt;script&gt;")
    assert "the spoiler" in details and "a.png" in details and "quote-embed" in details
    assert "<script>alert" not in page


def test_sensitive_images_are_behind_a_show_and_alt_text_is_used_with_a_badge(shown: Any) -> None:
    client, posts = shown
    posts.append(card(sensitive=True, attachments=[
        {"cid": "bafyone", "type": "image/png", "size": 3, "name": "one.png", "alt": f"A cat {XSS}"},
        {"cid": "bafytwo", "type": "image/png", "size": 3, "name": "two.png"}]))
    page = get(client, "/")
    box = page.split('<details class="sensitive"><summary>Sensitive media — show</summary>', 1)[1]
    box = box.split("</details>")[0]
    assert ('alt="A cat &lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;'
            '&#34;&#39;&gt;"') in box
    assert 'alt="Image 2 of 2: two.png"' in box
    assert box.count('<span class="alt-badge" aria-hidden="true">ALT</span>') == 1


def test_a_link_card_is_escaped_and_its_thumbnail_comes_from_the_local_node(shown: Any) -> None:
    client, posts = shown
    p = card(text="read https://news.example/a", card={
        "url": "https://www.news.example/a?x=1&y=2", "title": f"Title {XSS}",
        "description": f"Desc {RLO}{XSS}",
        "thumb": {"cid": "bafythumb", "type": "image/jpeg", "size": 9, "name": "thumb.jpg"}})
    posts.append(p)
    posts.append(card("bafyreisecondsecondsecondsecondsecondsecondsecondsecond", card={
        "url": "javascript:alert(1)", "title": "no link", "description": "", "thumb": None}))
    page = get(client, "/")
    assert f'<img class="thumb" src="/post/{p.cid}/attachment/bafythumb" alt=""' in page
    assert ('<a class="card-title" href="https://www.news.example/a?x=1&amp;y=2" '
            'rel="nofollow noopener noreferrer ugc" target="_blank"><bdi>Title &lt;script&gt;') in page
    assert '<span class="card-domain">news.example</span>' in page
    assert 'href="javascript' not in page and '<span class="card-title"><bdi>no link</bdi></span>' in page
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', page)
    assert srcs and all(s.startswith("/") and not s.startswith("//") for s in srcs), srcs
    assert _texts_outside(page, {"bdi", "title"}, RLO) == []


def test_a_quote_embeds_the_quoted_post_or_says_it_is_not_known(shown: Any) -> None:
    client, posts = shown
    posts.append(card(text="look at this", quote=QUOTED))
    posts.append(card("bafyreiotherotherotherotherotherotherotherotherotheroth", text="and this",
                      quote=UNKNOWN))
    page = get(client, "/")
    embed = page.split('<blockquote class="quote-embed">', 1)[1].split("</blockquote>")[0]
    assert f'href="/feed/{CAROL}"' in embed and "Carol" in embed
    assert "the quoted words &lt;script&gt;" in embed and f'href="/post/{QUOTED}"' in embed
    assert f'<a href="/post/{UNKNOWN}" title="{UNKNOWN}">Quoting a post not known here</a>' in page


def test_counts_have_accessible_labels_and_the_top_emojis(shown: Any) -> None:
    client, posts = shown
    posts.append(card(replies=2, reposts=1, quotes=3, likes=5,
                      reactions={"❤": 5, "🎉": 2, "😂": 4, XSS: 1, "👍": 0}))
    page = get(client, "/")
    row = page.split('<ul class="counts" aria-label="Reactions">', 1)[1].split("</ul>")[0]
    for label in ("2 replies", "1 repost", "3 quotes", "5 likes", "4 × 😂", "2 × 🎉"):
        assert f'aria-label="{label}"' in row, label
    assert "👍" not in row and "<script>" not in row and row.index("😂") < row.index("🎉")


def test_an_edited_post_links_its_history_and_a_repost_names_who_reposted(shown: Any) -> None:
    client, posts = shown
    posts.append(card(edited=1_700_000_100_000, reposted_by=CAROL))
    page = get(client, "/")
    assert "🔁 " in page and f'href="/feed/{CAROL}"' in page and "</a> reposted</div>" in page
    assert f'<a class="edited" href="/post/{posts[0].cid}/history"' in page
    history = get(client, f"/post/{posts[0].cid}/history")
    assert "History of a post" in history and "Current version" in history


def test_actions_are_forms_with_the_token_and_own_posts_offer_edit_and_delete(shown: Any) -> None:
    client, posts = shown
    me = client.application.extensions["ipfeed"].identity().name
    posts.append(card(my_reaction="🎉", reposted=True))
    posts.append(card("bafyreiminemineminemineminemineminemineminemineminemine", name=me))
    posts.append(card("bafyreiprivateprivateprivateprivateprivateprivateprivat", private=True,
                      recipients=[me]))
    posts.append(card("bafyreiownprivateownprivateownprivateownprivateownpriva", private=True,
                      recipients=[CAROL], name=me))
    page = get(client, "/")
    theirs, mine, private, own_private = (page.split(f'id="post-{p.cid}"', 1)[1].split("</article>")[0]
                                          for p in posts)
    assert "/edit" not in own_private and f'href="/post/{posts[3].cid}/delete"' in own_private
    assert f'action="/post/{posts[0].cid}/unreact"' in theirs and "🎉 Unlike" in theirs
    assert f'action="/post/{posts[0].cid}/unrepost"' in theirs and "Undo repost" in theirs
    assert f'href="/?quote={posts[0].cid}#compose"' in theirs and "/edit" not in theirs
    assert f'action="/post/{posts[1].cid}/react"' in mine and 'name="emoji" value="❤"' in mine
    assert f'href="/post/{posts[1].cid}/edit"' in mine and f'href="/post/{posts[1].cid}/delete"' in mine
    assert "/react" not in private and "repost" not in private and "quote=" not in private
    for form in re.findall(r'<form method="post".*?</form>', page, re.S):
        assert 'name="csrf" value="' in form, form


def test_quote_opens_the_composer_with_the_quoted_post_and_a_hidden_field(shown: Any) -> None:
    client, _ = shown
    page = get(client, f"/?quote={QUOTED}")
    composer = page.split('<section class="compose" id="compose">', 1)[1].split("</section>")[0]
    assert '<details class="compose-box" open>' in composer
    assert f'<input type="hidden" name="quote" value="{QUOTED}">' in composer
    assert "the quoted words" in composer
    for field in ('name="cw"', 'name="sensitive"', 'name="alt"', 'name="no_card"'):
        assert field in composer, field


def test_edit_and_delete_pages_are_for_own_posts_and_say_what_deletion_cannot_do(shown: Any) -> None:
    client, posts = shown
    me = client.application.extensions["ipfeed"].identity().name
    mine = card("bafyreiminemineminemineminemineminemineminemineminemine", name=me, text=f"my words {XSS}")
    posts.extend([mine, card()])
    edit = get(client, f"/post/{mine.cid}/edit")
    assert ">my words &lt;script&gt;alert(1)&lt;/script&gt;" in edit and 'name="csrf"' in edit
    delete = get(client, f"/post/{mine.cid}/delete")
    assert "It cannot recall copies others already made." in delete
    assert "stops showing, indexing, serving and pinning it" in delete
    assert f'<form method="post" action="/post/{mine.cid}/delete"' in delete
    get(client, f"/post/{posts[1].cid}/edit", 403)
    get(client, f"/post/{posts[1].cid}/delete", 403)
    get(client, f"/post/{UNKNOWN}x/delete", 404)


def test_tag_pages_normalize_and_refuse_what_is_not_a_tag(shown: Any) -> None:
    client, posts = shown
    posts.append(card(text="#Café", tags=["café"]))
    page = get(client, "/tag/CAF%C3%89")
    assert "Posts tagged <bdi>#café</bdi>" in page and "#Café" in page
    get(client, "/tag/%3Cscript%3E", 404)


@pytest.mark.parametrize("path", ["/post/bafyx/react", "/post/bafyx/unreact", "/post/bafyx/repost",
                                  "/post/bafyx/unrepost", "/post/bafyx/edit", "/post/bafyx/delete"])
def test_interactions_refuse_a_post_without_the_csrf_token_or_from_elsewhere(shown: Any, path: str) -> None:
    client, _ = shown
    r = client.post(path, data={"emoji": "❤", "text": "x"}, base_url=BASE)
    assert r.status_code == 403 and "CSRF" in r.get_data(as_text=True)
    r = client.post(path, data={"emoji": "❤", "text": "x", "csrf": "wrong"}, base_url=BASE)
    assert r.status_code == 403
    r = client.post(path, data={"csrf": csrf(client)}, base_url=BASE, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "another origin" in r.get_data(as_text=True)
    r = client.post(path, data={"csrf": csrf(client)}, base_url="http://evil.example:8787")
    assert r.status_code == 400


def test_a_reaction_not_offered_is_refused(shown: Any) -> None:
    client, _ = shown
    r = client.post("/post/bafyx/react", data={"csrf": csrf(client), "emoji": XSS}, base_url=BASE)
    assert r.status_code == 400 and "<script>alert" not in r.get_data(as_text=True)


def test_a_card_thumbnail_is_served_through_the_attachment_route_only_as_declared(shown: Any) -> None:
    from multiformats import CID, multihash

    def cid(data: bytes, codec: str = "dag-cbor") -> str:
        return str(CID("base32", 1, codec, multihash.digest(data, "sha2-256")))

    client, posts = shown
    thumb = {"cid": cid(b"thumb", "raw"), "type": "image/png", "size": 9, "name": "thumb"}
    posts.append(card(cid(b"one"), card={"url": "https://a.example/", "title": "t", "description": "",
                                         "thumb": thumb}))
    posts.append(card(cid(b"two"), card={
        "url": "https://a.example/", "title": "t", "description": "",
        "thumb": thumb | {"type": "text/html"}}))
    r = client.get(f"/post/{posts[0].cid}/attachment/{thumb['cid']}", base_url=BASE)
    assert r.status_code in (502, 503)  # found as declared, then asked of the (stopped) node
    assert "cannot be fetched now" in r.get_data(as_text=True)
    other = cid(b"other", "raw")
    assert client.get(f"/post/{posts[0].cid}/attachment/{other}", base_url=BASE).status_code == 404
    assert client.get(f"/post/{posts[1].cid}/attachment/{thumb['cid']}", base_url=BASE).status_code == 404
