"""The managed Kubo node: find the binary, create the repo, start, stop, and where its API is."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import KUBO_VERSION, Settings, default_cache
from .errors import InvalidInput, KuboNotFound, NodeFailed, NodeUnavailable


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


FEATURES = {  # Kubo settings ipfeed relies on, in every managed repo
    "Pubsub.Enabled": True,  # home servers hear new posts at once (ipfeed.push)
    "Experimental.Libp2pStreamMounting": True,  # home servers stream whole feeds (ipfeed.stream)
}

# Kubo's "auto" placeholders are filled from an AutoConf URL run by a team whose IPFS work has
# ended; ipfeed writes explicit values instead (README, "Network defaults"): the public DHT
# for strangers, no HTTP routers or publishers, the system's DNS resolver.
BOOTSTRAP = (  # Kubo's own built-in list (boxo autoconf.FallbackBootstrapPeers)
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/dnsaddr/va1.bootstrap.libp2p.io/p2p/12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
)


def network_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The config changes that replace every "auto" placeholder with ipfeed's explicit choice
    and turn AutoConf off (an empty dict when there is nothing to change). A value the user
    set by hand (anything but "auto") is kept."""
    routing = config.get("Routing") or {}
    ipns = config.get("Ipns") or {}
    dns = config.get("DNS") or {}
    changes: dict[str, Any] = {}
    bootstrap = config.get("Bootstrap")
    if bootstrap is None or "auto" in bootstrap:
        changes["Bootstrap"] = [*(b for b in bootstrap or () if b != "auto"), *BOOTSTRAP]
    if routing.get("Type") in (None, "auto"):
        changes["Routing.Type"] = "dht"
    if "auto" in (routing.get("DelegatedRouters", ["auto"]) or ()):  # absent: Kubo's default, "auto"
        changes["Routing.DelegatedRouters"] = [r for r in routing.get("DelegatedRouters") or ()
                                               if r != "auto"]
    if "auto" in (ipns.get("DelegatedPublishers", ["auto"]) or ()):
        changes["Ipns.DelegatedPublishers"] = [p for p in ipns.get("DelegatedPublishers") or ()
                                               if p != "auto"]
    resolvers = dns.get("Resolvers") or {}
    if "auto" in resolvers.values():  # {domain: URL}; without an entry Go's system resolver answers
        changes["DNS.Resolvers"] = {k: v for k, v in resolvers.items() if v != "auto"}
    if (config.get("AutoConf") or {}).get("Enabled") is not False:
        changes["AutoConf.Enabled"] = False
    return changes


def init_repo(settings: Settings) -> bool:
    """Create the managed repo if it does not exist, API and gateway on loopback only."""
    if (settings.node_dir / "config").exists():
        return False
    settings.node_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    args = ["init", "--empty-repo"]
    if settings.node_profile:
        args.append(f"--profile={settings.node_profile}")
    _ipfs(settings, *args)
    _write_config(settings, {
        "Addresses.API": "/ip4/127.0.0.1/tcp/0",
        "Addresses.Gateway": "/ip4/127.0.0.1/tcp/0",
        "Addresses.Swarm": list(settings.swarm),
        "Ipns.RecordLifetime": settings.ipns_lifetime,
    })
    return True


def _write_config(settings: Settings, changes: dict[str, Any]) -> None:
    """Set dotted config keys in the repo's config file at once (the daemon is not running:
    `start` holds the start lock; `ipfs config` would cost a process per key, and `ipfs
    config replace` refuses a file that carries the private key)."""
    if not changes:
        return
    config = _read_config(settings)
    for key, value in changes.items():
        *sections, last = key.split(".")
        at = config
        for section in sections:
            at = at.setdefault(section, {})
        at[last] = value
    path = settings.node_dir / "config"
    tmp = path.with_name("config.ipfeed-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(config, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(path)


def _read_config(settings: Settings) -> dict[str, Any]:
    try:
        config: dict[str, Any] = json.loads((settings.node_dir / "config").read_text())
    except (OSError, ValueError) as e:
        raise NodeFailed(f"cannot read {settings.node_dir / 'config'}: {e}") from e
    return config


def _configure(settings: Settings) -> list[str]:
    """Bring the repo's config to what ipfeed needs (features, explicit network settings,
    free swarm ports), read from the config file so that only what is missing costs an
    `ipfs config` call; return notes for the user (a port that had to change)."""
    config = _read_config(settings)
    changes: dict[str, Any] = {}
    for key, value in FEATURES.items():
        section, _, field_name = key.partition(".")
        if (config.get(section) or {}).get(field_name) != value:
            changes[key] = value
    changes.update(network_settings(config))
    changes.update(_user_config(settings))
    _check_lifetime(settings, config)
    swarm = list(changes.get("Addresses.Swarm") or (config.get("Addresses") or {}).get("Swarm") or [])
    free, notes = free_swarm(swarm)
    if free != swarm:
        changes["Addresses.Swarm"] = free
    _write_config(settings, changes)
    return notes


_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration(text: str) -> float:
    """Seconds of a Go duration such as `336h`, `90m` or `1h30m` (what Kubo's settings take)."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidInput(f"{text!r} is not a duration such as 336h, 90m or 1h30m")
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def _check_lifetime(settings: Settings, config: dict[str, Any]) -> None:
    """Kubo 0.43 refuses to start when records would expire before its republisher renews
    them: say so in ipfeed's words, naming the setting, before the daemon exits."""
    ipns = config.get("Ipns") or {}
    lifetime = go_duration(str(ipns.get("RecordLifetime") or settings.ipns_lifetime))
    period = go_duration(str(ipns.get("RepublishPeriod") or "4h"))
    if lifetime < period:
        raise InvalidInput(f"IPNS records would live {lifetime / 3600:g} h, less than Kubo republishes "
                           f"them ({period / 3600:g} h): raise IPFEED_IPNS_LIFETIME (default 336h) "
                           "or lower the node's Ipns.RepublishPeriod")


def _user_config(settings: Settings) -> dict[str, Any]:
    """IPFEED_NODE_CONFIG: Kubo config keys the user sets on top of ipfeed's, at every start."""
    if not settings.node_config:
        return {}
    try:
        extra = json.loads(settings.node_config)
    except ValueError as e:
        raise InvalidInput(f"IPFEED_NODE_CONFIG is not JSON: {e}") from e
    if not isinstance(extra, dict) or not all(isinstance(k, str) and k for k in extra):
        raise InvalidInput("IPFEED_NODE_CONFIG must be a JSON object such as "
                           '{"Discovery.MDNS.Enabled": false}')
    return extra


def _port_of(maddr: str) -> tuple[str, str, int] | None:
    """(ip, "tcp" or "udp", port) of a swarm address with a fixed port, else None."""
    parts = maddr.strip("/").split("/")
    if len(parts) >= 4 and parts[0] in ("ip4", "ip6") and parts[2] in ("tcp", "udp") and parts[3].isdigit():
        return parts[1], parts[2], int(parts[3])
    return None


def _taken(ip: str, proto: str, port: int) -> bool:
    """Whether another process holds the port (Kubo binds with SO_REUSEPORT, so two homes
    would otherwise share 4001 and each dial itself when dialing the other)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(family, kind) as s:
        if proto == "tcp":  # a TIME_WAIT of our own last run is not "taken"; a listener is
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((ip, port))
        except OSError as e:
            if e.errno in (errno.EADDRINUSE, errno.EACCES):
                return True
            raise NodeFailed(f"cannot check swarm port {ip}:{port}: {e.strerror}") from e
    return False


def free_swarm(swarm: list[str]) -> tuple[list[str], list[str]]:
    """The swarm addresses with every fixed port that another process holds moved to one port
    free for TCP and UDP on every address; and a note for each move."""
    used = [p for a in swarm if (p := _port_of(a))]
    busy = sorted({port for ip, proto, port in used if port and _taken(ip, proto, port)})
    if not busy:
        return swarm, []
    ips = sorted({ip for ip, _, _ in used})
    for _ in range(50):
        with socket.socket() as s:
            s.bind((ips[0] if ":" not in ips[0] else "127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not any(_taken(ip, proto, port) for ip in ips for proto in ("tcp", "udp")):
            break
    else:
        raise NodeFailed("no free swarm port found for this home")
    out = []
    for a in swarm:
        p = _port_of(a)
        out.append(a.replace(f"/{p[1]}/{p[2]}", f"/{p[1]}/{port}", 1) if p and p[2] in busy else a)
    notes = [f"swarm port {b} is taken (another home or IPFS node on this machine?); this home "
             f"now uses port {port}: give friends the addresses from `ipfeed node addrs`" for b in busy]
    return out, notes


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
        notes = _configure(settings)
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
    for peer in (_read_config(settings).get("Peering") or {}).get("Peers") or []:
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
