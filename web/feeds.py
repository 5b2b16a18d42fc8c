"""Atom and JSON Feed 1.1 for feed readers, built from verified, indexed posts."""

from __future__ import annotations

import json
import re
from xml.sax.saxutils import escape as _xml_escape

from ipfeed.index import FeedState, IndexedPost
from ipfeed.timefmt import iso_ms

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _iso(ms: int | None) -> str:
    return iso_ms(ms or 0)


def escape(text: str) -> str:
    """XML-escaped text without the control characters XML 1.0 cannot carry."""
    return _xml_escape(_CONTROL.sub("\ufffd", text), {'"': "&quot;"})


def _title(p: IndexedPost) -> str:
    first = (p.text.strip().splitlines() or [""])[0]
    return first[:80] or f"Post #{p.seq}"


IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def _enclosures(p: IndexedPost, base: str) -> str:
    """Atom enclosure links of a post's images (a feed reader shows them with the entry)."""
    return "".join(
        f'<link rel="enclosure" type="{escape(str(a["type"]))}" length="{int(a["size"])}" '
        f'href="{escape(base)}post/{p.cid}/attachment/{escape(str(a["cid"]))}"/>'
        for a in p.attachments if a.get("type") in IMAGE_TYPES)


def _icon(name: str, st: FeedState, base: str) -> dict[str, str]:
    """JSON Feed's icon and favicon: the feed's avatar (served by this UI), if it has one."""
    if not st.profile.get("avatar"):
        return {}
    return {"icon": f"{base}avatar/{name}", "favicon": f"{base}avatar/{name}"}


def atom(name: str, st: FeedState, posts: list[IndexedPost], base: str) -> str:
    """An Atom 1.0 document (RFC 4287); all text escaped."""
    title = st.profile.get("name") or name
    entries = "".join(
        f"<entry><id>urn:ipfeed:post:{p.cid}</id><title>{escape(_title(p))}</title>"
        f"<updated>{_iso(p.sort)}</updated><published>{_iso(p.sort)}</published>"
        f'<link rel="alternate" href="{escape(base)}post/{p.cid}"/>{_enclosures(p, base)}'
        f'<content type="text">{escape(p.text)}</content></entry>'
        for p in posts)
    return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom">'
            f"<id>urn:ipfeed:feed:{name}</id><title>{escape(str(title))}</title>"
            f"<updated>{_iso(st.updated)}</updated><author><name>{escape(str(title))}</name></author>"
            f'<link rel="alternate" href="{escape(base)}feed/{name}"/>'
            f'<link rel="self" href="{escape(base)}feed/{name}.atom"/>{entries}</feed>')


def json_feed(name: str, st: FeedState, posts: list[IndexedPost], base: str) -> str:
    """A JSON Feed 1.1 document."""
    return json.dumps({
        "version": "https://jsonfeed.org/version/1.1",
        "title": st.profile.get("name") or name,
        "home_page_url": f"{base}feed/{name}",
        "feed_url": f"{base}feed/{name}.json",
        "description": st.profile.get("bio") or "",
        **_icon(name, st, base),
        "authors": [{"name": st.profile.get("name") or name}],
        "items": [{
            "id": p.cid, "url": f"{base}post/{p.cid}", "content_text": p.text,
            "date_published": _iso(p.sort), "title": _title(p),
            "attachments": [{"url": f"{base}post/{p.cid}/attachment/{a['cid']}", "mime_type": a["type"],
                             "size_in_bytes": a["size"], "title": a["name"]} for a in p.attachments],
        } for p in posts],
    }, ensure_ascii=False, indent=1)
