"""Notices and inbox requests (docs/FORMAT.md section 15), pure: the vectors, checked against
ipfeed and against independent code (dag-cbor and raw libsodium); every rule broken is refused
with a reason; a profile's inbox field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dag_cbor
import nacl.bindings
import pytest
from conftest import DROP, sign_object
from hypothesis import given, settings
from hypothesis import strategies as st
from make_notice_vectors import CREATED, ENTRY, SENDER, TO, vectors

from ipfeed import codec, feed, notice
from ipfeed.errors import InvalidNotice, InvalidRoot, NewerFormat
from ipfeed.identity import Identity

STORED = json.loads((Path(__file__).parent / "data" / "vectors.json").read_text())["notices"]
NOW = CREATED + 1000
DAY = 24 * 3600 * 1000


def test_the_stored_vectors_are_what_ipfeed_writes() -> None:
    assert vectors() == STORED


@pytest.mark.parametrize("v", STORED["objects"], ids=lambda v: v["comment"])
def test_independent_code_reads_and_verifies_each_vector(v: dict[str, Any]) -> None:
    block = bytes.fromhex(v["hex"])
    obj = dag_cbor.decode(block)
    assert dag_cbor.encode(obj) == block  # canonical
    key = obj.get("from") or obj.get("feed") or obj.get("author")
    unsigned = dag_cbor.encode({k: x for k, x in obj.items() if k != "sig"})
    assert nacl.bindings.crypto_sign_open(obj["sig"] + unsigned, key) == unsigned
    if v["kind"] == "notice":
        n = notice.parse_notice(block, NOW)
        assert (n.sender, n.to, n.record.hex()) == (SENDER.public, TO.public, STORED["record"])
        assert n.entry == (ENTRY if "entry" in obj else None)
        assert obj["kind"] == ("entry" if "entry" in obj else "follow")
    elif v["kind"] == "fetch":
        assert notice.parse_fetch(block, NOW).feed == TO.public
    else:
        root = feed.parse(block, v["cid"])
        assert root.profile.inbox == (("12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA",
                                       ("/ip4/127.0.0.1/tcp/4001",)),)
        addrs = ["/ip4/127.0.0.1/tcp/4001"]
        assert obj["profile"]["inbox"] == [{"peer": root.profile.inbox[0][0], "addrs": addrs}]


def _notice(**changes: Any) -> bytes:
    obj: dict[str, Any] = {"type": "ipfeed.notice", "v": 1, "from": SENDER.public, "to": TO.public,
                           "kind": "entry", "entry": codec.cid_to_bytes(ENTRY),
                           "record": bytes.fromhex(STORED["record"]), "created": CREATED}
    obj.update(changes)
    return sign_object(obj, SENDER)


@pytest.mark.parametrize("changes, message", [
    ({"v": 2}, "newer format"),
    ({"type": "ipfeed.post"}, "type must be"),
    ({"kind": "poke"}, "kind must be"),
    ({"entry": DROP}, "entry must be present exactly"),
    ({"kind": "follow"}, "entry must be present exactly"),
    ({"to": SENDER.public}, "does not notify itself"),
    ({"created": CREATED - 8 * DAY}, "replayed old notice"),
    ({"created": NOW + DAY}, "in the future"),
    ({"record": b""}, "record must be"),
    ({"extra": 1}, "unknown field"),
    ({"from": b"\x01" * 31}, "from must be 32 bytes"),
], ids=lambda x: str(x)[:40])
def test_a_notice_breaking_a_rule_is_refused_with_the_rule(changes: dict[str, Any], message: str) -> None:
    with pytest.raises((InvalidNotice, NewerFormat), match=message):
        notice.parse_notice(_notice(**changes), NOW)


def test_a_notice_signed_by_another_key_is_refused() -> None:
    forged = sign_object({**dag_cbor.decode(_notice())}, Identity.generate())
    with pytest.raises(InvalidNotice, match="signature does not verify with the sender's key"):
        notice.parse_notice(forged, NOW)


MUTATED = {"tried": 0, "rejected": 0}


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_no_mutation_of_a_notice_is_taken(data: st.DataObject) -> None:
    from conftest import mutation

    block = _notice()
    bad = mutation(block, data)
    MUTATED["tried"] += 1
    try:
        n = notice.parse_notice(bad, NOW)
    except (InvalidNotice, NewerFormat, ValueError):
        MUTATED["rejected"] += 1
        return
    assert n.block == bad and codec.encode(dag_cbor.decode(bad)) == block  # only an equivalent encoding


def test_a_fetch_request_outside_its_window_or_by_another_key_is_refused() -> None:
    block = notice.build_fetch(TO, 0, CREATED, bytes(16))
    with pytest.raises(InvalidNotice, match="more than 5 minutes"):
        notice.parse_fetch(block, CREATED + 6 * 60 * 1000)
    forged = sign_object(dict(dag_cbor.decode(block)), SENDER)
    with pytest.raises(InvalidNotice, match="signature does not verify with the feed's key"):
        notice.parse_fetch(forged, CREATED)


@pytest.mark.parametrize("inbox, message", [
    ([], "list of 1"),
    ([{"peer": "12D3Koo W", "addrs": []}], "peer must be a peer ID"),
    ([{"peer": "12D3KooW", "addrs": ["ip4/1.2.3.4"]}], "is not a multiaddr"),
    ([{"peer": "12D3KooW", "addrs": []}] * 2, "peer listed twice"),
    ([{"peer": "12D3KooW"}], "missing field"),
], ids=lambda x: str(x)[:30])
def test_a_profile_inbox_breaking_a_rule_is_refused(inbox: list[Any], message: str) -> None:
    with pytest.raises(InvalidNotice, match=message):
        notice.inbox_peers(inbox, "profile")


def test_only_a_v2_root_may_name_an_inbox() -> None:
    v2 = bytes.fromhex(STORED["objects"][3]["hex"])
    obj = dag_cbor.decode(v2)
    obj["v"] = 1
    with pytest.raises(InvalidRoot, match="unknown field"):
        feed.parse(sign_object(obj, TO))
