"""Post cards of format v2 in the real browser: a card with counts, a link card, a quote and a
content warning, and the delete confirmation, at desktop and phone size; hostile strings in
every new field run nothing. The posts are built here and only the Service's read calls are
replaced (rendering only); the interactions themselves: test_browser_interactions.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import User
from ipfeed.web import create_app
from ipfeed.web.worker import Worker
from playwright.sync_api import Page
from test_browser import XSS, picture, shoot
from test_web_cards import BOB, CAROL, QUOTED, card
from werkzeug.serving import make_server

from ipfeed.index import IndexedPost

RLO = "\u202e"


@pytest.fixture
def cards_web(make_user: Any,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[IndexedPost], str]]:
    """Alice's web UI on a loopback port, showing the posts of the list."""
    alice: User = make_user("alice", start=False)
    worker = Worker(alice.service)
    app = create_app(alice.settings, worker=worker)
    service = app.extensions["ipfeed"]
    posts: list[IndexedPost] = []
    quoted = card(QUOTED, name=CAROL, text=f"Carol's original thought, quoted here {XSS}")
    states = {BOB: SimpleNamespace(profile={"name": f"Bob {RLO}evil"}),
              CAROL: SimpleNamespace(profile={"name": f"Carol {XSS}"})}
    monkeypatch.setattr(service, "timeline", lambda *a, **k: list(posts))
    monkeypatch.setattr(service, "indexed_post", lambda cid: (
        quoted if cid == QUOTED else next((p for p in posts if p.cid == cid), None), []))
    monkeypatch.setattr(service, "feed_states", lambda names: {n: states[n] for n in names if n in states})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", posts, service.identity().name
    server.shutdown()
    server.server_close()
    worker.stop()


def pwned(page: Page) -> bool:
    return page.evaluate("() => window.__pwned") is not None or page.title() == "pwned"


def test_cards_with_counts_a_quote_a_warning_and_the_delete_confirmation(cards_web: Any, page: Page) -> None:
    web, posts, me = cards_web
    text = f"Lunch at the new place with @bob, #food #Café — menu at https://food.example/menu {XSS}"
    at = text.encode().index(b"@bob")
    posts += [
        card("bafyreicountscountscountscountscountscountscountscountsc", text=text, tags=["food", "café"],
             mentions=[{"name": BOB, "start": at, "end": at + 4}], replies=3, reposts=2, likes=12, quotes=1,
             reactions={"❤": 12, "😂": 4, "🎉": 2}, my_reaction="❤", edited=1_700_000_500_000,
             card={"url": "https://food.example/menu", "title": f"The menu {XSS}",
                   "description": f"Soups, salads and {XSS} daily specials {RLO}evil", "thumb": None}),
        card("bafyreiquotingquotingquotingquotingquotingquotingquotin", name=CAROL, text=f"So true {XSS}",
             quote=QUOTED, reposted_by=BOB, likes=1),
        card("bafyreiwarningwarningwarningwarningwarningwarningwarnin", text=f"The ending: {XSS} they all…",
             cw=f"Spoilers for the finale {XSS}", sensitive=True,
             attachments=[{"cid": "bafyimg", "type": "image/png", "size": 3, "name": "still.png",
                           "alt": f"A still {XSS}"}]),
        card("bafyreiminemineminemineminemineminemineminemineminemine", name=me,
             text="my own post, to delete"),
    ]
    page.goto(web + "/")
    page.wait_for_selector("text=Lunch at the new place")
    assert not pwned(page)
    assert page.locator(".counts [aria-label='12 likes']").count() == 1
    assert page.locator(".quote-embed").inner_text().count("Carol's original thought") == 1
    warning = page.locator("details.cw").first
    assert not page.locator("details.cw .text").first.is_visible()
    shoot(page, "14-cards")
    warning.locator("> summary").click()
    assert page.locator("details.cw .text").first.is_visible()
    assert not page.locator("details.sensitive img").first.is_visible()
    page.locator("details.sensitive summary").click()
    page.locator("details.more-reactions summary").first.click()
    assert not pwned(page)
    shoot(page, "14-cards-opened")
    page.locator(f"#post-{posts[3].cid} a:has-text('Delete')").click()
    page.wait_for_selector("text=Delete this post?")
    assert page.locator("text=It cannot recall copies others already made.").is_visible()
    shoot(page, "14-delete-confirmation")
    page.goto(web + f"/?quote={QUOTED}")
    page.wait_for_selector(".quoting .quote-embed")
    assert not pwned(page)
    shoot(page, "14-quote-composer")
    assert page.dialogs == []  # type: ignore[attr-defined]


def test_alt_text_fields_follow_the_picked_images(cards_web: Any, page: Page, tmp_path: Any) -> None:
    web, _, _ = cards_web
    files = []
    for i, n in enumerate(("first.png", "second.png")):
        (tmp_path / n).write_bytes(picture(240, 160, 90 * i + 30))
        files.append(str(tmp_path / n))
    page.goto(web + "/")
    assert not page.locator("fieldset.alts").is_visible()
    page.set_input_files("input[name=attach]", files)
    page.wait_for_selector(".previews input[aria-label='Alt text for second.png']")
    assert page.locator(".previews input[name=alt]").count() == 2
    page.fill(".previews input[aria-label='Alt text for first.png']", "a gradient, green to pink")
    page.wait_for_selector(".previews li.shown >> nth=1")
    shoot(page, "14-alt-text-composer")
