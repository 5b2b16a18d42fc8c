"""Kubo's RPC API as data, no I/O: every call ipfeed makes (what for) and the multibase text
its pubsub calls take and give."""

from __future__ import annotations

import base64
import json

# The one list to check a new Kubo (or a fork) against: tests/test_kubo_contract.py holds one
# contract test per entry against the pinned Kubo; `ipfs.Kubo.call` refuses a path not listed.
RPC_CALLS = {
    "id": "the node's peer ID, addresses and agent (node addrs, watermarks per node)",
    "swarm/connect": "connect to a peer now (node connect, peer add)",
    "swarm/peers": "connected peers, and with identify which speak ipfeed's stream protocol",
    "stats/dht": "peers in the DHT routing tables (a record put before they fill reaches nobody)",
    "config": "read and set one config value (Peering.Peers; Datastore.Spec for local reads)",
    "diag/sys": "the node's IPFS_PATH: a node on this machine is read from its flatfs files",
    "p2p/listen": "serve /x/ipfeed/feed/1 and /x/ipfeed/inbox/1 streams (Libp2pStreamMounting), "
                  "held in the foreground; the inbox's with report-peer-id",
    "p2p/forward": "open a /x/ipfeed/feed/1 or /x/ipfeed/inbox/1 stream to a peer, held in the foreground",
    "block/put": "store exact DAG-CBOR bytes (posts, roots, follow lists)",
    "block/get": "fetch a block by CID, bounded, from the network or offline",
    "block/stat": "whether the node holds a block, offline (no fetch)",
    "refs": "every CID under a root (export; streaming a held feed)",
    "add": "store an attachment or avatar as UnixFS, CIDv1 raw leaves",
    "cat": "read an attachment or avatar, bounded",
    "pin/add": "pin a root (recursive) or new blocks (direct), in batches",
    "pin/rm": "drop the previous root's direct pin",
    "pin/update": "move the recursive pin of a v2 feed's contents tree to the new tree",
    "pin/ls": "whether a CID is pinned, and how; the recursive pins (a deletion drops a feed's older roots)",
    "key/list": "find the feed key in the node's keystore",
    "key/import": "put the feed key into the keystore (to publish its IPNS name)",
    "name/publish": "publish the feed's newest root under its IPNS name",
    "name/get": "the best signed IPNS record the routing system has for a name",
    "name/put": "store someone's signed record again, unchanged (home servers, archives)",
    "dag/import": "store many blocks in one call (a CAR)",
    "dag/export": "a CAR of an attachment's DAG (incremental export)",
    "pubsub/pub": "announce a new record on /ipfeed/1/announce",
    "pubsub/sub": "hear announcements on /ipfeed/1/announce",
}


def message_data(line: bytes) -> bytes | None:
    """The data of one pubsub message line (JSON with multibase data), or None if malformed."""
    try:
        return unmultibase(str(json.loads(line).get("data", "")))
    except (ValueError, TypeError, AttributeError):
        return None


def multibase(data: bytes) -> str:
    """Multibase base64url (no padding), as Kubo's pubsub API wants topics."""
    return "u" + base64.urlsafe_b64encode(data).decode().rstrip("=")


def unmultibase(text: str) -> bytes:
    """The bytes of multibase base64url text (what `multibase` writes)."""
    if not text.startswith("u"):
        raise ValueError("not multibase base64url")
    body = text[1:]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
