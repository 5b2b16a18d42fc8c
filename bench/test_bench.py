"""Checks of the bench's pure helpers (`.venv/bin/pytest bench`): no daemons, no timing thresholds."""

from __future__ import annotations

from pathlib import Path

import cbrrr
import pytest

from ipfeed import codec, post
from ipfeed.identity import Identity
from ipfeed.ipfs import Kubo

from . import calls, posts
from .calls import Call
from .car import car_bytes, varint
from .cli import Walk
from .homes import new_home, set_follows
from .report import Row, notes, p95, percentile, table


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
    assert set(counts) == {"post", "root", "follows", "record"}
    for c in counts.values():
        assert c["tried"] > 250 and c["changed"] == 0 and c["crashed"] == 0
        assert c["rejected"] + c["unchanged"] == c["tried"]
    fuzzed = soak.fuzz(800, seed=7)
    assert all(c["crashed"] == 0 and c["tried"] == 100 for c in fuzzed.values())


def test_soak_mutation_always_changes_the_bytes() -> None:
    import random

    from bench import soak

    rng = random.Random(3)
    block = bytes(range(40))
    assert all(soak.mutate(rng, block) != block for _ in range(2000))
