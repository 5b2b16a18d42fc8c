"""The peer rows: ipfeed's figures of this run beside SSB's and Nostr's for the same work, with
the targets of issue 18 (publish: >= 1.5x SSB; first sync: >= 2x SSB and >= 1x Nostr)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..bulk import end_to_end_case
from ..report import Row
from ..syncing import first_sync_case
from .runner import Measured

PUBLISH_VS_SSB = 1.5
SYNC_VS_SSB = 2.0
SYNC_VS_NOSTR = 1.0


@dataclass(frozen=True)
class Ours:
    """ipfeed's figures of this run for n posts (None where its case failed or did not run)."""

    posts: int
    publish: float | None  # post_many, posts/s
    sync: float | None  # first sync from another node with the author's home server, posts/s
    block_bytes: int  # the size of one of ipfeed's bench posts

    @classmethod
    def of(cls, rows: Sequence[Row], n: int, block_bytes: int) -> Ours:
        """Read them from the rows this run has made so far."""
        found = {r.case: r.ipfeed for r in rows}
        return cls(n, found.get(end_to_end_case(n)), found.get(first_sync_case(n)), block_bytes)


def _row(case: str, ours: Ours, figure: str, peer: Measured, peer_figure: str, times: float | None,
         about: str) -> Row:
    """One peer row: ipfeed's `figure` ("publish" or "sync") beside the peer's; without a
    target when `times` is None."""
    target = "" if times is None else f">= {times:g}x {peer.peer}"
    mine = ours.publish if figure == "publish" else ours.sync
    ipfeed_case = (end_to_end_case if figure == "publish" else first_sync_case)(ours.posts)
    row = Row(case, "/s", ipfeed=mine, peer=peer.rate(peer_figure), target=target,
              detail={"ipfeed_case": ipfeed_case, "peer": peer.peer, "peer_figure": peer_figure,
                      "ipfeed_block_bytes": ours.block_bytes, **peer.detail()})
    if peer.reason:
        row.note = f"{peer.peer} not measured: {peer.reason}"
    elif mine is None:
        row.note = f"ipfeed's figure is missing: its case ({ipfeed_case}) failed or did not run"
    else:
        size = peer.detail().get("message_bytes")
        row.note = (f"{about} the same texts as ipfeed's posts: {size} bytes per {peer.peer} message "
                    f"(ipfeed: {ours.block_bytes}-byte blocks); median of {len(peer.runs)} runs.")
        if times is not None and row.vs_peer is not None:
            row.met = row.vs_peer >= times
    return row


_SSB_APPEND = "ssb-db2 appends one message at a time to its log (not fsynced);"
_NOSTR_PUBLISH = "Each note is signed and acknowledged by a relay on loopback (events kept in memory);"
_SSB_EBT = "A second ssb-db2 peer replicates the feed over loopback (secret handshake, EBT), validating each;"
_NOSTR_FETCH = "A fresh client fetches the notes from the relay 500 a page and verifies each one;"


def rows(ours: Ours, ssb: Measured, nostr: Measured) -> list[Row]:
    """The four peer rows: publish vs SSB append and vs Nostr publish, first sync vs SSB's EBT
    replication and vs Nostr's fetch-and-verify."""
    n = ours.posts
    first = f"first sync of a {n:,}-post feed"
    return [
        _row(f"publish {n:,} posts vs SSB: post_many vs ssb-db2 append", ours, "publish", ssb,
             "append_per_s", PUBLISH_VS_SSB, _SSB_APPEND),
        _row(f"publish {n:,} posts vs Nostr: post_many vs signed notes sent to a relay", ours, "publish",
             nostr, "publish_per_s", None, _NOSTR_PUBLISH),
        _row(f"{first} vs SSB: sync vs EBT replication (ssb-db2 validates)", ours, "sync", ssb,
             "replicate_per_s", SYNC_VS_SSB, _SSB_EBT),
        _row(f"{first} vs Nostr: sync vs fetch from a relay, every signature verified", ours, "sync",
             nostr, "fetch_per_s", SYNC_VS_NOSTR, _NOSTR_FETCH),
    ]
