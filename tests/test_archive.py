"""Key backups and feed archives: move to a new machine without forking, back up
incrementally, import a friend's feed by sneakernet; damaged or foreign archives are
rejected with nothing stored."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import User, run
from test_e2e import PNG

from ipfeed import archive, backup, codec, post
from ipfeed.car import read_car, varint
from ipfeed.entry import Entry
from ipfeed.errors import InvalidInput, InvalidObject
from ipfeed.identity import Identity


def test_key_backup_round_trip_and_wrong_passphrase() -> None:
    me = Identity.generate()
    data = backup.export_key(me, "correct horse", "interactive")
    assert me.name.encode() in data and bytes(me.signing_key).hex().encode() not in data
    assert backup.import_key(data, "correct horse").public == me.public
    with pytest.raises(InvalidInput, match="wrong passphrase"):
        backup.import_key(data, "wrong")
    doc = json.loads(data)
    doc["opslimit"] = 10**9
    with pytest.raises(InvalidInput, match="out of range"):
        backup.import_key(json.dumps(doc).encode(), "correct horse")
    with pytest.raises(InvalidInput, match="not an ipfeed key backup"):
        backup.import_key(b"{}", "x")


def shown(u: User, name: str) -> dict[str, Any]:
    return json.loads(u.cli_ok("show", name, "--json", "--limit", "100"))


def test_export_wipe_import_on_a_fresh_node_then_continue_the_chain(alice: User, make_user: Any,
                                                                    tmp_path: Path) -> None:
    img = tmp_path / "p.png"
    img.write_bytes(PNG)
    big = tmp_path / "big.png"  # over one 256 KiB chunk: a dag-pb node linking raw leaves
    big.write_bytes(PNG + bytes(range(256)) * 3000)
    alice.cli_ok("profile", "set", "--bio", "moving house", "--avatar", str(img))
    alice.cli_ok("post", "one")
    alice.cli_ok("post", "two, with a picture", "--attach", str(big))
    name = alice.service.identity().name
    (tmp_path / "pass").write_text("a long passphrase\n")
    alice.cli_ok("key", "export", str(tmp_path / "key.json"), "--passphrase-file", str(tmp_path / "pass"),
                 "--strength", "interactive")
    alice.cli_ok("export", str(tmp_path / "feed.car"))
    alice.stop()
    shutil.rmtree(alice.home)  # the old machine is gone, node and all

    new: User = make_user("alice-new", init=False, start=False)
    new.cli_ok("key", "import", str(tmp_path / "key.json"), "--passphrase-file", str(tmp_path / "pass"))
    new.start()  # a fresh node that knows nobody
    assert "imported 2 posts" in new.cli_ok("import", str(tmp_path / "feed.car"))
    out = shown(new, name)  # verified from the restored node alone
    assert [p["text"] for p in out["posts"]] == ["two, with a picture", "one"]
    assert out["profile"]["bio"] == "moving house"

    async def cat() -> bytes:
        async with await new.kubo() as k:
            return await k.cat(out["posts"][0]["attachments"][0]["cid"], 1_000_000)
    assert run(cat()) == big.read_bytes()
    new.cli_ok("post", "three, on the new machine")
    after = shown(new, name)
    assert [p["seq"] for p in after["posts"]] == [3, 2, 1]
    assert after["posts"][0]["prev"] == out["posts"][0]["cid"]  # the same chain, no fork


def test_incremental_export_and_sneakernet_import_of_a_friends_feed(alice: User, bob: User,
                                                                    tmp_path: Path) -> None:
    alice.cli_ok("post", "first")
    alice.cli_ok("export", str(tmp_path / "full.car"))
    root1 = json.loads(alice.cli_ok("show", alice.service.identity().name, "--json"))["root"]
    alice.cli_ok("post", "second")
    alice.cli_ok("post", "third")
    alice.cli_ok("export", str(tmp_path / "inc.car"), "--since", root1)
    inc = archive.read((tmp_path / "inc.car").read_bytes())
    texts = [inc.contents[p.content].text for p in inc.posts if isinstance(p, Entry) and p.content]
    assert texts == ["third", "second"] and inc.base == 1  # v2 entries and their content blocks
    # Bob never connects to Alice: the archives travel on a USB stick.
    r = bob.cli("import", str(tmp_path / "inc.car"))
    assert r.exit_code == 1 and "import the earlier archive first" in r.output
    bob.cli_ok("import", str(tmp_path / "full.car"))
    bob.cli_ok("import", str(tmp_path / "inc.car"))
    texts = [p.text for p in bob.service.feed_posts(alice.service.identity().name, 10)]
    assert texts == ["third", "second", "first"]


# -- damaged and foreign archives: rejected, nothing stored -------------------------------
def sections(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """(header section, [(cid, block)]) of a CAR, without checking anything."""
    size, i = _v(data, 0)
    header = data[: i + size]
    i += size
    out = []
    while i < len(data):
        size, j = _v(data, i)
        body = data[j:j + size]
        n = 36 if body[0] == 1 else 0
        out.append((body[:n], body[n:]))
        i = j + size
    return header, out


def _v(buf: bytes, i: int) -> tuple[int, int]:
    return codec.read_varint(buf, i, "test")


def join(header: bytes, parts: list[tuple[bytes, bytes]]) -> bytes:
    return header + b"".join(varint(len(c) + len(b)) + c + b for c, b in parts)


@pytest.fixture
def good_car(alice: User, tmp_path: Path) -> bytes:
    for i in range(3):
        alice.cli_ok("post", f"post {i}")
    alice.cli_ok("export", str(tmp_path / "good.car"))
    return (tmp_path / "good.car").read_bytes()


def tampered(data: bytes) -> bytes:
    header, parts = sections(data)
    cid, block = next((c, b) for c, b in parts if b"post 1" in b)
    parts = [(c, block.replace(b"post 1", b"post X") if c == cid else b) for c, b in parts]
    return join(header, parts)


def missing(data: bytes) -> bytes:
    header, parts = sections(data)
    return join(header, [(c, b) for c, b in parts if b"post 1" not in b])


def foreign_block(data: bytes) -> bytes:
    header, parts = sections(data)
    mallory = post.build(Identity.generate(), seq=1, prev=None, created=1, text="not alice's")
    return join(header, [*parts, (codec.cid_bytes_of(mallory.block), mallory.block)])


def stray_file_block(data: bytes) -> bytes:
    """A raw block no attachment links to (it would be stored, unpinned, for nothing)."""
    header, parts = sections(data)
    junk = b"not part of any attachment"
    return join(header, [*parts, (codec.PREFIX_RAW + hashlib.sha256(junk).digest(), junk)])


def not_a_feed(data: bytes) -> bytes:
    block = codec.encode({"hello": "world"})
    from ipfeed.car import car_bytes
    return car_bytes([codec.cid_bytes_of(block)], [block])


@pytest.mark.parametrize(("mutate", "message"), [
    (tampered, "does not match its CID"),
    (missing, "missing|expected"),
    (foreign_block, "not part of the feed"),
    (stray_file_block, "not part of any attachment"),
    (lambda d: d[: len(d) // 2], "runs past the end|truncated|missing"),
    (not_a_feed, "not an ipfeed archive"),
    (lambda d: b"\x00garbage", "not a CAR|CAR"),
], ids=["tampered block", "missing block", "another author's block", "stray file block", "truncated",
        "foreign CAR", "garbage"])
def test_bad_archives_are_rejected_and_nothing_is_stored(good_car: bytes, bob: User, tmp_path: Path,
                                                         mutate: Any, message: str) -> None:
    bad = tmp_path / "bad.car"
    bad.write_bytes(mutate(good_car))
    with pytest.raises(InvalidObject, match=message):
        archive.read(bad.read_bytes())
    r = bob.cli("import", str(bad))
    assert r.exit_code == 1 and r.output.startswith("Error: ") and "Traceback" not in r.output
    root = next(c for c, _ in read_car(good_car))

    async def has(cid: str) -> bool:
        async with await bob.kubo() as k:
            return await k.has_block(cid)
    assert not run(has(root))  # nothing of the archive reached Bob's node
    assert bob.service.timeline(10) == []


def test_key_import_refuses_a_wrong_passphrase_and_an_existing_identity(alice: User, make_user: Any,
                                                                         tmp_path: Path) -> None:
    (tmp_path / "pass").write_text("right\n")
    (tmp_path / "wrong").write_text("wrong\n")
    alice.cli_ok("key", "export", str(tmp_path / "k.json"), "--passphrase-file", str(tmp_path / "pass"),
                 "--strength", "interactive")
    assert (tmp_path / "k.json").stat().st_mode & 0o077 == 0
    other: User = make_user("other", init=False, start=False)
    r = other.cli("key", "import", str(tmp_path / "k.json"), "--passphrase-file", str(tmp_path / "wrong"))
    assert r.exit_code == 1 and "wrong passphrase" in r.output
    assert not other.settings.key_path.exists()
    r = alice.cli("key", "import", str(tmp_path / "k.json"), "--passphrase-file", str(tmp_path / "pass"))
    assert r.exit_code == 1 and "already has an identity" in r.output
