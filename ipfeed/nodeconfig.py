"""The managed repo's config file: the Kubo features ipfeed relies on, explicit network
settings instead of Kubo's "auto" placeholders, the user's own keys, free swarm ports."""

from __future__ import annotations

import errno
import json
import os
import socket
from typing import Any

from .config import Settings
from .errors import InvalidInput, NodeFailed

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



def write_config(settings: Settings, changes: dict[str, Any]) -> None:
    """Set dotted config keys in the repo's config file at once (the daemon is not running:
    `start` holds the start lock; `ipfs config` would cost a process per key, and `ipfs
    config replace` refuses a file that carries the private key)."""
    if not changes:
        return
    config = read_config(settings)
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


def read_config(settings: Settings) -> dict[str, Any]:
    """The repo's config file, parsed."""
    try:
        config: dict[str, Any] = json.loads((settings.node_dir / "config").read_text())
    except (OSError, ValueError) as e:
        raise NodeFailed(f"cannot read {settings.node_dir / 'config'}: {e}") from e
    return config


def configure(settings: Settings) -> list[str]:
    """Bring the repo's config to what ipfeed needs (features, explicit network settings,
    free swarm ports), read from the config file so that only what is missing costs an
    `ipfs config` call; return notes for the user (a port that had to change)."""
    config = read_config(settings)
    changes: dict[str, Any] = {}
    for key, value in FEATURES.items():
        section, _, field_name = key.partition(".")
        if (config.get(section) or {}).get(field_name) != value:
            changes[key] = value
    changes.update(network_settings(config))
    changes.update(_user_config(settings))
    _check_lifetime(settings, config, changes)
    swarm = list(changes.get("Addresses.Swarm") or (config.get("Addresses") or {}).get("Swarm") or [])
    free, notes = free_swarm(swarm)
    if free != swarm:
        changes["Addresses.Swarm"] = free
    write_config(settings, changes)
    return notes


_GO_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def go_duration(text: str) -> float:
    """Seconds of a Go duration such as `336h`, `90m` or `1h30m` (what Kubo's settings take)."""
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise InvalidInput(f"{text!r} is not a duration such as 336h, 90m or 1h30m")
    return sum(float(n) * _GO_UNITS[u] for n, u in parts)


def _check_lifetime(settings: Settings, config: dict[str, Any], changes: dict[str, Any]) -> None:
    """Kubo 0.43 refuses to start when records would expire before its republisher renews
    them: say so in ipfeed's words, naming the setting, before the daemon exits (judged on the
    config as this start leaves it: IPFEED_NODE_CONFIG may set either value)."""
    ipns = config.get("Ipns") or {}
    lifetime = go_duration(str(changes.get("Ipns.RecordLifetime") or ipns.get("RecordLifetime")
                               or settings.ipns_lifetime))
    period = go_duration(str(changes.get("Ipns.RepublishPeriod") or ipns.get("RepublishPeriod") or "4h"))
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
