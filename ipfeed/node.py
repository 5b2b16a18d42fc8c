"""The managed Kubo node: find the binary, create the repo, start, stop, and where its API is."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from . import nodeconfig
from .config import KUBO_VERSION, Settings, default_cache
from .errors import KuboNotFound, NodeFailed, NodeUnavailable


def find_ipfs(settings: Settings) -> str:
    """The Kubo binary: explicit setting, `ipfs` on PATH at the pinned version, or the cache."""
    if settings.ipfs_bin:
        return settings.ipfs_bin
    candidates = [shutil.which("ipfs"), str(default_cache() / f"kubo-v{KUBO_VERSION}" / "ipfs")]
    for path in candidates:
        if path and os.access(path, os.X_OK) and _version(path) == KUBO_VERSION:
            return path
    raise KuboNotFound(
        f"Kubo v{KUBO_VERSION} not found; run `make install` (builds it with Go), "
        "or install the official Kubo release binary and set IPFEED_IPFS_BIN"
    )


def _version(path: str) -> str:
    try:
        out = subprocess.run([path, "version", "--number"], capture_output=True, text=True,
                             timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip()


def ipfs_env(settings: Settings) -> dict[str, str]:
    """The environment an `ipfs` command for this home runs in (its repo, no telemetry)."""
    env = dict(os.environ)
    env.update(IPFS_PATH=str(settings.node_dir), IPFS_TELEMETRY="off")
    env.setdefault("GOMEMLIMIT", "1GiB")
    return env


def _ipfs(settings: Settings, *args: str, timeout: float = 60) -> str:
    """Run one offline `ipfs` command on the managed repo."""
    cmd = [find_ipfs(settings), *args]
    try:
        out = subprocess.run(cmd, env=ipfs_env(settings), capture_output=True, text=True,
                             timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        raise NodeFailed(f"`ipfs {' '.join(args)}` did not finish in {timeout:g}s") from e
    if out.returncode != 0:
        raise NodeFailed(f"`ipfs {' '.join(args)}` failed: {out.stderr.strip()[-500:]}")
    return out.stdout


def init_repo(settings: Settings) -> bool:
    """Create the managed repo if it does not exist, API and gateway on loopback only."""
    if (settings.node_dir / "config").exists():
        return False
    settings.node_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    args = ["init", "--empty-repo"]
    if settings.node_profile:
        args.append(f"--profile={settings.node_profile}")
    _ipfs(settings, *args)
    nodeconfig.write_config(settings, {
        "Addresses.API": "/ip4/127.0.0.1/tcp/0",
        "Addresses.Gateway": "/ip4/127.0.0.1/tcp/0",
        "Addresses.Swarm": list(settings.swarm),
        "Ipns.RecordLifetime": settings.ipns_lifetime,
    })
    return True


@dataclass(frozen=True)
class NodeStatus:
    """What `ipfeed node status` reports."""

    running: bool
    pid: int | None
    api: str | None
    repo: Path
    notes: tuple[str, ...] = ()  # what the start changed that the user should know


def _pid_path(settings: Settings) -> Path:
    return settings.home / "node.pid"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as dead.
    try:
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def _read_pid(settings: Settings) -> int | None:
    try:
        pid = int(_pid_path(settings).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _alive(pid) and _is_our_daemon(pid, settings) else None


def _is_our_daemon(pid: int, settings: Settings) -> bool:
    """Whether `pid` is this home's `ipfs daemon`, not a process that got a stale pid file's
    number after a reboot (stopping that one would kill a stranger). Without /proc: trusted."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except PermissionError:
        return False  # another user's process
    return argv[1:2] == [b"daemon"] and f"IPFS_PATH={settings.node_dir}".encode() in env


def managed_api(settings: Settings) -> str | None:
    """The API multiaddr of the managed node if it is running."""
    if _read_pid(settings) is None:
        return None
    try:
        return (settings.node_dir / "api").read_text().strip() or None
    except FileNotFoundError:
        return None


def started_ago(settings: Settings) -> float | None:
    """Seconds since the managed node was started, if it runs (None for another node)."""
    if settings.api or _read_pid(settings) is None:
        return None
    try:
        return max(time.time() - _pid_path(settings).stat().st_mtime, 0.0)
    except FileNotFoundError:
        return None


def api_address(settings: Settings) -> str:
    """Where to reach a node: `--api`/IPFEED_API, else the running managed node."""
    if settings.api:
        return settings.api
    api = managed_api(settings)
    if api is None:
        raise NodeUnavailable(f"the node of {settings.home} is not running; run `ipfeed node start`")
    return api


def status(settings: Settings) -> NodeStatus:
    """Whether the managed node runs, and where."""
    pid = _read_pid(settings)
    return NodeStatus(pid is not None, pid, managed_api(settings), settings.node_dir)


@contextmanager
def _start_lock(settings: Settings) -> Iterator[None]:
    """Serialize starts of one home: a second start waits, then finds the node running."""
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(settings.home / "node.lock", "w") as f:
        deadline = time.monotonic() + settings.start_timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() > deadline:
                    raise NodeFailed("another `ipfeed node start` for this home is stuck") from e
                time.sleep(0.1)
        yield


def start(settings: Settings) -> NodeStatus:
    """Start the managed daemon in the background and wait until its API answers."""
    with _start_lock(settings):
        current = status(settings)
        if current.running:
            return current
        init_repo(settings)
        notes = nodeconfig.configure(settings)
        (settings.node_dir / "api").unlink(missing_ok=True)  # left by a killed daemon
        pid = _spawn([find_ipfs(settings), "daemon"], ipfs_env(settings), settings.home / "node.log")
        _pid_path(settings).write_text(f"{pid}\n")
        deadline = time.monotonic() + settings.start_timeout
        while time.monotonic() < deadline:
            if not _alive(pid):
                _pid_path(settings).unlink(missing_ok=True)
                raise NodeFailed(f"the Kubo daemon exited: {_log_tail(settings)}")
            api = managed_api(settings)
            if api and _answers(api):
                _connect_peerings(api, settings)
                return NodeStatus(True, pid, api, settings.node_dir, tuple(notes))
            time.sleep(0.1)
        _terminate(pid, 10)
        raise NodeFailed(f"the Kubo daemon did not come up in {settings.start_timeout:g}s: "
                         f"{_log_tail(settings)}")


def _spawn(argv: list[str], env: dict[str, str], log: Path) -> int:
    """Start a detached process (own session, output to `log`); return its pid."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return os.posix_spawn(argv[0], argv, env, setsid=True, file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_DUP2, fd, 1),
            (os.POSIX_SPAWN_DUP2, fd, 2),
        ])
    finally:
        os.close(fd)


def _answers(api: str) -> bool:
    """Whether the RPC API answers `id` (a plain HTTP check: no event loop needed)."""
    import requests

    host, port = _host_port(api)
    try:
        return requests.post(f"http://{host}:{port}/api/v0/id", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _connect_peerings(api: str, settings: Settings) -> None:
    """Dial the configured peerings once, now: Kubo's own peering service waits 5 s before its
    first attempt and backs off from there (7-13 s with a peer that was down a moment ago),
    and a record published or asked for before they connect reaches nobody."""
    import requests

    host, port = _host_port(api)
    for peer in (nodeconfig.read_config(settings).get("Peering") or {}).get("Peers") or []:
        for addr in peer.get("Addrs") or []:  # one at a time: parallel dials can clash
            try:
                ok = requests.post(f"http://{host}:{port}/api/v0/swarm/connect",
                                   params={"arg": f"{addr}/p2p/{peer.get('ID')}", "timeout": "3s"},
                                   timeout=5).status_code == 200
            except requests.RequestException:
                ok = False
            if ok:
                break


def _host_port(maddr: str) -> tuple[str, int]:
    parts = maddr.strip("/").split("/")
    if len(parts) < 4 or parts[0] not in ("ip4", "ip6", "dns", "dns4", "dns6") or parts[2] != "tcp":
        raise NodeUnavailable(f"unsupported API multiaddr {maddr!r}")
    host = f"[{parts[1]}]" if parts[0] == "ip6" else parts[1]
    return host, int(parts[3])


def _log_tail(settings: Settings) -> str:
    try:
        lines = (settings.home / "node.log").read_text(errors="replace").strip().splitlines()
    except FileNotFoundError:
        return "(no log)"
    return " | ".join(lines[-5:])


def _terminate(pid: int, timeout: float) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while _alive(pid) and time.monotonic() < deadline + 5:
        time.sleep(0.05)


def stop(settings: Settings, timeout: float = 30) -> bool:
    """Stop the managed daemon (TERM, then KILL after `timeout`); False if it was not running."""
    pid = _read_pid(settings)
    if pid is None:
        _pid_path(settings).unlink(missing_ok=True)
        return False
    _terminate(pid, timeout)
    _pid_path(settings).unlink(missing_ok=True)
    return True


def kill(settings: Settings) -> None:
    """Kill the managed daemon at once (SIGKILL), as a crash would."""
    pid = _read_pid(settings)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.02)
