"""Mentions, tags and links in a post's text: finding them when writing, showing them when reading
(format v2's content fields `mentions` and `tags`). Pure, no IO."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from .content import MAX_MENTIONS, MAX_TAGS, Mention, is_tag_char, normalize_tag, tag_problem
from .errors import InvalidInput
from .identity import normalize_name

# After a `#`: start of text, whitespace or punctuation, but not the punctuation of paths, HTML
# entities or words (`a/#b`, `&#39;`, `a_#b`).
_NOT_BEFORE_TAG = "/\\&#@_"

# One scan finds every token; each alternative starts only where a word starts (the look-behinds),
# so that a long run of letters is read once, not once per position.
_TOKENS = re.compile(
    r"(?P<ipns>(?<![\w+.-])ipns://(?P<ipns_name>k51[0-9a-z]{50,70})(?![\w]))"
    r"|(?P<url>(?<![\w+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*)://[^\s<>\"]+)"
    r"|(?P<email>(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<at>(?<![\w.+@-])@(?P<word>[\w.-]+))"
    r"|(?P<name>(?<![\w/])k51[0-9a-z]{50,70}(?![\w]))"
    r"|(?P<tag>\#)"
)
_URL_TRAILING = ".,:;!?'\"*_"
_MAX_NAME_CHARS = 73  # a name is 62 characters; longer text is never decoded (base36 is slow)
_ALIAS = re.compile(r"[\w.-]+\Z")


class Followed(Protocol):
    """A feed the user follows, with the alias they gave it (ipfeed.feed.Follow is one)."""

    @property
    def name(self) -> str: ...

    @property
    def alias(self) -> str: ...


@dataclass(frozen=True)
class Found:
    """What `find` read in a text: the content fields, and the @words it could not resolve."""

    mentions: tuple[Mention, ...]
    tags: tuple[str, ...]
    unmatched: tuple[str, ...] = ()  # "@bobb": no followed feed has that alias
    ambiguous: tuple[str, ...] = ()  # "@bob": the alias of more than one followed feed

    def fields(self) -> dict[str, Any]:
        """The content block's `mentions` and `tags`, each only when not empty."""
        out: dict[str, Any] = {}
        if self.mentions:
            out["mentions"] = [m.to_obj() for m in self.mentions]
        if self.tags:
            out["tags"] = list(self.tags)
        return out


@dataclass(frozen=True)
class Segment:
    """A piece of a post's text as written, and what it stands for (a name, a tag or a URL)."""

    kind: Literal["text", "mention", "tag", "url"]
    text: str
    target: str = ""


@dataclass(frozen=True)
class _Token:
    kind: Literal["url", "other-url", "email", "at", "name", "tag"]
    start: int  # character offsets into the text
    end: int
    value: str  # the URL, the word after @, the name, the normalized tag ("" if not a tag)


def tag_of(word: str) -> str | None:
    """The tag `#word` (or `word`) stands for, or None if it is not one: letters, combining marks,
    digits and `_`, 1 … 64 bytes once normalized, not only digits and `_`."""
    tag = normalize_tag(word.removeprefix("#"))
    if tag_problem(tag) is not None or all(c == "_" or c.isdecimal() for c in tag):
        return None  # the format's rule, and a writer's: "#2024" is not a tag
    return tag


def _tokens(text: str) -> Iterator[_Token]:
    """Every URL, e-mail address, @word, pasted name and #tag of `text`, left to right, disjoint."""
    pos = 0
    while m := _TOKENS.search(text, pos):
        start, end = m.span()
        if m["ipns"]:
            yield _Token("name", start, end, m["ipns_name"])
        elif m["url"]:
            end = start + len(_trim_url(m["url"]))
            web = m["scheme"].lower() in ("http", "https") and end > m.end("scheme") + 3
            yield _Token("url" if web else "other-url", start, end, text[start:end])
        elif m["email"]:
            yield _Token("email", start, end, m["email"])
        elif m["at"]:
            yield _Token("at", start, end, m["word"])
        elif m["name"]:
            yield _Token("name", start, end, m["name"])
        else:
            before = text[start - 1] if start else " "
            if before.isspace() or (unicodedata.category(before).startswith("P")
                                    and before not in _NOT_BEFORE_TAG):
                while end < len(text) and is_tag_char(text[end]):
                    end += 1
                tag = tag_of(text[start + 1:end]) if end > start + 1 else None
                yield _Token("tag", start, end, tag or "")
        pos = max(end, start + 1)


def _trim_url(url: str) -> str:
    """A URL without the punctuation that ends the sentence around it (a `)` is kept if it closes
    a `(` of the URL, as in Wikipedia links)."""
    while url:
        c = url[-1]
        if c in _URL_TRAILING or (c == ")" and url.count("(") < url.count(")")):
            url = url[:-1]
        else:
            break
    return url


def urls(text: str) -> list[str]:
    """The http(s) URLs of `text`, in order, as written."""
    return [t.value for t in _tokens(text) if t.kind == "url"]


def first_url(text: str) -> str | None:
    """The first http(s) URL of `text` (the one that gets a link card), or None."""
    return next((t.value for t in _tokens(text) if t.kind == "url"), None)


def _utf8_len(c: str) -> int:
    o = ord(c)
    return 1 if o < 0x80 else 2 if o < 0x800 else 3 if o < 0x10000 else 4


def _canonical_name(text: str) -> str | None:
    if len(text) > _MAX_NAME_CHARS:
        return None
    try:
        return normalize_name(text)
    except InvalidInput:
        return None


def _name_in(word: str) -> str | None:
    return _canonical_name(word) if word.startswith("k51") else None


def find(text: str, follows: Iterable[Followed] = ()) -> Found:
    """The mentions and tags of a post being written: `@alias` of a followed feed (the longest
    alias, case-insensitive), a pasted `k51…`, `@k51…` or `ipns://k51…` name, and `#tags`; never
    inside a URL or an e-mail address. Aliases are the user's own; display names, chosen by each
    feed for itself, never capture a mention."""
    by_alias: dict[str, set[str]] = {}
    for f in follows:
        if f.alias and _ALIAS.match(f.alias):
            by_alias.setdefault(f.alias.casefold(), set()).add(f.name)
    longest = max([_MAX_NAME_CHARS, *map(len, by_alias)])
    mentions: list[Mention] = []
    tags: dict[str, None] = {}
    unmatched: dict[str, None] = {}
    ambiguous: dict[str, None] = {}
    char_at, byte_at = 0, 0  # a known (character, byte) offset pair, moved forward as we go

    def to_bytes(i: int) -> int:
        nonlocal char_at, byte_at
        byte_at += sum(map(_utf8_len, text[char_at:i]))
        char_at = i
        return byte_at

    for t in _tokens(text):
        name, end = None, t.end
        if t.kind == "name":
            name = _name_in(t.value)
        elif t.kind == "at":
            word, k = t.value, len(t.value)  # the longest alias or name it starts with ("@bob.")
            while k and word[k - 1] in ".-" and (k > longest or not (
                    word[:k].casefold() in by_alias or _name_in(word[:k]))):
                k -= 1
            word = word[:k]
            end = t.start + 1 + len(word)
            if end < len(text) and text[end] == "@":
                continue  # "@alice@example.social" is somebody elsewhere
            names = by_alias.get(word.casefold(), set())
            if len(names) == 1:
                name = _canonical_name(next(iter(names)))
            elif names:
                ambiguous["@" + word] = None
            elif not (name := _name_in(word)) and word:
                unmatched["@" + word] = None
        elif t.kind == "tag" and t.value and len(tags) < MAX_TAGS:
            tags[t.value] = None
        if name is not None and len(mentions) < MAX_MENTIONS:
            mentions.append(Mention(name, to_bytes(t.start), to_bytes(end)))
    return Found(tuple(mentions), tuple(sorted(tags)), tuple(unmatched), tuple(ambiguous))


def valid_mentions(text: str, mentions: Iterable[object]) -> list[tuple[int, int, str]]:
    """The mentions of remote data that can be shown, as (start, end) character offsets and the
    name: spans inside the text on character boundaries, canonical names, sorted; a mention
    that breaks a rule or overlaps an earlier one is left out (at most 50 are kept)."""
    mentions = list(mentions)
    if not mentions:
        return []  # most posts: no need to map the text's byte offsets
    boundary: dict[int, int] = {}  # byte offset -> character offset
    b = 0
    for i, c in enumerate(text):
        boundary[b] = i
        b += _utf8_len(c)
    boundary[b] = len(text)
    spans = []
    for m in mentions:
        if not isinstance(m, Mention) or type(m.start) is not int or type(m.end) is not int:
            continue
        if m.start < m.end and m.start in boundary and m.end in boundary and isinstance(m.name, str):
            spans.append((m.start, m.end, m.name))
    out: list[tuple[int, int, str]] = []
    last = 0
    for start, end, name in sorted(spans):
        if start >= last and len(out) < MAX_MENTIONS and _canonical_name(name) == name:
            out.append((boundary[start], boundary[end], name))
            last = end
    return out


def render(text: str, mentions: Sequence[Mention] = (), tags: Iterable[str] = ()) -> list[Segment]:
    """`text` cut into segments for a web page or a terminal: plain text, mentions (by the post's
    own byte offsets, checked), its tags where `#tag` is written, and http(s) URLs. The
    segments' texts put together are `text`; remote data never makes this raise."""
    shown = valid_mentions(text, mentions)
    if not shown and "://" not in text and "#" not in text:
        return [Segment("text", text)] if text else []  # nothing to link: one plain segment
    wanted = {t for t in tags if isinstance(t, str)}
    pieces: list[tuple[int, int, Segment]] = [(s, e, Segment("mention", text[s:e], n)) for s, e, n in shown]
    covered = iter(shown)
    span = next(covered, None)
    for t in _tokens(text):
        while span is not None and span[1] <= t.start:
            span = next(covered, None)
        if span is not None and span[0] < t.end:
            continue  # a mention covers (part of) it
        if t.kind == "url":
            pieces.append((t.start, t.end, Segment("url", t.value, t.value)))
        elif t.kind == "tag" and t.value in wanted:
            pieces.append((t.start, t.end, Segment("tag", text[t.start:t.end], t.value)))
    out: list[Segment] = []
    at = 0
    for start, end, seg in sorted(pieces, key=lambda p: p[0]):
        if start > at:
            out.append(Segment("text", text[at:start]))
        out.append(seg)
        at = end
    if at < len(text):
        out.append(Segment("text", text[at:]))
    return out


def plain(segments: Iterable[Segment]) -> str:
    """The segments as plain text (a terminal shows a post as written)."""
    return "".join(s.text for s in segments)
