"""Settings: one frozen table of everything a user or a test can tune, read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InvalidInput

KUBO_VERSION = "0.43.1"


def default_home() -> Path:
    """The ipfeed home: `$XDG_DATA_HOME/ipfeed`, else `~/.local/share/ipfeed`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "ipfeed"


def default_cache() -> Path:
    """Where the Kubo binary is cached, outside any repo: `$XDG_CACHE_HOME/ipfeed`."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("IPFEED_CACHE") or Path(base) / "ipfeed")


@dataclass(frozen=True)
class Settings:
    """Every tunable of ipfeed; each field has an `IPFEED_*` environment variable."""

    home: Path = field(default_factory=default_home)
    api: str | None = None  # multiaddr of an existing node's RPC API; None = the managed node
    ipfs_bin: str | None = None  # explicit Kubo binary; None = PATH or cache at KUBO_VERSION
    node_profile: str = ""  # `ipfs init --profile` for a new managed repo ("test" in tests)
    swarm: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/4001", "/ip4/0.0.0.0/udp/4001/quic-v1")
    node_config: str = ""  # JSON {"Kubo.Config.Key": value, ...} set in the managed repo at every start
    ipns_lifetime: str = "336h"  # validity of our IPNS records (14 days)
    ipns_ttl: str = "1m"  # how long resolvers may cache our record
    timeout: float = 30.0  # seconds for one call to the node that may touch the network
    resolve_timeout: float = 30.0  # seconds to resolve an IPNS name
    start_timeout: float = 60.0  # seconds for a managed node to come up
    lock_timeout: float = 120.0  # seconds to wait for another ipfeed writing the same feed
    fetch_concurrency: int = 16  # blocks fetched at once
    sync_concurrency: int = 4  # feeds synced at once
    sync_timeout: float = 300.0  # seconds for one feed's sync (a long first sync included)
    sync_interval: float = 60.0  # seconds between the home server's sync rounds
    max_export_bytes: int = 1 << 30  # bound on one attachment an export reads, and on an archive imported
    max_sync_posts: int = 1_000_000  # new posts one sync takes from a feed; a feed claiming more is refused
    local_reads: bool = True  # read a local flatfs node's block files in bulk (ipfeed.localblocks)
    link_cards: bool = True  # the author's node fetches the first link of a new post once for its card
    cards_allow_loopback: bool = False  # tests only: link cards may fetch from 127.0.0.1 / ::1

    @property
    def node_dir(self) -> Path:
        """The managed Kubo repo (IPFS_PATH)."""
        return self.home / "node"

    @property
    def key_path(self) -> Path:
        """The identity key file (0600)."""
        return self.home / "identity.key"

    @property
    def index_path(self) -> Path:
        """The index database (a cache of verified data)."""
        return self.home / "index.sqlite"

    @property
    def inbox_path(self) -> Path:
        """The inbox database: notices received (verified) and to deliver."""
        return self.home / "inbox.sqlite"

    @property
    def outbox_path(self) -> Path:
        """The durable outbox database of the user's own feed."""
        return self.home / "outbox.sqlite"

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (None values are ignored)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})  # type: ignore[arg-type]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Settings from `IPFEED_*` variables, defaults for the rest."""
        env = dict(os.environ if env is None else env)
        s = cls()
        floats = ("timeout", "resolve_timeout", "start_timeout", "lock_timeout", "sync_timeout",
                  "sync_interval")
        changes: dict[str, object] = {}
        if v := env.get("IPFEED_HOME"):
            changes["home"] = Path(v)
        for name in ("api", "ipfs_bin", "node_profile", "node_config", "ipns_lifetime", "ipns_ttl"):
            if (v := env.get("IPFEED_" + name.upper())) is not None:
                changes[name] = v
        if v := env.get("IPFEED_SWARM"):
            changes["swarm"] = tuple(a for a in v.split(",") if a)
        for name in floats:
            if v := env.get("IPFEED_" + name.upper()):
                changes[name] = float(v)
        for name in ("fetch_concurrency", "sync_concurrency", "max_export_bytes", "max_sync_posts"):
            if v := env.get("IPFEED_" + name.upper()):
                changes[name] = int(v)
        for name in ("local_reads", "link_cards", "cards_allow_loopback"):
            if v := env.get("IPFEED_" + name.upper()):
                changes[name] = _switch("IPFEED_" + name.upper(), v)
        return replace(s, **changes)  # type: ignore[arg-type]


def _switch(variable: str, value: str) -> bool:
    """An on/off variable: on, off, true, false, yes, no, 1 or 0."""
    v = value.strip().lower()
    if v in ("on", "true", "yes", "1"):
        return True
    if v in ("off", "false", "no", "0"):
        return False
    raise InvalidInput(f"{variable} must be on or off, not {value!r}")
