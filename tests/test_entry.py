"""Format v2 chain entries: the vectors (checked by independent code too), every envelope and
body rule, the growth rule, the chain across v1 and v2, the fold of a feed, and mutations."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import dag_cbor
import nacl.bindings
import pytest
from conftest import DATA, DROP, from_dag_json, mutation, sign_object
from hypothesis import given, settings
from hypothesis import strategies as st
from make_v2_vectors import markdown
from make_v2_vectors import vectors as rebuilt_vectors

from ipfeed import codec, contentblock, contents, entry, feed, kinds, post
from ipfeed.content import Ref
from ipfeed.errors import ChainError, InvalidBlock, InvalidEntry, InvalidInput, InvalidObject, NewerFormat
from ipfeed.identity import Identity

VECTORS = json.loads((DATA / "vectors.json").read_text())
V2 = VECTORS["v2"]
ME = Identity.from_seed(bytes.fromhex(VECTORS["identity"]["seed"]))
OTHER = Identity.from_seed(bytes([7]) * 32)
PARSERS: dict[str, Any] = {"entry": entry.parse_entry, "content": contentblock.parse_content,
                           "part": contents.parse_part, "contents": contents.parse_contents,
                           "root": feed.parse}


def raw_verify(sig: bytes, message: bytes, public: bytes) -> bool:
    """libsodium's crypto_sign_open, called directly (it raises on a bad signature)."""
    return bool(nacl.bindings.crypto_sign_open(sig + message, public) == message)


# -- vectors ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", V2["objects"], ids=lambda c: c["comment"])
def test_v2_vector_checked_by_independent_code(case: dict[str, Any]) -> None:
    """Beyond bytes, CID and signature (tests/test_format.py): the signature again by raw
    libsodium (nacl.bindings), a migration's recovery signature, a recovery commitment by
    hashlib, and `content` held as bytes."""
    obj = from_dag_json(case["object"])
    if "sig" in obj:
        assert raw_verify(obj["sig"], dag_cbor.encode({k: v for k, v in obj.items() if k != "sig"}),
                          obj["author"])
    if case["kind"] == "entry" and obj["kind"] == "migration":
        body = obj["body"]
        message = dag_cbor.encode({"type": "ipfeed.migration", "from": obj["author"], "to": body["to"],
                                   "seq": obj["seq"]})
        assert raw_verify(body["rsig"], message, body["recovery"])
    if case["kind"] == "entry" and obj["kind"] == "recovery":
        recovery_public = nacl.bindings.crypto_sign_seed_keypair(bytes.fromhex(V2["recovery_seed"]))[0]
        assert obj["body"]["commit"] == hashlib.blake2b(recovery_public, digest_size=32,
                                                        person=b"ipfeed-recovery").digest()
    if "content" in obj:  # bytes, not a link: a deleted content is not pinned through the chain
        assert isinstance(obj["content"], bytes) and obj["content"][:4] == b"\x01\x71\x12\x20"


@pytest.mark.parametrize("case", V2["objects"], ids=lambda c: c["comment"])
def test_v2_vector_parses_with_ipfeed(case: dict[str, Any]) -> None:
    PARSERS[case["kind"]](bytes.fromhex(case["hex"]), case["cid"])


def test_ipfeed_builds_the_v2_vectors_byte_for_byte() -> None:
    assert rebuilt_vectors() == V2


def test_format_md_shows_every_v2_vector_as_it_is() -> None:
    assert markdown().strip() in (DATA.parent.parent / "docs" / "FORMAT.md").read_text()


def test_the_v2_vector_feed_is_one_chain_from_the_v1_posts() -> None:
    v1 = [post.parse(bytes.fromhex(v["hex"])) for v in VECTORS["objects"][:2]]
    v2 = [entry.parse_entry(bytes.fromhex(v["hex"])) for v in V2["objects"] if v["kind"] == "entry"]
    chain: list[entry.Chained] = [*v1, *v2]
    root = feed.parse(bytes.fromhex(V2["objects"][-1]["hex"]))
    assert root.version == 2 and root.count == 11
    feed.check_page(root, list(reversed(chain)))
    state = contents.live(chain)
    assert [p.entry for p in root.posts] == [p.entry for p in state.posts]
    assert root.posts[0].content == v2[3].content  # the edit's new version is current
    assert state.reactions == {} and state.reposts == {v2[0].cid}  # the reaction was deleted
    assert [e.describe() for e in v2] == ["post", "reaction", "repost", "edit", "delete", "recovery",
                                          "devices", "unsupported entry (kind x-poll)", "migration"]


# -- envelope rules ---------------------------------------------------------------------------
def signed(obj: dict[str, Any], key: Identity = ME) -> bytes:
    return sign_object(obj, key)


CONTENT = codec.cid_bytes_of(b"content")
SUBJECT = {"cid": codec.cid_bytes_of(b"subject"), "author": ME.public}


def good_entry(**changes: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"type": "ipfeed.entry", "v": 2, "author": ME.public, "seq": 2,
                           "prev": codec.link_of(b"x"), "created": 1700000000000, "kind": "post",
                           "content": CONTENT}
    obj.update(changes)
    return obj


@pytest.mark.parametrize(("changes", "message"), [
    ({"extra": 1}, "unknown field"),
    ({"created": DROP}, "missing field"),
    ({"kind": DROP}, "missing field"),
    ({"type": "ipfeed.post"}, "type must be 'ipfeed.entry'"),
    ({"v": 1}, "v must be 2"),
    ({"v": True}, "v must be 2"),
    ({"seq": 0}, "seq is 0"),
    ({"seq": 2**53}, "outside"),
    ({"created": -1}, "created is -1"),
    ({"author": b"short"}, "author must be 32 bytes"),
    ({"kind": "Post"}, "does not match"),
    ({"kind": "1post"}, "does not match"),
    ({"kind": "a" * 33}, "kind is 33 bytes"),
    ({"kind": ""}, "kind must not be empty"),
    ({"kind": 3}, "kind must be a string"),
    ({"prev": DROP}, "needs prev"),
    ({"seq": 1}, "must not have prev"),
    ({"prev": codec.cid_bytes_of(b"x")}, "prev: not a link"),
    ({"prev": codec.Link(codec.PREFIX_RAW + bytes(32))}, "prev: not a CIDv1"),
    ({"seq": 3}, "needs skip"),
    ({"skip": codec.link_of(b"x")}, "must not have skip"),
    ({"content": codec.link_of(b"c")}, "content: not a CIDv1"),
    ({"content": codec.PREFIX_RAW + bytes(32)}, "content: not a CIDv1"),
    ({"content": CONTENT[:20]}, "content: not a CIDv1"),
    ({"content": DROP}, "a post entry needs content"),
    ({"kind": "reaction", "body": {"subject": SUBJECT, "emoji": "x"}}, "a reaction entry has no content"),
    ({"body": []}, "body: not a map"),
    ({"kind": "x-poll", "body": "poll"}, "body: not a map"),
    ({"sig": b"\x00" * 64}, "signature does not verify"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_envelope_rule_violations_are_rejected_with_their_reason(changes: dict[str, Any],
                                                                message: str) -> None:
    obj = good_entry(**changes)
    block = codec.encode({k: v for k, v in obj.items() if v is not DROP}) if "sig" in changes else signed(obj)
    with pytest.raises(InvalidEntry, match=message):
        entry.parse_entry(block)


def test_a_newer_envelope_version_says_upgrade() -> None:
    with pytest.raises(NewerFormat, match="newer format, upgrade ipfeed"):
        entry.parse_entry(signed(good_entry(v=3, whatever="new")))


def test_envelope_signed_by_another_key_and_tampering_are_rejected() -> None:
    with pytest.raises(InvalidEntry, match="signature"):
        entry.parse_entry(signed(good_entry(), OTHER))
    obj = codec.decode(signed(good_entry()), max_size=1 << 16, what="x")
    obj["created"] += 1
    with pytest.raises(InvalidEntry, match="signature"):
        entry.parse_entry(codec.encode(obj))


def test_entry_over_size_is_rejected_before_decoding_and_cid_is_checked() -> None:
    with pytest.raises(InvalidBlock, match="over the limit of 16384"):
        entry.parse_entry(codec.encode({"x": "y" * 17000}))
    e = entry.build_entry(ME, seq=1, prev=None, created=1, kind="post", content=codec.cid_of(b"c"))
    with pytest.raises(InvalidBlock, match="hash to"):
        entry.parse_entry(e.block, codec.cid_of(b"other"))


def test_a_malformed_link_anywhere_in_a_body_is_rejected_even_in_an_unknown_kind() -> None:
    short = codec.Link(b"\x01\x71\x12\x20" + bytes(5))
    with pytest.raises(InvalidBlock, match="digest is 5 bytes"):
        entry.parse_entry(signed(good_entry(kind="x-new", content=DROP, body={"deep": [{"l": short}]})))


# -- the growth rule ---------------------------------------------------------------------------
def test_an_unknown_kind_is_kept_and_its_body_ignored() -> None:
    e = entry.parse_entry(signed(good_entry(kind="x-poll", content=DROP, body={"q": "tea?", "n": [1, 2]})))
    assert not e.supported and e.describe() == "unsupported entry (kind x-poll)"
    assert e.body == kinds.Unsupported("x-poll")
    e2 = entry.parse_entry(signed(good_entry(kind="x-poll")))  # an unknown kind may name content
    assert e2.content == codec.cid_str(CONTENT)


def test_unknown_body_fields_are_ignored_and_known_ones_strict() -> None:
    body = {"subject": {**SUBJECT, "future": True}, "emoji": "👍", "future": {"x": 1}}
    e = entry.parse_entry(signed(good_entry(kind="reaction", content=DROP, body=body)))
    assert e.body == kinds.Reaction(Ref(codec.cid_str(SUBJECT["cid"]), ME.public), "👍")
    with pytest.raises(InvalidEntry, match="emoji is 65 bytes"):
        entry.parse_entry(signed(good_entry(kind="reaction", content=DROP, body={**body, "emoji": "x" * 65})))
    post_with_fields = entry.parse_entry(signed(good_entry(body={"future": 1})))
    assert post_with_fields.body is None and post_with_fields.kind == "post"


# -- bodies -----------------------------------------------------------------------------------
REC = Identity.from_seed(bytes([9]) * 32)
NEW = Identity.from_seed(bytes([10]) * 32)


def migration(seq: int = 2, to: bytes = NEW.public, signer: Identity = REC) -> dict[str, Any]:
    rsig = signer.sign(kinds.migration_message(ME.public, to, seq))
    return {"to": to, "recovery": REC.public, "rsig": rsig}


@pytest.mark.parametrize(("kind", "body", "message"), [
    ("reaction", None, "needs a body"),
    ("reaction", {"emoji": "x"}, "missing field"),
    ("reaction", {"subject": SUBJECT}, "missing field"),
    ("reaction", {"subject": SUBJECT, "emoji": ""}, "emoji must not be empty"),
    ("reaction", {"subject": SUBJECT, "emoji": "a\u202eb"}, r"bidi control \(U\+202E\)"),
    ("reaction", {"subject": SUBJECT, "emoji": "a\x00"}, r"control character or bidi control \(U\+0000\)"),
    ("reaction", {"subject": {"cid": SUBJECT["cid"]}, "emoji": "x"}, "subject: missing field"),
    ("reaction", {"subject": {**SUBJECT, "cid": codec.link_of(b"s")}, "emoji": "x"}, "cid: not a CIDv1"),
    ("reaction", {"subject": {**SUBJECT, "author": b"k"}, "emoji": "x"}, "author must be 32 bytes"),
    ("repost", {"subject": "bafy"}, "subject: not a map"),
    ("edit", {"subject": {**SUBJECT, "author": OTHER.public}}, "rule own-subject"),
    ("delete", {"subject": {**SUBJECT, "author": OTHER.public}}, "rule own-subject"),
    ("recovery", {"commit": bytes(31)}, "commit must be 32 bytes"),
    ("migration", {**migration(), "rsig": bytes(64)}, "rule migration-rsig"),
    ("migration", migration(seq=3), "rule migration-rsig"),  # signed for another seq
    ("migration", migration(signer=NEW), "rule migration-rsig"),
    ("migration", migration(to=ME.public), "to is the feed's own key"),
    ("migration", {**migration(), "to": bytes(5)}, "to must be 32 bytes"),
    ("devices", {"devices": [{"key": NEW.public, "label": "x"}] * 2}, "lists a key twice"),
    ("devices", {"devices": [{"key": bytes([i]) * 32, "label": ""} for i in range(33)]}, "has 33 items"),
    ("devices", {"devices": [{"key": NEW.public, "label": "x" * 101}]}, "label is 101 bytes"),
    ("devices", {"devices": [{"key": NEW.public}]}, "missing field"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_body_rule_violations_are_rejected_with_their_reason(kind: str, body: Any, message: str) -> None:
    obj = good_entry(kind=kind, body=body if body is not None else DROP,
                     content=CONTENT if kind == "edit" else DROP)
    with pytest.raises(InvalidEntry, match=message):
        entry.parse_entry(signed(obj))


def test_every_known_body_round_trips_through_build_and_parse() -> None:
    ref = Ref(codec.cid_of(b"s"), ME.public)
    rsig = REC.sign(kinds.migration_message(ME.public, NEW.public, 1))
    for kind, body in [("reaction", kinds.Reaction(ref)), ("reaction", kinds.Reaction(ref, "🎉")),
                       ("repost", kinds.Repost(ref)), ("delete", kinds.Delete(ref)),
                       ("recovery", kinds.Recovery(kinds.recovery_commitment(REC.public))),
                       ("migration", kinds.Migration(NEW.public, REC.public, rsig)),
                       ("devices", kinds.Devices()),
                       ("devices", kinds.Devices((kinds.Device(NEW.public, "📱"),)))]:
        e = entry.build_entry(ME, seq=1, prev=None, created=5, kind=kind, body=body)
        assert e.body == body and entry.parse_entry(e.block, e.cid) == e


def test_building_an_invalid_entry_is_an_input_error() -> None:
    with pytest.raises(InvalidInput, match=r"cannot write entry .*rule own-subject"):
        entry.build_entry(ME, seq=1, prev=None, created=1, kind="edit", content=codec.cid_of(b"c"),
                          body=kinds.Edit(Ref(codec.cid_of(b"s"), OTHER.public)))
    with pytest.raises(InvalidInput, match="needs content"):
        entry.build_entry(ME, seq=1, prev=None, created=1, kind="post")


# -- the chain across v1 and v2 ---------------------------------------------------------------
def mixed_chain(n: int, v1: int) -> list[entry.Chained]:
    """`v1` v1 posts, then v2 post entries up to seq n."""
    out: list[entry.Chained] = []
    for seq in range(1, n + 1):
        prev = out[-1].cid if out else None
        target = post.skip_target(seq)
        skip = out[target - 1].cid if target else None
        if seq <= v1:
            out.append(post.build(ME, seq=seq, prev=prev, created=seq, text=f"v1 {seq}", skip=skip))
        else:
            out.append(entry.build_entry(ME, seq=seq, prev=prev, created=seq, kind="post", skip=skip,
                                         content=codec.cid_of(bytes([seq]))))
    return out


@pytest.mark.parametrize("v1", [0, 1, 2, 4, 9])
def test_a_v1_chain_goes_on_with_v2_entries_and_checks(v1: int) -> None:
    chain = mixed_chain(17, v1)
    root = feed.build(ME, seq=1, updated=1, profile=feed.Profile(), count=17,
                      recent=[o.cid for o in reversed(chain)])
    feed.check_page(root, list(reversed(chain)))
    views = [entry.chain_item(o) for o in chain]
    assert [v.version for v in views] == [1] * v1 + [2] * (17 - v1)
    for newer, older in zip(views[1:], views, strict=False):
        entry.check_next(newer, older)
    entry.check_skip(views[16], views[0])


def test_chain_errors_name_the_entries() -> None:
    chain = mixed_chain(9, 2)
    with pytest.raises(ChainError, match=f"entry {chain[4].cid}: prev is"):
        entry.check_next(chain[4], chain[2])
    with pytest.raises(ChainError, match="skip is"):
        entry.check_skip(chain[8], chain[1])
    stranger = mixed_chain(3, 0)
    other = entry.build_entry(OTHER, seq=2, prev=stranger[0].cid, created=1, kind="post",
                              content=codec.cid_of(b"o"))
    with pytest.raises(ChainError, match="another author"):
        entry.check_next(other, stranger[0])


def test_parse_chained_tells_v1_posts_and_v2_entries_apart() -> None:
    chain = mixed_chain(3, 2)
    assert [type(entry.parse_chained(o.block, o.cid)) for o in chain] == [post.Post, post.Post, entry.Entry]
    with pytest.raises(InvalidObject):
        entry.parse_chained(b"\xff")


def test_parse_chain_verifies_on_another_core_and_names_the_first_bad_block_in_order() -> None:
    """parse_chain checks the signatures on worker threads (identity.Signatures, many tasks of
    VERIFY_CHUNK here): the same entries as parse_chained, and a signature by another key is
    the error, naming its block, even when a later block is malformed as well (the order a
    check of each in turn gives); a malformed block before it is the error instead."""
    chain = mixed_chain(250, 4)
    blocks: list[tuple[bytes, str | None]] = [(o.block, o.cid) for o in chain]
    assert [o.cid for o in entry.parse_chain(blocks)] == [o.cid for o in chain]
    for bad in (2, 150, 249):  # a v1 post, an entry in the middle, the last
        forged = sign_object(dict(codec.decode(chain[bad].block, max_size=1 << 16, what="x")), OTHER)
        cid = codec.cid_of(forged)
        mutated = [*blocks[:bad], (forged, cid), *blocks[bad + 1:], (b"\xff", None)]
        with pytest.raises(InvalidObject, match=f"{cid}.*signature does not verify"):
            entry.parse_chain(mutated)
        mutated[bad - 1] = (b"\xff", None)
        with pytest.raises(InvalidBlock, match="not valid DAG-CBOR"):
            entry.parse_chain(mutated)


# -- the fold of a feed: edits, deletes, reactions, reposts -----------------------------------
class Feed:
    """A feed under construction, v2 entries appended one by one."""

    def __init__(self, key: Identity = ME) -> None:
        self.key, self.chain = key, list[entry.Chained]()

    def add(self, kind: str, body: Any = None, content: str | None = None) -> entry.Entry:
        seq = len(self.chain) + 1
        target = post.skip_target(seq)
        e = entry.build_entry(self.key, seq=seq, prev=self.chain[-1].cid if self.chain else None,
                              created=seq, kind=kind, body=body, content=content,
                              skip=self.chain[target - 1].cid if target else None)
        self.chain.append(e)
        return e

    def post(self, text: str) -> entry.Entry:
        return self.add("post", content=contentblock.build_content(text).cid)

    def ref(self, e: entry.Chained) -> Ref:
        return Ref(e.cid, e.author)


def test_newest_edit_wins_and_a_deleted_edit_falls_back() -> None:
    f = Feed()
    p = f.post("v0")
    c0 = p.content
    e1 = f.add("edit", kinds.Edit(f.ref(p)), contentblock.build_content("v1").cid)
    e2 = f.add("edit", kinds.Edit(f.ref(p)), contentblock.build_content("v2").cid)
    state = contents.live(f.chain)
    assert state.posts == (contents.RootPost(p.cid, e2.content),) and state.edited == {p.cid}
    assert state.contents == (c0, e1.content, e2.content)
    f.add("delete", kinds.Delete(f.ref(e2)))
    state = contents.live(f.chain)
    assert state.posts == (contents.RootPost(p.cid, e1.content),)
    assert state.contents == (c0, e1.content)


def test_deleting_a_post_deletes_its_edits_and_a_later_edit_is_ignored_by_rule() -> None:
    f = Feed()
    p, keep = f.post("gone"), f.post("kept")
    f.add("edit", kinds.Edit(f.ref(p)), contentblock.build_content("gone too").cid)
    f.add("delete", kinds.Delete(f.ref(p)))
    late = f.add("edit", kinds.Edit(f.ref(p)), contentblock.build_content("too late").cid)
    state = contents.live(f.chain)
    assert [x.entry for x in state.posts] == [keep.cid]
    assert state.contents == (keep.content,)
    assert [(cid, f"entry {late.cid}" in why and "rule edit-of-deleted" in why)
            for cid, why in state.rejected] == [(late.cid, True)]


def test_a_delete_of_a_delete_and_an_edit_of_an_edit_are_rejected_by_rule() -> None:
    f = Feed()
    p = f.post("x")
    r = f.add("reaction", kinds.Reaction(f.ref(p)))
    d = f.add("delete", kinds.Delete(f.ref(r)))
    dd = f.add("delete", kinds.Delete(f.ref(d)))
    e = f.add("edit", kinds.Edit(f.ref(p)), contentblock.build_content("y").cid)
    ee = f.add("edit", kinds.Edit(f.ref(e)), contentblock.build_content("z").cid)
    state = contents.live(f.chain)
    rules = dict(state.rejected)
    assert set(rules) == {dd.cid, ee.cid}
    assert f"entry {dd.cid}" in rules[dd.cid] and "rule delete-of-delete" in rules[dd.cid]
    assert f"entry {ee.cid}" in rules[ee.cid] and "rule edit-of-post" in rules[ee.cid]
    assert state.deleted == {r.cid} and state.posts == (contents.RootPost(p.cid, e.content),)


def test_reactions_newest_counts_own_posts_allowed_unreact_and_repost_once() -> None:
    f = Feed()
    p = f.post("mine")
    f.add("reaction", kinds.Reaction(f.ref(p)))
    r2 = f.add("reaction", kinds.Reaction(f.ref(p), "🎉"))
    f.add("repost", kinds.Repost(f.ref(p)))
    f.add("repost", kinds.Repost(f.ref(p)))
    state = contents.live(f.chain)
    assert state.reactions == {p.cid: "🎉"} and state.reposts == {p.cid}
    f.add("delete", kinds.Delete(f.ref(r2)))
    assert contents.live(f.chain).reactions == {p.cid: "❤"}  # the newest live reaction counts


def test_a_delete_of_a_v1_post_and_of_an_unknown_subject() -> None:
    chain = mixed_chain(2, 2)
    f = Feed()
    f.chain = list(chain)
    f.add("delete", kinds.Delete(f.ref(chain[0])))
    f.add("delete", kinds.Delete(Ref(codec.cid_of(b"not in this feed"), ME.public)))  # pending
    state = contents.live(f.chain)
    assert state.posts == (contents.RootPost(chain[1].cid, None),) and state.deleted == {chain[0].cid}


def test_check_subject_needs_the_named_subject() -> None:
    f = Feed()
    p, q = f.post("a"), f.post("b")
    d = f.add("delete", kinds.Delete(f.ref(p)))
    with pytest.raises(InvalidEntry, match="not the one named"):
        entry.check_subject(d, q)
    entry.check_subject(d, p)


# -- mutations (hypothesis) -------------------------------------------------------------------
MUTATED = {"tried": 0, "rejected": 0}
SIGNED = [v for v in V2["objects"] if v["kind"] in ("entry", "root")]


@settings(max_examples=400, deadline=None)
@given(which=st.integers(0, len(SIGNED) - 1), data=st.data())
def test_random_mutations_of_signed_v2_objects_are_always_rejected(which: int, data: st.DataObject) -> None:
    case = SIGNED[which]
    bad = mutation(bytes.fromhex(case["hex"]), data)
    MUTATED["tried"] += 1
    with pytest.raises(InvalidObject):
        PARSERS[case["kind"]](bad)
    MUTATED["rejected"] += 1


KINDS = st.from_regex(r"[a-z][a-z0-9-]{0,31}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(kind=KINDS, seq=st.integers(1, 2**53 - 1), created=st.integers(0, 2**53 - 1),
       body=st.dictionaries(st.text(max_size=5), st.integers(-(2**63), 2**64 - 1) | st.text(max_size=10),
                            max_size=4))
def test_any_entry_of_any_kind_round_trips(kind: str, seq: int, created: int, body: dict[str, Any]) -> None:
    if kind in kinds.KNOWN:
        kind = "x-" + kind[:30]
    target = post.skip_target(seq)
    e = entry.build_entry(ME, seq=seq, prev=None if seq == 1 else codec.cid_of(b"p"), created=created,
                          kind=kind, body=body or None, skip=codec.cid_of(b"s") if target else None)
    again = entry.parse_entry(e.block, e.cid)
    assert again == e and again.body == kinds.Unsupported(kind) and again.seq == seq


def test_parse_chained_decodes_a_block_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One decode (and canonical re-encode) per chain block: `type` is read from the value the
    verifying parser then uses. A block that does not decode still gets the entry's message."""
    me = Identity.generate()
    e = entry.build_entry(me, seq=1, prev=None, created=1, kind=kinds.REACTION,
                    body=kinds.Reaction(Ref(codec.cid_of(b"x"), me.public), "👍"))
    real, seen = codec.decode, []

    def counted(data: bytes, **kw: Any) -> Any:
        seen.append(data)
        return real(data, **kw)
    monkeypatch.setattr(codec, "decode", counted)
    assert entry.parse_chained(e.block, e.cid) == e
    assert seen == [e.block]
    v1 = post.build(me, seq=1, prev=None, created=1, text="a v1 post")
    seen.clear()
    assert entry.parse_chained(v1.block, v1.cid) == v1
    assert seen == [v1.block]
    with pytest.raises(InvalidBlock, match=f"entry {codec.cid_of(b'junk')}: not valid DAG-CBOR"):
        entry.parse_chained(b"junk")
