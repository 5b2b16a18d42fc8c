"""`make soak`: long runs that count what hostile input and faults do to ipfeed (not part of
`make test`). Prints its counts and exits non-zero if any invariant broke.

- mutations: N random mutations of each object type (post, root, follow list, IPNS record, and
  format v2's entries of every kind, content blocks, parts, contents and v2 roots), each
  rejected with a typed error or accepted only where the meaning is unchanged;
- fuzz: random and mutated inputs against the block, record, entry, content, contents, CAR and
  archive readers: every rejection typed, no other exception;
- crashes: kills of ipfeed and of Kubo at every step of posting, reacting (a v2 entry) and
  syncing, with new posts every round: posts and reactions lost 0, own sequence numbers
  duplicated or forked 0, index intact, IPNS converged.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ipfeed import archive, codec, contentblock, contents, entry, feed, ipns, kinds, node, post, sqlite
from ipfeed.car import CarReader, read_car
from ipfeed.errors import InvalidInput, InvalidObject
from ipfeed.faults import POST_STEPS, SYNC_STEPS, run_ipfeed
from ipfeed.outbox import Outbox

from .nodes import bench_settings

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "data" / "vectors.json").read_text())
IPNS_VECTORS = ROOT.parent / "shared" / "ipns-vectors"
TYPED = (InvalidObject, InvalidInput)
RECORD_NAME = "k51qzi5uqu5dlkw8pxuw9qmqayfdeh4kfebhmreauqdc6a7c3y7d5i9fi8mk9w"  # the spec's v1-v2 vector


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random mutation (a flipped bit, a cut, bytes appended, inserted or overwritten) that
    really changes the bytes."""
    out = _mutate(rng, data)
    return out if out != data else data[:-1] + bytes([data[-1] ^ 1])


def _mutate(rng: random.Random, data: bytes) -> bytes:
    op = rng.randrange(5)
    if op == 0 or len(data) < 2:
        i = rng.randrange(len(data) * 8)
        out = bytearray(data)
        out[i // 8] ^= 1 << (i % 8)
        return bytes(out)
    if op == 1:
        return data[:rng.randrange(len(data))]
    if op == 2:
        return data + rng.randbytes(rng.randint(1, 16))
    i = rng.randrange(len(data))
    if op == 3:
        return data[:i] + rng.randbytes(rng.randint(1, 8)) + data[i:]
    chunk = rng.randbytes(rng.randint(1, 8))
    return data[:i] + chunk + data[i + len(chunk):]


def _meaning(kind: str, value: Any) -> Any:
    if kind == "record":
        return (value.value, value.validity, value.sequence, value.ttl_ns)
    if kind == "follows":
        return value
    return value.cid  # a signed or CID-bound object: another CID is another object


def _objects() -> list[tuple[str, bytes, Callable[[bytes], Any]]]:
    """(type, valid bytes, parser) of every object type a reader takes from elsewhere."""
    out: list[tuple[str, bytes, Callable[[bytes], Any]]] = []
    seen = set()
    for v in VECTORS["objects"]:
        if v["kind"] in ("post", "root", "follows") and v["kind"] not in seen:
            seen.add(v["kind"])
            parse: Callable[[bytes], Any]
            if v["kind"] == "follows":  # unsigned: a reader holds it by the root's link (its CID)
                parse = functools.partial(feed.parse_follows, cid=v["cid"])
            else:  # signed: parsed without the CID, so that the validators and signature decide
                parse = post.parse if v["kind"] == "post" else feed.parse
            out.append((v["kind"], bytes.fromhex(v["hex"]), parse))
    for path in sorted(IPNS_VECTORS.glob("*_v1-v2.ipns-record")):
        name = path.name.split("_", 1)[0]
        out.append(("record", path.read_bytes(), functools.partial(ipns.parse_record, name=name)))
    unsigned = {"content": contentblock.parse_content, "part": contents.parse_part,
                "contents": contents.parse_contents}
    for v in VECTORS["v2"]["objects"]:
        block = bytes.fromhex(v["hex"])
        if v["kind"] == "entry":  # one type per kind: each body has its own rules
            kind = "entry:" + v["object"]["kind"]
            out.append((kind, block, entry.parse_entry))
        elif v["kind"] == "root":
            out.append(("root-v2", block, feed.parse))
        elif v["kind"] in unsigned and v["kind"] not in seen:  # held by a signed link: its CID
            seen.add(v["kind"])
            out.append((v["kind"], block, functools.partial(unsigned[v["kind"]], cid=v["cid"])))
    return out


def mutations(per_type: int, seed: int) -> dict[str, dict[str, int]]:
    """Mutate each object type `per_type` times; count how each mutation was taken."""
    rng = random.Random(seed)
    counts: dict[str, dict[str, int]] = {}
    for kind, block, parse in _objects():
        c = counts[kind] = {"tried": 0, "rejected": 0, "unchanged": 0, "changed": 0, "crashed": 0}
        original = _meaning(kind, parse(block))
        for _ in range(per_type):
            bad = mutate(rng, block)
            c["tried"] += 1
            try:
                got = parse(bad)
            except TYPED:
                c["rejected"] += 1
                continue
            except Exception:
                c["crashed"] += 1
                continue
            c["unchanged" if _meaning(kind, got) == original else "changed"] += 1
    return counts


def _archive_sample() -> bytes:
    """A small valid archive shape (root, record, posts) to mutate: built from the vectors."""
    by_kind = {v["kind"]: bytes.fromhex(v["hex"]) for v in VECTORS["objects"]}
    root = feed.parse(by_kind["root"])
    [record] = sorted(IPNS_VECTORS.glob("*_v2.ipns-record"))
    posts = [(codec.cid_of(bytes.fromhex(v["hex"])), bytes.fromhex(v["hex"]))
             for v in VECTORS["objects"] if v["kind"] == "post"]
    return archive.build(record.read_bytes(), root, posts)


def fuzz(count: int, seed: int) -> dict[str, dict[str, int]]:
    """Random and mutated inputs against each reader; count typed rejections and crashes."""
    rng = random.Random(seed)
    samples = [bytes.fromhex(v["hex"]) for v in VECTORS["objects"] + VECTORS["v2"]["objects"]]
    records = [p.read_bytes() for p in sorted(IPNS_VECTORS.glob("*.ipns-record"))]
    car = _archive_sample()

    def car_stream(data: bytes) -> None:
        reader = CarReader()
        for i in range(0, len(data), 7):
            reader.feed(data[i:i + 7])
        reader.close()

    readers: dict[str, tuple[Callable[[bytes], Any], list[bytes]]] = {
        "block": (lambda b: codec.decode(b, max_size=16384, what="fuzz"), samples),
        "post": (post.parse, samples),
        "root": (feed.parse, samples),
        "follows": (feed.parse_follows, samples),
        "entry": (entry.parse_entry, samples),
        "content": (contentblock.parse_content, samples),
        "part": (contents.parse_part, samples),
        "contents": (contents.parse_contents, samples),
        "record": (functools.partial(ipns.parse_record, name=RECORD_NAME), records),
        "car": (lambda b: list(read_car(b)), [car]),
        "car-stream": (car_stream, [car]),
        "archive": (archive.read, [car]),
    }
    counts = {k: {"tried": 0, "rejected": 0, "accepted": 0, "crashed": 0} for k in readers}
    names = list(readers)
    crashes: list[str] = []
    for i in range(count):
        kind = names[i % len(names)]
        read, seeds = readers[kind]
        data = rng.randbytes(rng.randint(0, 64)) if rng.random() < 0.2 else mutate(rng, rng.choice(seeds))
        c = counts[kind]
        c["tried"] += 1
        try:
            read(data)
            c["accepted"] += 1
        except TYPED:
            c["rejected"] += 1
        except Exception as e:
            c["crashed"] += 1
            if len(crashes) < 5:
                crashes.append(f"{kind}: {type(e).__name__}: {e} ({data[:40].hex()})")
    for line in crashes:
        print("  crash:", line, file=sys.stderr)
    return counts


def _cli(home: Path, settings_env: dict[str, str], *args: str, crash: str | None = None,
         kill: str = "self") -> subprocess.CompletedProcess[str]:
    return run_ipfeed(dict(os.environ, **settings_env, IPFEED_HOME=str(home)), *args, crash=crash,
                      kill=kill, timeout=180)


def crashes(kills: int) -> dict[str, int]:
    """Kill ipfeed or Kubo at every step of posting and reacting (Alice; a reaction is a v2
    entry) and of syncing (Bob, who follows her), round after round with new entries every
    round, until `kills` kills; then check the invariants on Alice's whole chain."""
    figures = {"kills": 0, "posts_written": 0, "reactions_written": 0, "lost": 0, "duplicated": 0,
               "seq_broken": 0, "index_broken": 0, "ipns_diverged": 0}
    env = {"IPFEED_NODE_PROFILE": "test", "IPFEED_SWARM": "/ip4/127.0.0.1/tcp/0", "IPFEED_TIMEOUT": "20",
           "IPFEED_RESOLVE_TIMEOUT": "20"}
    if os.environ.get("IPFEED_IPFS_BIN"):
        env["IPFEED_IPFS_BIN"] = os.environ["IPFEED_IPFS_BIN"]
    with tempfile.TemporaryDirectory(prefix="ipfeed-soak-") as tmp:
        homes = {n: Path(tmp) / n for n in ("alice", "bob")}
        settings = {n: bench_settings(h) for n, h in homes.items()}
        try:
            for n in homes:
                _cli(homes[n], env, "init", "--name", n)
                node.start(settings[n])
            bob_addr = next(a for a in _cli(homes["bob"], env, "node", "addrs").stdout.split()
                            if a.startswith("/ip4/127.0.0.1/tcp/"))
            _cli(homes["alice"], env, "node", "connect", bob_addr)
            alice = _cli(homes["alice"], env, "id").stdout.strip()
            _cli(homes["bob"], env, "follow", alice, "--force")
            written: list[str] = []
            reacted: list[str] = []  # the posts Alice reacted to, one reaction each

            def plain_post(text: str) -> str | None:
                written.append(text)
                out = _cli(homes["alice"], env, "post", text).stdout.split()
                return out[-1] if out and out[-1].startswith("bafy") else None

            steps = [("post", s, v) for s in POST_STEPS for v in ("self", "node")] + \
                    [("react", s, v) for s in POST_STEPS for v in ("self", "node")] + \
                    [("sync", s, v) for s in SYNC_STEPS for v in ("self", "node")]
            rnd = 0
            while figures["kills"] < kills:
                rnd += 1
                for what, step, victim in steps:
                    if figures["kills"] >= kills:
                        break
                    who = "bob" if what == "sync" else "alice"
                    if what == "post":
                        text = f"round {rnd}: killed {victim} at {step}"
                        written.append(text)
                        _cli(homes[who], env, "post", text, crash=step, kill=victim)
                    elif what == "react":
                        subject = plain_post(f"round {rnd}: reacted to, {victim} killed at {step}")
                        if subject is None:  # not published now: nothing to react to this time
                            continue
                        reacted.append(subject)
                        _cli(homes[who], env, "react", subject, crash=step, kill=victim)
                    else:
                        plain_post(f"round {rnd}: before a sync whose {victim} is killed at {step}")
                        _cli(homes[who], env, "sync", crash=step, kill=victim)
                    figures["kills"] += 1
                    for n in homes:
                        if not node.status(settings[n]).running:
                            node.start(settings[n])
                            _cli(homes["alice"], env, "node", "connect", bob_addr)
                    _cli(homes["alice"], env, "publish")
                    if sqlite.integrity(settings[who].index_path) != "ok":
                        figures["index_broken"] += 1
            for n in homes:  # converge: everyone up, everything published and synced
                if not node.status(settings[n]).running:
                    node.start(settings[n])
            _cli(homes["alice"], env, "node", "connect", bob_addr)
            _cli(homes["alice"], env, "publish")
            figures["posts_written"] = len(written)
            figures["reactions_written"] = len(reacted)
            _check_chain(homes["alice"], env, written, reacted, Path(tmp) / "alice.car", figures)
            box = Outbox(settings["alice"].outbox_path)
            try:
                head = feed.parse(box.latest_root() or b"").cid
            finally:
                box.close()
            shown = json.loads(_cli(homes["alice"], env, "show", alice, "--json", "--limit", "1").stdout)
            figures["ipns_diverged"] = int(shown["root"] != head)
            _cli(homes["bob"], env, "sync")
            for n in homes:
                for path in (settings[n].index_path, settings[n].outbox_path):
                    if path.exists() and sqlite.integrity(path) != "ok":
                        figures["index_broken"] += 1
        finally:
            for s in settings.values():
                node.stop(s, timeout=5)
    return figures


def _check_chain(home: Path, env: dict[str, str], written: list[str], reacted: list[str], path: Path,
                 figures: dict[str, int]) -> None:
    """Export Alice's whole chain (verified by the archive reader) and count what was lost,
    duplicated or out of sequence among the posts and reactions she wrote."""
    _cli(home, env, "export", str(path))
    got = archive.read(path.read_bytes())
    chain = list(reversed(got.posts))  # oldest first
    texts: list[str] = []
    reactions: list[str] = []
    for item in chain:
        if isinstance(item, post.Post):
            texts.append(item.text)
        elif item.kind == "post":
            texts.append(got.contents[item.content or ""].text)
        elif isinstance(item.body, kinds.Reaction):
            reactions.append(item.body.subject.cid)
    lost = sorted(set(written) - set(texts)) + [f"a reaction to {c}" for c in set(reacted) - set(reactions)]
    for line in lost[:5]:
        print("  lost:", line, file=sys.stderr)
    figures["lost"] = len(lost)
    figures["duplicated"] = (len(texts) - len(set(texts))) + (len(reactions) - len(set(reactions)))
    figures["seq_broken"] = int([c.seq for c in chain] != list(range(1, len(chain) + 1)))


def main() -> int:
    parser = argparse.ArgumentParser(prog="make soak", description=__doc__)
    parser.add_argument("--mutations", type=int, default=100_000, help="mutations per object type")
    parser.add_argument("--fuzz", type=int, default=1_000_000, help="fuzzed inputs in all")
    parser.add_argument("--kills", type=int, default=500, help="crashes injected")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    ok = True
    print(f"soak, seed {args.seed}")
    t = time.monotonic()
    for kind, c in mutations(args.mutations, args.seed).items():
        print(f"mutations  {kind:8} tried {c['tried']:>8,}  rejected (typed) {c['rejected']:>8,}  "
              f"accepted, same meaning {c['unchanged']:>6,}  CHANGED {c['changed']}  crashed {c['crashed']}")
        ok &= c["changed"] == 0 and c["crashed"] == 0
    print(f"  ({time.monotonic() - t:.0f} s)")
    t = time.monotonic()
    for kind, c in fuzz(args.fuzz, args.seed).items():
        print(f"fuzz       {kind:10} tried {c['tried']:>8,}  rejected (typed) {c['rejected']:>8,}  "
              f"accepted {c['accepted']:>6,}  crashed {c['crashed']}")
        ok &= c["crashed"] == 0
    print(f"  ({time.monotonic() - t:.0f} s)")
    if args.kills:
        t = time.monotonic()
        f = crashes(args.kills)
        print("crashes    " + "  ".join(f"{k} {v:,}" for k, v in f.items()))
        print(f"  ({time.monotonic() - t:.0f} s)")
        ok &= all(f[k] == 0 for k in ("lost", "duplicated", "seq_broken", "index_broken", "ipns_diverged"))
    print("soak: every invariant held" if ok else "soak: AN INVARIANT BROKE (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
