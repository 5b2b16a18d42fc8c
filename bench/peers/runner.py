"""Run a peer's script (installed by `make bench-peers`), read its JSON line, take medians of runs."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..posts import TEXT
from ..report import median

HERE = Path(__file__).parent
RUN_TIMEOUT = 900.0  # seconds for one run of a peer's script


class PeerError(RuntimeError):
    """A peer could not be run or its answer could not be read; the message says why."""


@dataclass(frozen=True)
class Peer:
    """One peer system: its folder, how to run its script and which figures it prints."""

    name: str
    folder: Path
    program: tuple[str, str]  # the interpreter (on PATH, or a path in the folder) and the script
    figures: tuple[str, ...]  # the rates it must report, in messages per second
    installed: str  # the stamp, in the folder, that `make bench-peers` writes once the install succeeded

    def command(self, n: int) -> list[str]:
        """The command line of one run of n messages."""
        interpreter, script = self.program
        found = str(self.folder / interpreter) if "/" in interpreter else shutil.which(interpreter)
        if found is None:
            raise PeerError(f"{interpreter} is not on PATH ({self.name} runs in it)")
        return [found, str(self.folder / script), str(n), TEXT]


SSB = Peer("SSB", HERE / "ssb", ("node", "ssb-bench.js"), ("append_per_s", "replicate_per_s"),
           "node_modules/.installed")
NOSTR = Peer("Nostr", HERE / "nostr", (".venv/bin/python", "nostr_bench.py"),
             ("publish_per_s", "fetch_per_s"), ".venv/.installed")


@dataclass
class Measured:
    """A peer's figures over several runs (or why it was not measured)."""

    peer: str
    messages: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""  # set when not measured

    def rate(self, figure: str) -> float | None:
        """The median of a figure over the runs; None when not measured."""
        return median([r[figure] for r in self.runs]) if self.runs and not self.reason else None

    def detail(self) -> dict[str, Any]:
        """What the JSON file keeps of it: every run's figures, the versions, the message size."""
        if not self.runs:
            return {"messages": self.messages, "not_measured": self.reason}
        last = self.runs[-1]
        keep = [k for k in last if k.endswith("_per_s") or k.endswith("_s")]
        return {"messages": self.messages, "message_bytes": last.get("message_bytes"),
                "versions": last.get("versions"), **{k: last[k] for k in ("node", "crypto") if k in last},
                "runs": [{k: r[k] for k in keep} for r in self.runs]}


def parse(peer: Peer, stdout: str, n: int) -> dict[str, Any]:
    """The JSON line a peer's script printed last, checked: its system, its size, its figures."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    if not lines:
        raise PeerError(f"{peer.name} printed nothing")
    try:
        doc = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        raise PeerError(f"{peer.name} printed no JSON: {lines[-1][:200]!r}") from e
    if not isinstance(doc, dict):
        raise PeerError(f"{peer.name} printed {type(doc).__name__}, not an object")
    if doc.get("system") != peer.name.lower():
        raise PeerError(f"{peer.name}'s script says it is {doc.get('system')!r}")
    if doc.get("messages") != n:
        raise PeerError(f"{peer.name} ran {doc.get('messages')} messages, not {n}")
    for name in peer.figures:
        value = doc.get(name)
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise PeerError(f"{peer.name} reported no {name}: {value!r}")
    return doc


def not_installed(peer: Peer) -> str:
    """Why a peer is not ready to run ('' when it is): the reason its rows give."""
    if (peer.folder / peer.installed).exists():
        return ""
    log = peer.folder / "install.log"
    tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
    why = f": {' / '.join(tail)[:300]}" if tail else " (run `make bench-peers`)"
    return f"not installed in bench/peers/{peer.folder.name}{why}"


def measure(peer: Peer, n: int, runs: int) -> Measured:
    """`runs` runs of n messages, each in a fresh process with fresh stores; a failure of any
    run makes the peer 'not measured', with the reason."""
    out = Measured(peer.name, n)
    out.reason = not_installed(peer)
    if out.reason:
        return out
    for _ in range(runs):
        try:
            done = subprocess.run(peer.command(n), capture_output=True, text=True, timeout=RUN_TIMEOUT,
                                  check=False, cwd=peer.folder)
            if done.returncode != 0:
                said = [s.strip() for s in done.stderr.splitlines() if s.strip()]
                err = " ".join([s for s in said if not s.startswith("at ")][-3:])[:400]  # no JS stack
                raise PeerError(f"{peer.name} exited with {done.returncode}: {err}")
            out.runs.append(parse(peer, done.stdout, n))
        except subprocess.TimeoutExpired:
            out.reason = f"{peer.name} gave no answer within {RUN_TIMEOUT:.0f} s"
            return out
        except (PeerError, OSError) as e:
            out.reason = str(e)
            return out
    return out
