"""Issue 15 in the real browser, against real nodes: a followed feed's reply is a notification,
strangers' are requests; Alice reads them, opens the conversation, marks them read, accepts
one stranger (follow) and blocks another (plain forms; screenshots at desktop and phone size)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import User, run
from ipfeed.web import create_app
from ipfeed.web.worker import Worker
from playwright.sync_api import Page
from test_browser import XSS, reload_until, shoot
from werkzeug.serving import make_server


@pytest.fixture
def inbox_web(alice: User) -> Iterator[str]:
    """Alice's web UI on a loopback port, her node receiving notices meanwhile."""
    worker = Worker(alice.service)
    app = create_app(alice.settings, worker=worker)
    ready = threading.Event()
    serving = worker.submit(app.extensions["ipfeed"].inbox_serve(ready.set))
    assert ready.wait(30)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    serving.cancel()
    worker.stop()


def name_of(u: User) -> str:
    return u.service.identity().name


def test_notifications_and_requests_in_the_browser(inbox_web: str, page: Page, alice: User,
                                                   make_user: Any) -> None:
    bob, dave, erin = make_user("bob"), make_user("dave"), make_user("erin")
    for u in (bob, dave, erin):
        u.connect(alice)
    a = alice.service
    run(a.set_inbox(here=True))
    hello = run(a.post("what are you growing this year?")).cid
    for u, who in ((bob, "Bob"), (dave, "Dave"), (erin, f"Erin {XSS}")):
        u.cli_ok("profile", "set", "--name", who)
        run(u.service.post(f"{who} was here"))
        assert run(u.service.sync([name_of(alice)]))[0].error is None
    run(a.follow(name_of(bob)))
    run(bob.service.post("tomatoes, as always", reply_to=hello))
    run(dave.service.post("beans! (I'm new here)", reply_to=hello))
    run(erin.service.post(f"buy my seeds {XSS}", reply_to=hello))

    async def landed() -> None:
        for _ in range(400):
            if len(a.notifications(None)) == 3:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"notices recorded: {a.notifications(None)}")
    run(landed())

    page.goto(inbox_web + "/")
    # One place in the header (the phone's header stays one row of links): both boxes' count.
    assert page.inner_text("#nav-notifications").split() == ["Notifications", "3"]
    page.click("#nav-notifications")
    page.wait_for_selector("h1:has-text('Notifications')")
    assert page.inner_text("#tab-notifications").split() == ["Notifications", "1"]
    assert page.inner_text("#nav-requests").split() == ["Requests", "2"]
    item = page.locator("li.notice", has_text="tomatoes, as always")
    assert "replied to your post" in item.inner_text() and "Bob" in item.inner_text()
    shoot(page, "15-notifications")
    item.locator("a:has-text('Open the conversation')").click()
    page.wait_for_selector("text=what are you growing this year?")
    assert "tomatoes, as always" in page.inner_text("main")
    page.goto(inbox_web + "/notifications")
    page.click("button:has-text('Mark all read')")
    page.wait_for_selector("text=Marked")
    assert page.locator("#nav-notifications .count").count() == 0

    page.click("#nav-requests")
    page.wait_for_selector("h1:has-text('Requests')")
    assert page.evaluate("window.__pwned") is None and page.title() != "pwned"
    assert page.locator("li.notice").count() == 2
    shoot(page, "15-requests")
    page.locator("li.notice", has_text="beans!").locator("button:has-text('Accept')").click()
    page.wait_for_selector("text=Accepted")
    assert name_of(dave) in {f.name for f in a.follows()}
    page.locator("li.notice", has_text="buy my seeds").locator("button:has-text('Block')").click()
    page.wait_for_selector("text=Blocked")
    assert page.locator("li.notice").count() == 0
    assert a.blocked(name_of(erin))
    page.goto(inbox_web + "/notifications")
    reload_until(page, "beans!")  # an accepted request is a notification now
    shoot(page, "15-after-accept-and-block")
    assert page.evaluate("window.__pwned") is None


def test_a_reply_deeper_in_the_conversation_in_the_browser(inbox_web: str, page: Page, alice: User,
                                                           make_user: Any) -> None:
    bob, carol = make_user("bob"), make_user("carol")
    for u in (bob, carol):
        u.connect(alice)
    carol.connect(bob)
    a, b, c = alice.service, bob.service, carol.service
    run(a.set_inbox(here=True))
    hello = run(a.post("which book should I read next?")).cid
    for u, who in ((bob, "Bob"), (carol, f"Carol {XSS}")):
        u.cli_ok("profile", "set", "--name", who)
        run(u.service.post(f"{who} was here"))
        assert run(u.service.sync([name_of(alice)]))[0].error is None
    run(a.follow(name_of(bob)))
    bob_reply = run(b.post("a long novel", reply_to=hello)).cid

    async def landed(cid: str) -> None:
        for _ in range(400):
            if any(n.entry == cid for n in a.notifications(None)):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"notices recorded: {a.notifications(None)}")
    run(landed(bob_reply))
    assert run(c.sync([name_of(bob)]))[0].error is None
    carol_reply = run(c.post(f"a short one, Bob {XSS}", reply_to=bob_reply)).cid
    run(landed(carol_reply))  # Carol is a stranger to Alice: a request

    page.goto(inbox_web + "/requests")
    item = page.locator("li.notice", has_text="a short one, Bob")
    assert "replied in your conversation" in item.inner_text()
    shoot(page, "15-conversation-request")
    item.locator("a:has-text('Open the conversation')").click()
    page.wait_for_selector("text=a short one, Bob")
    main = page.inner_text("main")
    assert main.index("which book should I read next?") < main.index("a long novel") \
        < main.index("a short one, Bob")
    assert page.evaluate("window.__pwned") is None and page.title() != "pwned"
    shoot(page, "15-conversation-reply")
    page.goto(inbox_web + "/requests")
    page.locator("li.notice", has_text="a short one, Bob").locator("a:has-text('Your post')").click()
    page.wait_for_selector("text=Replies (2)")  # /post/<Alice's post>: the whole conversation
    replies = page.inner_text("main").split("Replies (2)", 1)[1]
    assert replies.index("a long novel") < replies.index("a short one, Bob")
    assert page.evaluate("window.__pwned") is None
    shoot(page, "15-conversation-thread")


def test_hosting_an_inbox_from_settings_in_the_browser_with_and_without_script(
        page: Page, alice: User, bob: User) -> None:
    from test_browser import PHONE, _serve, no_sideways_scroll

    alice.connect(bob)
    bob.cli_ok("profile", "set", "--name", f"Bob {XSS}")
    b = name_of(bob)
    gen = _serve(alice)
    web = next(gen)
    try:
        page.goto(web + "/profile")
        page.click("a:has-text('Inboxes you host')")
        page.wait_for_selector("h1:has-text('Inboxes you host')")
        assert "You host no one" in page.inner_text("main")
        page.fill(".host-form input[name=name]", f"ipns://{b}")
        page.click(".host-form button:has-text('Host their inbox')")
        page.wait_for_selector("text=Hosting the inbox of")
        item = page.locator(".hosting-list li")
        assert item.count() == 1 and "0 notices kept" in item.inner_text()
        assert "Bob <img" in item.inner_text()  # the remote name shown as text
        assert page.evaluate("() => window.__pwned") is None and page.title() != "pwned"
        shoot(page, "15-hosted-inboxes")
        page.set_viewport_size(PHONE)
        no_sideways_scroll(page)
        page.set_viewport_size({"width": 1280, "height": 900})
        assert alice.service.hosted_inboxes() == [(b, 0)]

        assert page.context.browser is not None  # the same page without script: plain forms
        context = page.context.browser.new_context(java_script_enabled=False,
                                                   viewport={"width": 1280, "height": 900})
        p = context.new_page()
        p.set_default_timeout(20_000)
        try:
            p.goto(web + "/settings/inbox")
            p.fill(".host-form input[name=name]", "not a name")
            p.click(".host-form button:has-text('Host their inbox')")
            p.wait_for_selector("text=Not hosted:")
            p.click(".hosting-list button:has-text('Stop hosting')")
            p.wait_for_selector("text=No longer hosting the inbox of")
            assert "dropped 0 notices" in p.inner_text("main") + p.inner_text("body")
            assert "You host no one" in p.inner_text("main")
            shoot(p, "15-hosted-inboxes-stopped-noscript")
        finally:
            context.close()
        assert alice.service.hosted_inboxes() == []
    finally:
        next(gen, None)  # the server stops
