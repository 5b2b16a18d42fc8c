"""Where the time goes when a target is missed: cProfile, summed up in one line for a note."""

from __future__ import annotations

import cProfile
import pstats
import re
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository


def _where(key: tuple[str, int, str]) -> str:
    path, line, func = key
    if path == "~":  # a built-in
        return func.strip("<>{}")
    if path.startswith(f"{ROOT}/"):
        path = path[len(str(ROOT)) + 1:]
    path = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", path)
    return f"{path}:{line} {func}"


def hotspots(fn: Callable[[], object], count: int = 4, project: tuple[str, ...] = ("ipfeed/", "web/")) -> str:
    """Run `fn` once under cProfile; the `count` functions with the most own time and the
    project's functions with the most time inside them (cumulative), as shares of the whole.
    Waiting for the node shows up as the event loop's `poll`."""
    prof = cProfile.Profile()
    prof.enable()
    try:
        fn()
    finally:
        prof.disable()
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    whole = sum(v[2] for v in stats.values()) or 1.0
    own = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:count]
    ours = sorted(((k, v) for k, v in stats.items() if _where(k).startswith(project)),
                  key=lambda kv: kv[1][3], reverse=True)[1:count + 1]  # [0] is the entry point
    return (f"own time: {', '.join(f'{_where(k)} {v[2] / whole:.0%}' for k, v in own)}; "
            f"inside ipfeed: {', '.join(f'{_where(k)} {v[3] / whole:.0%}' for k, v in ours)}")
