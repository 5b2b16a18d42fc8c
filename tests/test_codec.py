"""Canonical DAG-CBOR and CIDs, checked against the independent `dag-cbor` package and multiformats."""

from __future__ import annotations

import base64
import contextlib

import dag_cbor
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multiformats import CID, multihash

from ipfeed import codec
from ipfeed.errors import InvalidBlock, InvalidInput

# Values DAG-CBOR can carry (no floats: ipfeed objects never use them).
values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text() | st.binary(),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(), children, max_size=5),
    max_leaves=30,
)


@given(values)
def test_encoding_round_trips_and_matches_the_dag_cbor_package(value: object) -> None:
    data = codec.encode(value)
    assert data == dag_cbor.encode(value)  # an independent canonical encoder agrees byte for byte
    assert codec.decode(data, max_size=1 << 20, what="x") == value


@given(values)
def test_cid_is_computed_like_multiformats(value: object) -> None:
    data = codec.encode(value)
    want = CID("base32", 1, "dag-cbor", multihash.digest(data, "sha2-256"))
    assert codec.cid_of(data) == str(want)
    assert codec.cid_to_bytes(codec.cid_of(data)) == bytes(want)


@pytest.mark.parametrize(("hexdata", "reason"), [
    ("a2616201616101", "unsorted map keys"),
    ("a2616101616102", "duplicate map keys"),
    ("1801", "integer not minimally encoded"),
    ("0101", "trailing bytes"),
    ("f93c00", "half-precision float"),
    ("5f4101ff", "indefinite-length bytes"),
    ("", "empty input"),
    ("a1", "truncated map"),
], ids=lambda x: x if " " in x else None)
def test_non_canonical_or_broken_cbor_is_rejected(hexdata: str, reason: str) -> None:
    with pytest.raises(InvalidBlock, match="thing"):
        codec.decode(bytes.fromhex(hexdata), max_size=100, what="thing")


def test_oversize_block_is_rejected_before_decoding() -> None:
    with pytest.raises(InvalidBlock, match="over the limit of 10"):
        codec.decode(codec.encode("x" * 20), max_size=10, what="thing")


def test_deep_nesting_is_rejected_without_crashing() -> None:
    deep = b"\x81" * 100_000 + b"\x01"  # valid CBOR, 100k nested arrays
    value = codec.decode(deep, max_size=200_000, what="deep")  # decodes iteratively
    assert isinstance(value, list)
    with pytest.raises(InvalidBlock, match="over the limit"):
        codec.decode(deep, max_size=16_384, what="deep")


def test_parse_cid_accepts_typed_forms_and_normalizes() -> None:
    data = codec.encode({"a": 1})
    cid = codec.cid_of(data)
    b58 = CID.decode(cid).encode("base58btc")
    assert codec.parse_cid(b58) == cid
    assert codec.parse_cid(f"/ipfs/{cid}") == cid
    assert codec.parse_cid(cid.upper().replace("B", "B", 1)) == cid  # base32 upper case (B prefix)


@pytest.mark.parametrize("text", ["", "hello", "bafyxyz", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"])
def test_parse_cid_rejects_what_is_not_a_dag_cbor_sha256_cidv1(text: str) -> None:
    with pytest.raises(InvalidInput):
        codec.parse_cid(text)


JUNK = ["k", "b", "z", "u", "f", "\x00", "k51", "bafy", "b" + "a" * 500, "mAXESIA", "f01711220",
        "k51qzi5uqu5dg9ufswxt229ntzdy7p4125xzv5rtyjso89ajdujg6csfxcj260"]  # the last: a name, not a CID


@pytest.mark.parametrize("junk", JUNK, ids=lambda j: repr(j[:16]))
def test_any_junk_cid_is_invalid_input_in_plain_words(junk: str) -> None:
    """multiformats raises IndexError on a lone multibase prefix; that must never escape."""
    with pytest.raises(InvalidInput) as e:
        codec.parse_cid(junk)
    message = str(e.value)
    assert "CID" in message and "\n" not in message and len(message) < 200
    assert "bits" not in message and "index" not in message and "Multihash" not in message


def tag42(payload: bytes) -> bytes:
    """CBOR tag 42 around a byte string (lengths below 256, as in these tests)."""
    head = bytes([0x40 + len(payload)]) if len(payload) < 24 else bytes([0x58, len(payload)])
    return b"\xd8\x2a" + head + payload


@pytest.mark.parametrize(("payload", "message"), [
    (b"\x00", "holds no CID"),
    (b"\x00\x01", "truncated"),
    (b"\x00\x01\x71", "truncated"),
    (b"\x00\x01\x71\x12", "truncated"),
    (b"\x00\x01\x71\x12\x20" + bytes(31), "digest is 31 bytes, not the 32"),
    (b"\x00\x01\x71\x12\x20" + bytes(33), "digest is 33 bytes, not the 32"),
    (b"\x00\x12\x20" + bytes(32), "CIDv0"),  # a bare sha2-256 multihash, as Qm… CIDs are
    (b"\x00\x02\x71\x12\x20" + bytes(32), "version 2, not 1"),
    (b"\x00\x00\x71\x12\x20" + bytes(32), "version 0, not 1"),
    (b"\x00\x81\x00\x71\x12\x20" + bytes(32), "not minimally encoded"),
    (b"\x00" + bytes.fromhex("5eb63bbbe01eeed093cb22bb8f5acdc3"), "version"),  # random bytes
    (b"\x00" + b"\xff" * 12, "overlong"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_a_link_must_hold_a_binary_cidv1(payload: bytes, message: str) -> None:
    """cbrrr checks only the 00 prefix of a tag 42; codec.decode checks the CID after it, in any
    position (here at the top, in a list and in a map)."""
    for data in (tag42(payload), b"\x81" + tag42(payload), b"\xa1\x61a" + tag42(payload)):
        with pytest.raises(InvalidBlock, match=f"thing: a link \\(tag 42\\) .*{message}"):
            codec.decode(data, max_size=1000, what="thing")


@pytest.mark.parametrize("cid", [b"\x01\x71\x12\x20" + bytes(32), b"\x01\x55\x00\x05hello",
                                 b"\x01\x70\xa0\xe4\x02\x20" + bytes(32)],  # blake2b-256: code 0xb220
                         ids=["dag-cbor sha2-256", "raw identity", "dag-pb blake2b-256"])
def test_well_formed_cidv1_links_of_any_codec_decode(cid: bytes) -> None:
    """Whether ipfeed accepts a link's codec is the object validator's rule; decode only
    requires a well-formed CIDv1."""
    assert bytes(codec.decode(tag42(b"\x00" + cid), max_size=1000, what="x").cid_bytes) == cid


@given(st.binary(min_size=36, max_size=36))
def test_the_fast_base32_of_a_cid_is_base64s_base32(raw: bytes) -> None:
    text = codec.cid_str.__wrapped__(raw)  # type: ignore[attr-defined]
    assert text == "b" + base64.b32encode(raw).decode().lower().rstrip("=")
    assert codec.cid_to_bytes.__wrapped__(text) == raw  # type: ignore[attr-defined]


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789ABZ=_ ", min_size=58, max_size=58))
def test_the_fast_base32_decoder_refuses_what_base64_refuses(body: str) -> None:
    try:
        want: bytes | None = base64.b32decode(body.upper() + "======")
    except ValueError:
        want = None
    try:
        got: bytes | None = codec.cid_to_bytes.__wrapped__("b" + body)  # type: ignore[attr-defined]
    except InvalidInput:
        got = None
    assert got == want


def test_parse_cid_reads_the_form_ipfeed_writes_without_multiformats_and_agrees_with_it() -> None:
    """The fast path (canonical base32, as every feed's IPNS record names its root) gives what
    the general path gives, refuses the same codecs, and leaves every other spelling to it."""
    for prefix in (codec.PREFIX_DAG_CBOR, codec.PREFIX_RAW, codec.PREFIX_DAG_PB):
        raw = prefix + bytes(range(32))
        text = codec.cid_str(raw)
        assert str(CID.decode(text)) == text
        if prefix == codec.PREFIX_DAG_CBOR:
            assert codec.parse_cid(text) == codec.parse_cid(f"/ipfs/{text}/x") == text
        else:
            with pytest.raises(InvalidInput, match="not a CIDv1 sha2-256 of a dag-cbor block"):
                codec.parse_cid(text)
            assert codec.parse_cid(text, codec.FILE_PREFIXES) == text
    cid = codec.cid_of(codec.encode({"a": 1}))
    odd = cid[:-1] + {"a": "b", "q": "r"}.get(cid[-1], "b")  # the last character's unused bits set
    assert codec.cid_to_bytes(odd) != codec.cid_to_bytes(cid) or codec.cid_str(codec.cid_to_bytes(odd)) != odd
    with contextlib.suppress(InvalidInput):  # multiformats decides, as for any other spelling
        assert codec.parse_cid(odd) == codec.cid_str(bytes(CID.decode(odd)))


def test_parse_cid_of_a_record_value_skips_multiformats(monkeypatch: pytest.MonkeyPatch) -> None:
    cid = codec.cid_of(codec.encode({"b": 2}))

    def refuse(_: str) -> None:
        raise AssertionError("multiformats decoded a CID in the form ipfeed writes")
    monkeypatch.setattr(codec.CID, "decode", refuse)
    assert codec.parse_cid(f"/ipfs/{cid}") == cid
