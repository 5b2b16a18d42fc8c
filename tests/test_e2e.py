"""The core promise across two real nodes: what Alice posts, Bob reads by her name, verified."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULTS, run

from ipfeed import identity

PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d4944415478da63f8cfc0f01f0005000201a2dd9c5d"
                    "0000000049454e44ae426082")


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_bob_reads_alices_posts_by_name_verified(make_user: Any, defaults: str, tmp_path: Path) -> None:
    alice, bob = make_user("alice", defaults=defaults), make_user("bob", defaults=defaults)
    bob.connect(alice)
    run(alice.service.publish())
    first = alice.cli_ok("post", "hello from Alice").strip()
    reply = alice.cli_ok("post", "a reply to myself", "--reply-to", first).strip()
    img = tmp_path / "dot.png"
    img.write_bytes(PNG)
    pic = alice.cli_ok("post", "a picture", "--attach", str(img)).strip()

    name = alice.cli_ok("id").strip()
    assert name == identity.name_from_public(alice.service.identity().public)
    out = json.loads(bob.cli_ok("show", name, "--json"))

    assert out["name"] == name
    assert out["profile"]["name"] == "Alice"
    assert [p["cid"] for p in out["posts"]] == [pic, reply, first]
    assert [p["seq"] for p in out["posts"]] == [3, 2, 1]
    assert [p["text"] for p in out["posts"]] == ["a picture", "a reply to myself", "hello from Alice"]
    assert out["posts"][1]["reply_to"] == first
    [att] = out["posts"][0]["attachments"]
    assert (att["name"], att["type"], att["size"]) == ("dot.png", "image/png", len(PNG))
    # The attachment itself is retrievable from Bob's node, byte for byte.
    async def cat() -> bytes:
        async with await bob.kubo() as k:
            return await k.cat(att["cid"], 10_000)
    assert run(cat()) == PNG
