"""Write the notice and inbox vectors (docs/FORMAT.md section 15) into tests/data/vectors.json,
key "notices": `python tests/make_notice_vectors.py` (`--markdown` prints them for FORMAT.md).
Everything is deterministic (ed25519 signatures are)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from test_ipns import record

from ipfeed import feed, notice
from ipfeed.feed import Profile
from ipfeed.identity import Identity

DATA = Path(__file__).parent / "data" / "vectors.json"
SENDER = Identity.from_seed(bytes(range(32)))  # the identity of section 14
TO = Identity.from_seed(bytes([7]) * 32)
ENTRY = "bafyreia5qc5ydey5jw2fdb5ruqqjromy4osotbah24rqwvozmbmej7kx2m"  # v2 vector: entry seq 3
CREATED = 1700000100000
PEER = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA"


def vectors() -> dict[str, Any]:
    """The vectors: a notice about an entry, a follow notice, a fetch request, a v2 root whose
    profile names an inbox."""
    rec = record(SENDER)
    root = feed.build(TO, seq=1, updated=CREATED, count=0, recent=[], listing=feed.Listing(),
                      profile=Profile("Inbox", "", None, ((PEER, ("/ip4/127.0.0.1/tcp/4001",)),)))
    return {
        "comment": "notices from the identity of section 14 (seed 00..1f) to the feed of seed 07 x 32; "
                   "the record is tests/test_ipns.py's record() for the sender",
        "sender_seed": bytes(range(32)).hex(), "to_seed": (bytes([7]) * 32).hex(), "record": rec.hex(),
        "objects": [
            {"comment": "notice about an entry (the v2 vector's post, seq 3)", "kind": "notice",
             "hex": notice.build_notice(SENDER, TO.public, rec, CREATED, ENTRY).hex()},
            {"comment": "follow notice", "kind": "notice",
             "hex": notice.build_notice(SENDER, TO.public, rec, CREATED).hex()},
            {"comment": "inbox fetch by the feed of seed 07 x 32, since 0, nonce 00 x 16", "kind": "fetch",
             "hex": notice.build_fetch(TO, 0, CREATED, bytes(16)).hex()},
            {"comment": "v2 root of the feed of seed 07 x 32 whose profile names one inbox peer",
             "kind": "root", "hex": root.block.hex(), "cid": root.cid},
        ],
    }


if __name__ == "__main__":
    if "--markdown" in sys.argv:
        for v in vectors()["objects"]:
            h = v["hex"]
            print(f"#### {v['comment']} ({v['kind']})\n\n```\n" +
                  "\n".join(h[i:i + 96] for i in range(0, len(h), 96)) + "\n```\n")
    else:
        data = json.loads(DATA.read_text())
        data["notices"] = vectors()
        DATA.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
