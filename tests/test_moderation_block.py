"""The sealed mute and block lists (FORMAT.md section 16), pure: only the owner opens them,
every broken or foreign block is refused by name, and the vector opens by independent code."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from conftest import DATA
from multiformats import CID, multihash

from ipfeed import codec, identity, moderationblock, private
from ipfeed.errors import InvalidInput, InvalidModeration
from ipfeed.identity import Identity
from ipfeed.moderationblock import Lists

OWNER = Identity.from_seed(bytes(range(32)))
OTHER = Identity.from_seed(b"\x07" * 32)
NAMES = [Identity.from_seed(bytes([i]) * 32).name for i in range(0x10, 0x14)]


def test_lists_round_trip_and_only_the_owner_opens_them() -> None:
    lists = Lists(frozenset(NAMES[:2]), frozenset(NAMES[2:]))
    block, cid = moderationblock.seal_lists(OWNER, lists)
    assert moderationblock.open_lists(OWNER, block, cid) == lists
    for n in NAMES:  # nothing of the names is in the block's bytes
        assert identity.public_from_name(n) not in block and n.encode() not in block
    with pytest.raises(InvalidModeration, match="not sealed to your key"):
        moderationblock.open_lists(OTHER, block, cid)
    moderationblock.check_block(block, cid)  # its shape anyone can check


def test_sizes_are_classes_so_a_few_names_look_like_none() -> None:
    sizes = {len(moderationblock.seal_lists(OWNER, Lists(frozenset(NAMES[:n])))[0]) for n in range(4)}
    assert len(sizes) == 1


def test_the_full_lists_fit_a_block() -> None:
    names = [identity.name_from_public(os.urandom(32)) for _ in range(2 * moderationblock.MAX_NAMES)]
    lists = Lists(frozenset(names[:moderationblock.MAX_NAMES]), frozenset(names[moderationblock.MAX_NAMES:]))
    block, cid = moderationblock.seal_lists(OWNER, lists)
    assert len(block) <= moderationblock.MAX_BLOCK_BYTES
    assert moderationblock.open_lists(OWNER, block, cid) == lists
    with pytest.raises(InvalidInput, match="at most 5000 muted"):
        moderationblock.seal_lists(OWNER, Lists(frozenset(names[:moderationblock.MAX_NAMES + 1])))


def test_every_flipped_byte_is_refused_with_a_clear_message() -> None:
    lists = Lists(frozenset(NAMES))
    block, cid = moderationblock.seal_lists(OWNER, lists)
    tried = 0
    for i in range(0, len(block), 7):
        bad = bytearray(block)
        bad[i] ^= 0x01
        with pytest.raises(InvalidModeration, match="mute and block lists"):
            moderationblock.open_lists(OWNER, bytes(bad), cid)  # as linked from a root: CID mismatch
        try:  # unlinked (e.g. a reader that has no CID): still refused, never opened to wrong lists
            got = moderationblock.open_lists(OWNER, bytes(bad))
        except Exception as e:
            assert isinstance(e, InvalidModeration | codec.InvalidBlock), e
        else:  # only a byte of the padding slot (sealed to a throwaway key) leaves them as they were
            assert got == lists, f"flipped byte {i} opened to {got}"
        tried += 1
    assert tried > 100


def sealed_content(content: dict[str, object], to: Identity = OWNER) -> bytes:
    """A block whose content breaks a rule, sealed properly (as a hostile writer could)."""
    plain = private.pad(content, moderationblock.SIZE_CLASSES)
    box = private.make_box([private.x25519_public(to.public)], plain)
    return codec.encode({"type": moderationblock.TYPE, "v": 2, "box": box})


@pytest.mark.parametrize(("content", "message"), [
    ({"muted": [], "blocked": [], "extra": 1}, "unknown field"),
    ({"muted": []}, "missing field"),
    ({"muted": [b"x" * 31], "blocked": []}, "32-byte public keys"),
    ({"muted": [b"\x02" * 32, b"\x01" * 32], "blocked": []}, "sorted"),
    ({"muted": [b"\x01" * 32], "blocked": [b"\x01" * 32]}, "both muted and blocked"),
    ({"muted": [OWNER.public], "blocked": []}, "own feed"),
], ids=["unknown field", "missing list", "short key", "unsorted", "in both", "self"])
def test_broken_content_is_refused(content: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidModeration, match=message):
        moderationblock.open_lists(OWNER, sealed_content(content))


def test_a_newer_version_says_upgrade() -> None:
    block = codec.encode({"type": moderationblock.TYPE, "v": 3, "box": {}})
    with pytest.raises(Exception, match="newer"):
        moderationblock.check_block(block)


def test_fast_name_derivation_matches_multiformats() -> None:
    for _ in range(500):
        public = os.urandom(32)
        ref = str(CID("base36", 1, "libp2p-key", multihash.wrap(b"\x08\x01\x12\x20" + public, "identity")))
        assert identity.name_from_public(public) == ref
        assert identity.public_from_name(ref) == public


def test_moderation_vector_opens_with_the_owners_key_by_independent_code() -> None:
    import dag_cbor
    import nacl.public
    import nacl.secret
    import nacl.signing

    vector = json.loads((DATA / "vectors.json").read_text())["moderation"]
    block = bytes.fromhex(vector["hex"])
    digest = hashlib.sha256(block).digest()
    assert CID("base32", 1, "dag-cbor", multihash.wrap(digest, "sha2-256")).encode() == vector["cid"]
    obj = dag_cbor.decode(block)
    assert set(obj) == {"type", "v", "box"} and obj["type"] == "ipfeed.moderation" and obj["v"] == 2
    owner = nacl.signing.SigningKey(bytes.fromhex(vector["owner_seed"])).to_curve25519_private_key()
    keys = []
    for slot in obj["box"]["keys"]:
        try:
            keys.append(nacl.public.SealedBox(owner).decrypt(slot))
        except Exception:
            continue
    assert len(keys) == 1 and len(obj["box"]["keys"]) == 2
    assert hashlib.blake2b(keys[0], digest_size=32, person=b"ipfeed-key").digest() == obj["box"]["commit"]
    plain = nacl.secret.SecretBox(keys[0]).decrypt(obj["box"]["ct"], obj["box"]["nonce"])
    assert len(plain) == 1024  # the smallest size class
    content = dag_cbor.decode(plain)
    assert [k.hex() for k in content["muted"]] == vector["muted"]
    assert [k.hex() for k in content["blocked"]] == vector["blocked"]
    assert set(content["pad"]) <= {0}
    me = Identity.from_seed(bytes.fromhex(vector["owner_seed"]))
    opened = moderationblock.open_lists(me, block, vector["cid"])
    assert {identity.public_from_name(n).hex() for n in opened.muted} == set(vector["muted"])
    assert {identity.public_from_name(n).hex() for n in opened.blocked} == set(vector["blocked"])


def test_a_v1_root_that_takes_the_lists_becomes_a_valid_v2_root() -> None:
    """What moderation._advance signs for a feed of v1 posts only: a v2 root whose listing is
    its v1 posts, which a reader holding the whole chain accepts."""
    from ipfeed import contents, feed, post, writing

    chain = []
    for seq in range(1, 4):
        target = post.skip_target(seq)
        chain.append(post.build(OWNER, seq=seq, prev=chain[-1].cid if chain else None, created=seq,
                                text=f"v1 post {seq}", skip=chain[target - 1].cid if target else None))
    v1 = feed.advance(OWNER, None, updated=1, heads=[p.cid for p in chain])
    assert v1.version == feed.VERSION
    _, cid = moderationblock.seal_lists(OWNER, Lists(frozenset(NAMES[:1])))
    listing, tree = writing.listing(v1, None, [], lambda: [])
    v2 = feed.parse(feed.advance(OWNER, v1, updated=2, listing=listing, moderation=cid).block)
    assert v2.version == feed.VERSION_2 and v2.moderation == cid and v2.count == 3 and tree is None
    feed.check_listing(v2, contents.live(list(reversed(chain))), None)
    again = feed.advance(OWNER, v2, updated=3, profile=feed.Profile("renamed"))
    assert again.moderation == cid  # every later root keeps the link
    with pytest.raises(InvalidInput, match="v2 root"):
        feed.advance(OWNER, None, updated=1, moderation=cid)  # a v1 root cannot link them


@pytest.mark.parametrize("extra", [0, 40, 5000], ids=["short list", "long list", "full list"])
def test_the_index_leaves_out_hidden_feeds_however_long_the_list(tmp_path: object, extra: int) -> None:
    """Long lists go another way (only the feeds the index holds are passed to SQL): same result."""
    from pathlib import Path

    from ipfeed import feed, post
    from ipfeed.index import Index

    index = Index(Path(str(tmp_path)) / "index.sqlite")
    try:
        feeds = []
        for who in ("shown", "hidden"):
            them = Identity.generate()
            chain = [post.build(them, seq=1, prev=None, created=1, text=f"{who} hello")]
            index.apply(them.name, feed.advance(them, None, updated=1, heads=[chain[0].cid]), chain,
                        1, None, None, None)
            feeds.append(them.name)
        unknown = {identity.name_from_public(os.urandom(32)) for _ in range(extra)}
        hide = frozenset({feeds[1], *unknown})
        assert texts(index.timeline(feeds, 10)) == {"shown hello", "hidden hello"}
        assert texts(index.timeline(feeds, 10, hide=hide)) == {"shown hello"}
        assert texts(index.search("hello", 10, hide=hide)) == {"shown hello"}
        assert texts(index.search("#nothing hello", 10, hide=hide)) == set()
    finally:
        index.close()


def texts(posts: list[object]) -> set[str]:
    return {p.text for p in posts}  # type: ignore[attr-defined]
