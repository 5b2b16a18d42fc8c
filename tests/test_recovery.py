"""Recovery keys and the migration rules (FORMAT.md sections 8 and 18), without a node: the
phrase and the recovery file, the moved-from entry, and each priority rule and attack."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipfeed import kinds
from ipfeed.entry import build_entry, parse_entry
from ipfeed.errors import InvalidEntry, InvalidInput
from ipfeed.identity import Identity
from ipfeed.moving import claim_of_genesis
from ipfeed.recovery import Claim, Commitment, RecoveryKey, decide, load_secret, save_file

OLD = Identity.from_seed(bytes([1]) * 32)
NEW = Identity.from_seed(bytes([2]) * 32)
OTHER = Identity.from_seed(bytes([3]) * 32)
RK = RecoveryKey(bytes([9]) * 32)
THIEF_RK = RecoveryKey(bytes([8]) * 32)
COMMIT = Commitment(1, RK.commit, RK.beacon.public)


def claim(
    to: Identity = NEW,
    seq: int = 5,
    rk: RecoveryKey = RK,
    source: Identity = OLD,
    entry: str = "",
    genesis: str = "g",
) -> Claim:
    return Claim(
        source.public,
        to.public,
        seq,
        rk.key.public,
        rk.statement(source.public, to.public, seq),
        entry,
        genesis,
    )


def test_phrase_round_trips_and_tolerates_case_spaces_and_dashes() -> None:
    rk = RecoveryKey.generate()
    assert len(rk.phrase.split("-")) == 14
    assert RecoveryKey.from_phrase(rk.phrase).seed == rk.seed
    assert RecoveryKey.from_phrase(rk.phrase.upper().replace("-", " ")).seed == rk.seed


@given(st.integers(0, 55), st.sampled_from("abcdefghijklmnopqrstuvwxyz234567"))
def test_a_mistyped_phrase_is_refused_by_its_checksum(pos: int, ch: str) -> None:
    text = RK.phrase.replace("-", "")
    if text[pos] == ch:
        return
    typo = text[:pos] + ch + text[pos + 1 :]
    with pytest.raises(InvalidInput, match=r"checksum|letters"):
        RecoveryKey.from_phrase(typo)


def test_a_phrase_of_the_wrong_length_or_alphabet_is_refused() -> None:
    with pytest.raises(InvalidInput, match="56 letters"):
        RecoveryKey.from_phrase(RK.phrase[:-1])
    with pytest.raises(InvalidInput, match="a-z and the digits"):
        RecoveryKey.from_phrase("1" * 56)


def test_the_recovery_file_is_0600_never_overwritten_and_names_the_feed(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    save_file(RK, OLD.name, path)
    assert path.stat().st_mode & 0o777 == 0o600
    rk, feed = load_secret(path.read_text())
    assert (rk.seed, feed) == (RK.seed, OLD.name)
    with pytest.raises(InvalidInput, match="exists"):
        save_file(RK, OLD.name, path)
    with pytest.raises(InvalidInput, match="not a recovery file"):
        load_secret(json.dumps({"format": "other"}))


def test_the_beacon_key_is_derived_and_differs_from_the_recovery_key() -> None:
    assert RK.beacon.public == RecoveryKey(RK.seed).beacon.public
    assert RK.beacon.public != RK.key.public and RK.beacon.public != THIEF_RK.beacon.public
    assert RK.commit == kinds.recovery_commitment(RK.key.public)


def test_the_earliest_commitment_wins_a_later_one_by_a_thief_is_ignored() -> None:
    later = Commitment(7, THIEF_RK.commit)
    v = decide(OLD.public, [later, COMMIT], [claim(rk=THIEF_RK, seq=8)])
    assert v.commitment == COMMIT and v.winner is None
    assert "does not match the feed's commitment at seq 1" in v.rejected[0][1]
    assert decide(OLD.public, [later, COMMIT], [claim()]).winner == claim()


def test_a_migration_that_does_not_match_the_commitment_is_rejected() -> None:
    v = decide(OLD.public, [COMMIT], [claim(rk=THIEF_RK)])
    assert v.winner is None and "rule migration-commitment" in v.rejected[0][1]


def test_no_commitment_means_no_migration() -> None:
    v = decide(OLD.public, [], [claim()])
    assert v.winner is None and "no recovery commitment" in v.rejected[0][1]


def test_a_migration_with_a_bad_rsig_or_another_seq_is_rejected() -> None:
    good = claim()
    forged = Claim(good.source, good.to, good.seq, good.recovery, bytes(64), "", "g")
    moved_seq = Claim(good.source, good.to, good.seq + 1, good.recovery, good.rsig, "", "g")
    for c in (forged, moved_seq):
        v = decide(OLD.public, [COMMIT], [c])
        assert v.winner is None and "rule migration-rsig" in v.rejected[0][1]


def test_a_replayed_migration_has_no_effect() -> None:
    once = decide(OLD.public, [COMMIT], [claim()])
    twice = decide(OLD.public, [COMMIT], [claim(), claim(), claim(genesis="g")])
    assert once == twice and not twice.competing
    # Replayed for another feed: `from` is signed, so it moves nothing there.
    other = decide(OTHER.public, [Commitment(1, RK.commit)], [claim()])
    assert other.winner is None and "rule migration-from" in other.rejected[0][1]


def test_a_migration_must_come_after_the_commitment() -> None:
    v = decide(OLD.public, [Commitment(5, RK.commit)], [claim(seq=5)])
    assert v.winner is None and "rule migration-after" in v.rejected[0][1]


def test_two_competing_migrations_the_lower_seq_wins_and_both_are_reported() -> None:
    a, b = claim(to=NEW, seq=9), claim(to=OTHER, seq=6)
    for order in ([a, b], [b, a]):
        v = decide(OLD.public, [COMMIT], order)
        assert v.winner == b and v.competing
    # At the same seq: the lower new key (bytewise) wins, whatever the order seen.
    c, d = claim(to=NEW, seq=6), claim(to=OTHER, seq=6)
    low = min((c, d), key=lambda x: x.to)
    assert decide(OLD.public, [COMMIT], [c, d]).winner == decide(OLD.public, [COMMIT], [d, c]).winner == low


def test_what_the_old_key_signs_from_the_migration_seq_on_is_not_the_owners() -> None:
    v = decide(OLD.public, [COMMIT], [claim(seq=5, entry="bafy-carrier")])
    assert v.owners(4) and not v.owners(5) and not v.owners(6)
    assert v.owners(5, "bafy-carrier")  # the owner's own migration entry (a planned rotation)
    assert not v.owners(6, "bafy-carrier")


def test_a_moved_from_genesis_verifies_and_bad_ones_are_rejected_naming_the_rule() -> None:
    body = kinds.MovedFrom(OLD.public, RK.key.public, 5, RK.statement(OLD.public, NEW.public, 5))
    e = build_entry(NEW, seq=1, prev=None, created=1, kind=kinds.MOVED_FROM, body=body)
    assert claim_of_genesis(e.block, e.cid, OLD.public) == claim(genesis=e.cid)
    with pytest.raises(InvalidEntry, match="rule migration-from"):
        claim_of_genesis(e.block, e.cid, OTHER.public)
    thief = kinds.MovedFrom(OLD.public, THIEF_RK.key.public, 5, RK.statement(OLD.public, NEW.public, 5))
    with pytest.raises(InvalidInput, match="rule migration-rsig"):
        build_entry(NEW, seq=1, prev=None, created=1, kind=kinds.MOVED_FROM, body=thief)
    with pytest.raises(InvalidInput, match="from is the feed's own key"):
        build_entry(
            OLD,
            seq=1,
            prev=None,
            created=1,
            kind=kinds.MOVED_FROM,
            body=kinds.MovedFrom(OLD.public, RK.key.public, 5, bytes(64)),
        )
    post = build_entry(NEW, seq=1, prev=None, created=1, kind=kinds.RECOVERY, body=RK.body())
    with pytest.raises(InvalidEntry, match="must point at a moved-from entry"):
        claim_of_genesis(post.block, post.cid, OLD.public)


def test_a_recovery_body_with_a_beacon_round_trips_and_an_old_reader_form_still_parses() -> None:
    e = build_entry(OLD, seq=1, prev=None, created=1, kind=kinds.RECOVERY, body=RK.body())
    assert parse_entry(e.block).body == RK.body()
    bare = build_entry(OLD, seq=1, prev=None, created=1, kind=kinds.RECOVERY, body=kinds.Recovery(RK.commit))
    assert parse_entry(bare.block).body == kinds.Recovery(RK.commit, None)
    with pytest.raises(InvalidInput, match="beacon must be 32 bytes"):
        build_entry(
            OLD, seq=1, prev=None, created=1, kind=kinds.RECOVERY, body={"commit": RK.commit, "beacon": b"x"}
        )


def test_init_shows_the_phrase_once_commits_to_it_and_keeps_no_copy(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from ipfeed.cli import cli
    from ipfeed.entry import parse_chained
    from ipfeed.outbox import Outbox

    home = tmp_path / "h"
    out = CliRunner().invoke(cli, ["--home", str(home), "init"], env={"IPFEED_API": ""})
    assert out.exit_code == 0, out.output
    phrase = out.output.split("recovery phrase", 1)[1].splitlines()[1].strip()
    rk = RecoveryKey.from_phrase(phrase)
    box = Outbox(home / "outbox.sqlite")
    try:
        [(seq, block)] = list(box.post_blocks(0))
    finally:
        box.close()
    e = parse_chained(block)
    assert seq == 1 and e.kind == kinds.RECOVERY and e.body == rk.body()  # type: ignore[union-attr]
    for f in home.rglob("*"):  # nothing of the secret stays on the machine
        if f.is_file():
            data = f.read_bytes()
            assert rk.seed not in data and rk.seed.hex().encode() not in data
            assert phrase.encode() not in data and phrase.replace("-", "").encode() not in data
    again = CliRunner().invoke(cli, ["--home", str(home), "recovery", "setup"], env={"IPFEED_API": ""})
    assert again.exit_code != 0 and "committed to a recovery key already" in again.output
