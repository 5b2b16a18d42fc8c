"""Recovery and migration across real nodes (FORMAT.md section 18): Alice loses her key,
recovers on a fresh home with her recovery secret, Bob's and Carol's nodes follow her new name
by themselves with her history kept, and a thief posting with the old key is flagged on both."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import DEFAULTS, User, run

from ipfeed import kinds
from ipfeed.recovery import RecoveryKey, load_secret


def _posts_of(u: User, name: str) -> list[tuple[str, str | None]]:
    return [(p.text, p.not_owner) for p in u.service.feed_posts(name, 50)]


def _connect_all(users: list[User]) -> None:
    for i, a in enumerate(users):
        for b in users[i + 1 :]:
            a.connect(b)  # one at a time (KUBO-NOTES)


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_alice_recovers_and_her_followers_move_with_history_and_flag_the_thief(
    make_user: Any, tmp_path: Path, defaults: str
) -> None:
    alice = make_user("alice", init=False, defaults=defaults)
    secret = tmp_path / "alice-recovery.json"
    out = alice.cli_ok("init", "--name", "Alice", "--recovery-file", str(secret))
    assert "recovery secret written to" in out and secret.stat().st_mode & 0o777 == 0o600
    rk, named = load_secret(secret.read_text())
    old = alice.service.identity().name
    assert named == old and rk.phrase not in out  # the secret is in the file, not on the screen
    bob, carol = make_user("bob", defaults=defaults), make_user("carol", defaults=defaults)
    _connect_all([alice, bob, carol])
    for u in (bob, carol):
        run(u.service.publish())
    alice.cli_ok("post", "before the loss", "--no-card")
    run(bob.service.follow(old, "ally"))
    run(carol.service.follow(old))
    for u in (bob, carol):
        run(u.service.sync(force=True))
        assert _posts_of(u, old) == [("before the loss", None)]

    # Alice's machine is gone; a thief kept a copy of her key.
    thief = make_user("thief", init=False, defaults=defaults)
    thief.home.mkdir(parents=True, exist_ok=True)
    shutil.copy(alice.settings.key_path, thief.settings.key_path)
    alice.stop()
    alice2 = make_user("alice2", init=False, defaults=defaults)
    _connect_all([alice2, bob, carol, thief])
    recovered = alice2.cli_ok("recover", old, "--secret-file", str(secret))
    new = alice2.service.identity().name
    assert new != old and f"recovered {old} as {new}" in recovered
    assert alice2.service.own_profile().name == "Alice"  # the profile name is carried over
    # Run again (as after a failed publish): it finishes the same recovery, never a second key.
    assert f"recovered {old} as {new}" in alice2.cli_ok("recover", old, "--secret-file", str(secret))
    assert "has a feed key already" in bob.cli("recover", old, "--secret-file", str(secret)).output

    for u in (bob, carol):
        run(u.service.sync(force=True))
        names = {f.name: f.alias for f in u.service.follows()}
        assert old not in names and new in names  # the follow moved, published
        assert u.service.moved_to(old) == (new, 3)  # recovery (1), post (2): from 3 on, not hers
        assert ("before the loss", None) in _posts_of(u, old)  # the history is kept
        assert "before the loss" in [p.text for p in u.service.timeline()]
    assert {f.name: f.alias for f in bob.service.follows()}[new] == "ally"
    shown = json.loads(carol.cli_ok("show", carol.service.identity().name, "--json"))
    assert shown  # Carol's own feed (with the new follow list) still verifies

    thief.cli_ok("post", "send me your coins", "--no-card")
    alice2.cli_ok("post", "I am back", "--no-card")
    for u in (bob, carol):
        run(u.service.sync(force=True))
        assert ("send me your coins", new) in _posts_of(u, old)  # flagged: not the owner's
        assert ("before the loss", None) in _posts_of(u, old)
        assert ("I am back", None) in _posts_of(u, new)
        flagged = [p for p in u.service.timeline() if p.text == "send me your coins"]
        assert [p.not_owner for p in flagged] == [new]
    line = next(
        ln
        for ln in bob.cli_ok("timeline").splitlines()
        if "send me your coins" in ln or "NOT THE OWNER" in ln
    )
    assert "NOT THE OWNER" in line
    shown = carol.cli_ok("show", old)
    assert f"moved to {new}" in shown and shown.count("NOT THE OWNER'S") == 1
    as_json = json.loads(carol.cli_ok("show", old, "--json"))
    assert as_json["moved_to"] == {"name": new, "seq": 3}
    assert {p["text"]: p["not_owner"] for p in as_json["posts"]} == {
        "send me your coins": new,
        "before the loss": None,
    }


def test_a_thief_with_only_the_old_key_cannot_migrate_and_a_second_commitment_is_ignored(
    make_user: Any, tmp_path: Path
) -> None:
    alice = make_user("alice", init=False)
    alice.cli_ok("init", "--name", "Alice", "--recovery-file", str(tmp_path / "r.json"))
    old = alice.service.identity().name
    bob = make_user("bob")
    bob.connect(alice)
    run(bob.service.publish())
    run(bob.service.follow(old))
    # The thief (Alice's key, not her recovery key) commits to a recovery key of its own:
    # refused by ipfeed, and ignored by readers if written by hand.
    thief_rk = RecoveryKey.generate()
    with pytest.raises(Exception, match="committed to a recovery key already"):
        alice.service.recovery_commit(thief_rk)
    from ipfeed.interact import save_identity_entry

    save_identity_entry(
        alice.service.home, alice.service.identity(), kinds.RECOVERY, kinds.body_obj(thief_rk.body()) or {}
    )
    run(alice.service.publish())
    # ... writes a migration to a key of its own into the old chain, signed by that recovery key
    # (a valid entry by section 8, but not against the earliest commitment) ...
    seq = alice.service.feed_state(old).count + 1  # type: ignore[union-attr]
    thief_key = RecoveryKey.generate().key
    body = {
        "to": thief_key.public,
        "recovery": thief_rk.key.public,
        "rsig": thief_rk.statement(alice.service.identity().public, thief_key.public, seq),
    }
    save_identity_entry(alice.service.home, alice.service.identity(), kinds.MIGRATION, body, at_seq=seq)
    run(alice.service.publish())
    alice.cli_ok("post", "still the old key", "--no-card")
    # ... and then "recovers" with it on a fresh home: refused there, and if it were done by
    # hand, Bob's node would reject it against the earliest commitment.
    evil = make_user("evil", init=False)
    _connect_all([evil, alice, bob])
    r = evil.cli("recover", old, "--secret-file", _write(tmp_path / "t.txt", thief_rk.phrase))
    assert r.exit_code != 0 and "does not match the commitment" in r.output
    run(bob.service.sync(force=True))
    assert bob.service.moved_to(old) is None
    assert old in {f.name for f in bob.service.follows()}
    assert ("still the old key", None) in _posts_of(bob, old)  # nothing moved: nothing flagged
    problem = bob.service.migration_problems(old)
    assert problem and "does not match the feed's commitment at seq 1 (rule migration-commitment)" in problem
    assert "rule migration-commitment" in bob.cli_ok("show", old)


def _alice_and_friends(
    make_user: Any, tmp_path: Path, *friends: str, defaults: str = "test"
) -> tuple[User, Path, str, list[User]]:
    """Alice, initialised with a recovery file, and friends connected to her, each published."""
    alice = make_user("alice", init=False, defaults=defaults)
    secret = tmp_path / "r.json"
    alice.cli_ok("init", "--name", "Alice", "--recovery-file", str(secret))
    users = [make_user(f, defaults=defaults) for f in friends]
    _connect_all([alice, *users])
    for u in users:
        run(u.service.publish())
    return alice, secret, alice.service.identity().name, users


def _beacon_checked(u: User, name: str) -> int:
    with u.service.home.index() as index:
        return int(index.db.execute("SELECT at FROM beacon_checks WHERE name = ?", (name,)).fetchone()[0])


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_planned_rotation_moves_followers_and_a_replayed_sync_changes_nothing(
    make_user: Any, tmp_path: Path
) -> None:
    alice, secret, old, (bob, carol) = _alice_and_friends(make_user, tmp_path, "bob", "carol")
    run(alice.service.follow(carol.service.identity().name, "cc"))
    alice.cli_ok("post", "old key, last post", "--no-card")
    run(bob.service.follow(old))
    run(bob.service.sync(force=True))
    out = alice.cli_ok("key", "rotate", "--secret-file", str(secret))
    new = alice.service.identity().name
    assert new != old and f"moved to {new} from seq 3" in out  # recovery, post, migration
    assert (alice.home / "retired" / old / "identity.key").exists()
    assert {f.name: f.alias for f in alice.service.follows()} == {carol.service.identity().name: "cc"}
    alice.cli_ok("post", "new key, first post", "--no-card")
    run(bob.service.sync(force=True))
    assert bob.service.moved_to(old) == (new, 3)
    assert new in {f.name for f in bob.service.follows()}
    assert ("old key, last post", None) in _posts_of(bob, old)
    assert ("new key, first post", None) in _posts_of(bob, new)
    # The same migration seen again (the beacon, the old chain, the stored verdict): no effect,
    # not even a new follow-list root.
    before = bob.service.feed_state(bob.service.identity().name)
    assert run(bob.service.follow_moves()) == []
    checked = _beacon_checked(bob, old)
    assert run(bob.service.follow_moves(force=False)) == []  # a home server's round: not due yet
    assert _beacon_checked(bob, old) == checked
    run(bob.service.sync(force=True))
    after = bob.service.feed_state(bob.service.identity().name)
    assert before is not None and after is not None and before.root_cid == after.root_cid


def test_two_competing_migrations_the_lower_seq_wins_on_every_follower(
    make_user: Any, tmp_path: Path
) -> None:
    alice, secret, old, (bob,) = _alice_and_friends(make_user, tmp_path, "bob")
    for text in ("one", "two"):
        alice.cli_ok("post", text, "--no-card")
    run(bob.service.follow(old, "al"))
    run(bob.service.sync(force=True))
    first = make_user("first", init=False)
    _connect_all([first, alice, bob])
    first.cli_ok("recover", old, "--secret-file", str(secret))  # from seq 4
    k2 = first.service.identity().name
    run(bob.service.sync(force=True))
    assert bob.service.moved_to(old) == (k2, 4) and not bob.service.competing_moves(old)
    # The recovery secret is used again elsewhere, disowning from seq 3: that one wins.
    first.stop()
    second = make_user("second", init=False)
    _connect_all([second, alice, bob])
    second.cli_ok("recover", old, "--since", "3", "--secret-file", str(secret))
    k3 = second.service.identity().name
    run(bob.service.sync(force=True))
    assert bob.service.moved_to(old) == (k3, 3) and bob.service.competing_moves(old)
    assert {f.name: f.alias for f in bob.service.follows()} == {k3: "al"}
    assert [(t, o) for t, o in _posts_of(bob, old)] == [("two", k3), ("one", None)]
    assert "competing migrations" in bob.cli_ok("show", old)


def _relays(u: User, name: str) -> list[dict[str, Any]]:
    """The migration-seen entries of feed `name` that `u`'s index verified (bodies, hex)."""
    with u.service.home.index() as index:
        rows = index.db.execute(
            "SELECT body FROM identity_entries WHERE name = ? AND kind = ?", (name, kinds.MIGRATION_SEEN)
        ).fetchall()
    return [json.loads(r[0]) for r in rows]


@pytest.mark.parametrize("defaults", DEFAULTS)
def test_a_follower_that_finds_no_beacon_moves_through_a_friends_relay(
    make_user: Any, tmp_path: Path, defaults: str
) -> None:
    alice, secret, old, (bob, carol) = _alice_and_friends(
        make_user, tmp_path, "bob", "carol", defaults=defaults
    )
    alice.cli_ok("post", "before the loss", "--no-card")
    bob_name = bob.service.identity().name
    run(bob.service.follow(old))
    run(carol.service.follow(old, "al"))
    run(carol.service.follow(bob_name))
    for u in (bob, carol):
        run(u.service.sync(force=True))
    checked = _beacon_checked(carol, old)  # Carol looked the beacon up: nothing there yet

    alice.stop()
    alice2 = make_user("alice2", init=False, defaults=defaults)
    _connect_all([alice2, bob, carol])
    alice2.cli_ok("recover", old, "--secret-file", str(secret))
    new = alice2.service.identity().name
    run(bob.service.sync(force=True))  # Bob finds it through the beacon ...
    assert bob.service.moved_to(old) == (new, 3)
    # ... and relays it in his own chain, with his follow-list change
    assert [(r["from"], r["to"], r["seq"]) for r in _relays(bob, bob_name)] == [
        (_key_hex(old), _key_hex(new), 3)
    ]
    # Carol's home server round does not look the beacon up again (not due for an hour): she
    # moves through Bob's feed alone, which she reads anyway.
    run(carol.service.sync([bob_name]))
    assert _relays(carol, bob_name)
    assert [m.new for m in run(carol.service.follow_moves(force=False))] == [new]
    assert _beacon_checked(carol, old) == checked
    assert carol.service.moved_to(old) == (new, 3)
    assert {f.name: f.alias for f in carol.service.follows()} == {new: "al", bob_name: ""}
    assert ("before the loss", None) in _posts_of(carol, old)
    # Carol forwards it too; Bob reading it again changes nothing (not even a new root).
    carol_name = carol.service.identity().name
    assert len(_relays(carol, carol_name)) == 1
    before = bob.service.feed_state(bob_name)
    run(bob.service.sync([carol_name]))
    assert run(bob.service.follow_moves(force=False)) == []
    after = bob.service.feed_state(bob_name)
    assert before is not None and after is not None and before.root_cid == after.root_cid


def _key_hex(name: str) -> str:
    return _key(name).hex()


def test_competing_migrations_reach_one_winner_whichever_a_follower_saw_first(
    make_user: Any, tmp_path: Path
) -> None:
    alice, secret, old, (bob, carol) = _alice_and_friends(make_user, tmp_path, "bob", "carol")
    for text in ("one", "two"):
        alice.cli_ok("post", text, "--no-card")
    bob_name, carol_name = bob.service.identity().name, carol.service.identity().name
    run(bob.service.follow(old, "al"))
    run(carol.service.follow(old, "ally"))
    for u in (bob, carol):
        run(u.service.sync(force=True))
    first = make_user("first", init=False)
    _connect_all([first, alice, bob, carol])
    first.cli_ok("recover", old, "--secret-file", str(secret))  # disowns from seq 4
    k2 = first.service.identity().name
    run(bob.service.sync(force=True))  # Bob sees this one first
    assert bob.service.moved_to(old) == (k2, 4)
    first.stop()
    second = make_user("second", init=False)
    _connect_all([second, alice, bob, carol])
    second.cli_ok("recover", old, "--since", "3", "--secret-file", str(secret))
    k3 = second.service.identity().name
    run(carol.service.sync(force=True))  # Carol sees only the second one, through the beacon
    assert carol.service.moved_to(old) == (k3, 3) and not carol.service.competing_moves(old)
    # Now each reads the other's feed (and with it the statement the other relays).
    run(carol.service.follow(bob_name))
    run(carol.service.sync([bob_name]))
    assert run(carol.service.follow_moves(force=False)) != []  # the same winner, now competing
    run(bob.service.follow(carol_name))
    run(bob.service.sync([carol_name]))
    assert [m.new for m in run(bob.service.follow_moves(force=False))] == [k3]
    for u, alias in ((bob, "al"), (carol, "ally")):
        assert u.service.moved_to(old) == (k3, 3) and u.service.competing_moves(old)
        assert {
            f.name: f.alias for f in u.service.follows() if f.name != carol_name and f.name != bob_name
        } == {k3: alias}
        assert _posts_of(u, old) == [("two", k3), ("one", None)]


def test_a_follower_whose_beacon_lookup_fails_moves_through_a_friends_relay(
    make_user: Any, tmp_path: Path
) -> None:
    """The real failure: Alice's new home announced the beacon with a short lifetime and has been
    offline longer than that, so Carol's DHT lookup finds nothing valid; Bob, who moved in time,
    relays it, and Carol moves when she syncs Bob."""
    alice, secret, old, (bob, carol) = _alice_and_friends(make_user, tmp_path, "bob", "carol")
    bob_name = bob.service.identity().name
    run(bob.service.follow(old))
    run(carol.service.follow(old))
    run(carol.service.follow(bob_name))
    for u in (bob, carol):
        run(u.service.sync(force=True))
    alice.stop()
    alice2 = make_user("alice2", init=False)
    # Records that live 20 s, set after the node started: ipfeed itself refuses a lifetime
    # shorter than Kubo's republish period (at least 1 min) at start, and a test that waits
    # out a minute-long record costs a minute. Kubo does not republish them: Alice goes away.
    alice2.settings = alice2.settings.with_(ipns_lifetime="20s", ipns_ttl="1s")
    _connect_all([alice2, bob, carol])
    rk = load_secret(secret.read_text())[0]
    run(alice2.service.recover(rk, old))  # the service: these settings (the CLI takes the environment's)
    announced = time.monotonic()
    new = alice2.service.identity().name
    run(bob.service.sync(force=True))
    assert bob.service.moved_to(old) == (new, 2)
    alice2.stop()
    time.sleep(max(0.0, announced + 22 - time.monotonic()))  # bounded: the beacon record's lifetime
    assert run(_lookup(carol, rk.beacon.name)) != "valid"
    run(carol.service.sync(force=True))  # looks the beacon up (forced), finds nothing, reads Bob
    assert carol.service.moved_to(old) == (new, 2)
    assert new in {f.name for f in carol.service.follows()}


async def _lookup(u: User, name: str) -> str:
    """What `u`'s node finds for an IPNS name: "valid", "expired" or why nothing."""
    from ipfeed.errors import IpfeedError
    from ipfeed.ipfs import Kubo
    from ipfeed.ipns import parse_record

    async with Kubo(u.api, 20.0) as kubo:
        try:
            record = parse_record(await kubo.name_get(name, 10.0), name)
        except IpfeedError as e:
            return str(e)
    return "expired" if record.expired() else "valid"


def test_a_relay_of_a_migration_not_signed_by_the_committed_key_moves_nobody(
    make_user: Any, tmp_path: Path
) -> None:
    from ipfeed.interact import save_identity_entry

    alice, _, old, (bob, mallory) = _alice_and_friends(make_user, tmp_path, "bob", "mallory")
    alice.cli_ok("post", "mine", "--no-card")
    mallory_name = mallory.service.identity().name
    run(bob.service.follow(old))
    run(bob.service.follow(mallory_name))
    # Mallory (no key of Alice's at all) relays a "migration" of Alice's feed to her own key,
    # signed by a recovery key of her own: a valid migration-seen entry of Mallory's feed.
    fake = RecoveryKey.generate()
    me = mallory.service.identity()
    statement = {"from": _key(old), "to": me.public, "seq": 2, "recovery": fake.key.public}
    statement["rsig"] = fake.statement(_key(old), me.public, 2)
    save_identity_entry(mallory.service.home, me, kinds.MIGRATION_SEEN, statement)
    run(mallory.service.publish())
    run(bob.service.sync(force=True))
    assert _relays(bob, mallory_name)  # Bob read it ...
    assert bob.service.moved_to(old) is None  # ... and it moved nothing
    assert {f.name for f in bob.service.follows()} == {old, mallory_name}
    assert ("mine", None) in _posts_of(bob, old)
    problem = bob.service.migration_problems(old)
    assert problem and "does not match the feed's commitment at seq 1 (rule migration-commitment)" in problem


def _key(name: str) -> bytes:
    from ipfeed.identity import public_from_name

    return public_from_name(name)


def test_a_home_server_round_does_not_wait_for_a_beacon_lookup_the_next_round_moves(
    make_user: Any, tmp_path: Path
) -> None:
    from ipfeed import moving

    alice, secret, old, (bob,) = _alice_and_friends(make_user, tmp_path, "bob")
    run(bob.service.follow(old, "al"))
    run(bob.service.sync([old]))  # only the feed: its beacon not looked up yet
    run(bob.service.republish())  # Bob keeps Alice's record for the network (as his rounds do)
    alice.stop()
    alice2 = make_user("alice2", init=False)
    _connect_all([alice2, bob])
    alice2.cli_ok("recover", old, "--secret-file", str(secret))
    new = alice2.service.identity().name
    svc = bob.service

    async def rounds() -> tuple[list[Any], list[Any], list[Any]]:
        first = await svc.follow_moves(force=False)  # the beacon is due: looked up in the background
        await moving.lookups_done(svc.home)
        second = await svc.follow_moves(force=False)  # decides on what the lookup kept
        return first, second, await svc.follow_moves(force=False)

    first, second, third = run(rounds())
    assert first == [] and _beacon_checked(bob, old)
    assert [(m.old, m.new, m.seq) for m in second] == [(old, new, 2)]
    assert third == []  # the kept genesis again: a replay
    assert {f.name: f.alias for f in bob.service.follows()} == {new: "al"}
