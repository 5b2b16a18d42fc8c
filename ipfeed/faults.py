"""Crash injection for the fault tests: `IPFEED_CRASH_AT=step` kills at that step.

`IPFEED_CRASH_KILL=self` (default) SIGKILLs this process, as a power cut would;
`IPFEED_CRASH_KILL=node` SIGKILLs the managed Kubo daemon and carries on. Unset, every
crash point is a no-op costing one dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

POST_STEPS = ("saved", "sealed", "stored", "pinned", "published")
SYNC_STEPS = ("fetched", "indexed")


def crashpoint(step: str, home: Path) -> None:
    """Die (or kill the node) here if the environment asks for it."""
    if os.environ.get("IPFEED_CRASH_AT") != step:
        return
    if os.environ.get("IPFEED_CRASH_KILL", "self") == "node":
        try:
            pid = int((home / "node.pid").read_text())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass
        return
    os.kill(os.getpid(), signal.SIGKILL)
