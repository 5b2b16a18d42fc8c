"""Reading blocks in bulk from the local node's own blockstore files (flatfs), read-only.

A feed already on the node (an archive imported, a second home on one node, a feed a peer
streamed before) is read one `block/get` per block otherwise: about 1,000 blocks a second on
2 cores, and `dag export` or `refs` of a feed slow down with the square of its length (their
walk copies the path at every step of a `prev` chain thousands long). Kubo's default
datastores keep each block as one file under `blocks/` (flatfs), named by the multihash, so a
node on this machine can be read at file speed instead.

This is only a faster source: a block is used only when its bytes hash to its CID and fit its
limit, exactly as from `block/get`; anything absent, unreadable, too big or not matching is
left to `block/get` (which fetches over bitswap what the node lacks, and refuses bytes that do
not match). It is used only for a node whose API is on loopback, whose repo (its IPFS_PATH, from
`diag/sys`) holds an `api` file naming that same API, and whose `Datastore.Spec` mounts flatfs
at `/blocks` with a `next-to-last` shard function that the directory's own `SHARDING` file
confirms; otherwise nothing changes (IPFEED_LOCAL_READS=off turns it off).
"""

from __future__ import annotations

import asyncio
import hashlib
import weakref
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import codec
from .errors import IpfeedError
from .ipfs import Kubo

SHARD_PREFIX = "/repo/flatfs/shard/v1/next-to-last/"
LOOPBACK = ("/ip4/127.", "/ip6/::1/", "/unix/")


def flatfs_key(multihash: bytes) -> str:
    """A multihash as flatfs names its file: unpadded RFC 4648 base32, upper case."""
    return codec.base32(multihash).upper()


@dataclass(frozen=True)
class LocalStore:
    """A node's flatfs block directory, and its shard width (`next-to-last/N`)."""

    blocks: Path
    width: int

    def path(self, cid: str) -> Path | None:
        """Where flatfs keeps the block of a dag-cbor/sha2-256 CIDv1 (None for other CIDs): the
        multihash in unpadded base32, in the directory of its next-to-last `width` characters."""
        where = self._file(codec.cid_to_bytes(cid))
        return None if where is None else Path(where)

    def _file(self, raw: bytes) -> str | None:
        """`path` of a CID's bytes, as a string (a read costs a few microseconds, so no pathlib)."""
        if len(raw) != codec.CID_BYTES or raw[2:4] != b"\x12\x20":
            return None
        key = flatfs_key(raw[2:])
        return f"{self.blocks}/{key[-self.width - 1:-1]}/{key}.data"

    def read(self, cid: str, limit: int) -> bytes | None:
        """The block if this store holds it, no larger than `limit` and matching its CID; else
        None (the caller asks the node, which decides)."""
        raw = codec.cid_to_bytes(cid)
        where = self._file(raw)
        if where is None:
            return None
        try:
            with open(where, "rb", buffering=0) as f:
                data = f.read(limit + 1)
        except OSError:
            return None
        if len(data) > limit or hashlib.sha256(data).digest() != raw[4:]:
            return None
        return data

    def read_many(self, cids: Iterable[str], limit: int) -> dict[str, bytes]:
        """The blocks of `cids` this store holds (checked as `read` does), by CID."""
        out = {}
        for cid in cids:
            if (block := self.read(cid, limit)) is not None:
                out[cid] = block
        return out


def from_spec(repo: Path, spec: Any) -> LocalStore | None:
    """The flatfs store that `Datastore.Spec` mounts at /blocks in `repo`, if its SHARDING file
    says the same shard function; None for any other datastore."""
    mounts = spec.get("mounts") if isinstance(spec, dict) and spec.get("type") == "mount" else None
    for m in mounts if isinstance(mounts, list) else []:
        if not isinstance(m, dict) or m.get("mountpoint") != "/blocks":
            continue
        child = m.get("child") if m.get("type") == "measure" else m
        if not isinstance(child, dict) or child.get("type") != "flatfs":
            return None
        shard, path = child.get("shardFunc"), child.get("path")
        if not isinstance(shard, str) or not isinstance(path, str) or not shard.startswith(SHARD_PREFIX):
            return None
        width = shard[len(SHARD_PREFIX):]
        if not width.isdigit() or not 1 <= int(width) <= 8:
            return None
        blocks = repo / path  # an absolute path stays absolute
        try:
            if (blocks / "SHARDING").read_text().strip() != shard:
                return None
        except OSError:
            return None
        return LocalStore(blocks, int(width))
    return None


async def discover(kubo: Kubo) -> LocalStore | None:
    """The local node's flatfs store, if it has one this process can read; else None."""
    if not kubo.api.startswith(LOOPBACK):
        return None
    try:
        repo = Path(await kubo.repo_path() or Path.home() / ".ipfs")
        spec = await kubo.config_get("Datastore.Spec")
    except IpfeedError:
        return None
    return await asyncio.to_thread(_checked, repo, kubo.api, spec)


def _checked(repo: Path, api: str, spec: Any) -> LocalStore | None:
    """`from_spec`, if `repo` is the repo of the node serving `api` (its `api` file says so)."""
    try:
        if (repo / "api").read_text().strip() != api:
            return None
    except OSError:
        return None
    return from_spec(repo, spec)


_FOUND: weakref.WeakKeyDictionary[Kubo, LocalStore | None] = weakref.WeakKeyDictionary()


async def of(kubo: Kubo) -> LocalStore | None:
    """`discover`, once per connection to the node."""
    if kubo not in _FOUND:
        _FOUND[kubo] = await discover(kubo)
    return _FOUND[kubo]
