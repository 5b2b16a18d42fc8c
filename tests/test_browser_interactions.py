"""Issue 14 as a person does it in the real browser, against real nodes: Alice likes, reposts
and quotes Bob's post, follows a tag, then edits and deletes a post of her own (each a plain
form; screenshots at desktop and phone size). Needs format v2's Service (branch v14c)."""

from __future__ import annotations

import re

import test_browser
from conftest import OUT, User, run
from playwright.sync_api import Locator, Page
from test_browser import XSS, reload_until, shoot

web = test_browser.web  # the fixture: Alice's web UI on a loopback port


def card(page: Page, text: str) -> Locator:
    """The first card on the page with this text."""
    return page.locator("article.post", has_text=text).first


def publish(page: Page, text: str) -> None:
    """Post from the composer on the page and wait for the card."""
    page.fill("textarea[name=text]", text)
    page.click("button:has-text('Post')")
    reload_until(page, text)


def test_like_repost_quote_edit_and_delete_in_the_browser(web: str, page: Page, alice: User,
                                                          bob: User) -> None:
    alice.connect(bob)
    bob.cli_ok("profile", "set", "--name", "Bob")
    bob.cli_ok("post", f"tomatoes are in #garden {XSS}")
    name = bob.service.identity().name
    original = bob.service.timeline(1)[0].cid
    alice.cli_ok("follow", name)
    run(alice.service.sync())

    page.goto(web + "/")
    page.wait_for_selector("text=tomatoes are in")
    page.locator(f"article#post-{original}").locator("button:has-text('Like')").first.click()
    page.wait_for_selector("text=Liked")
    reload_until(page, "Unlike")
    bobs = page.locator(f"article#post-{original}")
    assert bobs.locator("[aria-label='1 like']").count() == 1
    bobs.locator("button:has-text('Repost')").click()
    page.wait_for_selector("text=Reposted")
    reload_until(page, "Undo repost")
    assert page.locator(f"article[id^='post-{original}-by-']", has_text="reposted").count() == 1

    page.locator(f"article#post-{original}").locator("a:has-text('Quote')").click()
    page.wait_for_selector(".quoting .quote-embed")
    publish(page, "look at Bob's harvest")
    assert "tomatoes are in" in card(page, "look at Bob's harvest").locator(".quote-embed").inner_text()
    shoot(page, "14-e2e-liked-reposted-quoted")

    page.locator("a.tag:has-text('#garden')").first.click()
    page.wait_for_selector("text=Posts tagged")
    assert "tomatoes are in" in page.inner_text("main")

    page.goto(web + "/")
    publish(page, "a typo heer")
    card(page, "a typo heer").locator("a:has-text('Edit')").click()
    page.wait_for_selector("text=Edit your post")
    page.fill("textarea[name=text]", "a typo here, fixed")
    page.click("button:has-text('Save the edit')")
    reload_until(page, "a typo here, fixed")
    page.locator("a.edited").first.click()
    page.wait_for_selector("text=History of a post")
    assert "a typo heer" in page.inner_text("main") and "a typo here, fixed" in page.inner_text("main")

    page.goto(web + "/")
    card(page, "a typo here, fixed").locator("a:has-text('Delete')").click()
    page.wait_for_selector("text=It cannot recall copies others already made.")
    shoot(page, "14-e2e-delete-confirmation")
    page.click("button:has-text('Delete the post')")
    page.wait_for_selector("text=Deleted")
    assert "a typo here, fixed" not in page.inner_text("main")

    page.locator(f"article#post-{original}").locator("button:has-text('Unlike')").click()
    reload_until(page, "❤ Like")
    assert page.evaluate("() => window.__pwned") is None and page.dialogs == []  # type: ignore[attr-defined]
    page.screenshot(path=str(OUT / "14-e2e-end.png"), full_page=True)
    assert re.search(r"Undo repost", page.content())
