"""Build format v2's test vectors with ipfeed: one feed that goes on from the two v1 post
vectors with an entry of every kind, two content blocks, a v2 root and its contents tree.

`python tests/make_v2_vectors.py` writes them into tests/data/vectors.json (key `v2`);
`--markdown` prints them as docs/FORMAT.md section 14 shows them. Deterministic (fixed seeds,
fixed times); tests/test_entry.py checks that ipfeed still builds them byte for byte and that
independent code (dag-cbor, multiformats, raw libsodium, hashlib) verifies every one.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any

import cbrrr
from multiformats import CID, multihash

from ipfeed import codec, contents, entry, feed, kinds, post
from ipfeed.content import Extras, Mention, Ref
from ipfeed.contentblock import Attachment, Card, build_content
from ipfeed.identity import Identity

DATA = Path(__file__).parent / "data" / "vectors.json"
ME = Identity.from_seed(bytes(range(32)))
RECOVERY = Identity.from_seed(bytes([9]) * 32)
NEW_KEY = Identity.from_seed(bytes([10]) * 32)
DEVICE = Identity.from_seed(bytes([11]) * 32)
T0 = 1700000010000
FILE_CID = str(CID("base32", 1, "raw", multihash.digest(b"hello", "sha2-256")))
THUMB_CID = str(CID("base32", 1, "raw", multihash.digest(b"thumb", "sha2-256")))


def build() -> list[tuple[str, str, bytes, str]]:
    """(comment, kind, block, cid) of every v2 vector, in order."""
    p1 = post.build(ME, seq=1, prev=None, created=1700000000000, text="hello, world")
    p2 = post.build(ME, seq=2, prev=p1.cid, created=1700000001000, text="a reply with a file ✓",
                    reply_to=p1.cid,
                    attachments=(post.Attachment(FILE_CID, "text/plain", 5, "hello.txt"),))
    chain: list[post.Post | entry.Entry] = [p1, p2]
    out: list[tuple[str, str, bytes, str]] = []
    text = f"hello from v2, @{ME.name[:8]} #ipfeed"
    at = text.index("@")
    c1 = build_content(
        text, reply_to=Ref(p1.cid, ME.public),
        attachments=(Attachment(FILE_CID, "text/plain", 5, "hello.txt", "a greeting"),),
        card=Card("https://example.org/ipfeed", "ipfeed", "signed feeds on IPFS",
                  Attachment(THUMB_CID, "image/png", 5, "thumb.png")),
        extras=Extras(mentions=(Mention(ME.name, at, at + 9),), tags=("ipfeed",)))
    c2 = build_content("hello from v2 (edited)",
                       extras=Extras(quote=Ref(p2.cid, ME.public), cw="test vector", sensitive=True))
    out += [("content block: text, reply_to, attachment with alt, card with thumb, mention, tag",
             "content", c1.block, c1.cid),
            ("content block: quote, cw, sensitive (the edit's new version)", "content", c2.block, c2.cid)]

    def add(comment: str, kind: str, body: Any = None, content: str | None = None) -> entry.Entry:
        seq = len(chain) + 1
        target = post.skip_target(seq)
        e = entry.build_entry(ME, seq=seq, prev=chain[-1].cid, created=T0 + seq, kind=kind, body=body,
                              content=content, skip=chain[target - 1].cid if target else None)
        chain.append(e)
        out.append((comment, "entry", e.block, e.cid))
        return e

    e3 = add("entry seq 3, kind post: prev is a v1 post, skip to seq 1", kinds.POST, content=c1.cid)
    e4 = add("entry seq 4, kind reaction (the default ❤) to the v1 post seq 2", kinds.REACTION,
             kinds.Reaction(Ref(p2.cid, ME.public)))
    add("entry seq 5, kind repost of entry seq 3", kinds.REPOST, kinds.Repost(Ref(e3.cid, ME.public)))
    add("entry seq 6, kind edit of entry seq 3", kinds.EDIT, kinds.Edit(Ref(e3.cid, ME.public)), c2.cid)
    add("entry seq 7, kind delete of the reaction seq 4 (an unreact)", kinds.DELETE,
        kinds.Delete(Ref(e4.cid, ME.public)))
    add("entry seq 8, kind recovery: commitment to the recovery key (seed 09 x 32)", kinds.RECOVERY,
        kinds.Recovery(kinds.recovery_commitment(RECOVERY.public)))
    add("entry seq 9, kind devices: one device key (seed 0b x 32)", kinds.DEVICES,
        kinds.Devices((kinds.Device(DEVICE.public, "phone"),)))
    add("entry seq 10, kind x-poll: a kind ipfeed does not know (kept, body ignored)", "x-poll",
        {"question": "tea or coffee?", "options": ["tea", "coffee"]})
    rsig = RECOVERY.sign(kinds.migration_message(ME.public, NEW_KEY.public, 11))
    add("entry seq 11, kind migration to the key of seed 0a x 32, signed by the recovery key",
        kinds.MIGRATION, kinds.Migration(NEW_KEY.public, RECOVERY.public, rsig))
    state = contents.live(chain)
    tree = contents.build_tree(state.contents)
    assert tree is not None and len(tree.parts) == 1
    out += [("part: the two live content blocks", "part", tree.parts[0].block, tree.parts[0].cid),
            ("contents: one part", "contents", tree.contents.block, tree.contents.cid)]
    root = feed.build(ME, seq=12, updated=T0 + 100, profile=feed.Profile("Alice", "test vector"),
                      count=11, recent=[o.cid for o in reversed(chain)],
                      listing=feed.Listing(state.posts, tree.contents.cid))
    out.append(("root v2: 11 entries, posts (the edited v2 post, two v1 posts), contents", "root",
                root.block, root.cid))
    return out


def to_dag_json(v: Any) -> Any:
    """A decoded value in DAG-JSON (bytes as {"/": {"bytes": base64}}, links as {"/": cid})."""
    if isinstance(v, bytes):
        return {"/": {"bytes": base64.b64encode(v).decode().rstrip("=")}}
    if isinstance(v, cbrrr.CID):
        return {"/": codec.cid_str(bytes(v.cid_bytes))}
    if isinstance(v, dict):
        return {k: to_dag_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_dag_json(x) for x in v]
    return v


def vectors() -> dict[str, Any]:
    """The `v2` section of vectors.json."""
    objects = [{"comment": c, "kind": k, "object": to_dag_json(codec.decode(b, max_size=1 << 20, what=c)),
                "hex": b.hex(), "cid": cid} for c, k, b, cid in build()]
    return {"comment": "format v2: one feed going on from the v1 post vectors (seed 00..1f)",
            "recovery_seed": RECOVERY.signing_key.encode().hex(),
            "new_key_seed": NEW_KEY.signing_key.encode().hex(),
            "device_seed": DEVICE.signing_key.encode().hex(), "objects": objects}


def markdown() -> str:
    """The vectors as FORMAT.md shows them."""
    parts = []
    for v in vectors()["objects"]:
        hexs = "\n".join(v["hex"][i:i + 96] for i in range(0, len(v["hex"]), 96))
        shown = json.dumps(v["object"], indent=1, ensure_ascii=False)
        parts.append(f"#### {v['comment']} ({v['kind']})\n\n```json\n{shown}\n```\n\n"
                     f"bytes (hex):\n```\n{hexs}\n```\n\nCID: `{v['cid']}`\n")
    return "\n".join(parts)


if __name__ == "__main__":
    if "--markdown" in sys.argv:
        print(markdown())
    else:
        data = json.loads(DATA.read_text())
        data["v2"] = vectors()
        DATA.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
