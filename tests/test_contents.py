"""The contents tree of a v2 root (build, parse, incremental append and remove, the reader's
check) and root v2 itself (posts and contents; v1 roots stay valid)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import DROP, sign_object
from hypothesis import given, settings
from hypothesis import strategies as st

from ipfeed import codec, contentblock, contents, entry, feed, kinds
from ipfeed.content import Ref
from ipfeed.contents import PART_ITEMS, RootPost, append, build_tree, remove
from ipfeed.errors import InvalidBlock, InvalidContents, InvalidRoot, NewerFormat
from ipfeed.identity import Identity

ME = Identity.from_seed(bytes(range(32)))
OTHER = Identity.from_seed(bytes([7]) * 32)


def cids(n: int, start: int = 0) -> list[str]:
    return [codec.cid_of(i.to_bytes(4, "big")) for i in range(start, start + n)]


# -- the tree ---------------------------------------------------------------------------------
def test_a_tree_lists_its_items_in_full_parts_and_parses_back() -> None:
    items = cids(PART_ITEMS * 2 + 5)
    tree = build_tree(items)
    assert tree is not None and tree.items == tuple(items)
    assert [len(p.items) for p in tree.parts] == [PART_ITEMS, PART_ITEMS, 5]
    parsed = contents.parse_contents(tree.contents.block, tree.contents.cid)
    assert parsed.parts == tuple(p.cid for p in tree.parts)
    for p in tree.parts:
        assert contents.parse_part(p.block, p.cid) == p
    assert build_tree([]) is None and len(tree.parts[0].block) < contents.MAX_TREE_BLOCK_BYTES


def test_append_rewrites_only_the_last_part_and_remove_only_the_affected_ones() -> None:
    items = cids(PART_ITEMS * 3)
    tree = build_tree(items)
    assert tree is not None
    grown = append(tree, cids(1, 10**6)[0])
    assert grown.parts[:3] == tree.parts and len(grown.parts[3].items) == 1
    again = append(grown, cids(1, 10**6 + 1)[0])
    assert again.parts[:3] == tree.parts and again.parts[3] != grown.parts[3]
    assert append(again, items[0]) is again  # listed once
    shrunk = remove(again, [items[PART_ITEMS + 1]])
    assert shrunk is not None
    assert shrunk.parts[0] is again.parts[0] and shrunk.parts[2:] == again.parts[2:]
    assert items[PART_ITEMS + 1] not in shrunk.items and len(shrunk.items) == len(again.items) - 1
    assert remove(shrunk, ["bafynot-listed"]) is shrunk
    assert remove(build_tree(items[:3]), items[:3]) is None and remove(None, items) is None
    emptied = remove(tree, items[:PART_ITEMS])  # an emptied part is dropped
    assert emptied is not None and emptied.parts == tree.parts[1:]


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=40))
def test_incremental_updates_list_exactly_what_a_fresh_build_lists(ops: list[tuple[bool, int]]) -> None:
    tree: contents.Tree | None = None
    want: list[str] = []
    for add, n in ops:
        cid = cids(1, n)[0]
        if add:
            tree = append(tree, cid)
            if cid not in want:
                want.append(cid)
        else:
            tree = remove(tree, [cid])
            want = [c for c in want if c != cid]
    assert (tree.items if tree else ()) == tuple(want)
    if tree is not None:  # every block of the tree is what its CID says, and reads back
        assert all(codec.cid_of(b) == c for c, b in tree.blocks())


@pytest.mark.parametrize(("obj", "message"), [
    ({"type": "ipfeed.part", "v": 2, "items": []}, "items has 0 items"),
    ({"type": "ipfeed.part", "v": 2, "items": [codec.link_of(b"x")] * 2}, "lists a block twice"),
    ({"type": "ipfeed.part", "v": 2, "items": [codec.Link(codec.PREFIX_RAW + bytes(32))]}, "not a CIDv1"),
    ({"type": "ipfeed.part", "v": 2, "items": [codec.link_of(bytes([i % 256, i // 256]))
                                               for i in range(PART_ITEMS + 1)]}, "1025 items"),
    ({"type": "ipfeed.part", "v": 2, "items": [codec.link_of(b"x")], "x": 1}, "unknown field"),
    ({"type": "ipfeed.contents", "v": 2, "items": [codec.link_of(b"x")]}, "type must be 'ipfeed.part'"),
    ({"type": "ipfeed.part", "v": 1, "items": [codec.link_of(b"x")]}, "v must be 2"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_part_rule_violations_are_rejected(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidContents, match=message):
        contents.parse_part(codec.encode(obj))


def test_contents_rules_newer_versions_and_sizes() -> None:
    with pytest.raises(InvalidContents, match="parts has 0 items"):
        contents.parse_contents(codec.encode({"type": "ipfeed.contents", "v": 2, "parts": []}))
    with pytest.raises(NewerFormat, match="upgrade ipfeed"):
        contents.parse_contents(codec.encode({"type": "ipfeed.contents", "v": 3}))
    with pytest.raises(InvalidBlock, match="over the limit of 1048576"):
        contents.parse_part(codec.encode({"x": "y" * (1 << 20)}))


def test_the_reader_checks_the_listing_against_the_entries_it_holds() -> None:
    a, b, c = cids(3)
    contents.check_listed([a, b], {a: 3, b: 5}, "root R")
    with pytest.raises(InvalidContents, match=f"root R: contents lists {c}, which no entry"):
        contents.check_listed([a, c], {a: 3, b: 5}, "root R")
    with pytest.raises(InvalidContents, match="out of order or twice"):
        contents.check_listed([b, a], {a: 3, b: 5}, "root R")
    with pytest.raises(InvalidContents, match="out of order or twice"):
        contents.check_listed([a, a], {a: 3}, "root R")


# -- root v2 ----------------------------------------------------------------------------------
def signed(obj: dict[str, Any], key: Identity = ME) -> bytes:
    return sign_object(obj, key)


def good_root(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "ipfeed.root", "v": 2, "author": ME.public, "seq": 1, "updated": 1,
                           "profile": {"name": "A", "bio": ""}, "count": 1, "recent": [codec.link_of(b"1")],
                           "posts": [{"entry": codec.link_of(b"1"), "content": codec.link_of(b"c")}],
                           "contents": codec.link_of(b"tree")}
    obj.update(changes)
    return obj


@pytest.mark.parametrize(("changes", "message"), [
    ({"posts": []}, "posts has 0 items"),
    ({"posts": [{"entry": codec.link_of(bytes([i]))} for i in range(65)]}, "posts has 65 items"),
    ({"posts": [{"entry": codec.link_of(b"1")}] * 2}, "lists an entry twice"),
    ({"posts": [{"content": codec.link_of(b"c")}]}, "missing field"),
    ({"posts": [{"entry": codec.link_of(b"1"), "x": 1}]}, "unknown field"),
    ({"posts": [{"entry": codec.cid_bytes_of(b"1")}]}, "entry: not a link"),
    ({"posts": [{"entry": codec.link_of(b"1"), "content": codec.Link(codec.PREFIX_RAW + bytes(32))}]},
     "content: not a CIDv1"),
    ({"contents": codec.cid_bytes_of(b"t")}, "contents: not a link"),
    ({"v": 1}, "unknown field"),  # posts and contents are v2 fields
    ({"v": 0}, "v must be 1 … 2"),
    ({"extra": 1}, "unknown field"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_root_v2_rule_violations_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRoot, match=message):
        feed.parse(signed(good_root(**changes)))


def test_a_root_of_a_newer_version_says_upgrade_and_a_v2_root_may_list_nothing() -> None:
    with pytest.raises(NewerFormat, match="newer format, upgrade ipfeed"):
        feed.parse(signed(good_root(v=3)))
    empty = feed.parse(signed(good_root(posts=DROP, contents=DROP)))
    assert empty.version == 2 and empty.posts == () and empty.contents is None


def a_feed() -> tuple[list[entry.Chained], contents.Live, contents.Tree]:
    from ipfeed import post
    p1 = post.build(ME, seq=1, prev=None, created=1, text="v1")
    chain: list[entry.Chained] = [p1]
    for seq in range(2, 6):
        target = post.skip_target(seq)
        chain.append(entry.build_entry(ME, seq=seq, prev=chain[-1].cid, created=seq, kind="post",
                                       content=contentblock.build_content(f"v2 {seq}").cid,
                                       skip=chain[target - 1].cid if target else None))
    state = contents.live(chain)
    tree = build_tree(state.contents)
    assert tree is not None
    return chain, state, tree


def test_advance_writes_a_v2_root_and_keeps_its_listing_on_a_profile_change() -> None:
    chain, state, tree = a_feed()
    root = feed.advance(ME, None, updated=1, heads=[o.cid for o in chain],
                        listing=feed.Listing(state.posts, tree.contents.cid))
    assert root.version == 2 and root.posts == state.posts and root.contents == tree.contents.cid
    assert feed.parse(root.block, root.cid) == root
    renamed = feed.advance(ME, root, updated=2, profile=feed.Profile("B"))
    assert renamed.version == 2 and renamed.posts == root.posts and renamed.contents == root.contents
    v1 = feed.advance(ME, None, updated=1, heads=[chain[0].cid])
    assert v1.version == 1 and v1.block[:20] == feed.build(ME, seq=1, updated=1, profile=feed.Profile(),
                                                          count=1, recent=[chain[0].cid]).block[:20]
    held = {o.cid: o for o in chain}
    feed.check_posts(root, held)
    assert len(root.block) < feed.MAX_ROOT_BYTES


def test_check_posts_rejects_what_a_root_may_not_list() -> None:
    chain, state, _ = a_feed()
    held = {o.cid: o for o in chain}

    def root_with(posts: list[RootPost]) -> feed.Root:
        return feed.build(ME, seq=1, updated=1, profile=feed.Profile(), count=5,
                          recent=[o.cid for o in reversed(chain)], listing=feed.Listing(tuple(posts)))

    with pytest.raises(InvalidRoot, match="not below the one listed before it"):
        feed.check_posts(root_with(list(reversed(state.posts))), held)
    # A v1 post listed with a content is an edited one: only the whole chain can say (check_listing).
    feed.check_posts(root_with([RootPost(chain[0].cid, codec.cid_of(b"c"))]), held)
    with pytest.raises(InvalidRoot, match="content must be given"):
        feed.check_posts(root_with([RootPost(chain[1].cid, None)]), held)
    reaction = entry.build_entry(ME, seq=6, prev=chain[-1].cid, created=6, kind="x-like")
    with pytest.raises(InvalidRoot, match="not a post of this feed"):
        feed.check_posts(root_with([RootPost(reaction.cid, None)]), {**held, reaction.cid: reaction})


AVATAR = codec.cid_str(codec.PREFIX_RAW + bytes(32))


def test_check_listing_holds_a_root_to_the_whole_chain() -> None:
    chain, state, tree = a_feed()
    f = entry.build_entry(ME, seq=6, prev=chain[-1].cid, created=6, kind="delete",
                          body=kinds.Delete(Ref(chain[4].cid, ME.public)))
    after = contents.live([*chain, f])

    def root_with(posts: tuple[RootPost, ...], tree_cid: str | None) -> feed.Root:
        return feed.build(ME, seq=1, updated=1, profile=feed.Profile(), count=len(chain),
                          recent=[o.cid for o in reversed(chain)], listing=feed.Listing(posts, tree_cid))

    feed.check_listing(root_with(state.posts, tree.contents.cid), state, tree.items)
    with pytest.raises(InvalidRoot, match=r"posts\[0\] is not the newest live post"):
        feed.check_listing(root_with(state.posts, tree.contents.cid), after, tree.items)
    with pytest.raises(InvalidRoot, match="which is not a live content block"):
        feed.check_listing(root_with(after.posts, tree.contents.cid), after, tree.items)
    with pytest.raises(InvalidRoot, match="leaves out the live content block"):
        feed.check_listing(root_with(state.posts, tree.contents.cid), state, tree.items[:-1])
    with pytest.raises(InvalidRoot, match="out of order"):
        feed.check_listing(root_with(state.posts, tree.contents.cid), state, tree.items[::-1])
    with pytest.raises(InvalidRoot, match="exactly when"):
        feed.check_listing(root_with(state.posts, None), state, tree.items)


def test_the_largest_v2_root_fits_under_the_root_size_limit() -> None:
    """64 recent entries, 64 listed posts with contents, the longest profile and an avatar, a
    follow list and a contents tree still fit in a 16384-byte root."""
    posts = tuple(RootPost(a, b) for a, b in zip(cids(64), cids(64, 500), strict=True))
    root = feed.build(ME, seq=2**53 - 1, updated=2**53 - 1,
                      profile=feed.Profile("x" * 100, "y" * 2000, AVATAR),
                      count=2**53 - 1, recent=cids(64, 100), follows=codec.cid_of(b"f"),
                      listing=feed.Listing(posts, codec.cid_of(b"tree")))
    assert len(root.block) < feed.MAX_ROOT_BYTES - 4000
