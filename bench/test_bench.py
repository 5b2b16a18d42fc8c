"""Checks of the bench's pure helpers (`.venv/bin/pytest bench`): no daemons, no timing thresholds."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import cbrrr
import pytest

from ipfeed import codec, post
from ipfeed.identity import Identity
from ipfeed.ipfs import Kubo

from . import calls, posts
from .bulk import end_to_end_case
from .calls import Call
from .car import car_bytes, varint
from .cli import Walk
from .homes import new_home, set_follows
from .peers import rows as peer_rows
from .peers import runner
from .report import Row, notes, p95, percentile, table
from .syncing import first_sync_case


@pytest.mark.parametrize(("n", "encoded"), [(0, "00"), (1, "01"), (127, "7f"), (128, "8001"),
                                            (300, "ac02"), (16384, "808001")])
def test_varint_matches_unsigned_varint_vectors(n: int, encoded: str) -> None:
    assert varint(n).hex() == encoded


def _read_varint(buf: bytes, i: int) -> tuple[int, int]:
    return codec.read_varint(buf, i, "test")


def test_car_holds_header_and_every_block_with_its_cid() -> None:
    chain = posts.chain(Identity.from_seed(bytes(32)), 3)
    root = codec.cid_to_bytes(chain[-1].cid)
    data = car_bytes([root], [p.block for p in chain])
    size, i = _read_varint(data, 0)
    header = cbrrr.decode_dag_cbor(data[i:i + size])
    assert header == {"version": 1, "roots": [cbrrr.CID(root)]}
    i += size
    found = []
    while i < len(data):
        size, i = _read_varint(data, i)
        cid, block = data[i:i + codec.CID_BYTES], data[i + codec.CID_BYTES:i + size]
        assert codec.cid_bytes_of(block) == cid
        found.append(post.parse(block).seq)
        i += size
    assert found == [1, 2, 3]


def test_ratios_read_as_speedups_for_rates_and_latencies() -> None:
    assert Row("r", "/s", ipfeed=50, limit=100).vs_limit == 0.5
    assert Row("l", "ms", ipfeed=20, baseline=60).vs_baseline == 3.0
    assert Row("none", "/s", limit=10).vs_limit is None


def test_p95_is_nearest_rank() -> None:
    assert p95([float(x) for x in range(1, 21)]) == 19.0
    assert p95([5.0]) == 5.0


def test_table_lists_every_case() -> None:
    out = table([Row("a case", "ms", ipfeed=1.0, baseline=2.0), Row("another", "/s", limit=3.0)])
    assert "a case" in out and "another" in out and "2.00x" in out


def test_percentile_is_nearest_rank() -> None:
    xs = [float(x) for x in range(1, 201)]
    assert percentile(xs, 50) == 100.0
    assert percentile(xs, 99) == 198.0
    assert percentile([7.0], 99) == 7.0


def test_round_trips_count_overlapping_calls_once() -> None:
    # The shape of `show`: the root, then 20 posts 16 at a time (the 17th starts when one ends).
    page = [Call("block_get", 0.0, 1.0)]
    page += [Call("block_get", 1.0, 2.0 + i / 100) for i in range(16)]
    page += [Call("block_get", 2.0 + i / 100, 3.0) for i in range(4)]
    assert calls.sequential(page) == 3
    assert calls.sequential([Call("a", 0, 1), Call("b", 0.5, 2), Call("c", 1, 3)]) == 2
    assert calls.sequential([]) == 0


def test_waited_counts_overlapping_time_once() -> None:
    assert calls.waited([Call("a", 0, 2), Call("b", 1, 3), Call("c", 5, 6)]) == 4
    assert calls.total([Call("a", 0, 2), Call("a", 1, 3), Call("b", 5, 6)], "a") == 4


def test_recorded_puts_kubo_back_as_it_was() -> None:
    before = dict(vars(Kubo))
    with calls.recorded():
        assert Kubo.block_get is not before["block_get"]
    assert dict(vars(Kubo)) == before


def test_cli_walk_extrapolates_per_post() -> None:
    assert Walk(resolve_s=1.0, posts=10, posts_s=2.0).seconds_for(100) == 21.0


def test_lower_is_better_for_latencies_round_trips_and_memory() -> None:
    assert Row("t", "trips", ipfeed=3, baseline=21).vs_baseline == 7.0
    assert Row("m", "MB", ipfeed=100, limit=50).vs_limit == 0.5
    assert Row("s", "s", ipfeed=2, baseline=4).vs_baseline == 2.0


def test_table_shows_targets_and_numbers_the_notes() -> None:
    rows = [Row("fast", "ms", ipfeed=5.0, target="<= 20 ms", met=True),
            Row("slow", "/s", ipfeed=10.0, target=">= 5,000/s", met=False, note="the node is slow"),
            Row("broken", "", note="FAILED: timeout")]
    out = table(rows)
    assert "<= 20 ms: met" in out and ">= 5,000/s: MISSED" in out
    assert "[1]" in out and "[2]" in out
    assert notes(rows).splitlines() == ["[1] the node is slow", "[2] FAILED: timeout"]


def test_set_follows_writes_what_the_service_reads(tmp_path: Path) -> None:
    home = new_home(tmp_path / "reader")
    names = sorted(Identity.generate().name for _ in range(3))
    set_follows(home, names)
    assert [f.name for f in home.service.follows()] == names


def test_soak_mutations_and_fuzz_count_typed_rejections_and_no_crash() -> None:
    from bench import soak

    counts = soak.mutations(300, seed=7)
    kinds = ("post", "reaction", "repost", "edit", "delete", "recovery", "devices", "migration", "x-poll")
    assert set(counts) == {"post", "root", "follows", "record", "content", "part", "contents", "root-v2",
                           *(f"entry:{k}" for k in kinds)}
    for c in counts.values():
        assert c["tried"] > 250 and c["changed"] == 0 and c["crashed"] == 0
        assert c["rejected"] + c["unchanged"] == c["tried"]
    fuzzed = soak.fuzz(1200, seed=7)
    assert {"entry", "content", "part", "contents"} <= set(fuzzed)
    assert all(c["crashed"] == 0 and c["tried"] == 100 for c in fuzzed.values())


def test_soak_mutation_always_changes_the_bytes() -> None:
    import random

    from bench import soak

    rng = random.Random(3)
    block = bytes(range(40))
    assert all(soak.mutate(rng, block) != block for _ in range(2000))


# The peer rows (bench/peers): parsing the peers' JSON and the rows, with no Node and no relay.

SSB_LINE = ('{"system":"ssb","messages":1000,"message_bytes":428,"append_s":2.0,"append_per_s":500.0,'
            '"replicate_s":4.0,"replicate_per_s":250.0,"replicated":1000,"node":"20.20.2",'
            '"versions":{"ssb-db2":"8.1.0"}}')


def _measured(peer: runner.Peer, **figures: float) -> runner.Measured:
    return runner.Measured(peer.name, 1000, runs=[{"messages": 1000, "message_bytes": 430, **figures}])


def test_peer_json_is_read_from_the_last_line() -> None:
    doc = runner.parse(runner.SSB, "(node) a warning first\n" + SSB_LINE + "\n", 1000)
    assert doc["append_per_s"] == 500.0 and doc["replicate_per_s"] == 250.0


@pytest.mark.parametrize(("stdout", "says"), [
    ("", "printed nothing"),
    ("Error: boom", "printed no JSON"),
    ("[1, 2]", "not an object"),
    (SSB_LINE.replace('"system":"ssb"', '"system":"nostr"'), "says it is 'nostr'"),
    (SSB_LINE.replace('"messages":1000', '"messages":999'), "ran 999 messages, not 1000"),
    (SSB_LINE.replace('"append_per_s":500.0', '"append_per_s":0'), "no append_per_s"),
    (SSB_LINE.replace('"replicate_per_s":250.0', '"replicate_per_s":"fast"'), "no replicate_per_s"),
], ids=["empty", "not-json", "not-an-object", "another-system", "wrong-size", "zero-rate", "not-a-number"])
def test_peer_json_that_does_not_hold_the_figures_is_refused(stdout: str, says: str) -> None:
    with pytest.raises(runner.PeerError, match=says):
        runner.parse(runner.SSB, stdout, 1000)


def test_peer_medians_and_detail_keep_every_run() -> None:
    runs = [json.loads(SSB_LINE) | {"append_per_s": x} for x in (1.0, 3.0, 2.0)]
    m = runner.Measured("SSB", 1000, runs=runs)
    assert m.rate("append_per_s") == 2.0
    detail = m.detail()
    assert [r["append_per_s"] for r in detail["runs"]] == [1.0, 3.0, 2.0]
    assert detail["versions"] == {"ssb-db2": "8.1.0"} and detail["node"] == "20.20.2"
    assert runner.Measured("SSB", 1000, reason="npm failed").rate("append_per_s") is None


def test_a_peer_not_installed_says_so(tmp_path: Path) -> None:
    peer = replace(runner.SSB, folder=tmp_path)
    assert "run `make bench-peers`" in runner.not_installed(peer)
    (tmp_path / "install.log").write_text("npm error code E404\nnpm error 404 Not Found\n")
    assert "npm error 404 Not Found" in runner.not_installed(peer)
    measured = runner.measure(peer, 1000, 3)
    assert measured.reason and not measured.runs
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / ".installed").touch()
    assert runner.not_installed(peer) == ""


def test_peer_rows_set_ipfeed_beside_each_peer_with_the_targets() -> None:
    made = [Row(end_to_end_case(1000), "/s", ipfeed=3000.0), Row(first_sync_case(1000), "/s", ipfeed=4000.0)]
    ours = peer_rows.Ours.of(made, 1000, 250)
    ssb = _measured(runner.SSB, append_per_s=2500.0, replicate_per_s=1000.0)
    nostr = _measured(runner.NOSTR, publish_per_s=300.0, fetch_per_s=5000.0)
    publish_ssb, publish_nostr, sync_ssb, sync_nostr = peer_rows.rows(ours, ssb, nostr)
    assert (publish_ssb.ipfeed, publish_ssb.peer, publish_ssb.vs_peer) == (3000.0, 2500.0, 1.2)
    assert publish_ssb.target == ">= 1.5x SSB" and publish_ssb.met is False
    assert publish_nostr.vs_peer == 10.0 and publish_nostr.target == "" and publish_nostr.met is None
    assert sync_ssb.vs_peer == 4.0 and sync_ssb.target == ">= 2x SSB" and sync_ssb.met is True
    assert sync_nostr.vs_peer == 0.8 and sync_nostr.target == ">= 1x Nostr" and sync_nostr.met is False
    assert "430 bytes per SSB message (ipfeed: 250-byte blocks)" in publish_ssb.note
    out = table([*made, publish_ssb, sync_nostr])
    assert "peer" in out.splitlines()[0] and "vs peer" in out.splitlines()[0]
    assert "2,500/s" in out and "1.20x" in out
    assert ">= 1.5x SSB: MISSED" in out and ">= 1x Nostr: MISSED" in out
    assert publish_ssb.to_json()["vs_peer"] == 1.2


def test_peer_rows_say_why_a_figure_is_missing() -> None:
    ours = peer_rows.Ours.of([Row(end_to_end_case(1000), "/s", ipfeed=3000.0)], 1000, 250)
    ssb = runner.Measured("SSB", 1000, reason="node is not on PATH (SSB runs in it)")
    nostr = _measured(runner.NOSTR, publish_per_s=300.0, fetch_per_s=5000.0)
    publish_ssb, _, sync_ssb, sync_nostr = peer_rows.rows(ours, ssb, nostr)
    assert publish_ssb.note == "SSB not measured: node is not on PATH (SSB runs in it)"
    assert publish_ssb.peer is None and publish_ssb.met is None and publish_ssb.vs_peer is None
    assert sync_ssb.note.startswith("SSB not measured")
    assert sync_nostr.ipfeed is None and sync_nostr.met is None
    assert "ipfeed's figure is missing" in sync_nostr.note
    assert ">= 1.5x SSB: " not in table([publish_ssb])  # no verdict without a figure


def test_table_has_no_peer_columns_without_peer_figures() -> None:
    assert "peer" not in table([Row("a case", "ms", ipfeed=1.0, baseline=2.0)])


def test_measure_runs_the_script_and_reads_each_run(tmp_path: Path) -> None:
    script = tmp_path / "fake.py"
    script.write_text("import json, sys\n"
                      "n = int(sys.argv[1])\n"
                      "print('warming up')\n"
                      "print(json.dumps({'system': 'ssb', 'messages': n, 'append_per_s': 10.0,"
                      " 'replicate_per_s': 5.0, 'text': sys.argv[2]}))\n")
    (tmp_path / "stamp").touch()
    peer = runner.Peer("SSB", tmp_path, (sys.executable, "fake.py"), runner.SSB.figures, "stamp")
    m = runner.measure(peer, 7, 2)
    assert m.reason == "" and len(m.runs) == 2
    assert m.rate("replicate_per_s") == 5.0 and m.runs[0]["text"] == posts.TEXT


def test_measure_reports_a_failing_script_without_its_stack(tmp_path: Path) -> None:
    (tmp_path / "fail.py").write_text(
        "import sys\n"
        "sys.stderr.write('Error: the log is locked\\n    at open (log.js:1)\\n')\n"
        "sys.exit(3)\n")
    (tmp_path / "stamp").touch()
    peer = runner.Peer("SSB", tmp_path, (sys.executable, "fail.py"), runner.SSB.figures, "stamp")
    m = runner.measure(peer, 7, 3)
    assert m.reason == "SSB exited with 3: Error: the log is locked" and m.runs == []


def test_only_names_known_cases(capsys: pytest.CaptureFixture[str]) -> None:
    from .run import CASES, main

    with pytest.raises(SystemExit):
        main(["--only", "local,nonsense"])
    assert "unknown cases: nonsense" in capsys.readouterr().err
    assert {"local", "homeserver", "bulk"} <= set(CASES)
