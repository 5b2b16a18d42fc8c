"""Build the recovery and migration vectors (docs/FORMAT.md section 18) with ipfeed: a recovery
entry with a beacon, the moved-from genesis carrying the same statement as the v2 vectors'
migration entry (seq 11), a follower's migration-seen entry relaying it, and one case per
priority rule with the verdict.

`python tests/make_migration_vectors.py` writes them into tests/data/vectors.json (key
`migration`). Deterministic (fixed seeds and times). tests/test_migration_vectors.py checks that
ipfeed still builds them and that independent code (tests/migration_reader.py) agrees.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ipfeed import entry, kinds
from ipfeed.identity import Identity
from ipfeed.recovery import Claim, Commitment, RecoveryKey, decide

DATA = Path(__file__).parent / "data" / "vectors.json"
OLD = Identity.from_seed(bytes(range(32)))  # the v2 vectors' feed key
RK = RecoveryKey(bytes([9]) * 32)  # the v2 vectors' recovery seed: its key signs
THIEF = RecoveryKey(bytes([8]) * 32)  # a recovery key the feed never committed to first
NEW = Identity.from_seed(bytes([10]) * 32)
OTHER = Identity.from_seed(bytes([12]) * 32)
FRIEND = Identity.from_seed(bytes([13]) * 32)  # a follower's feed that relays the migration
T0 = 1700000020000


def _claim(
    to: Identity, seq: int, rk: RecoveryKey = RK, source: Identity = OLD, rsig: bytes | None = None
) -> dict[str, Any]:
    sig = rsig if rsig is not None else rk.statement(source.public, to.public, seq)
    return {
        "from": source.public.hex(),
        "to": to.public.hex(),
        "seq": seq,
        "recovery": rk.key.public.hex(),
        "rsig": sig.hex(),
    }


def _commit(seq: int, rk: RecoveryKey = RK) -> dict[str, Any]:
    return {"seq": seq, "commit": rk.commit.hex()}


CASES: list[tuple[str, list[dict[str, Any]], list[dict[str, Any]], list[int]]] = [
    (
        "a migration by the committed recovery key: the old key's entries from its seq on are not the owner",
        [_commit(8)],
        [_claim(NEW, 11)],
        [10, 11, 12],
    ),
    (
        "the earliest commitment wins: a later commitment to a thief's recovery key is ignored",
        [_commit(8), _commit(9, THIEF)],
        [_claim(OTHER, 10, THIEF)],
        [9, 10],
    ),
    (
        "a migration that does not match the commitment is rejected (rule migration-commitment)",
        [_commit(8)],
        [_claim(OTHER, 11, THIEF)],
        [11],
    ),
    ("a feed with no commitment cannot migrate (rule migration-commitment)", [], [_claim(NEW, 11)], [11]),
    (
        "a migration whose rsig is not over its own from, to and seq is rejected (rule migration-rsig)",
        [_commit(8)],
        [_claim(NEW, 12, rsig=RK.statement(OLD.public, NEW.public, 11))],
        [12],
    ),
    (
        "a migration at or before the commitment's seq is rejected (rule migration-after)",
        [_commit(8)],
        [_claim(NEW, 8)],
        [8],
    ),
    (
        "a replayed migration has no effect: the same statement twice is one",
        [_commit(8)],
        [_claim(NEW, 11), _claim(NEW, 11)],
        [11],
    ),
    (
        "a migration of another feed replayed here moves nothing (rule migration-from)",
        [_commit(8)],
        [_claim(NEW, 11, source=OTHER)],
        [11],
    ),
    (
        "two competing migrations: the lower seq wins, both are reported",
        [_commit(8)],
        [_claim(NEW, 14), _claim(OTHER, 11)],
        [10, 11, 14],
    ),
    (
        "two competing migrations seen in the other order: the same winner (the lower seq)",
        [_commit(8)],
        [_claim(OTHER, 11), _claim(NEW, 14)],
        [10, 11, 14],
    ),
    (
        "the losing migration replayed after the winner changes nothing",
        [_commit(8)],
        [_claim(OTHER, 11), _claim(NEW, 14), _claim(OTHER, 11), _claim(NEW, 14)],
        [11, 14],
    ),
    (
        "two competing migrations at one seq: the lower new key (bytewise) wins, both are reported",
        [_commit(8)],
        [_claim(OTHER, 11), _claim(NEW, 11)],
        [11],
    ),
]


def _as_claim(c: dict[str, Any]) -> Claim:
    h = bytes.fromhex
    return Claim(h(c["from"]), h(c["to"]), c["seq"], h(c["recovery"]), h(c["rsig"]))


def cases() -> list[dict[str, Any]]:
    """Every rule case with ipfeed's verdict."""
    out = []
    for comment, commits, claims, probe in CASES:
        v = decide(
            OLD.public,
            [Commitment(c["seq"], bytes.fromhex(c["commit"])) for c in commits],
            [_as_claim(c) for c in claims],
        )
        winner = (
            None if v.winner is None else next(i for i, c in enumerate(claims) if _as_claim(c) == v.winner)
        )
        out.append(
            {
                "comment": comment,
                "feed": OLD.public.hex(),
                "commitments": commits,
                "claims": claims,
                "winner": winner,
                "competing": v.competing,
                "owners": {str(s): v.owners(s) for s in probe},
            }
        )
    return out


def objects() -> list[dict[str, Any]]:
    """The recovery entry with a beacon, the moved-from genesis and a follower's migration-seen
    entry relaying the same statement (blocks in hex)."""
    rec = entry.build_entry(OTHER, seq=1, prev=None, created=T0, kind=kinds.RECOVERY, body=RK.body())
    body = kinds.MovedFrom(OLD.public, RK.key.public, 11, RK.statement(OLD.public, NEW.public, 11))
    gen = entry.build_entry(NEW, seq=1, prev=None, created=T0 + 1000, kind=kinds.MOVED_FROM, body=body)
    seen = kinds.MigrationSeen(OLD.public, NEW.public, 11, RK.key.public, body.rsig)
    relay = entry.build_entry(
        FRIEND, seq=1, prev=None, created=T0 + 2000, kind=kinds.MIGRATION_SEEN, body=seen
    )
    return [
        {
            "comment": "entry seq 1, kind recovery with a beacon (seed 0c x 32 commits to seed 09 x 32)",
            "block": rec.block.hex(),
            "cid": rec.cid,
            "beacon_name": RK.beacon.name,
        },
        {
            "comment": "entry seq 1 of key 0a x 32, kind moved-from: the v2 feed moved from its seq 11",
            "block": gen.block.hex(),
            "cid": gen.cid,
        },
        {
            "comment": "entry seq 1 of key 0d x 32, kind migration-seen: a follower relays that statement",
            "block": relay.block.hex(),
            "cid": relay.cid,
        },
    ]


def vectors() -> dict[str, Any]:
    """The `migration` section of vectors.json."""
    return {
        "comment": "FORMAT.md section 18; seeds: feed 00..1f, recovery 09 x 32, thief's recovery 08 x 32, "
        "new key 0a x 32, other key 0c x 32, relaying friend 0d x 32",
        "recovery_seed": RK.seed.hex(),
        "objects": objects(),
        "cases": cases(),
    }


if __name__ == "__main__":
    data = json.loads(DATA.read_text())
    data["migration"] = vectors()
    DATA.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
