"""Every page at a phone's 390x844 and at 1280x900, measured in Chromium: nothing scrolls
sideways, the header stays compact, tap targets are at least 44 px high and text is readable
(WCAG contrast) in light and dark mode."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import OUT, User, run
from playwright.sync_api import Page
from test_browser import PHONE, _serve, picture, shoot
from test_web import plant_feed

# Visible controls shorter than 44 px at phone width (links inside a post's text are inline
# text, which the 44 px rule exempts, like WCAG 2.5.8).
SMALL_TARGETS = """() => [...document.querySelectorAll(
    'a, button, summary, select, input[type=file], input[type=checkbox], input[type=radio]')]
  .filter(e => e.checkVisibility({checkVisibilityCSS: true})
    && !e.closest('.text, .card-desc, .bio, .link-card'))
  .map(e => (e.type === 'checkbox' || e.type === 'radio') && e.closest('label') ? e.closest('label') : e)
  .map(e => [e, e.getBoundingClientRect()])
  .filter(([e, r]) => r.width > 0 && r.height < 44)
  .map(([e, r]) => `${e.parentElement.className} > ${e.tagName.toLowerCase()}.${e.className} `
    + `"${(e.innerText || e.value || '').trim().slice(0, 30)}" `
    + `${Math.round(r.width)}x${Math.round(r.height)}`)"""

# Text whose colour has less than WCAG AA contrast (4.5:1, 3:1 for large text) on the
# background it is drawn on (the nearest ancestor with an opaque background).
LOW_CONTRAST = """() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((a, v, i) => a + v * [0.2126, 0.7152, 0.0722][i], 0);
  const bg = e => { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || c[3] === 1) return c.slice(0, 3); } return [255, 255, 255]; };
  const out = [];
  for (const e of document.querySelectorAll('body *')) {
    if (!e.checkVisibility({checkVisibilityCSS: true})
        || ![...e.childNodes].some(n => n.nodeType === 3 && n.data.trim())) continue;
    const s = getComputedStyle(e), fg = rgb(s.color), back = bg(e);
    const [a, b] = [lum(fg.slice(0, 3)), lum(back)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05), size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) out.push(`${e.tagName.toLowerCase()}.${e.className} `
      + `"${e.innerText.trim().slice(0, 30)}" ${ratio.toFixed(2)}`);
  }
  return out;
}"""


@pytest.fixture
def web(alice: User) -> Iterator[str]:
    yield from _serve(alice)


def test_every_page_fits_a_phone_with_44px_targets_and_readable_text(web: str, page: Page, alice: User,
                                                                     tmp_path: Path) -> None:
    s = alice.service
    bob = plant_feed(alice, "Robert with a rather long display name", "Bob here", "and again")
    run(s.follow(bob, "bob"))
    img = tmp_path / "sunset.png"
    img.write_bytes(picture(120, 80, 10))
    s.save("a post with a picture and #tags " + "a-long-word-without-any-spaces-" * 4, attach=[img])
    first = s.timeline(1)[0].cid
    s.save("a reply in the thread", first)
    run(s.publish())
    me = s.identity().name
    pages = {"timeline": "/", "post": f"/post/{first}", "feed": f"/feed/{me}",
             "friend": f"/feed/{bob}", "following": "/following", "profile": "/profile",
             "search": "/search?q=thread", "tag": "/tag/tags", "not-found": f"/post/{'b' * 59}"}
    problems: list[str] = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        for label, path in pages.items():
            page.set_viewport_size(PHONE)
            page.goto(web + path)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            if width > PHONE["width"]:
                problems.append(f"{label} (phone): the page is {width} px wide")
            header = page.locator("header").bounding_box()
            assert header and header["height"] <= 844 / 6, (label, header)
            problems += [f"{label} (phone): small target {t}" for t in page.evaluate(SMALL_TARGETS)]
            problems += [f"{label} ({scheme}): low contrast {t}" for t in page.evaluate(LOW_CONTRAST)]
            if scheme == "light":
                shoot(page, f"50-{label}")
    assert problems == [], "\n".join(problems)
    assert OUT.exists()


FOCUSED = """() => { const e = document.activeElement, s = getComputedStyle(e), r = e.getBoundingClientRect();
  return {tag: e.tagName.toLowerCase(), cls: e.className, outline: s.outlineStyle + ' ' + s.outlineWidth,
          inView: r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth}; }"""


def test_the_keyboard_reaches_a_visible_skip_link_and_every_control_shows_its_focus(
        web: str, page: Page, alice: User) -> None:
    alice.service.save("a post to tab through")
    run(alice.service.publish())
    for size in ({"width": 1280, "height": 900}, PHONE):
        page.set_viewport_size(size)
        page.goto(web + "/")
        page.keyboard.press("Tab")
        first = page.evaluate(FOCUSED)
        assert first["cls"] == "skip" and first["inView"], first  # shown when focused
        assert first["outline"].startswith("solid") and not first["outline"].endswith(" 0px"), first
        page.screenshot(path=str(OUT / f"52-skip-link-{size['width']}.png"))
        page.keyboard.press("Enter")
        assert page.evaluate("() => document.activeElement.id") == "main"
        seen = set()
        for _ in range(40):  # the controls after it: each draws a visible outline
            page.keyboard.press("Tab")
            f = page.evaluate(FOCUSED)
            if f["tag"] == "body":  # past the last control
                break
            assert f["outline"].startswith("solid") and not f["outline"].endswith(" 0px"), f
            seen.add(f["tag"])
        assert {"a", "button", "input"} <= seen, seen
