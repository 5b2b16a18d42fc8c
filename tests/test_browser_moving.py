"""Issue 17 (keys) in the real browser, against real nodes: a followed feed recovers its key and
moves; the follower's web UI shows the "moved to" notice on the old feed's page and flags what
the thief posts with the old key, with hostile text escaped (screenshots at desktop and phone size)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import test_browser
from conftest import User, run
from playwright.sync_api import Page
from test_browser import XSS, reload_until, shoot

web = test_browser.web  # the fixture: Alice's web UI on a loopback port


def test_the_old_feed_page_says_moved_to_and_flags_the_thief_in_the_browser(
        web: str, page: Page, alice: User, make_user: Any, tmp_path: Path) -> None:
    zoe = make_user("zoe", init=False)
    secret = tmp_path / "zoe-recovery.json"
    zoe.cli_ok("init", "--name", f"Zoe {XSS}", "--recovery-file", str(secret))
    old = zoe.service.identity().name
    alice.connect(zoe)
    zoe.cli_ok("post", f"my garden {XSS}", "--no-card")
    run(alice.service.follow(old))
    run(alice.service.sync(force=True))

    thief = make_user("thief", init=False)
    thief.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(zoe.settings.key_path, thief.settings.key_path)
    zoe.stop()
    zoe2 = make_user("zoe2", init=False)
    for a, b in ((zoe2, alice), (thief, alice), (thief, zoe2)):
        a.connect(b)
    zoe2.cli_ok("recover", old, "--secret-file", str(secret))
    new = zoe2.service.identity().name
    run(alice.service.sync(force=True))
    thief.cli_ok("post", f"send coins {XSS}", "--no-card")
    run(alice.service.sync(force=True))
    assert alice.service.moved_to(old) is not None

    page.goto(f"{web}/feed/{old}")
    reload_until(page, "This feed moved to")
    notice = page.locator("p.moved")
    assert new in (notice.locator("a").get_attribute("href") or "")
    flagged = page.locator("article.post.not-owner")
    assert flagged.count() == 1 and "send coins" in flagged.inner_text()
    assert "Not the owner's" in flagged.locator(".not-owner-flag").inner_text()
    mine = page.locator("article.post:not(.not-owner)", has_text="my garden")
    assert mine.count() == 1  # the history before the move is the owner's, unflagged
    shoot(page, "17-moved-feed")
    page.goto(f"{web}/feed/{new}")
    reload_until(page, "Continues")
    assert old in (page.locator("p.moved a").get_attribute("href") or "")
    page.goto(web + "/")
    reload_until(page, "send coins")
    assert page.locator("article.post.not-owner", has_text="send coins").count() == 1
    shoot(page, "17-timeline-flagged")
    assert page.evaluate("window.__pwned") is None and page.title() != "pwned"
    assert page.dialogs == []  # type: ignore[attr-defined]
