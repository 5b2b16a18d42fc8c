"""The baselines: what a user does with the `ipfs` CLI in a shell loop, without ipfeed."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

from ipfeed import post

from .nodes import BenchNode


def _bytes(b: bytes) -> dict[str, Any]:
    """DAG-JSON's form of bytes."""
    return {"/": {"bytes": base64.b64encode(b).decode().rstrip("=")}}


class CliFeed:
    """Writing: `ipfs dag put` per post, `ipfs name publish` per post or once at the end."""

    def __init__(self, node: BenchNode, author: bytes) -> None:
        self.node = node
        self.author = author
        self.seq = 0
        self.prev: str | None = None

    def put(self, text: str) -> str:
        """Store (pinned) a JSON post equivalent to ipfeed's, linking the one before; its CID."""
        self.seq += 1
        obj: dict[str, Any] = {"type": post.TYPE, "v": post.VERSION, "author": _bytes(self.author),
                               "seq": self.seq, "created": time.time_ns() // 1_000_000, "text": text,
                               "sig": _bytes(bytes(64))}  # a shell user has no signature to add
        if self.prev is not None:
            obj["prev"] = {"/": self.prev}
        cid = self.node.ipfs("dag", "put", "--pin=true", stdin=json.dumps(obj).encode()).strip()
        self.prev = cid
        return cid

    def publish(self) -> None:
        """Point the node's own IPNS name at the newest post."""
        assert self.prev is not None, "nothing to publish"
        self.node.ipfs("name", "publish", "--allow-offline=false", "--key=self", f"/ipfs/{self.prev}")

    def post(self, text: str) -> str:
        """Store and publish one post."""
        cid = self.put(text)
        self.publish()
        return cid


def resolve(node: BenchNode, name: str) -> str:
    """`ipfs name resolve --nocache`: the CID a name points at now."""
    path = node.ipfs("name", "resolve", "--nocache", "--dht-timeout=20s", f"/ipns/{name}", timeout=40).strip()
    return path.removeprefix("/ipfs/")


@dataclass(frozen=True)
class Walk:
    """A CLI reading walk: seconds to resolve the name and get the root, then per post."""

    resolve_s: float
    posts: int
    posts_s: float

    def seconds_for(self, n: int) -> float:
        """The walk's time extrapolated to `n` posts (each one more `dag get`)."""
        return self.resolve_s + n * self.posts_s / self.posts


def walk(node: BenchNode, name: str, count: int) -> Walk:
    """Read the newest `count` posts of an ipfeed feed as a shell user would: `ipfs name
    resolve`, `ipfs dag get` of the root, then `ipfs dag get` of each post along `prev` (one
    after another: each post's CID is only known from the one after it). Nothing is verified."""
    t0 = time.perf_counter()
    root = json.loads(node.ipfs("dag", "get", resolve(node, name)))
    cid: str | None = root["recent"][0]["/"]
    t1 = time.perf_counter()
    seqs: list[int] = []
    for _ in range(count):
        if cid is None:
            raise RuntimeError(f"the CLI walk of {name} ran out of posts after {len(seqs)}")
        obj = json.loads(node.ipfs("dag", "get", cid))
        seqs.append(obj["seq"])
        cid = (obj.get("prev") or {}).get("/")
    if seqs != list(range(seqs[0], seqs[0] - count, -1)):
        raise RuntimeError(f"the CLI walk of {name} read seqs {seqs[:3]}..., not a chain")
    return Walk(t1 - t0, count, time.perf_counter() - t1)
