"""Homes as users run them (the managed node's real defaults, changed only to keep packets on
loopback): several homes on one machine, peerings across restarts, honest sync status."""

from __future__ import annotations

import json
import socket
from typing import Any

from conftest import User, run


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def name_of(u: User) -> str:
    return u.service.identity().name


def test_peered_homes_restart_and_the_first_sync_afterwards_succeeds(make_user: Any) -> None:
    alice = make_user("alice", defaults="real", port=free_port())
    bob = make_user("bob", defaults="real", port=free_port())
    alice.cli_ok("node", "peer", "add", bob.addr())
    bob.cli_ok("node", "peer", "add", alice.addr())
    alice.cli_ok("post", "before the restart")
    for u in (alice, bob):
        u.stop()
    for u in (alice, bob):  # Peering.Peers connects them while they start
        u.start()
    alice.cli_ok("post", "right after the restart")
    bob.cli_ok("follow", name_of(alice))
    r = bob.cli("sync", "--json")
    assert r.exit_code == 0, r.output
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    hers = rows[name_of(alice)]
    assert rows[name_of(bob)]["error"] is None
    assert hers["error"] is None and hers["new_posts"] == 2, r.output
    assert [p.text for p in bob.service.timeline(5)] == ["right after the restart", "before the restart"]


def test_two_homes_asking_for_the_same_port_both_run_connect_and_sync(make_user: Any) -> None:
    port = 4001  # what every home asks for by default (on 127.0.0.1 here: nothing leaves)
    first = make_user("first", defaults="real", port=port, start=False)
    second = make_user("second", defaults="real", port=port, start=False)
    notes = [first.start().notes, second.start().notes]
    ports = {u.home.name: int(u.addr().split("/tcp/")[1].split("/")[0]) for u in (first, second)}
    assert ports["first"] != ports["second"]
    assert any("is taken" in n and f"uses port {ports['second']}" in n for n in notes[1]), notes
    assert f"/ip4/127.0.0.1/tcp/{ports['second']}/p2p/" in second.cli_ok("node", "addrs")
    second.cli_ok("node", "connect", first.addr())  # not "dial to self attempted"
    first.cli_ok("post", "hello, neighbour")
    second.cli_ok("follow", name_of(first))
    r = second.cli("sync", name_of(first))
    assert r.exit_code == 0 and "1 new posts" in r.stdout, r.output


def test_a_sync_that_cannot_reach_a_feed_exits_4_naming_it(make_user: Any) -> None:
    alice = make_user("alice", defaults="real")
    bob = make_user("bob", defaults="real")
    bob.settings = bob.settings.with_(resolve_timeout=3.0)
    bob.connect(alice)
    alice.cli_ok("post", "one")
    bob.cli_ok("follow", name_of(alice))
    assert bob.cli("sync").exit_code == 0
    nobody = make_user("nobody", start=False).service.identity().name  # never published
    r = bob.cli("sync", nobody)
    assert r.exit_code == 4 and nobody in r.stderr and "FAILED" in r.stderr, r.output
    run(bob.service.follow(nobody, force=True))
    alice.stop()  # Bob's only peer: his node can now check nothing but its own copies
    r = bob.cli("sync", "--json")  # every follow, now, whatever the backoff says
    assert r.exit_code == 4, r.output
    rows = {x["name"]: x for x in json.loads(r.stdout)}
    assert set(rows) == {name_of(alice), name_of(bob), nobody}
    assert rows[name_of(bob)]["error"] is None and "no peers" in rows[name_of(alice)]["error"]
    again = bob.cli("sync")  # an explicit sync tries again at once: not "waiting until retry"
    assert again.exit_code == 4 and "waiting until retry" not in again.output, again.output
    status = json.loads(bob.cli_ok("status", "--json"))
    [row] = [x for x in status if x["name"] == name_of(alice)]
    assert row["state"] == "failing" and row["count"] == 1 and row["last_error"]
    assert "OK" not in bob.cli_ok("status").split(name_of(alice))[1].splitlines()[0]
