"""The web UI with script switched off in Chromium: every flow still works with plain forms
and links (the same-origin scripts only enhance), at desktop and phone width."""

from __future__ import annotations

from typing import Any

from conftest import OUT, run
from playwright.sync_api import Page
from test_browser import PHONE, _serve
from test_web import plant_feed


def shoot(page: Page, name: str) -> None:
    for label, (w, h) in (("desktop", (1280, 900)), ("phone", (390, 844))):
        page.set_viewport_size({"width": w, "height": h})
        page.screenshot(path=str(OUT / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_onboarding_posting_replying_liking_and_search_work_without_script(page: Page,
                                                                          make_user: Any) -> None:
    newbie = make_user("newbie", init=False)
    newbie.service.init("")
    gen = _serve(newbie)
    web = next(gen)
    assert page.context.browser is not None
    context = page.context.browser.new_context(java_script_enabled=False,
                                               viewport={"width": 1280, "height": 900})
    p = context.new_page()
    p.set_default_timeout(20_000)
    try:
        me = newbie.service.identity().name
        p.goto(web + "/")
        # The script would show the Copy button and set the text counter: neither happens, and
        # the name is still there to select.
        assert p.locator("button.copy[data-copy=welcome-name]").is_hidden()
        assert p.input_value("#welcome-name") == me
        shoot(p, "40-noscript-onboarding")
        p.fill(".welcome input[name=name]", "Nadia")
        p.click(".welcome button:has-text('Save and publish')")
        p.wait_for_selector("text=Saved: your display name is published")

        p.fill("textarea[name=text]", "hello without script")
        p.click(".compose button:has-text('Post')")
        p.wait_for_selector("article >> text=hello without script")
        assert p.locator("article time[datetime]").first.inner_text().endswith("ago")

        p.locator("article", has_text="hello without script").locator("a", has_text="Reply").click()
        p.wait_for_selector("#reply")
        assert "Replying to" in p.inner_text("#reply") and "Nadia" in p.inner_text("#reply")
        p.fill("#reply textarea", "a reply, still no script")
        p.click("#reply button:has-text('Reply')")
        p.wait_for_selector("article.depth-1 >> text=a reply, still no script")

        p.locator("article", has_text="hello without script").first.locator(
            "button", has_text="Like").click()
        p.wait_for_load_state("load")
        assert p.locator("article", has_text="hello without script").first.locator(
            "button", has_text="Unlike").count() == 1

        # A private post: the recipient ticked in the list of follows (no suggestions script).
        bob = plant_feed(newbie, "Robert", "Bob here")
        run(newbie.service.follow(bob, "bob"))
        p.goto(web + "/")
        p.click("summary:has-text('Private to feeds you follow')")
        p.check(f"input[name=pick][value={bob}]")
        p.fill("textarea[name=text]", "just for bob")
        p.click(".compose button:has-text('Post')")
        card = p.locator("article", has_text="just for bob")
        card.wait_for()
        assert "Private, to" in card.inner_text() and "Robert" in card.locator(".private").inner_text()

        # On a phone the composer is a disclosure, opened by its summary (no script needed).
        p.set_viewport_size(PHONE)
        p.goto(web + "/")
        assert p.locator("button.copy").first.is_hidden()  # no dead Copy button at phone width
        assert p.locator("textarea[name=text]").is_hidden()
        p.click("summary:has-text('Write a post')")
        assert p.locator("textarea[name=text]").is_visible()
        p.fill("textarea[name=text]", "from the phone")
        p.click(".compose button:has-text('Post')")
        p.wait_for_selector("article >> text=from the phone")
        p.set_viewport_size({"width": 1280, "height": 900})

        p.fill("header input[name=q]", "scripts")  # a plural finds "script"
        p.press("header input[name=q]", "Enter")
        p.wait_for_url("**/search?q=scripts")
        assert p.locator("article", has_text="hello without script").count() == 1
        assert p.locator("article mark").count() >= 1
        shoot(p, "41-noscript-search")
    finally:
        context.close()
        next(gen, None)
