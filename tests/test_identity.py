"""Identity keys and IPNS names: offline derivation, key files kept private."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from conftest import DATA
from hypothesis import given
from hypothesis import strategies as st

from ipfeed import identity
from ipfeed.errors import InsecureKeyFile, InvalidInput, MissingIdentity
from ipfeed.identity import Identity

VECTOR = json.loads((DATA / "vectors.json").read_text())["identity"]


def test_identity_vector() -> None:
    me = Identity.from_seed(bytes.fromhex(VECTOR["seed"]))
    assert me.public.hex() == VECTOR["public"]
    assert me.name == VECTOR["name"]
    assert me.libp2p_private_key().hex() == VECTOR["libp2p_private_key"]


@given(st.binary(min_size=32, max_size=32))
def test_name_round_trips_to_the_public_key(seed: bytes) -> None:
    me = Identity.from_seed(seed)
    assert me.name.startswith("k51")
    assert identity.public_from_name(me.name) == me.public
    assert identity.public_from_name(f"/ipns/{me.name}") == me.public


def test_peer_id_form_of_a_name_is_accepted() -> None:
    from multiformats import multibase
    me = Identity.from_seed(bytes(32))
    peer_id = multibase.get("base58btc").encode(b"\x00\x24\x08\x01\x12\x20" + me.public)[1:]
    assert peer_id.startswith("12D3KooW")
    assert identity.normalize_name(peer_id) == me.name


@pytest.mark.parametrize("name", [
    "", "alice", "k51xyz",
    "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",  # a dag-cbor CID
    "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG",  # a sha2-256 multihash, no key inside
])
def test_things_that_are_not_ed25519_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidInput):
        identity.public_from_name(name)


def test_signatures_verify_only_with_the_right_key_and_message() -> None:
    a, b = Identity.from_seed(bytes(32)), Identity.from_seed(bytes([1]) * 32)
    sig = a.sign(b"msg")
    assert identity.verify(a.public, b"msg", sig)
    assert not identity.verify(b.public, b"msg", sig)
    assert not identity.verify(a.public, b"msg!", sig)
    assert not identity.verify(a.public, b"msg", bytes(64))
    assert not identity.verify(b"short", b"msg", sig)


def test_key_file_is_created_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "home" / "identity.key"
    me = Identity.generate()
    identity.save(me, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert identity.load(path).public == me.public
    with pytest.raises(FileExistsError):
        identity.save(Identity.generate(), path)
    assert identity.load(path).public == me.public


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    identity.save(Identity.generate(), path)
    os.chmod(path, 0o644)
    with pytest.raises(InsecureKeyFile, match="chmod 600"):
        identity.load(path)


def test_missing_key_is_an_error_never_a_new_identity(tmp_path: Path) -> None:
    with pytest.raises(MissingIdentity, match="ipfeed init"):
        identity.load(tmp_path / "identity.key")
    assert not (tmp_path / "identity.key").exists()


def test_repr_never_shows_key_material() -> None:
    me = Identity.from_seed(bytes.fromhex(VECTOR["seed"]))
    assert VECTOR["seed"] not in repr(me) and me.name in repr(me)


JUNK = ["k", "b", "z", "u", "f", "\x00", "k51", "bafy", "12D3KooW0OIl", "x" * 300, "k" + "\u202e" * 3,
        "bafyreibdthfftjqusxa2rf3ushhx7t6qentv56ijvxcfq7vi3vjr7leyfu"]  # the last: a CID, not a name


@pytest.mark.parametrize("junk", JUNK, ids=lambda j: repr(j[:16]))
def test_any_junk_name_is_invalid_input_in_plain_words(junk: str) -> None:
    """multiformats raises IndexError on a lone multibase prefix; that must never escape."""
    with pytest.raises(InvalidInput) as e:
        identity.public_from_name(junk)
    message = str(e.value)
    assert "is not an IPNS name" in message or "not an IPNS name" in message
    assert "\n" not in message and len(message) < 200
    assert "bits" not in message and "index" not in message  # no library text


# -- the ed25519 verification rule (FORMAT.md 2a) ------------------------------------------
EDGE = json.loads((DATA / "ed25519-edge.json").read_text())["cases"]


@pytest.mark.parametrize("case", EDGE, ids=lambda c: c["comment"])
def test_ed25519_edge_case_gets_libsodiums_verdict(case: dict[str, object]) -> None:
    """ipfeed's verify gives exactly the verdict of the stated rule (pinned: a libsodium whose
    rule differs, e.g. one verifying with the cofactored equation, fails here)."""
    pk, msg, sig = (bytes.fromhex(str(case[k])) for k in ("public", "message", "signature"))
    assert identity.verify(pk, msg, sig) is case["valid"]


@pytest.mark.parametrize("case", EDGE, ids=lambda c: c["comment"])
def test_ed25519_edge_case_is_what_the_independent_reference_says(case: dict[str, object]) -> None:
    import ed25519_ref as ed

    pk, msg, sig = (bytes.fromhex(str(case[k])) for k in ("public", "message", "signature"))
    assert ed.equations(pk, msg, sig) == (case["cofactorless"], case["cofactored"])
    assert ed.libsodium_verdict(pk, msg, sig) is case["valid"]


def test_ed25519_edge_cases_regenerate_byte_for_byte() -> None:
    import make_ed25519_edge

    assert make_ed25519_edge.render() == (DATA / "ed25519-edge.json").read_text(encoding="utf-8")


@given(st.binary(min_size=32, max_size=32), st.binary(max_size=64))
def test_the_reference_ed25519_signs_like_libsodium(seed: bytes, msg: bytes) -> None:
    import ed25519_ref as ed

    key = Identity.from_seed(seed)
    assert ed.public(seed) == key.public
    assert ed.sign(seed, msg) == key.sign(msg)


def test_the_small_order_encodings_are_the_ones_format_md_lists() -> None:
    import ed25519_ref as ed

    listed = {"0100000000000000000000000000000000000000000000000000000000000000",
              "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
              "0000000000000000000000000000000000000000000000000000000000000000",
              "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
              "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
              "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
              "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"}
    assert {ed.encode_y(y, 0).hex() for y in ed.small_order_ys()} == listed
    format_md = (DATA.parent.parent / "docs" / "FORMAT.md").read_text()
    assert all(h in format_md for h in listed)
