"""Real Kubo daemons for benchmarks: temporary homes, loopback only, always stopped."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ipfeed import node
from ipfeed.config import Settings
from ipfeed.service import Service

CLI_TIMEOUT = 120.0  # seconds for one `ipfs` command of the baseline
STOP_TIMEOUT = 5.0  # seconds a daemon gets to stop before it is killed (it needs about one)


@dataclass(frozen=True)
class BenchNode:
    """One ipfeed home with its own running Kubo daemon."""

    settings: Settings

    @property
    def service(self) -> Service:
        """The ipfeed facade of this home."""
        return Service(self.settings)

    @property
    def api(self) -> str:
        """The multiaddr of the daemon's RPC API (other homes share the daemon through it)."""
        return node.api_address(self.settings)

    def rss_mb(self) -> tuple[float, float]:
        """The daemon's resident memory now and at its peak (VmRSS, VmHWM), in MB."""
        pid = node.status(self.settings).pid
        if pid is None:
            raise RuntimeError(f"the daemon of {self.settings.home} is not running")
        return proc_memory_mb(pid)

    def addr(self) -> str:
        """A loopback swarm multiaddr of the node, ending in /p2p/PEERID."""
        addrs = asyncio.run(self.service.addrs())
        return next(a for a in addrs if a.startswith("/ip4/127.0.0.1/tcp/"))

    def ipfs(self, *args: str, stdin: bytes | None = None, timeout: float = CLI_TIMEOUT) -> str:
        """Run the `ipfs` CLI against this node (as a user's shell would); return its stdout."""
        env = dict(os.environ, IPFS_PATH=str(self.settings.node_dir), IPFS_TELEMETRY="off")
        out = subprocess.run([node.find_ipfs(self.settings), *args], input=stdin, env=env,
                             capture_output=True, timeout=timeout, check=False)
        if out.returncode != 0:
            err = out.stderr.decode(errors="replace").strip()[-500:]
            raise RuntimeError(f"`ipfs {' '.join(args)}` failed: {err}")
        return out.stdout.decode()


def proc_memory_mb(pid: int | str = "self") -> tuple[float, float]:
    """Resident memory of a process now and at its peak (VmRSS, VmHWM from /proc), in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024  # kB
    return fields["VmRSS"], fields["VmHWM"]


def bench_settings(home: Path) -> Settings:
    """Settings like the tests': Kubo's test profile, loopback swarm, bounded timeouts."""
    base = Settings.from_env({k: v for k, v in os.environ.items() if k == "IPFEED_IPFS_BIN"})
    return base.with_(home=home, node_profile="test", swarm=("/ip4/127.0.0.1/tcp/0",),
                      timeout=20.0, resolve_timeout=20.0, start_timeout=60.0, sync_timeout=120.0)


def kubo_version() -> str:
    """The version of the Kubo binary ipfeed would use."""
    return subprocess.run([node.find_ipfs(bench_settings(Path(tempfile.gettempdir()))), "version",
                           "--number"], capture_output=True, text=True, timeout=20,
                          check=True).stdout.strip()


@contextmanager
def connected_nodes(count: int) -> Iterator[list[BenchNode]]:
    """Start `count` initialised homes with daemons, each connected to the first; stop them all."""
    with tempfile.TemporaryDirectory(prefix="ipfeed-bench-") as tmp:
        started: list[BenchNode] = []
        try:
            for i in range(count):
                n = BenchNode(bench_settings(Path(tmp) / f"node{i}"))
                n.service.init(f"Bench {i}")
                started.append(n)  # before start: a half-started daemon is stopped too
                node.start(n.settings)
            for n in started[1:]:  # one at a time: parallel connects upset Kubo's handshakes
                asyncio.run(n.service.connect(started[0].addr()))
            yield started
        finally:
            for n in started:
                node.stop(n.settings, timeout=STOP_TIMEOUT)
