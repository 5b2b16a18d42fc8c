"""Crash injection: kill ipfeed, or the Kubo daemon, at every step of posting and syncing,
then restart and check that nothing was lost, nothing forked, and everything converges."""

from __future__ import annotations

import json
import subprocess

import pytest
from conftest import User, run

from ipfeed import feed, node, sqlite
from ipfeed.faults import POST_STEPS, SYNC_STEPS, run_ipfeed
from ipfeed.outbox import Outbox

ROUNDS = 2  # per step and per victim
FIGURES: dict[str, int] = {"crashes": 0, "lost": 0, "duplicates": 0}


def cli(u: User, *args: str, crash: str | None = None,
        kill: str = "self") -> subprocess.CompletedProcess[str]:
    return run_ipfeed(u.env(), *args, crash=crash, kill=kill)


def test_kill_at_every_step_of_posting_loses_nothing_and_never_forks(alice: User) -> None:
    written: list[str] = []
    for step in POST_STEPS:
        for victim in ("self", "node"):
            for i in range(ROUNDS):
                text = f"crash at {step}, kill {victim}, round {i}"
                r = cli(alice, "post", text, crash=step, kill=victim)
                written.append(text)
                FIGURES["crashes"] += 1
                assert r.returncode != 0 or (step == "published" and victim == "node"), r.stderr
                if victim == "self":
                    assert r.returncode == -9, (step, r.returncode, r.stderr)
                if not node.status(alice.settings).running:
                    alice.start()
                r = cli(alice, "publish")
                assert r.returncode == 0, r.stderr
    # Invariants after 20 crashes: every post once, seq 1..n with no gap, chain verified.
    out = json.loads(alice.cli_ok("show", alice.service.identity().name, "--json", "--limit", "1000"))
    texts = [p["text"] for p in reversed(out["posts"])]
    FIGURES["lost"] += len(set(written) - set(texts))
    FIGURES["duplicates"] += len(texts) - len(set(texts))
    assert texts == written  # in order, none lost, none twice
    assert [p["seq"] for p in out["posts"]] == list(range(len(written), 0, -1))
    assert sqlite.integrity(alice.settings.outbox_path) == "ok"
    assert sqlite.integrity(alice.settings.index_path) == "ok"
    box = Outbox(alice.settings.outbox_path)
    try:
        latest = feed.parse(box.latest_root() or b"")
        assert box.drafts() == [] and box.count_posts() == len(written)
    finally:
        box.close()
    assert out["root"] == latest.cid  # IPNS converged to the head
    # The index too: a kill between signing and indexing ("sealed") once left it behind for
    # good (own posts missing from the timeline, "not a post known here" on reacting to them).
    own = json.loads(alice.cli_ok("timeline", "--json", "--limit", "1000"))["posts"]
    assert [p["text"] for p in reversed(own)] == written
    alice.cli_ok("react", own[0]["cid"])


def test_garbage_collection_after_a_crash_removes_nothing_needed(alice: User, bob: User) -> None:
    bob.connect(alice)
    alice_name = alice.service.identity().name
    bob.cli_ok("follow", "--force", alice_name)
    alice.cli_ok("post", "one")
    run(bob.service.sync())
    alice.cli_ok("post", "two")
    assert cli(bob, "sync", crash="indexed").returncode == -9  # indexed "two", pin not yet moved
    assert cli(alice, "post", "three", crash="stored").returncode == -9  # stored, not pinned
    for u in (alice, bob):
        gc = subprocess.run([node.find_ipfs(u.settings), "repo", "gc", "--quiet"],
                            env=node.ipfs_env(u.settings),
                            capture_output=True, text=True, timeout=120, check=False)
        assert gc.returncode == 0, gc.stderr
    assert cli(bob, "sync").returncode == 0  # Bob moves his pin (refetching what gc took)
    assert cli(alice, "publish").returncode == 0  # Alice re-stores "three", pins, publishes
    assert cli(bob, "sync").returncode == 0
    assert [p.text for p in bob.service.timeline(10)] == ["three", "two", "one"]
    alice.stop()

    async def held_offline(u: User, root: str) -> int:
        async with await u.kubo() as k:  # offline: only what the node itself holds
            car = await k.dag_export(root, 1 << 24, offline=True)
        return len(car)
    state = bob.service.feed_state(alice_name)
    assert state and state.pinned == state.root_cid and run(held_offline(bob, state.pinned)) > 0
    alice.start()
    assert "3 posts" in alice.cli_ok("show", alice_name)


@pytest.mark.parametrize("step", SYNC_STEPS)
def test_kill_during_sync_leaves_a_consistent_index(alice: User, bob: User, step: str) -> None:
    bob.connect(alice)
    bob.cli_ok("follow", "--force", alice.service.identity().name)
    posts = [f"p{i}" for i in range(3)]
    for text in posts:
        alice.cli_ok("post", text)
    for n in range(ROUNDS):
        if n:  # something new for each round (Bob's own follow change is indexed at once)
            posts.append(f"p{len(posts)}")
            alice.cli_ok("post", posts[-1])
        r = cli(bob, "sync", crash=step)
        FIGURES["crashes"] += 1
        assert r.returncode == -9
        assert sqlite.integrity(bob.settings.index_path) == "ok"
    assert cli(bob, "sync").returncode == 0
    assert [p.text for p in bob.service.timeline(10)] == posts[::-1]


def test_zz_print_crash_figures() -> None:
    print(f"\ncrashes injected: {FIGURES['crashes']}, posts lost: {FIGURES['lost']}, "
          f"duplicated: {FIGURES['duplicates']}")
    assert FIGURES["lost"] == 0 and FIGURES["duplicates"] == 0
