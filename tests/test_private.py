"""End-to-end encrypted posts across three real nodes: the recipient reads, a follower who is
not a recipient sees nothing, and no plaintext reaches the network."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import User, run
from test_e2e import PNG

from ipfeed import private
from ipfeed.errors import InvalidInput
from ipfeed.identity import Identity

SECRET = "the eagle lands at midnight"


def test_private_post_reaches_only_its_recipient(make_user: Any, tmp_path: Path) -> None:
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    bob.connect(alice)
    carol.connect(alice)
    bob_name = bob.service.identity().name
    alice_name = alice.service.identity().name
    alice.cli_ok("post", "public hello")
    img = tmp_path / "secret.png"
    img.write_bytes(PNG + b"SECRETPIXELS")
    cid = alice.cli_ok("post", SECRET, "--to", bob_name, "--attach", str(img)).strip()
    for u in (bob, carol):
        u.cli_ok("follow", alice_name)
        run(u.service.sync())

    # Bob, a recipient, reads it everywhere, marked private with its recipients.
    [p] = [x for x in bob.service.timeline(10) if x.cid == cid]
    assert p.text == SECRET and p.private and p.recipients == [bob_name]
    shown = json.loads(bob.cli_ok("show", alice_name, "--json"))
    mine = next(x for x in shown["posts"] if x["cid"] == cid)
    assert mine["text"] == SECRET and mine["private"] and mine["recipients"] == [bob_name]
    assert "[private, to" in bob.cli_ok("show", alice_name)
    meta = p.attachments[0]
    data = run(bob.service.cat(meta["cid"], meta["size"] + 16))
    assert private.decrypt_file(bytes.fromhex(meta["key"]), bytes.fromhex(meta["nonce"]), data) == \
        PNG + b"SECRETPIXELS"
    # The author reads her own private post too.
    assert any(x.cid == cid and x.text == SECRET for x in alice.service.timeline(10))
    # An edit of it is refused, saying why and what to do instead (the web says the same).
    refused = alice.cli("edit", cid, "changed my mind")
    assert refused.exit_code != 0 and "a private post cannot be edited; delete it" in refused.output

    # Carol follows Alice but is not a recipient: nothing shown, and no error.
    assert [x.text for x in carol.service.timeline(10)] == ["public hello"]
    out = json.loads(carol.cli_ok("show", alice_name, "--json"))
    assert [x["text"] for x in out["posts"]] == ["public hello"]
    st = json.loads(carol.cli_ok("status", "--json"))[0]
    assert st["count"] == 2 and st["last_error"] is None

    # The blocks on Carol's node (the whole pinned feed) hold no plaintext.
    async def everything(u: User) -> bytes:
        async with await u.kubo() as k:
            return await k.dag_export(st["root"], 1 << 24, offline=True)
    raw = run(everything(carol))
    for needle in (SECRET.encode(), b"SECRETPIXELS", b"secret.png", bob_name.encode()):
        assert needle not in raw, needle
    blockstore = b"".join(f.read_bytes() for f in (carol.settings.node_dir / "blocks").rglob("*.data"))
    assert SECRET.encode() not in blockstore and b"SECRETPIXELS" not in blockstore

    # A reply to a private post stays private to the thread.
    reply = bob.cli_ok("post", "roger that", "--reply-to", cid).strip()
    carol.connect(bob)
    for u in (alice, carol):
        u.cli_ok("follow", bob_name)
        run(u.service.sync())
    [r] = [x for x in alice.service.timeline(10) if x.cid == reply]
    assert r.private and r.text == "roger that" and r.recipients == [alice_name]
    assert all(x.cid != reply for x in carol.service.timeline(10))


def test_box_hides_recipients_and_size() -> None:
    me, bob, eve = Identity.generate(), Identity.generate(), Identity.generate()
    short = private.seal(me, [bob.name], "hi")
    longer = private.seal(me, [bob.name], "x" * 150)
    assert len(short["ct"]) == len(longer["ct"]) == 256 + 16  # one size class
    assert len(short["keys"]) == 2 and all(len(k) == 80 for k in short["keys"])
    assert bob.name.encode() not in b"".join(short["keys"]) + short["ct"]
    assert private.open_box(bob, short, "t").text == "hi"  # type: ignore[union-attr]
    assert private.open_box(me, short, "t").to == [bob.name]  # type: ignore[union-attr]
    assert private.open_box(eve, short, "t") is None
    three = private.seal(me, [bob.name, eve.name], "hi")
    assert len(three["keys"]) == 4  # 3 slots padded to 4
    with pytest.raises(InvalidInput, match="at most 15"):
        private.seal(me, [Identity.generate().name for _ in range(16)], "hi")
    with pytest.raises(InvalidInput, match="at least one recipient"):
        private.seal(me, [me.name], "hi")


def test_private_vector_opens_with_the_recipients_key_by_independent_code() -> None:
    import dag_cbor
    import nacl.public
    import nacl.secret
    import nacl.signing
    from conftest import DATA

    vector = json.loads((DATA / "vectors.json").read_text())["private"]
    block = bytes.fromhex(vector["hex"])
    obj = dag_cbor.decode(block)
    nacl.signing.VerifyKey(obj["author"]).verify(
        dag_cbor.encode({k: v for k, v in obj.items() if k != "sig"}), obj["sig"])
    recipient = nacl.signing.SigningKey(bytes.fromhex(vector["recipient_seed"])).to_curve25519_private_key()
    key = None
    for slot in obj["box"]["keys"]:
        try:
            key = nacl.public.SealedBox(recipient).decrypt(slot)
        except Exception:
            continue
    assert key is not None
    assert hashlib.blake2b(key, digest_size=32, person=b"ipfeed-key").digest() == obj["box"]["commit"]
    plain = dag_cbor.decode(nacl.secret.SecretBox(key).decrypt(obj["box"]["ct"], obj["box"]["nonce"]))
    assert plain["text"] == vector["text"] and plain["to"] == vector["to"]
    assert len(dag_cbor.encode(plain)) == 256  # the smallest size class
    me = Identity.from_seed(bytes.fromhex(vector["recipient_seed"]))
    from ipfeed import post as post_mod
    opened = private.open_box(me, post_mod.parse(block, vector["cid"]).box or {}, "vector")
    assert opened is not None and opened.text == vector["text"]


def hostile_box(to: Identity, content: dict[str, Any], commit: bytes | None = None) -> dict[str, Any]:
    """A box whose content breaks the rules, sealed properly to `to` (as a hostile author could)."""
    import os

    import nacl.public
    import nacl.secret

    key, nonce = os.urandom(32), os.urandom(24)
    ct = nacl.secret.SecretBox(key).encrypt(private.pad(content), nonce).ciphertext
    slot = nacl.public.SealedBox(nacl.public.PublicKey(private.x25519_public(to.public))).encrypt(key)
    return {"commit": commit or private.commitment(key), "ct": ct, "keys": [bytes(slot), bytes(slot)],
            "nonce": nonce}


def test_a_key_that_is_not_the_committed_one_is_refused() -> None:
    """An author who seals different keys (so different texts) to different recipients is
    caught by each of them: the box commits to one key."""
    from ipfeed.errors import InvalidPost

    bob = Identity.generate()
    with pytest.raises(InvalidPost, match="not the one the box commits to"):
        private.open_box(bob, hostile_box(bob, {"text": "x", "to": [bob.name]}, commit=bytes(32)), "post x")
    honest = hostile_box(bob, {"text": "x", "to": [bob.name]})
    assert private.open_box(bob, honest, "post x").text == "x"  # type: ignore[union-attr]


TO = [Identity.from_seed(bytes(32)).name]
RAW = b"\x01\x55\x12\x20" + bytes(32)
RAW2 = b"\x01\x55\x12\x20" + bytes([1]) * 32


def att(**changes: Any) -> dict[str, Any]:
    return {"cid": RAW, "type": "image/png", "size": 1, "name": "a", "nonce": bytes(24), **changes}


@pytest.mark.parametrize(("content", "message"), [
    ({"text": "x", "to": TO, "attachments": [att(nonce=2**34)]}, "nonce must be 24 bytes"),
    ({"text": "x", "to": ["k51bogus"]}, "canonical k51"),
    ({"text": "x", "to": []}, "to has 0 items"),
    ({"text": "x" * 9000, "to": TO}, "over the limit"),
    ({"text": "x", "to": TO, "attachments": [att(size=10**15)]}, "size is"),
    ({"text": "x", "to": TO, "attachments": [att(name="../evil")]}, "plain file"),
    ({"text": "x", "to": TO, "attachments": [att(type="text/html<script>")]}, "media type"),
    ({"text": "x", "to": TO, "attachments": [att(name="a\x85b")]}, "no control character"),
    ({"text": "x", "to": TO, "attachments": [att(name="a\u202eb")]}, "no bidi control"),
    ({"text": "x", "to": TO, "evil": 1}, "unknown field"),
], ids=["huge nonce", "bad name", "no recipient", "long text", "huge size", "path name", "bad type",
        "C1 control in name", "bidi control in name", "extra field"])
def test_malformed_private_content_is_rejected_not_trusted(content: dict[str, Any], message: str) -> None:
    from ipfeed.errors import InvalidPost

    bob = Identity.generate()
    with pytest.raises(InvalidPost, match=message):
        private.open_box(bob, hostile_box(bob, content), "post x")


@pytest.mark.parametrize(("inside", "outside"), [
    ([RAW], ()),  # the content has an attachment the post does not link (so nobody pins it)
    ([], (RAW,)),  # the post links a blob the content does not mention
    ([RAW, RAW2], (RAW2, RAW)),  # other order
    ([RAW], (RAW2,)),  # another blob
], ids=["attachment not in files", "file not an attachment", "order differs", "other blob"])
def test_a_private_posts_files_must_be_its_contents_attachments(inside: list[bytes],
                                                                 outside: tuple[bytes, ...]) -> None:
    from ipfeed import codec, post
    from ipfeed.errors import InvalidPost

    alice, bob = Identity.generate(), Identity.generate()
    content: dict[str, Any] = {"text": "", "to": [bob.name]}
    if inside:
        content["attachments"] = [att(cid=c) for c in inside]
    p = post.build(alice, seq=1, prev=None, created=0, text="", box=hostile_box(bob, content),
                   files=tuple(codec.cid_str(c) for c in outside))
    with pytest.raises(InvalidPost, match=r"files .* are not the encrypted attachments"):
        private.open_box(bob, p.box or {}, "post x", p.files)
    honest = post.build(alice, seq=1, prev=None, created=0, text="", box=hostile_box(bob, content),
                        files=tuple(codec.cid_str(c) for c in inside))
    opened = private.open_box(bob, honest.box or {}, "post x", honest.files)
    assert opened is not None and [a["cid"] for a in opened.attachments] == list(honest.files)


def test_the_commitment_personalisation_is_zero_padded_to_16_bytes() -> None:
    """libsodium takes exactly 16 personalisation bytes; pynacl pads `ipfeed-key` (10) with
    zeros, and so does hashlib's BLAKE2b (an independent implementation)."""
    import nacl.bindings

    key = bytes(range(32))
    padded = b"ipfeed-key" + bytes(6)
    assert len(private.COMMIT_PERSON) == 10
    want = hashlib.blake2b(key, digest_size=32, person=padded).digest()
    assert hashlib.blake2b(key, digest_size=32, person=b"ipfeed-key").digest() == want
    assert nacl.bindings.crypto_generichash_blake2b_salt_personal(
        key, digest_size=32, person=padded, salt=bytes(16)) == want
    assert private.commitment(key) == want
    assert hashlib.blake2b(key, digest_size=32, person=b"ipfeed-keyX").digest() != want


def test_every_text_length_pads_to_a_size_class() -> None:
    """The pad's own length prefix grows at 24 and 256 bytes, so some gaps cannot be filled
    exactly (a 151-byte text once raised AssertionError): every length lands on a class."""
    me, bob = Identity.from_seed(bytes([1]) * 32), Identity.from_seed(bytes([2]) * 32)
    for n in range(0, 4200, 1):
        box = private.seal(me, [bob.name], "x" * n)
        assert len(box["ct"]) - 16 in private.SIZE_CLASSES
        opened = private.open_box(bob, box, "post")
        assert opened is not None and opened.text == "x" * n
