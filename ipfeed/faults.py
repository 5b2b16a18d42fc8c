"""Crash injection for the fault tests: `IPFEED_CRASH_AT=step` kills at that step.

`IPFEED_CRASH_KILL=self` (default) SIGKILLs this process, as a power cut would;
`IPFEED_CRASH_KILL=node` SIGKILLs the managed Kubo daemon and carries on. Unset, every
crash point is a no-op costing one dictionary lookup. `run_ipfeed` starts an ipfeed command
told where to crash (the fault tests and `make soak` both use it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
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


def run_ipfeed(env: Mapping[str, str], *args: str, crash: str | None = None, kill: str = "self",
               timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m ipfeed ARGS` in `env`, told to crash at step `crash` (killing `kill`:
    itself or the node); its output captured, its exit status left to the caller."""
    env = dict(env)
    if crash:
        env.update(IPFEED_CRASH_AT=crash, IPFEED_CRASH_KILL=kill)
    return subprocess.run([sys.executable, "-m", "ipfeed", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
