"""The recovery and migration vectors (FORMAT.md section 18): ipfeed still builds them byte for
byte, and an independent reader (tests/migration_reader.py) reaches the same verdicts."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import make_migration_vectors
import migration_reader
import pytest

from ipfeed import entry, kinds
from ipfeed.recovery import Claim, Commitment, decide

DATA = json.loads((Path(__file__).parent / "data" / "vectors.json").read_text())["migration"]


def test_ipfeed_still_builds_the_migration_vectors_byte_for_byte() -> None:
    assert make_migration_vectors.vectors() == DATA


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["comment"])
def test_an_independent_reader_reaches_the_vectors_verdict(case: dict[str, Any]) -> None:
    feed = bytes.fromhex(case["feed"])
    winner, competing, since = migration_reader.decide(feed, case["commitments"], case["claims"])
    assert (winner, competing) == (case["winner"], case["competing"])
    for seq, owners in case["owners"].items():
        assert owners == (since is None or int(seq) < since)
    h = bytes.fromhex
    v = decide(
        feed,
        [Commitment(c["seq"], h(c["commit"])) for c in case["commitments"]],
        [Claim(h(c["from"]), h(c["to"]), c["seq"], h(c["recovery"]), h(c["rsig"])) for c in case["claims"]],
    )
    assert (v.winner is None) == (winner is None) and v.competing == competing


def test_the_moved_from_genesis_carries_the_v2_vectors_migration_statement() -> None:
    gen = DATA["objects"][1]
    claim = migration_reader.read_moved_from(bytes.fromhex(gen["block"]), gen["cid"])
    v2 = next(
        o
        for o in json.loads((Path(__file__).parent / "data" / "vectors.json").read_text())["v2"]["objects"]
        if "kind migration" in o["comment"]
    )
    body = v2["object"]["body"]
    assert claim["rsig"] == _b64(body["rsig"]) and claim["seq"] == v2["object"]["seq"] == 11
    e = entry.parse_entry(bytes.fromhex(gen["block"]), gen["cid"])
    assert isinstance(e.body, kinds.MovedFrom) and e.body.rsig.hex() == claim["rsig"]


def test_a_followers_relay_carries_the_very_statement_of_the_genesis() -> None:
    gen, relay = DATA["objects"][1], DATA["objects"][2]
    claim = migration_reader.read_migration_seen(bytes.fromhex(relay["block"]), relay["cid"])
    assert claim == migration_reader.read_moved_from(bytes.fromhex(gen["block"]), gen["cid"])
    e = entry.parse_entry(bytes.fromhex(relay["block"]), relay["cid"])
    assert isinstance(e.body, kinds.MigrationSeen) and e.body.rsig.hex() == claim["rsig"]
    block = bytearray(bytes.fromhex(relay["block"]))
    block[-40] ^= 1  # inside the signature: the entry no longer verifies
    with pytest.raises(migration_reader.Rejected):
        migration_reader.read_migration_seen(bytes(block), relay["cid"])


@pytest.mark.parametrize("case", DATA["cases"], ids=lambda c: c["comment"])
def test_the_winner_does_not_depend_on_the_order_the_statements_were_seen_in(case: dict[str, Any]) -> None:
    h = bytes.fromhex
    feed = bytes.fromhex(case["feed"])
    commits = [Commitment(c["seq"], h(c["commit"])) for c in case["commitments"]]
    claims = [
        Claim(h(c["from"]), h(c["to"]), c["seq"], h(c["recovery"]), h(c["rsig"])) for c in case["claims"]
    ]
    verdicts = {
        (v.winner, v.competing)
        for order in itertools.permutations(claims)
        for v in [decide(feed, commits, list(order))]
    }
    assert len(verdicts) == 1


def test_the_recovery_entry_with_a_beacon_reads_the_same_both_ways() -> None:
    rec = DATA["objects"][0]
    obj = migration_reader.read_entry(bytes.fromhex(rec["block"]), rec["cid"])
    e = entry.parse_entry(bytes.fromhex(rec["block"]), rec["cid"])
    assert isinstance(e.body, kinds.Recovery) and e.body.beacon == obj["body"]["beacon"]
    assert obj["body"]["commit"] == migration_reader.commitment(
        bytes.fromhex(DATA["cases"][0]["claims"][0]["recovery"])
    )


def test_the_independent_reader_rejects_a_flipped_bit_in_the_genesis() -> None:
    gen = DATA["objects"][1]
    block = bytearray(bytes.fromhex(gen["block"]))
    block[-40] ^= 1
    with pytest.raises(migration_reader.Rejected):
        migration_reader.read_moved_from(bytes(block), gen["cid"])


def _b64(v: Any) -> str:
    import base64

    raw = v["/"]["bytes"]
    return base64.b64decode(raw + "=" * (-len(raw) % 4)).hex()
