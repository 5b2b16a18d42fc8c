"""What a post card shows of format v2: the text with its mentions, tags and links as escaped
HTML, link cards, reaction counts; and the Service calls of interactions, named for the type
checker."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from ipfeed import mentions
from ipfeed.content import Mention
from ipfeed.index import IndexedPost
from ipfeed.service import Service

from . import text

UGC = "nofollow noopener noreferrer ugc"
REACTIONS = ("❤", "👍", "😂", "🎉", "😮", "😢")  # the like, and a few more to choose from
EXCERPT = 280  # characters of a quoted post shown in its embed

PathFor = Callable[..., str]


class Interactions(Protocol):
    """The Service calls of format v2 the web UI makes (ipfeed.service.Service has them); each
    action saves a draft and returns its id, and the web worker publishes it."""

    def save(self, text: str, reply_to: str | None = None, attach: Sequence[Path] = (),
             to: Sequence[str] = (), *, seal: bool = True, quote: str | None = None, cw: str = "",
             sensitive: bool = False, alts: Sequence[str] = (), card: bool = True) -> object: ...

    def react(self, cid: str, emoji: str = "❤") -> int: ...

    def unreact(self, cid: str) -> int: ...

    def repost(self, cid: str) -> int: ...

    def unrepost(self, cid: str) -> int: ...

    def edit(self, cid: str, text: str) -> int: ...

    def delete(self, cid: str) -> int: ...

    def timeline(self, limit: int = 20, before: str | None = None,
                 tag: str | None = None) -> list[IndexedPost]: ...

    def history(self, cid: str) -> list[IndexedPost]: ...


def interactions(service: Service) -> Interactions:
    """The service, seen through the calls of format v2."""
    return cast(Interactions, service)


def _mentions(raw: Iterable[object]) -> list[Mention]:
    """The post's mentions as `mentions.render` takes them (malformed ones left out)."""
    out = []
    for m in raw:
        if isinstance(m, Mapping):
            name, start, end = m.get("name"), m.get("start"), m.get("end")
            if isinstance(name, str) and type(start) is int and type(end) is int:
                out.append(Mention(name, start, end))
    return out


def mentioned(p: IndexedPost) -> list[str]:
    """The feeds a post mentions, as shown (each display name is looked up)."""
    return [n for _, _, n in mentions.valid_mentions(p.text, _mentions(p.mentions))]


def is_web_url(url: object) -> bool:
    """Whether a remote URL may be a link: http(s) only, never javascript: or data:."""
    return isinstance(url, str) and urlsplit(url.strip()).scheme.lower() in ("http", "https") \
        and url.strip() == url


def rich(p: IndexedPost, names: Mapping[str, str], terms: Sequence[str], path_for: PathFor) -> Markup:
    """A post's text as escaped HTML: mentions link to the feed (display name if known, else
    the handle, in <bdi>), tags to their tag page, http(s) URLs out (rel ugc); the plain text
    between them is highlighted with the search terms, if any."""
    out: list[str] = []
    for seg in mentions.render(p.text, _mentions(p.mentions), p.tags):
        if seg.kind == "mention":
            label = text.display_name(names.get(seg.target) or "") or text.handle(seg.target)
            out.append(f'<a class="mention" href="{escape(path_for("ui.feed_page", name=seg.target))}" '
                       f'title="{escape(seg.target)}">@<bdi>{escape(label)}</bdi></a>')
        elif seg.kind == "tag":
            out.append(f'<a class="tag" href="{escape(path_for("ui.tag_page", tag=seg.target))}">'
                       f'<bdi>{escape(seg.text)}</bdi></a>')
        elif seg.kind == "url" and is_web_url(seg.target):
            out.append(f'<a href="{escape(seg.target)}" rel="{UGC}" target="_blank">{escape(seg.text)}</a>')
        else:
            out.append(str(text.highlight(seg.text, list(terms)) if terms else escape(seg.text)))
    return Markup("".join(out))


def excerpt(s: str, limit: int = EXCERPT) -> str:
    """The start of a quoted post's text."""
    return s if len(s) <= limit else s[:limit].rstrip() + "…"


def domain(url: object) -> str:
    """The host a link card points to, as shown under it (punycode stays punycode)."""
    if not isinstance(url, str):
        return ""
    try:
        return (urlsplit(url).hostname or "").removeprefix("www.")
    except ValueError:
        return ""


def others(p: IndexedPost, top: int = 3) -> list[tuple[str, int]]:
    """The most given reactions besides the like (❤), most first."""
    counted = [(e, n) for e, n in p.reactions.items()
               if isinstance(e, str) and e != REACTIONS[0] and type(n) is int and n > 0]
    return sorted(counted, key=lambda en: (-en[1], en[0]))[:top]


def plural(n: int, one: str, many: str) -> str:
    """"1 reply", "2 replies"."""
    return f"{n} {one if n == 1 else many}"
