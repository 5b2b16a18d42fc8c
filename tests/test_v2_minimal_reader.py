"""An independent minimal reader (tests/v2_minimal_reader.py: dag-cbor, raw libsodium and
hashlib only; it knows the envelope and the `post` kind) reads a feed that mixes v1 posts and
every v2 kind ipfeed writes, plus a kind nobody knows, without failing; and rejects tampering."""

from __future__ import annotations

from typing import Any

import pytest
import v2_minimal_reader as minimal

from ipfeed import codec, contentblock, contents, entry, kinds, post
from ipfeed.content import Ref
from ipfeed.identity import Identity

ME = Identity.from_seed(bytes(range(32)))
RECOVERY = Identity.from_seed(bytes([9]) * 32)


def build_feed() -> tuple[dict[bytes, bytes], list[entry.Chained]]:
    """Blocks by binary CID, and the chain, oldest first."""
    blocks: dict[bytes, bytes] = {}
    chain: list[entry.Chained] = []

    def keep(cid: str, block: bytes) -> None:
        blocks[codec.cid_to_bytes(cid)] = block

    def link() -> dict[str, Any]:
        seq = len(chain) + 1
        target = post.skip_target(seq)
        return {"seq": seq, "prev": chain[-1].cid if chain else None, "created": 1700000000000 + seq,
                "skip": chain[target - 1].cid if target else None}

    def add(kind: str, body: Any = None, text: str | None = None) -> entry.Entry:
        content = None
        if text is not None:
            c = contentblock.build_content(text)
            keep(c.cid, c.block)
            content = c.cid
        e = entry.build_entry(ME, **link(), kind=kind, body=body, content=content)
        keep(e.cid, e.block)
        chain.append(e)
        return e

    for text in ("one (v1)", "two (v1)"):
        p = post.build(ME, **link(), text=text)
        keep(p.cid, p.block)
        chain.append(p)
    three = add("post", text="three")
    add("reaction", kinds.Reaction(Ref(chain[1].cid, ME.public)))
    add("repost", kinds.Repost(Ref(three.cid, ME.public)))
    add("edit", kinds.Edit(Ref(three.cid, ME.public)), text="three (edited)")
    seven = add("post", text="seven")
    add("delete", kinds.Delete(Ref(seven.cid, ME.public)))
    add("recovery", kinds.Recovery(kinds.recovery_commitment(RECOVERY.public)))
    add("x-poll", {"question": "tea or coffee?", "options": ["tea", "coffee"]})
    add("post", text="eleven")
    return blocks, chain


def test_the_minimal_reader_verifies_a_mixed_chain_and_reports_unsupported_entries() -> None:
    blocks, chain = build_feed()
    head = codec.cid_to_bytes(chain[-1].cid)
    shown = [(i.seq, i.shown, i.text) for i in minimal.read(blocks.__getitem__, head, ME.public)]
    assert shown == [
        (1, "post", "one (v1)"), (2, "post", "two (v1)"), (3, "post", "three"),
        (4, "unsupported entry (kind reaction)", None), (5, "unsupported entry (kind repost)", None),
        (6, "unsupported entry (kind edit)", None), (7, "post", "seven"),
        (8, "unsupported entry (kind delete)", None), (9, "unsupported entry (kind recovery)", None),
        (10, "unsupported entry (kind x-poll)", None), (11, "post", "eleven"),
    ]
    # ipfeed, which knows the kinds, shows the edit and honours the delete on the same chain
    state = contents.live(chain)
    assert [p.entry for p in state.posts] == [chain[10].cid, chain[2].cid, chain[1].cid, chain[0].cid]
    assert state.posts[1].content == chain[5].content  # type: ignore[union-attr]


@pytest.mark.parametrize("seq", [3, 4, 10], ids=["post", "reaction", "x-poll"])
def test_the_minimal_reader_rejects_a_tampered_envelope(seq: int) -> None:
    blocks, chain = build_feed()
    target = chain[seq - 1]
    obj = codec.decode(target.block, max_size=1 << 16, what="x")
    obj["created"] += 1  # signed no more
    tampered = codec.encode(obj)
    # Served under the original CID, the bytes do not hash to it ...
    blocks[codec.cid_to_bytes(target.cid)] = tampered
    with pytest.raises(minimal.Rejected, match="do not hash"):
        minimal.read(blocks.__getitem__, codec.cid_to_bytes(chain[-1].cid), ME.public)
    # ... and as the head under their own CID, the signature fails.
    blocks[codec.cid_bytes_of(tampered)] = tampered
    with pytest.raises(minimal.Rejected, match="bad signature"):
        minimal.read(blocks.__getitem__, codec.cid_bytes_of(tampered), ME.public)


def test_the_minimal_reader_rejects_a_feed_by_another_key_and_a_broken_skip() -> None:
    blocks, chain = build_feed()
    head = codec.cid_to_bytes(chain[-1].cid)
    with pytest.raises(minimal.Rejected, match="another author"):
        minimal.read(blocks.__getitem__, head, RECOVERY.public)
    for seq, skip, message in [(12, chain[2].cid, "prev or skip"), (13, chain[0].cid, "skip to seq 9")]:
        obj = {"type": "ipfeed.entry", "v": 2, "author": ME.public, "seq": seq, "created": 1,
               "kind": "x-poll", "prev": codec.link(chain[-1].cid), "skip": codec.link(skip)}
        if seq == 13:  # seq 13 hangs off a 12th entry of its own
            twelve = entry.build_entry(ME, seq=12, prev=chain[-1].cid, created=1, kind="x-poll")
            blocks[codec.cid_to_bytes(twelve.cid)] = twelve.block
            obj["prev"] = codec.link(twelve.cid)
        obj["sig"] = ME.sign(codec.encode(obj))  # ipfeed would refuse to write it: signed by hand
        block = codec.encode(obj)
        blocks[codec.cid_bytes_of(block)] = block
        with pytest.raises(minimal.Rejected, match=message):
            minimal.read(blocks.__getitem__, codec.cid_bytes_of(block), ME.public)
