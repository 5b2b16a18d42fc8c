"""What the header and the status strip say: the state of the node and of publishing now
(computed at each page, not remembered from an earlier action), in plain words."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

from ipfeed import node
from ipfeed.config import Settings

from .worker import Worker

RECENT = 600  # seconds a "published" or "synced" line stays on the strip


@dataclass(frozen=True)
class NodeState:
    """Whether the node runs, and whether ipfeed manages it (else an external API is used)."""

    running: bool
    managed: bool


@dataclass(frozen=True)
class Strip:
    """The status strip: one line of what is going on, its kind (for colour), a key that
    a dismissal remembers (a new state has a new key, so it shows again)."""

    kind: str  # ok | busy | failed | info
    text: str
    detail: str = ""
    publish: bool = False  # offer "Publish now" (updates wait and nothing is publishing them)

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.kind}\0{self.text}".encode()).hexdigest()[:16]


def node_state(settings: Settings) -> NodeState:
    """The node as the header shows it (a pid file and /proc: no network)."""
    if settings.api:
        return NodeState(True, False)
    return NodeState(node.status(settings).running, True)


def strip(settings: Settings, work: Worker, pending: int, now: float | None = None) -> Strip | None:
    """The one line the strip shows now, or None when there is nothing to say."""
    now = time.time() if now is None else now
    state = node_state(settings)
    one = pending == 1
    waiting = (f"{pending} update{'' if one else 's'} of your feed (posts, profile, follows) "
               f"{'is' if one else 'are'} saved here and waiting to be published" if pending else "")
    if not state.running:
        return Strip("failed", "Your node is stopped: " + (
            f"{waiting}; they go out when it runs." if pending else
            "nothing can be published or fetched until it runs."))
    pub, sync = work.status, work.sync_status
    if pub.state == "publishing":
        return Strip("busy", "Publishing…" + (f" ({waiting})" if pending else ""))
    if pending:
        why = f" ({pub.message}; retried later)" if pub.state == "failed" else ""
        return Strip("failed" if why else "info", waiting[:1].upper() + waiting[1:] + why + ".",
                     pub.detail, publish=True)
    if sync.state == "syncing":
        return Strip("busy", sync.message[:1].upper() + sync.message[1:])
    if sync.state in ("synced", "failed") and now - sync.at < RECENT:
        return Strip("ok" if sync.state == "synced" else "failed",
                     sync.message[:1].upper() + sync.message[1:] + ".", sync.detail)
    if pub.state == "published" and now - pub.at < RECENT:
        return Strip("ok", "Published: your feed is up to date on the network.")
    return None
