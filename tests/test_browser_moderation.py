"""Issue 15's mute and block as a person does it in the real browser, against real nodes:
Alice mutes Carol from her page, blocks Bob after the confirmation page, then unmutes and
unblocks from Muted and blocked (each a plain form; screenshots at desktop and phone size)."""

from __future__ import annotations

import test_browser
from conftest import User, run
from playwright.sync_api import Page
from test_browser import XSS, no_sideways_scroll, shoot

web = test_browser.web  # the fixture: Alice's web UI on a loopback port


def test_mute_block_unmute_unblock_in_the_browser(web: str, page: Page, alice: User, bob: User,
                                                  make_user: object) -> None:
    carol: User = make_user("carol")  # type: ignore[operator]
    alice.connect(bob)
    alice.connect(carol)
    bob.cli_ok("profile", "set", "--name", f"Bob {XSS}")
    bob.cli_ok("post", "bob writes tomatoes")
    carol.cli_ok("profile", "set", "--name", "Carol")
    carol.cli_ok("post", "carol writes cucumbers")
    b, c = bob.service.identity().name, carol.service.identity().name
    alice.cli_ok("follow", b)
    alice.cli_ok("follow", c)
    run(alice.service.sync())

    page.goto(web + "/")
    page.wait_for_selector("text=carol writes cucumbers")
    page.goto(web + f"/feed/{c}")
    page.click("button:has-text('Mute')")
    page.wait_for_selector("text=You muted this feed")
    assert "carol writes cucumbers" in page.inner_text("main")  # her page still shows her posts
    assert page.locator("button:has-text('Unmute')").count() == 1
    shoot(page, "15-muted-feed-page")
    page.goto(web + "/")
    page.wait_for_selector("text=bob writes tomatoes")
    assert "carol writes cucumbers" not in page.inner_text("main")

    page.goto(web + f"/feed/{b}")
    page.click("a:has-text('Block…')")
    page.wait_for_selector("text=What blocking does")
    assert "blocking also unfollows it" in page.inner_text("main")
    shoot(page, "15-block-confirmation")
    page.click("button:has-text('Block')")
    page.wait_for_selector("text=You blocked this feed")
    assert "bob writes tomatoes" not in page.inner_text("main")
    shoot(page, "15-blocked-feed-page")
    assert alice.service.blocked(b) and b not in {f.name for f in alice.service.follows()}
    page.goto(web + "/search?q=writes")
    assert "bob writes tomatoes" not in page.inner_text("main")
    assert "carol writes cucumbers" not in page.inner_text("main")

    page.goto(web + "/profile")
    page.click("a:has-text('Muted and blocked feeds')")
    page.wait_for_selector("h1:has-text('Muted and blocked')")
    assert "Carol" in page.inner_text("main") and page.locator("button:has-text('Unblock')").count() == 1
    shoot(page, "15-muted-and-blocked")
    page.set_viewport_size({"width": 390, "height": 844})
    no_sideways_scroll(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("button:has-text('Unmute')")
    page.wait_for_selector(f"text=Unmuted {c[:8]}")
    page.click("button:has-text('Unblock')")
    page.wait_for_selector("text=No blocked feeds")
    assert alice.service.moderation().hidden == frozenset()
    page.goto(web + "/")
    page.wait_for_selector("text=carol writes cucumbers")
    assert page.evaluate("() => window.__pwned") is None and page.dialogs == []  # type: ignore[attr-defined]
