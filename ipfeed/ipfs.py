"""The Kubo RPC API: the one module that talks to the node (through aioipfs).

aioipfs provides the HTTP session and the API URL from a multiaddr; several of its endpoint
methods are broken against current Kubo and aiohttp (README, design notes), so every call goes
through `Kubo.call` with the exact parameters Kubo expects. Foreign errors become
ipfeed's NodeError family here and nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
import aioipfs

from . import codec, rpc
from .errors import InvalidBlock, NodeFailed, NodeTimeout, NodeUnavailable, NotFound

Params = Sequence[tuple[str, str]]
T = TypeVar("T")

ROUTING_SETTLE = 3.0  # seconds a quick "not found" from the DHT is asked again (see name_get)
ROUTING_WARMUP = 20.0  # seconds IPNS calls wait for a DHT routing table that is still empty
PIN_BATCH = 500  # CIDs per pin/add call: ~30 KB of URL, far below Kubo's header limit


class Kubo:
    """An open connection to one Kubo node's RPC API (use `async with`)."""

    def __init__(self, api: str, timeout: float = 30.0) -> None:
        self.api = api
        self.timeout = timeout
        self._client: aioipfs.AsyncIPFS | None = None
        self._warm = False  # the DHT routing table had peers (routing_warm)

    async def __aenter__(self) -> Kubo:
        # aioipfs builds its aiohttp session in __init__, so only inside a running loop.
        try:
            self._client = aioipfs.AsyncIPFS(maddr=self.api)
        except Exception as e:  # aioipfs raises plain exceptions for bad multiaddrs
            raise NodeUnavailable(f"bad Kubo API address {self.api!r}: {e}") from e
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._client is not None:
            await self._client.close()

    async def call(self, path: str, params: Params = (), data: Any = None, *,
                    timeout: float | None = None, max_bytes: int | None = None) -> bytes:
        """POST one RPC call; return the body, bounded by `max_bytes` and `timeout`."""
        assert self._client is not None, "use `async with Kubo(...)`"
        assert path in rpc.RPC_CALLS, f"{path} is not in rpc.RPC_CALLS"
        limit = self.timeout if timeout is None else timeout
        query = [*params, ("timeout", f"{limit:.3f}s")]
        url = self._client.api_endpoint(path)
        try:
            async with asyncio.timeout(limit + 5):
                async with self._client.session.post(url, params=query, data=data) as resp:
                    body = await _read(resp, max_bytes)
                    if resp.status != 200:
                        raise _api_error(path, resp.status, body)
        except TimeoutError as e:  # before OSError: TimeoutError is one since Python 3.10
            raise NodeTimeout(f"the node did not answer {path} within {limit:g}s") from e
        except (aiohttp.ClientConnectionError, OSError) as e:
            raise NodeUnavailable(
                f"no Kubo node answers at {self.api} ({e.__class__.__name__}); "
                "run `ipfeed node start`, or check --api"
            ) from e
        if max_bytes is not None and len(body) > max_bytes:
            raise InvalidBlock(f"{path}: answer is over the limit of {max_bytes} bytes")
        return body

    async def _json(self, path: str, params: Params = (), data: Any = None, *,
                    timeout: float | None = None) -> Any:
        body = await self.call(path, params, data, timeout=timeout)
        try:
            return json.loads(body)
        except ValueError as e:
            raise NodeFailed(f"{path}: the node sent something that is not JSON") from e

    # -- node -------------------------------------------------------------------------
    async def id(self) -> dict[str, Any]:
        """The node's identity: ID, Addresses, AgentVersion."""
        result: dict[str, Any] = await self._json("id", timeout=10)
        return result

    async def swarm_connect(self, maddr: str) -> None:
        """Connect to a peer now."""
        await self._json("swarm/connect", [("arg", maddr)])

    async def swarm_peers(self) -> list[str]:
        """Multiaddrs (with /p2p/ID) of the connected peers."""
        res = await self._json("swarm/peers")
        return [f"{p['Addr']}/p2p/{p['Peer']}" for p in res.get("Peers") or []]

    async def dht_peers(self) -> int:
        """How many peers the node's DHT routing tables (WAN and LAN) hold."""
        body = await self.call("stats/dht", timeout=10)
        try:
            tables = [json.loads(line) for line in body.splitlines() if line.strip()]
            return sum(len(b.get("Peers") or []) for t in tables for b in t.get("Buckets") or [])
        except (ValueError, AttributeError, TypeError) as e:
            raise NodeFailed(f"stats/dht: unexpected answer {body[:80]!r}") from e

    async def routing_warm(self, timeout: float = ROUTING_WARMUP) -> bool:
        """Wait (at most `timeout` s) until the node's DHT routing table holds a peer, while
        it has peers or peerings that could join it: a node just started connects to its
        `Peering.Peers` within seconds, and an IPNS record put or asked for before the table
        fills reaches nobody (a reader then gets only its own old copy). True if the table
        has peers; an offline node (no peers, no peerings) is not waited for. Once the table
        had peers, later calls on this connection do not ask again (a sync round of 5,000
        feeds would otherwise double its calls)."""
        if self._warm:
            return True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        peerings = None
        while True:
            if await self.dht_peers():
                self._warm = True
                return True
            if loop.time() >= deadline:
                return False
            if not await self.swarm_peers():
                if peerings is None:
                    peerings = bool(await self.config_get("Peering.Peers"))
                if not peerings:
                    return False
            await asyncio.sleep(0.25)

    async def config_get(self, key: str) -> Any:
        """One config value, or None if it is not set."""
        res = await _unless(self._json("config", [("arg", key)]), "not found", "failed to get config value")
        return None if res is None else res.get("Value")

    async def repo_path(self) -> str:
        """The node's IPFS_PATH as its process sees it (`diag/sys`); "" when unset (~/.ipfs)."""
        res = await self._json("diag/sys", timeout=10)
        return str((res.get("environment") or {}).get("IPFS_PATH") or "")

    async def config_set(self, key: str, value: Any) -> None:
        """Set one config value (JSON)."""
        await self._json("config", [("arg", key), ("arg", json.dumps(value)), ("json", "true")])

    # -- libp2p streams (Experimental.Libp2pStreamMounting) -----------------------------
    async def peers_speaking(self, protocol: str) -> list[str]:
        """IDs of the connected peers whose identify lists `protocol`, or may speak it: Kubo's
        stream mounting (`ipfs p2p listen`) announces one handler for all of `/x/`."""
        res = await self._json("swarm/peers", [("identify", "true")])
        names = {protocol, "/x/"} if protocol.startswith("/x/") else {protocol}
        return [p["Peer"] for p in res.get("Peers") or []
                if names & set((p.get("Identify") or {}).get("Protocols") or [])]

    @contextlib.asynccontextmanager
    async def p2p_foreground(self, command: str, args: Sequence[str], options: Params = ()
                             ) -> AsyncIterator[Callable[[], Awaitable[None]]]:
        """Hold `p2p listen` or `p2p forward` open for the block's duration: Kubo removes the
        listener or forwarder when the request ends (also if ipfeed dies). Yields a function
        whose result is awaitable until the node ends it (a restart, `ipfs p2p close`)."""
        assert self._client is not None, "use `async with Kubo(...)`"
        path = f"p2p/{command}"
        try:
            resp = await self._client.session.post(
                self._client.api_endpoint(path),
                params=[*(("arg", a) for a in args), *options, ("foreground", "true")],
                timeout=aiohttp.ClientTimeout(total=None, sock_read=None))
        except (aiohttp.ClientError, OSError) as e:
            raise NodeUnavailable(f"{path}: no answer from the node ({e.__class__.__name__})") from e
        try:
            async with asyncio.timeout(self.timeout):
                if resp.status != 200:
                    raise _api_error(path, resp.status, await _read(resp, 4096))
                first = await resp.content.readline()
            if b'"active"' not in first:
                raise NodeFailed(f"{path}: unexpected answer {first[:200]!r}")
        except TimeoutError as e:
            resp.close()
            raise NodeTimeout(f"the node did not start {path} within {self.timeout:g}s") from e
        except BaseException:
            resp.close()
            raise

        async def ended() -> None:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                await resp.content.read()
        try:
            yield ended
        finally:
            resp.close()

    # -- blocks -----------------------------------------------------------------------
    async def block_put(self, block: bytes) -> str:
        """Store exact dag-cbor bytes; check the node's CID is the one computed locally."""
        res = await self._json("block/put", [("cid-codec", "dag-cbor"), ("mhtype", "sha2-256")],
                               file_part(block, name="block"))
        want = codec.cid_of(block)
        if res.get("Key") != want:
            raise NodeFailed(f"the node stored a block as {res.get('Key')}, expected {want}")
        return want

    async def block_get(self, cid: str, max_bytes: int, timeout: float | None = None, *,
                        offline: bool = False) -> bytes:
        """Fetch a block (from the network if needed, unless `offline`) and check its bytes
        against its CID."""
        try:
            data = await self.call("block/get", [("arg", cid), ("offline", str(offline).lower())],
                                    max_bytes=max_bytes, timeout=timeout)
        except NodeTimeout as e:
            raise NotFound(f"block {cid} could not be fetched in time") from e
        raw = codec.cid_to_bytes(cid)
        if len(raw) != codec.CID_BYTES or raw[2:4] != b"\x12\x20" or raw[4:] != hashlib.sha256(data).digest():
            raise InvalidBlock(f"block {cid}: the bytes received do not match the CID")
        return data

    async def has_block(self, cid: str) -> bool:
        """Whether the node holds a block now (never fetched for this)."""
        stat = self.call("block/stat", [("arg", cid), ("offline", "true")], timeout=10)
        return await _unless(stat, "not found", "block was not found") is not None

    async def refs(self, cid: str, timeout: float | None = None, *, offline: bool = False) -> list[str]:
        """Every CID under `cid`, each once (fetching what is missing, unless `offline`: then
        a missing block is an error)."""
        body = await self.call("refs", [("arg", cid), ("recursive", "true"), ("unique", "true"),
                                         ("offline", str(offline).lower())], timeout=timeout)
        out = []
        for line in body.splitlines():
            try:
                out.append(str(json.loads(line)["Ref"]))
            except (ValueError, KeyError) as e:
                raise NodeFailed(f"refs: unexpected answer {line[:80]!r}") from e
        return out

    async def add(self, data: bytes, name: str) -> tuple[str, int]:
        """Add file bytes as UnixFS (CIDv1, raw leaves), pinned; return (CID, dag size)."""
        res = await self._json("add", [("cid-version", "1"), ("raw-leaves", "true"),
                                       ("pin", "true"), ("progress", "false")],
                               file_part(data, name=name))
        return codec.parse_cid(res["Hash"], codec.FILE_PREFIXES), int(res["Size"])

    async def cat(self, cid: str, max_bytes: int, timeout: float | None = None) -> bytes:
        """The bytes of a UnixFS file, refusing more than `max_bytes`."""
        return await self.call("cat", [("arg", cid)], max_bytes=max_bytes, timeout=timeout)

    async def pin_add(self, cids: str | Sequence[str], timeout: float | None = None, *,
                      recursive: bool = True) -> None:
        """Pin DAGs recursively, or blocks directly: one call per PIN_BATCH CIDs."""
        todo = [cids] if isinstance(cids, str) else list(cids)
        for i in range(0, len(todo), PIN_BATCH):
            await self._json("pin/add", [*(("arg", c) for c in todo[i:i + PIN_BATCH]),
                                         ("recursive", str(recursive).lower())], timeout=timeout)

    async def pin_rm(self, cid: str) -> None:
        """Remove a pin (recursive or direct); no walk of the DAG."""
        await self._json("pin/rm", [("arg", cid)])

    async def pin_update(self, old: str, new: str, timeout: float | None = None) -> None:
        """Move a recursive pin from one DAG to another, walking only what differs (a tree of
        parts, unlike a chain, diffs cheaply); the old pin is dropped."""
        await self._json("pin/update", [("arg", old), ("arg", new), ("unpin", "true")], timeout=timeout)

    async def pins(self, kind: str = "recursive") -> list[str]:
        """Every CID pinned this way."""
        res = await self._json("pin/ls", [("type", kind)])
        return list(res.get("Keys") or {})

    async def pinned(self, cid: str, kind: str = "recursive") -> bool:
        """Whether a CID is pinned this way (recursive, direct)."""
        res = await _unless(self._json("pin/ls", [("arg", cid), ("type", kind)]), "not pinned")
        return res is not None and cid in (res.get("Keys") or {})

    # -- keys and names ---------------------------------------------------------------
    async def key_names(self) -> dict[str, str]:
        """Keys in the node's keystore: name -> peer ID / IPNS name."""
        res = await self._json("key/list", [("l", "true"), ("ipns-base", "base36")])
        return {k["Name"]: k["Id"] for k in res.get("Keys") or []}

    async def key_import(self, name: str, libp2p_key: bytes) -> str:
        """Import a private key (libp2p protobuf framing); return its IPNS name."""
        res = await self._json("key/import", [("arg", name), ("ipns-base", "base36"),
                                              ("format", "libp2p-protobuf-cleartext")],
                               file_part(libp2p_key, name="key"))
        return str(res["Id"])

    async def name_publish(self, key: str, cid: str, *, lifetime: str, ttl: str,
                           timeout: float | None = None) -> str:
        """Point the IPNS name of `key` at /ipfs/CID (also with no peers); return the name."""
        res = await self._json("name/publish", [
            ("arg", f"/ipfs/{cid}"), ("key", key), ("lifetime", lifetime), ("ttl", ttl),
            ("allow-offline", "true"), ("resolve", "false"), ("ipns-base", "base36"),
        ], timeout=timeout)
        return str(res["Name"])

    async def name_get(self, name: str, timeout: float, *, offline: bool = False,
                       settle: float = ROUTING_SETTLE) -> bytes:
        """The best signed IPNS record the routing system has for a name (raw protobuf), or
        with `offline` only the one this node stores. A quick "not found" is asked again for
        `settle` seconds: a node that has just connected to the peer holding the record has
        not put it in its DHT table yet."""
        if offline:
            try:
                return await self.call("name/get", [("arg", name), ("offline", "true")],
                                        timeout=min(timeout, 10), max_bytes=10 * 1024)
            except (NodeFailed, NodeTimeout) as e:
                raise NotFound(f"this node holds no record for {name}: {e}") from e
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await self.routing_warm(min(timeout / 2, ROUTING_WARMUP))  # else: only our own, old copy
        settled = loop.time() + min(timeout, settle)
        while True:
            try:
                return await self.call("name/get", [("arg", name)], timeout=max(deadline - loop.time(), 0.1),
                                        max_bytes=10 * 1024)
            except NodeFailed as e:
                if "not found" not in str(e) or loop.time() + 0.25 >= settled:
                    raise NotFound(f"cannot resolve {name}: {e}") from e
            except NodeTimeout as e:
                raise NotFound(f"cannot resolve {name}: {e}") from e
            await asyncio.sleep(0.25)

    async def name_put(self, name: str, record: bytes, timeout: float | None = None) -> None:
        """Store someone's signed IPNS record in the routing system again, unchanged."""
        await self.call("name/put", [("arg", name), ("allow-offline", "true")],
                         file_part(record, name="record"), timeout=timeout)

    async def dag_import(self, car: bytes, timeout: float | None = None) -> None:
        """Store every block of a CAR (blocks are hashed and checked by Kubo; nothing pinned)."""
        await self.call("dag/import", [("pin-roots", "false"), ("stats", "false")],
                         file_part(car, name="car"), timeout=timeout)

    async def dag_export(self, cid: str, max_bytes: int, timeout: float | None = None, *,
                         offline: bool = False) -> bytes:
        """A CAR of the whole DAG under `cid` (fetching what is missing, unless `offline`),
        bounded in size."""
        return await self.call("dag/export", [("arg", cid), ("progress", "false"),
                                               ("offline", str(offline).lower())],
                                max_bytes=max_bytes, timeout=timeout)

    async def pubsub_pub(self, topic: str, data: bytes) -> None:
        """Publish a message on a pubsub topic (needs Pubsub.Enabled on the node)."""
        await self.call("pubsub/pub", [("arg", rpc.multibase(topic.encode()))],
                         file_part(data, name="data"), timeout=10)

    async def pubsub_sub(self, topic: str, max_bytes: int = 16 * 1024) -> AsyncIterator[bytes]:
        """Messages on a pubsub topic as they arrive (data only; each bounded), until the
        stream ends. Messages are untrusted hints: the caller verifies them."""
        assert self._client is not None, "use `async with Kubo(...)`"
        url = self._client.api_endpoint("pubsub/sub")
        try:
            async with self._client.session.post(
                    url, params=[("arg", rpc.multibase(topic.encode()))],
                    timeout=aiohttp.ClientTimeout(total=None, sock_read=None)) as resp:
                if resp.status != 200:
                    raise _api_error("pubsub/sub", resp.status, await resp.read())
                buf = b""
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    if b"\n" not in buf:
                        if len(buf) > 4 * max_bytes:
                            buf = b""  # an oversized message: drop it whole
                        continue
                    *lines, buf = buf.split(b"\n")
                    for line in lines:
                        if line and len(line) <= 4 * max_bytes:
                            data = rpc.message_data(line)
                            if data is not None and len(data) <= max_bytes:
                                yield data
        except TimeoutError as e:
            raise NodeTimeout(f"pubsub subscription to {topic} timed out") from e
        except (aiohttp.ClientError, OSError) as e:
            raise NodeUnavailable(f"pubsub subscription to {topic} lost ({e.__class__.__name__})") from e


async def _unless(answer: Awaitable[T], *errors: str) -> T | None:
    """The answer, or None if the node refused it with one of these (expected) errors."""
    try:
        return await answer
    except NodeFailed as e:
        if any(error in str(e) for error in errors):
            return None
        raise


def file_part(data: bytes, name: str) -> aiohttp.MultipartWriter:
    """A multipart upload of bytes, as Kubo's `file` argument (streamed from memory, so a
    large CAR does not block the event loop)."""
    with aiohttp.MultipartWriter("form-data") as form:
        part = aiohttp.payload.BytesIOPayload(io.BytesIO(data), content_type="application/octet-stream")
        part.set_content_disposition("form-data", name="file", filename=name)
        form.append_payload(part)
    return form


async def _read(resp: aiohttp.ClientResponse, max_bytes: int | None) -> bytes:
    """The body, but stop reading once it is over `max_bytes` (a hostile peer can send more)."""
    if max_bytes is None:
        return await resp.read()
    buf = bytearray()
    async for chunk in resp.content.iter_any():
        buf += chunk
        if len(buf) > max_bytes:
            break
    return bytes(buf)


def _api_error(path: str, status: int, body: bytes) -> Exception:
    """Turn Kubo's error answer into a NodeError."""
    try:
        message = json.loads(body).get("Message") or body.decode(errors="replace")
    except ValueError:
        message = body[:300].decode(errors="replace")
    if "context deadline exceeded" in message:
        return NodeTimeout(f"{path}: the node timed out ({message})")
    return NodeFailed(f"{path}: {message} (HTTP {status})")
