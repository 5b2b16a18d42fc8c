"""Peers: the node's addresses, connecting now, and persistent peerings (Kubo's Peering.Peers)."""

from __future__ import annotations

from typing import Any

from .errors import InvalidInput
from .homedir import Home


async def addrs(home: Home) -> list[str]:
    """The node's swarm multiaddrs, each ending in /p2p/PEERID."""
    async with home.kubo() as kubo:
        info = await kubo.id()
    return [str(a) for a in info.get("Addresses") or []]


async def connect(home: Home, maddr: str) -> None:
    """Connect to a peer now."""
    _peer_id(maddr)
    async with home.kubo() as kubo:
        await kubo.swarm_connect(maddr)


async def peers(home: Home) -> list[dict[str, Any]]:
    """The persistent peerings (Kubo's Peering.Peers)."""
    async with home.kubo() as kubo:
        return list(await kubo.config_get("Peering.Peers") or [])


async def peer_add(home: Home, maddr: str) -> None:
    """Keep a persistent peering with a peer (from the next node start) and connect now."""
    pid = _peer_id(maddr)
    addr = maddr[: maddr.rindex("/p2p/")]
    async with home.kubo() as kubo:
        peers = list(await kubo.config_get("Peering.Peers") or [])
        entry = next((p for p in peers if p.get("ID") == pid), None)
        if entry is None:
            peers.append({"ID": pid, "Addrs": [addr] if addr else []})
        elif addr and addr not in (entry.get("Addrs") or []):
            entry["Addrs"] = [*(entry.get("Addrs") or []), addr]
        await kubo.config_set("Peering.Peers", peers)
        if addr:
            await kubo.swarm_connect(maddr)


async def peer_rm(home: Home, maddr_or_id: str) -> bool:
    """Forget a persistent peering; False if there was none."""
    pid = _peer_id(maddr_or_id) if "/p2p/" in maddr_or_id else maddr_or_id
    async with home.kubo() as kubo:
        peers = list(await kubo.config_get("Peering.Peers") or [])
        kept = [p for p in peers if p.get("ID") != pid]
        await kubo.config_set("Peering.Peers", kept)
    return len(kept) != len(peers)


def _peer_id(maddr: str) -> str:
    if "/p2p/" not in maddr:
        raise InvalidInput(f"{maddr!r} has no /p2p/PEERID part")
    return maddr.rsplit("/p2p/", 1)[1]
