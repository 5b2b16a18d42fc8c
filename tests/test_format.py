"""The wire format: test vectors (checked by independent code too), every rule, and mutations."""

from __future__ import annotations

import json
from typing import Any

import dag_cbor
import nacl.signing
import pytest
from conftest import DATA, from_dag_json, mutation
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID, multihash

from ipfeed import codec, feed, post
from ipfeed.errors import (
    ChainError,
    InvalidBlock,
    InvalidFollows,
    InvalidInput,
    InvalidObject,
    InvalidPost,
    InvalidRoot,
)
from ipfeed.feed import Follow, Profile
from ipfeed.identity import Identity

VECTORS = json.loads((DATA / "vectors.json").read_text())
ME = Identity.from_seed(bytes.fromhex(VECTORS["identity"]["seed"]))
OTHER = Identity.from_seed(bytes([7]) * 32)
FILE_CID = str(CID("base32", 1, "raw", multihash.digest(b"hello", "sha2-256")))
PARSERS = {"post": post.parse, "root": feed.parse, "follows": feed.parse_follows}


@pytest.mark.parametrize("case", VECTORS["objects"] + VECTORS["v2"]["objects"], ids=lambda c: c["comment"])
def test_vector_checked_by_independent_code(case: dict[str, Any]) -> None:
    """Another implementation (dag_cbor + multiformats + raw libsodium) agrees with the vector
    (format v1's and v2's; tests/test_entry.py checks what is particular to v2's)."""
    block = bytes.fromhex(case["hex"])
    obj = from_dag_json(case["object"])
    assert dag_cbor.encode(obj) == block
    assert str(CID("base32", 1, "dag-cbor", multihash.digest(block, "sha2-256"))) == case["cid"]
    if "sig" in obj:
        unsigned = dag_cbor.encode({k: v for k, v in obj.items() if k != "sig"})
        nacl.signing.VerifyKey(obj["author"]).verify(unsigned, obj["sig"])


@pytest.mark.parametrize("case", VECTORS["objects"], ids=lambda c: c["comment"])
def test_vector_parses_with_ipfeed(case: dict[str, Any]) -> None:
    block = bytes.fromhex(case["hex"])
    PARSERS[case["kind"]](block, case["cid"])


def test_ipfeed_builds_the_vectors_byte_for_byte() -> None:
    p1 = post.build(ME, seq=1, prev=None, created=1700000000000, text="hello, world")
    p2 = post.build(ME, seq=2, prev=p1.cid, created=1700000001000, text="a reply with a file ✓",
                    reply_to=p1.cid, attachments=(post.Attachment(FILE_CID, "text/plain", 5, "hello.txt"),))
    root = feed.build(ME, seq=3, updated=1700000002000, profile=Profile("Alice", "test vector"),
                      count=2, recent=[p2.cid, p1.cid])
    follows, follows_cid = feed.build_follows([Follow(ME.name, "myself")])
    got = [(p1.block, p1.cid), (p2.block, p2.cid), (root.block, root.cid), (follows, follows_cid)]
    assert [(b.hex(), c) for b, c in got] == [(v["hex"], v["cid"]) for v in VECTORS["objects"]]


# -- every rule, broken on purpose, each with its message -------------------------------
def signed(obj: dict[str, Any], key: Identity = ME) -> bytes:
    """Sign any object the way ipfeed signs, so that only the rule under test is broken."""
    obj = dict(obj)
    obj.pop("sig", None)
    obj["sig"] = key.sign(codec.encode(obj))
    return codec.encode(obj)


def good_post(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "ipfeed.post", "v": 1, "author": ME.public, "seq": 2,
                           "prev": codec.link_of(b"x"), "created": 1700000000000, "text": "hi"}
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not DROP}


DROP = object()
ATT = {"cid": codec.link(FILE_CID), "type": "image/png", "size": 5, "name": "a.png"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"extra": 1}, "unknown field"),
    ({"created": DROP}, "missing field"),
    ({"type": "ipfeed.root"}, "type must be"),
    ({"v": 2}, "v must be 1"),
    ({"v": True}, "v must be 1"),
    ({"seq": 0}, "seq is 0"),
    ({"seq": 2**53}, "outside"),
    ({"seq": "2"}, "seq must be an integer"),
    ({"created": -1}, "created is -1"),
    ({"author": b"short"}, "author must be 32 bytes"),
    ({"text": "x" * 8001}, "over the limit of 8000"),
    ({"text": ""}, "text is empty"),
    ({"text": b"bytes"}, "text must be a string"),
    ({"prev": DROP}, "needs prev"),
    ({"seq": 1}, "must not have prev"),
    ({"prev": codec.cid_bytes_of(b"x")}, "prev: not a link"),
    ({"prev": codec.Link(codec.PREFIX_RAW + bytes(32))}, "prev: not a CIDv1"),
    ({"prev": codec.Link(b"\x01\x71\x12\x05" + bytes(5))}, "prev: not a CIDv1"),  # a 5-byte digest
    ({"reply_to": codec.link_of(b"x")}, "reply_to: not a CIDv1"),
    ({"reply_to": b"\x01\x71"}, "reply_to: not a CIDv1"),
    ({"attachments": []}, "attachments has 0 items"),
    ({"attachments": [ATT] * 9}, "attachments has 9 items"),
    ({"attachments": [{**ATT, "type": "text/html; charset=x"}]}, "not a lower-case media type"),
    ({"attachments": [{**ATT, "type": "IMAGE/PNG"}]}, "not a lower-case media type"),
    ({"attachments": [{**ATT, "name": "../etc/passwd"}]}, "plain file name"),
    ({"attachments": [{**ATT, "name": "a\nb"}]}, "plain file name"),
    ({"attachments": [{**ATT, "name": "a\x85b"}]}, r"no control character \(U\+0085\)"),
    ({"attachments": [{**ATT, "name": "a\u202eb"}]}, r"no bidi control \(U\+202E\)"),
    ({"attachments": [{**ATT, "size": 64 * 1024 * 1024 + 1}]}, "size is"),
    ({"attachments": [{**ATT, "cid": codec.link_of(b"x")}]}, "cid: not a CIDv1"),
    ({"attachments": [{**ATT, "evil": 1}]}, "unknown field"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_post_rule_violations_are_rejected_with_their_reason(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidPost, match=message):
        post.parse(signed(good_post(**changes)))


def test_a_link_that_is_not_a_well_formed_cid_is_rejected_as_a_block() -> None:
    with pytest.raises(InvalidBlock, match="digest is 5 bytes, not the 32"):
        post.parse(signed(good_post(prev=codec.Link(b"\x01\x71\x12\x20" + bytes(5)))))


def test_post_signed_by_another_key_is_rejected() -> None:
    with pytest.raises(InvalidPost, match="signature does not verify"):
        post.parse(signed(good_post(), OTHER))


def test_field_added_after_signing_is_rejected() -> None:
    obj = codec.decode(signed(good_post()), max_size=1 << 16, what="x")
    obj["text"] = "changed after signing"
    with pytest.raises(InvalidPost, match="signature"):
        post.parse(codec.encode(obj))


def test_post_over_size_is_rejected_before_decoding() -> None:
    with pytest.raises(InvalidBlock, match="over the limit of 16384"):
        post.parse(codec.encode({"text": "x" * 20000}))


def test_block_not_matching_its_cid_is_rejected() -> None:
    block = bytes.fromhex(VECTORS["objects"][0]["hex"])
    with pytest.raises(InvalidBlock, match="hash to"):
        post.parse(block, VECTORS["objects"][1]["cid"])


def test_building_an_invalid_post_is_refused_as_input_error() -> None:
    with pytest.raises(InvalidInput, match="over the limit of 8000"):
        post.build(ME, seq=1, prev=None, created=0, text="é" * 4001)


# -- roots ------------------------------------------------------------------------------
def good_root(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "ipfeed.root", "v": 1, "author": ME.public, "seq": 1, "updated": 1,
                           "profile": {"name": "A", "bio": ""}, "count": 1, "recent": [codec.link_of(b"1")]}
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not DROP}


@pytest.mark.parametrize(("changes", "message"), [
    ({"count": 0}, "recent must be absent"),
    ({"recent": DROP}, "recent is missing"),
    ({"count": 2}, "recent has 1 items, allowed 2..2"),
    ({"count": 100, "recent": [codec.link_of(bytes([i])) for i in range(65)]}, "recent has 65 items"),
    ({"count": 2, "recent": [codec.link_of(b"1")] * 2}, "twice"),
    ({"profile": {"name": "A"}}, "missing field"),
    ({"profile": {"name": "x" * 101, "bio": ""}}, "name is 101 bytes"),
    ({"profile": {"name": "", "bio": "x" * 2001}}, "bio is 2001 bytes"),
    ({"profile": {"name": "", "bio": "", "avatar": codec.link_of(b"x")}}, "avatar: not a CIDv1"),
    ({"profile": "Alice"}, "profile: not a map"),
    ({"follows": codec.Link(codec.PREFIX_RAW + bytes(32))}, "follows: not a CIDv1"),
    ({"head": codec.link_of(b"1")}, "unknown field"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_root_rule_violations_are_rejected_with_their_reason(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRoot, match=message):
        feed.parse(signed(good_root(**changes)))


def test_root_of_another_key_is_rejected_for_this_name() -> None:
    root = feed.parse(signed(good_root(author=OTHER.public), OTHER))
    with pytest.raises(InvalidRoot, match="another key"):
        feed.check_root_author(root, ME.public, ME.name)


@pytest.mark.parametrize(("entries", "message"), [
    ([{"name": "alice"}], "not an IPNS name"),
    ([{"name": ME.name}, {"name": ME.name}], "sorted by name with no duplicates"),
    ([{"name": ME.name, "alias": ""}], "alias must not be empty"),
    ([{"name": ME.name.upper()}], "not an IPNS name|not in canonical"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_follow_list_rule_violations_are_rejected(entries: list[Any], message: str) -> None:
    with pytest.raises(InvalidFollows, match=message):
        feed.parse_follows(codec.encode({"type": "ipfeed.follows", "v": 1, "follows": entries}))


# -- chains -----------------------------------------------------------------------------
def chain(n: int, key: Identity = ME) -> list[post.Post]:
    posts: list[post.Post] = []
    for seq in range(1, n + 1):
        target = post.skip_target(seq)
        posts.append(post.build(key, seq=seq, prev=posts[-1].cid if posts else None,
                                created=seq, text=f"post {seq}",
                                skip=posts[target - 1].cid if target else None))
    return posts


def root_for(posts: list[post.Post]) -> feed.Root:
    r = None
    for p in posts:
        r = feed.advance(ME, r, updated=p.seq, heads=[p.cid])
    assert r is not None
    return r


def test_root_lists_the_newest_posts_and_the_page_checks() -> None:
    posts = chain(70)
    root = root_for(posts)
    assert root.count == 70 and root.seq == 70 and len(root.recent) == feed.RECENT
    assert root.recent == tuple(p.cid for p in reversed(posts[-feed.RECENT:]))
    feed.check_page(root, list(reversed(posts)))


def test_page_with_a_gap_is_a_chain_error() -> None:
    posts = chain(5)
    newest = list(reversed(posts))
    with pytest.raises(ChainError, match="expected 4"):
        feed.check_page(root_for(posts), [newest[0], newest[2]])


def test_page_with_another_authors_post_is_a_chain_error() -> None:
    posts = chain(3)
    root = root_for(posts)
    stranger = chain(2, OTHER)[1]
    with pytest.raises(ChainError, match="not by the feed's author"):
        feed.check_page(root, [posts[2], stranger])


def test_post_not_listed_by_the_root_is_a_chain_error() -> None:
    posts = chain(3)
    fork = post.build(ME, seq=3, prev=posts[1].cid, created=99, text="equivocation", skip=posts[0].cid)
    with pytest.raises(ChainError, match="lists"):
        feed.check_page(root_for(posts), [fork, posts[1]])


def test_prev_pointing_elsewhere_is_a_chain_error() -> None:
    a, b = chain(2), chain(2)
    other = post.build(ME, seq=1, prev=None, created=5, text="another first post")
    with pytest.raises(ChainError, match="prev is"):
        feed.check_next(a[1], other)
    feed.check_next(a[1], b[0])  # same content, same CID: fine


# -- mutations (hypothesis) -------------------------------------------------------------
MUTATED = {"tried": 0, "rejected": 0}  # printed at the end of the run (conftest)
VALID_BLOCKS = [bytes.fromhex(v["hex"]) for v in VECTORS["objects"]]


@settings(max_examples=400, deadline=None)
@given(which=st.integers(0, 3), data=st.data())
def test_random_mutations_are_always_rejected_with_a_typed_error(which: int, data: st.DataObject) -> None:
    kind = VECTORS["objects"][which]["kind"]
    bad = mutation(VALID_BLOCKS[which], data)
    MUTATED["tried"] += 1
    if kind == "follows":
        # A follow list is unsigned (the root's link protects it): a mutation must at least
        # never crash, and never pass as the listed CID.
        with pytest.raises(InvalidObject):
            feed.parse_follows(bad, VECTORS["objects"][which]["cid"])
    else:
        with pytest.raises(InvalidObject):
            PARSERS[kind](bad)
    MUTATED["rejected"] += 1


def test_skip_links_follow_the_rule_and_are_checked() -> None:
    assert [post.skip_target(s) for s in range(1, 14)] == [None, None, 1, None, 1, None, 5, None,
                                                           1, None, 9, None, 9]
    posts = chain(9)
    assert posts[8].skip == posts[0].cid and posts[6].skip == posts[4].cid
    with pytest.raises(InvalidPost, match="needs skip"):
        post.parse(signed(good_post(seq=3)))
    with pytest.raises(InvalidPost, match="must not have skip"):
        post.parse(signed(good_post(seq=4, skip=codec.link_of(b"x"))))
    with pytest.raises(ChainError, match="skip is"):
        feed.check_skip(posts[8], posts[1])


def test_skip_links_keep_every_post_few_levels_from_the_head() -> None:
    """What sync relies on: fetching level by level along prev and skip links, a feed of n
    posts takes O(log n) levels, not n (a plain chain of 100,000 would take 100,000)."""
    def levels(n: int) -> int:
        depth, frontier, seen = 0, [n], {n}
        while frontier:
            depth += 1
            frontier = [t for s in frontier for t in (s - 1, post.skip_target(s) or 0)
                        if t >= 1 and t not in seen and not seen.add(t)]  # type: ignore[func-returns-value]
        return depth - 1
    assert [levels(n) for n in (1_000, 10_000, 100_000)] == [52, 98, 145]


CC = [chr(c) for c in [*range(0x20), *range(0x7F, 0xA0)]]  # Unicode general category Cc
BIDI = ["\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]


def test_the_control_set_is_exactly_unicode_category_cc() -> None:
    import unicodedata
    assert [c for c in map(chr, range(0x110000)) if unicodedata.category(c) == "Cc"] == CC


@pytest.mark.parametrize("c", CC + BIDI, ids=lambda c: f"U+{ord(c):04X}")
def test_every_control_and_bidi_character_is_refused_in_attachment_names_on_read(c: str) -> None:
    with pytest.raises(InvalidPost, match="plain file name"):
        post.parse(signed(good_post(attachments=[{**ATT, "name": f"a{c}b.png"}])))
    assert post.file_name_problem(f"a{c}b") is not None


@pytest.mark.parametrize("name", ["a.png", "café.png", "a\u00a0b", "\u05d0\u05d1.txt", "x" * 255],
                         ids=ascii)
def test_plain_names_are_accepted(name: str) -> None:
    post.parse(signed(good_post(attachments=[{**ATT, "name": name}])))
