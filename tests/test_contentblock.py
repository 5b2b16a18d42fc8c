"""Format v2 content blocks: every rule with its message, the growth rule, tags and mentions as
properties, private content (the box moved into the content block) and mutations."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID, multihash

from ipfeed import codec, private
from ipfeed.content import Extras, Mention, Ref, normalize_tag, tag_problem
from ipfeed.contentblock import Attachment, Card, build_content, parse_content
from ipfeed.errors import InvalidBlock, InvalidContent, InvalidInput, InvalidObject, InvalidPost, NewerFormat
from ipfeed.identity import Identity

ME = Identity.from_seed(bytes(range(32)))
BOB = Identity.from_seed(bytes([7]) * 32)
FILE = codec.Link(bytes(CID("base32", 1, "raw", multihash.digest(b"f", "sha2-256"))))
FILE_CID = codec.cid_str(bytes(FILE.cid_bytes))
ATT = {"cid": FILE, "type": "image/png", "size": 5, "name": "a.png"}
REF = {"cid": codec.cid_bytes_of(b"p"), "author": ME.public}
CARD = {"url": "https://example.org/a", "title": "t", "description": "d"}
DROP = object()


def block(**changes: Any) -> bytes:
    obj: dict[str, Any] = {"type": "ipfeed.content", "v": 2, "text": "hi @k51 #tag"}
    obj.update(changes)
    return codec.encode({k: v for k, v in obj.items() if v is not DROP})


def mention(start: int = 3, end: int = 7, name: str = ME.name) -> dict[str, Any]:
    return {"name": name, "start": start, "end": end}


@pytest.mark.parametrize(("changes", "message"), [
    ({"type": "ipfeed.post"}, "type must be 'ipfeed.content'"),
    ({"v": 1}, "v must be 2"),
    ({"text": DROP}, "missing field"),
    ({"text": "x" * 8001}, "over the limit of 8000"),
    ({"text": ""}, "text is empty"),
    ({"reply_to": codec.link_of(b"p")}, "reply_to: not a map"),
    ({"reply_to": {**REF, "cid": codec.PREFIX_RAW + bytes(32)}}, "cid: not a CIDv1"),
    ({"quote": {"cid": REF["cid"]}}, "quote: missing field"),
    ({"attachments": []}, "attachments has 0 items"),
    ({"attachments": [ATT] * 9}, "attachments has 9 items"),
    ({"attachments": [{**ATT, "name": "a/b"}]}, "plain file name"),
    ({"attachments": [{**ATT, "type": "Image/PNG"}]}, "lower-case media type"),
    ({"attachments": [{**ATT, "alt": "x" * 1001}]}, "alt is 1001 bytes"),
    ({"attachments": [{**ATT, "cid": codec.cid_bytes_of(b"f")}]}, "cid: not a link"),
    ({"mentions": [mention(name="alice")]}, "not an IPNS name"),
    ({"mentions": [mention(name=ME.name.upper())]}, "not an IPNS name"),
    ({"mentions": [mention(3, 3)]}, "start 3 must be before end 3"),
    ({"mentions": [mention(3, 99)]}, "end is 99, outside 0..12"),
    ({"mentions": [mention(8, 12), mention(3, 7)]}, "sorted by start"),
    ({"mentions": [mention(3, 8), mention(7, 12)]}, "must not overlap"),
    ({"text": "é @k51", "mentions": [mention(1, 7)]}, "character boundaries"),
    ({"mentions": [mention()] * 51}, "mentions has 51 items"),
    ({"tags": ["Tag"]}, "not NFKC-casefolded"),
    ({"tags": ["ｔａｇ"]}, "not NFKC-casefolded"),
    ({"tags": ["a-b"]}, "only letters, digits and _"),
    ({"tags": ["a b"]}, "only letters, digits and _"),
    ({"tags": [""]}, "allowed 1..64"),
    ({"tags": ["x" * 65]}, "allowed 1..64"),
    ({"tags": ["b", "a"]}, "sorted"),
    ({"tags": ["a", "a"]}, "no duplicates"),
    ({"tags": [f"t{i}" for i in range(21)]}, "tags has 21 items"),
    ({"tags": [3]}, "tags must be strings"),
    ({"card": {**CARD, "url": "javascript:alert(1)"}}, "http:// or https://"),
    ({"card": {**CARD, "url": "HTTPS://example.org"}}, "http:// or https://"),
    ({"card": {**CARD, "url": "https://"}}, "with a host"),
    ({"card": {**CARD, "url": "https://a.org/\u202e"}}, r"bidi control \(U\+202E\)"),
    ({"card": {**CARD, "url": "https://a.org/ x"}}, "space"),
    ({"card": {**CARD, "url": "https://a.org/" + "x" * 2000}}, "url is 2014 bytes"),
    ({"card": {**CARD, "title": "x" * 301}}, "title is 301 bytes"),
    ({"card": {**CARD, "description": "x" * 1001}}, "description is 1001 bytes"),
    ({"card": {"url": "https://a.org"}}, "card: missing field"),
    ({"card": {**CARD, "thumb": {**ATT, "type": "image/svg+xml"}}}, "thumb type"),
    ({"card": {**CARD, "thumb": {**ATT, "size": 1024 * 1024 + 1}}}, "thumb size"),
    ({"cw": ""}, "cw must not be empty"),
    ({"cw": "x" * 201}, "cw is 201 bytes"),
    ({"sensitive": 1}, "sensitive must be true or false"),
    ({"files": [FILE]}, "only for private posts"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_content_rule_violations_are_rejected_with_their_reason(changes: dict[str, Any],
                                                               message: str) -> None:
    with pytest.raises(InvalidContent, match=message):
        parse_content(block(**changes))


def test_a_content_block_of_a_newer_version_says_upgrade() -> None:
    with pytest.raises(NewerFormat, match="upgrade ipfeed"):
        parse_content(block(v=3))


def test_content_over_size_and_non_canonical_bytes_are_rejected() -> None:
    with pytest.raises(InvalidBlock, match="over the limit of 16384"):
        parse_content(block(text="x" * 8000, pad="y" * 9000))
    with pytest.raises(InvalidBlock, match="hash to"):
        parse_content(block(), codec.cid_of(b"other"))


def test_unknown_fields_are_ignored_everywhere_in_a_content_block() -> None:
    c = parse_content(block(future=1, reply_to={**REF, "future": 2}, attachments=[{**ATT, "future": 3}],
                            card={**CARD, "future": 4}, mentions=[{**mention(), "future": 5}]))
    assert c.text == "hi @k51 #tag" and c.reply_to == Ref(codec.cid_str(REF["cid"]), ME.public)
    assert c.attachments[0].name == "a.png" and c.card == Card(CARD["url"], "t", "d")
    assert c.extras.mentions == (Mention(ME.name, 3, 7),)


def test_empty_text_is_allowed_with_attachments_or_a_quote() -> None:
    assert parse_content(block(text="", attachments=[ATT])).attachments
    assert parse_content(block(text="", quote=REF)).extras.quote is not None


def test_everything_round_trips_through_build_and_parse() -> None:
    c = build_content(
        "a 🎉 @k51 #tag", reply_to=Ref(codec.cid_of(b"r"), BOB.public),
        attachments=(Attachment(FILE_CID, "image/png", 5, "a.png", "a cat"),),
        card=Card("http://a.org/x?y=1", "", "", Attachment(FILE_CID, "image/webp", 5, "t.webp")),
        extras=Extras(Ref(codec.cid_of(b"q"), ME.public), (Mention(ME.name, 7, 11),), ("tag",), "cw", True))
    assert parse_content(c.block, c.cid) == c
    assert c.attachments[0].to_json()["alt"] == "a cat" and not c.private
    with pytest.raises(InvalidInput, match="cannot write content"):
        build_content("")


# -- private content in a content block -------------------------------------------------------
def test_a_private_content_block_has_only_its_box_and_opens_with_v2_fields() -> None:
    extras = Extras(quote=Ref(codec.cid_of(b"q"), ME.public), mentions=(Mention(BOB.name, 0, 4),),
                    tags=("secret",), cw="spoiler", sensitive=True)
    box = private.seal(ME, [BOB.name], "@bob hi", extras=extras)
    c = build_content(box=box)
    assert c.private and c.text == "" and parse_content(c.block, c.cid) == c
    opened = private.open_box(BOB, c.box or {}, f"content {c.cid}", c.files, v2=True)
    assert opened is not None and opened.text == "@bob hi" and opened.extras == extras
    with pytest.raises(InvalidPost, match="unknown field"):  # v1 inner rules: no v2 fields
        private.open_box(BOB, box, "post", ())


@pytest.mark.parametrize("changes", [{"text": "leak"}, {"tags": ["x"]}, {"cw": "x"}, {"quote": REF},
                                     {"attachments": [ATT]}, {"reply_to": REF}, {"card": CARD}],
                         ids=lambda c: next(iter(c)))
def test_a_private_content_block_has_nothing_public_beside_its_box(changes: dict[str, Any]) -> None:
    box = private.seal(ME, [BOB.name], "x")
    with pytest.raises(InvalidContent, match="nothing beside box and files"):
        parse_content(block(**{"text": "", "box": box, **changes}))


def test_a_private_content_blocks_box_and_files_are_checked() -> None:
    with pytest.raises(InvalidPost, match="box must have exactly"):
        parse_content(block(text="", box={"ct": b""}))
    box = private.seal(ME, [BOB.name], "x")
    with pytest.raises(InvalidContent, match="files has 9 items"):
        parse_content(block(text="", box=box, files=[FILE] * 9))


# -- tags and mentions as properties ----------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_a_normalized_tag_of_word_characters_is_valid_and_stable(raw: str) -> None:
    tag = normalize_tag(raw)
    if tag_problem(tag) is None:
        assert normalize_tag(tag) == tag and 1 <= len(tag.encode()) <= 64
        assert all(c == "_" or unicodedata.category(c)[0] in "LMN" for c in tag)
        parse_content(block(tags=[tag]))
    else:
        with pytest.raises(InvalidContent):
            parse_content(block(tags=[tag]))


@settings(max_examples=200, deadline=None)
@given(text=st.text(min_size=1, max_size=40), cuts=st.lists(st.integers(0, 200), max_size=6))
def test_mentions_on_character_boundaries_sorted_and_disjoint_are_accepted(text: str,
                                                                          cuts: list[int]) -> None:
    raw_len = len(text.encode())  # hypothesis draws no lone surrogates
    bounds = sorted({len(text[:i].encode()) for i in range(len(text) + 1)}
                    & {c % (raw_len + 1) for c in cuts})
    spans = list(zip(bounds[::2], bounds[1::2], strict=False))
    obj = block(text=text, mentions=[mention(s, e) for s, e in spans]) if spans else block(text=text)
    assert parse_content(obj).extras.mentions == tuple(Mention(ME.name, s, e) for s, e in spans)


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_mutations_of_content_blocks_never_pass_as_the_listed_cid(data: st.DataObject) -> None:
    good = build_content("a #tag", attachments=(Attachment(FILE_CID, "image/png", 5, "a.png", "alt"),),
                         extras=Extras(tags=("tag",), cw="cw"))
    raw = bytearray(good.block)
    i = data.draw(st.integers(0, len(raw) * 8 - 1))
    raw[i // 8] ^= 1 << (i % 8)
    with pytest.raises(InvalidObject):
        parse_content(bytes(raw), good.cid)
