"""IPNS records verified by ipfeed itself: records Kubo made, records built by hand that break
one rule each, and random mutations that must never change what a record says."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import User, run
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipfeed import codec, ipns
from ipfeed.config import KUBO_VERSION
from ipfeed.errors import InvalidInput, InvalidObject
from ipfeed.identity import Identity

ME = Identity.from_seed(bytes(range(32)))
OTHER = Identity.from_seed(bytes([9]) * 32)
VALUE = b"/ipfs/bafyreibdthfftjqusxa2rf3ushhx7t6qentv56ijvxcfq7vi3vjr7leyfu"
FUTURE = b"2999-01-01T00:00:00.000000000Z"
COUNTS = {"tried": 0, "rejected": 0, "unchanged": 0}


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def field(number: int, value: bytes | int) -> bytes:
    if isinstance(value, int):
        return varint(number << 3) + varint(value)
    return varint(number << 3 | 2) + varint(len(value)) + value


def record(key: Identity = ME, *, data: dict[str, Any] | None = None, v1: dict[int, Any] | None = None,
           sign_with: Identity | None = None, extra: bytes = b"") -> bytes:
    d = {"Value": VALUE, "Validity": FUTURE, "ValidityType": 0, "Sequence": 7, "TTL": 60_000_000_000}
    d.update(data or {})
    cbor = codec.encode(d)
    sig = (sign_with or key).sign(b"ipns-signature:" + cbor)
    out = b"".join(field(n, v) for n, v in sorted((v1 or {}).items()))
    return out + field(8, sig) + field(9, cbor) + extra


def test_a_hand_built_record_verifies() -> None:
    r = ipns.parse_record(record(), ME.name)
    assert (r.value, r.sequence, r.ttl_ns, r.validity.year) == (VALUE.decode(), 7, 60_000_000_000, 2999)


def test_a_record_kubo_made_verifies(alice: User) -> None:
    alice.cli_ok("post", "hello")
    name = alice.service.identity().name

    async def get() -> bytes:
        async with await alice.kubo() as k:
            return await k.name_get(name, 10)
    raw = run(get())
    r = ipns.parse_record(raw, name)
    assert r.value.startswith("/ipfs/bafyrei") and not r.expired()
    with pytest.raises(InvalidObject, match="signature does not verify"):
        ipns.parse_record(raw, OTHER.name)  # the record is not the other name's


@pytest.mark.parametrize(("raw", "message"), [
    (record(sign_with=OTHER), "signature does not verify"),
    (record(data={"ValidityType": 1}), "wrong types"),
    (record(data={"Sequence": -1}), "wrong types"),
    (record(data={"Value": "text"}), "wrong types"),
    (record(data={"Validity": b"tomorrow"}), "not an RFC 3339"),
    (record(v1={1: b"/ipfs/bafyreisomethingelse"}), "V1 field 1 disagrees"),
    (record(v1={5: 8}), "V1 field 5 disagrees"),
    (record(v1={4: b"2030-01-01T00:00:00Z"}), "V1 field 4 disagrees"),
    (record(extra=b"\x0a\x05ab"), "runs past the end"),
    (record(extra=b"\x0b"), "unsupported wire type"),
    (field(8, bytes(64)), "no V2 signature or data"),
    (b"\x00" * (10 * 1024 + 1), "over 10240"),
], ids=lambda x: x if isinstance(x, str) else None)
def test_records_breaking_a_rule_are_rejected(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidObject, match=message):
        ipns.parse_record(raw, ME.name)


def test_data_missing_a_field_is_rejected() -> None:
    cbor = codec.encode({"Value": VALUE, "Validity": FUTURE, "ValidityType": 0, "Sequence": 1})
    raw = field(8, ME.sign(b"ipns-signature:" + cbor)) + field(9, cbor)
    with pytest.raises(InvalidObject, match="data lacks"):
        ipns.parse_record(raw, ME.name)


def test_a_bad_name_is_an_input_error() -> None:
    with pytest.raises(InvalidInput):
        ipns.parse_record(record(), "alice")


VALID = record(v1={1: VALUE, 2: bytes(64), 3: 0, 4: FUTURE, 5: 7, 6: 60_000_000_000})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_mutation_changes_what_a_record_says(data: st.DataObject) -> None:
    """Rejected with a typed error, or (for bytes no signature covers, like the V1 signature)
    still saying exactly the same thing: never a different value, validity or sequence."""
    original = ipns.parse_record(VALID, ME.name)
    op = data.draw(st.sampled_from(["flip", "truncate", "extend"]))
    if op == "flip":
        i = data.draw(st.integers(0, len(VALID) * 8 - 1))
        bad = bytearray(VALID)
        bad[i // 8] ^= 1 << (i % 8)
        mutated = bytes(bad)
    elif op == "truncate":
        mutated = VALID[: data.draw(st.integers(0, len(VALID) - 1))]
    else:
        mutated = VALID + data.draw(st.binary(min_size=1, max_size=12))
    COUNTS["tried"] += 1
    try:
        r = ipns.parse_record(mutated, ME.name)
    except InvalidObject:
        COUNTS["rejected"] += 1
        return
    COUNTS["unchanged"] += 1
    assert (r.value, r.validity, r.sequence, r.ttl_ns) == \
        (original.value, original.validity, original.sequence, original.ttl_ns)


def kubo_fixture_records() -> list[Path]:
    """IPNS records that Kubo's own test suite ships (in its Go module, fetched from the Go
    module proxy like any module; nothing is copied into this repo)."""
    if shutil.which("go") is None:
        pytest.skip("Go is not installed, so Kubo's module (with its fixture records) is not at hand")
    out = subprocess.run(["go", "mod", "download", "-json", f"github.com/ipfs/kubo@v{KUBO_VERSION}"],
                         capture_output=True, text=True, timeout=600, check=False)
    folder = Path(json.loads(out.stdout)["Dir"]) / "test" / "sharness"
    return sorted(p for p in folder.rglob("*.ipns-record") if not p.stem.startswith("Qm"))


def test_kubos_published_fixture_records_verify_and_reject_other_names() -> None:
    records = kubo_fixture_records()
    assert len(records) >= 2
    for path in records:
        raw = path.read_bytes()
        r = ipns.parse_record(raw, path.stem)  # the file is named after its IPNS name
        assert r.value.startswith("/ipfs/") and not r.expired()
        with pytest.raises(InvalidObject, match="signature does not verify"):
            ipns.parse_record(raw, ME.name)


SPEC_VECTORS = Path(__file__).resolve().parents[1].parent / "shared" / "ipns-vectors"
# The IPNS record spec's six test vectors (files beside the repo, in ../shared/) and the
# verdict the spec gives each: the value of a valid record, or None for an invalid one.
SPEC_VERDICTS = {
    "v1": None,  # V1 only: no signatureV2
    "v1-v2": "/ipfs/bafkqaddwgevxmmraojswg33smq",
    "v1-v2-broken-v1-value": None,  # V1 value differs from the CBOR data
    "v1-v2-broken-signature-v2": None,  # only signatureV1 is valid
    "v1-v2-broken-signature-v1": "/ipfs/bafkqahtwgevxmmrao5uxi2bamjzg623fnyqhg2lhnzqxi5lsmuqhmmi",
    "v2": "",  # V2 only, valid; the spec gives no value to compare
}


@pytest.mark.parametrize("kind", sorted(SPEC_VERDICTS))
def test_the_ipns_spec_vectors_get_the_specs_verdicts(kind: str) -> None:
    [path] = SPEC_VECTORS.glob(f"*_{kind}.ipns-record")
    name = path.name.split("_", 1)[0]
    raw = path.read_bytes()
    want = SPEC_VERDICTS[kind]
    if want is None:
        with pytest.raises(ipns.InvalidRecord):
            ipns.parse_record(raw, name)
        return
    r = ipns.parse_record(raw, name)
    assert not r.expired()
    if want:
        assert r.value == want


def test_a_record_that_verified_once_is_not_trusted_in_any_other_form() -> None:
    raw = record(data={"Sequence": 12345})
    first = ipns.parse_record(raw, ME.name)
    assert ipns.parse_record(raw, ME.name) is first  # the same bytes again: not verified again
    for i in range(len(raw)):  # any flipped bit: checked afresh (29 unsigned bytes may pass)
        flipped = bytearray(raw)
        flipped[i] ^= 0x01
        with contextlib.suppress(InvalidObject):
            assert ipns.parse_record(bytes(flipped), ME.name) is not first
    with pytest.raises(InvalidObject, match="signature does not verify"):
        ipns.parse_record(raw, OTHER.name)  # the same bytes under another name: not its record
