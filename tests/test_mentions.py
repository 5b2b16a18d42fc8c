"""Mentions, tags and links in a post's text (ipfeed/mentions.py): found when writing, checked
and cut into segments when reading remote data."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipfeed.feed import Follow
from ipfeed.identity import Identity
from ipfeed.mentions import (
    MAX_MENTIONS,
    MAX_TAGS,
    Found,
    Mention,
    Segment,
    find,
    first_url,
    normalize_tag,
    plain,
    render,
    tag_of,
    urls,
    valid_mentions,
)

BOB = Identity.from_seed(b"b" * 32).name
BOBS = Identity.from_seed(b"s" * 32).name
ZOE = Identity.from_seed(b"z" * 32).name
FOLLOWS = [Follow(BOB, "bob"), Follow(BOBS, "Bob.Smith"), Follow(ZOE, "zoë")]


def written(text: str, m: Mention) -> str:
    return text.encode()[m.start:m.end].decode()


def test_alias_mentions_are_case_insensitive_and_the_longest_alias_wins() -> None:
    text = "hi @BOB, @bob.smith and @Zoë."
    found = find(text, FOLLOWS)
    assert [(written(text, m), m.name) for m in found.mentions] == [
        ("@BOB", BOB), ("@bob.smith", BOBS), ("@Zoë", ZOE)]
    assert found.unmatched == ()


def test_offsets_are_utf8_bytes() -> None:
    text = "ééé @bob"
    (m,) = find(text, FOLLOWS).mentions
    assert (m.start, m.end) == (7, 11)


def test_an_unknown_at_word_stays_text_and_is_reported() -> None:
    found = find("thanks @bobb and @nobody.", FOLLOWS)
    assert found.mentions == ()
    assert found.unmatched == ("@bobb", "@nobody")


def test_an_alias_of_two_feeds_is_ambiguous_not_a_mention() -> None:
    found = find("@pal", [Follow(BOB, "pal"), Follow(ZOE, "PAL")])
    assert found.mentions == () and found.ambiguous == ("@pal",)


def test_pasted_names_in_three_spellings_are_mentions() -> None:
    text = f"see {ZOE}, @{ZOE} and ipns://{ZOE}/x"
    found = find(text)
    assert [written(text, m) for m in found.mentions] == [ZOE, "@" + ZOE, "ipns://" + ZOE]
    assert {m.name for m in found.mentions} == {ZOE}


def test_a_broken_name_is_not_a_mention() -> None:
    broken = ZOE[:-1]  # any last digit is some key's name; one digit fewer is none's
    assert find(f"{broken} {ZOE}0 {ZOE[:20]}").mentions == ()
    assert find(f"@{broken}").unmatched == (f"@{broken}",)


@pytest.mark.parametrize("text", [
    "mail bob@example.com", "https://example.com/@bob", "https://example.com/#bob",
    "@bob@example.social", "x@bob", f"https://ipfs.io/ipns/{BOB}", f"a{BOB}", "C#bob", "a/#bob",
], ids=repr)
def test_nothing_is_found_inside_urls_and_addresses(text: str) -> None:
    found = find(text, FOLLOWS)
    assert found.mentions == () and found.tags == ()


def test_display_names_never_capture_a_mention() -> None:
    assert find("@Bob", [Follow(BOB, "")]).mentions == ()


@pytest.mark.parametrize(("word", "tag"), [
    ("#Tag", "tag"), ("#ÉTÉ", "été"), ("#Straße", "strasse"), ("#ＦＵＬＬ", "full"),
    ("#foo_bar", "foo_bar"), ("#हिन्दी", "हिन्दी"), ("#2024", None), ("#_1", None), ("#", None),
    ("#" + "a" * 64, "a" * 64), ("#" + "a" * 65, None), ("#" + "é" * 33, None),
], ids=repr)
def test_tag_rules(word: str, tag: str | None) -> None:
    assert tag_of(word) == tag
    assert find(f"x {word}").tags == (() if tag is None else (tag,))


def test_tags_are_sorted_unique_and_capped() -> None:
    assert find("#b #a #B (#c) #a").tags == ("a", "b", "c")
    many = " ".join(f"#t{i:02d}" for i in range(30))
    assert find(many).tags == tuple(sorted(f"t{i:02d}" for i in range(MAX_TAGS)))


def test_mentions_are_capped() -> None:
    assert len(find(" ".join(["@bob"] * 60), FOLLOWS).mentions) == MAX_MENTIONS


def test_fields_are_the_content_block_fields() -> None:
    assert find("no mentions").fields() == {}
    assert find("@bob #x", FOLLOWS).fields() == {
        "mentions": [{"name": BOB, "start": 0, "end": 4}], "tags": ["x"]}


def test_urls_and_the_first_url() -> None:
    text = "see (https://en.wikipedia.org/wiki/A_(b)). and http://x.org/a, ftp://y.org"
    assert urls(text) == ["https://en.wikipedia.org/wiki/A_(b)", "http://x.org/a"]
    assert first_url(text) == "https://en.wikipedia.org/wiki/A_(b)"
    assert first_url("no link, ipns://x, http://") is None


def test_render_shows_mentions_tags_and_urls() -> None:
    text = "@bob look #Cats https://x.org/a."
    found = find(text, FOLLOWS)
    assert render(text, found.mentions, found.tags) == [
        Segment("mention", "@bob", BOB), Segment("text", " look "), Segment("tag", "#Cats", "cats"),
        Segment("text", " "), Segment("url", "https://x.org/a", "https://x.org/a"), Segment("text", "."),
    ]


def test_render_shows_only_the_posts_own_tags() -> None:
    assert render("#a #b", [], ["b"]) == [Segment("text", "#a "), Segment("tag", "#b", "b")]


@pytest.mark.parametrize("mention", [
    Mention(BOB, 0, 99), Mention(BOB, -1, 2), Mention(BOB, 2, 2), Mention(BOB, 1, 2),
    Mention("k51nope", 0, 2), Mention(BOB.upper(), 0, 2), Mention(True, 0, 2),  # type: ignore[arg-type]
    Mention(BOB, 0, True),
], ids=repr)
def test_render_ignores_a_mention_off_the_text_or_off_a_character_boundary(mention: Mention) -> None:
    assert render("éa", [mention]) == [Segment("text", "éa")]


def test_render_ignores_overlapping_mentions() -> None:
    segs = render("@bob @zoe", [Mention(ZOE, 5, 9), Mention(BOB, 0, 4), Mention(ZOE, 2, 6)])
    assert [s.kind for s in segs] == ["mention", "text", "mention"]


def test_render_takes_anything_as_mentions() -> None:
    assert render("ab", ["x", None, {"name": BOB, "start": 0, "end": 1}]) == [  # type: ignore[list-item]
        Segment("text", "ab")]


# -- properties ---------------------------------------------------------------------------------
ALIASES = ["bob", "Bob.Smith", "zoë"]
pieces = st.one_of(
    st.text(max_size=8),
    st.sampled_from([" ", ".", "-", "@", "#", "é", "😀", "\u0301", "/", "(", ")", "\n"]),
    st.sampled_from(ALIASES).map(lambda a: "@" + a),
    st.sampled_from(["@bobb", "bob@ex.com", "https://x.org/@bob#t", "#tag", "#ÉTÉ", "#1",
                     ZOE, "@" + ZOE, "ipns://" + ZOE]),
)
texts = st.lists(pieces, max_size=30).map("".join)


@given(texts)
def test_offsets_always_slice_to_the_mention_as_written(text: str) -> None:
    found = find(text, FOLLOWS)
    raw = text.encode("utf-8", "surrogatepass")
    last = 0
    for m in found.mentions:
        assert last <= m.start < m.end <= len(raw)
        words = raw[m.start:m.end].decode("utf-8", "surrogatepass")
        assert words.lstrip("@").removeprefix("ipns://").casefold() in (
            *(a.casefold() for a in ALIASES), m.name)
        last = m.end
    assert len(found.mentions) <= MAX_MENTIONS
    assert list(found.tags) == sorted(set(found.tags)) and len(found.tags) <= MAX_TAGS
    assert all(tag_of(t) == t == normalize_tag(t) for t in found.tags)


@given(texts)
def test_render_of_found_fields_shows_every_mention(text: str) -> None:
    found = find(text, FOLLOWS)
    segs = render(text, found.mentions, found.tags)
    assert plain(segs) == text
    assert [s.target for s in segs if s.kind == "mention"] == [m.name for m in found.mentions]
    assert {s.target for s in segs if s.kind == "tag"} == set(found.tags)


@given(st.one_of(texts, st.text()),
       st.lists(st.builds(Mention, st.sampled_from([BOB, ZOE, "", "x", BOB.upper()]),
                          st.integers(-5, 300), st.integers(-5, 300)), max_size=60),
       st.lists(st.text(max_size=5), max_size=5))
def test_render_never_raises_and_loses_no_text(text: str, mentions: list[Mention], tags: list[str]) -> None:
    segs = render(text, mentions, tags)
    assert plain(segs) == text
    assert all(s.text for s in segs)
    shown = valid_mentions(text, mentions)
    assert len(shown) <= MAX_MENTIONS
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(shown))


def test_found_is_the_result_type() -> None:
    assert isinstance(find(""), Found)
