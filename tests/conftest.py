"""Fixtures: real Kubo daemons on temporary repos and loopback ports, and users on them."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result
from multiformats import CID

from ipfeed import Service, node
from ipfeed.cli import cli
from ipfeed.config import Settings
from ipfeed.ipfs import Kubo

T = TypeVar("T")
DATA = Path(__file__).parent / "data"
CHROMIUM = "/usr/bin/chromium"
OUT = Path(__file__).resolve().parent.parent / "test-output"  # browser screenshots


def off_loop(fn: Callable[[], T]) -> T:
    """Call fn here, or in a helper thread if this thread runs an event loop (Playwright's)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return fn()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result(timeout=300)


def run(aw: Awaitable[T]) -> T:
    """Run a coroutine from a sync test."""
    async def main() -> T:
        return await aw

    return off_loop(lambda: asyncio.run(main()))


# What keeps every packet of a node with the users' defaults on this machine, and nothing
# else: no bootstrap peers, no mDNS (its multicast leaves the machine), and the LAN DHT
# accepting 127.0.0.1 peers (without it, nodes on loopback cannot route IPNS records).
LOOPBACK_ONLY = {"Bootstrap": [], "Discovery.MDNS.Enabled": False,
                 "Routing.LoopbackAddressesOnLanDHT": True}
DEFAULTS = ("test", "real")  # Kubo's test profile / the managed node as ipfeed makes it for users


def test_settings(home: Path, defaults: str = "test", port: int = 0, **changes: Any) -> Settings:
    """Settings for a test user: loopback swarm, short timeouts; `defaults="test"` uses Kubo's
    test profile, `"real"` the node ipfeed configures for users, changed only by LOOPBACK_ONLY."""
    base = Settings.from_env({k: v for k, v in os.environ.items() if k == "IPFEED_IPFS_BIN"})
    if defaults == "real":
        base = base.with_(node_profile="", node_config=json.dumps(LOOPBACK_ONLY),
                          swarm=(f"/ip4/127.0.0.1/tcp/{port}", f"/ip4/127.0.0.1/udp/{port}/quic-v1"))
    else:
        base = base.with_(node_profile="test", swarm=(f"/ip4/127.0.0.1/tcp/{port}",))
    return base.with_(home=home, timeout=20.0, resolve_timeout=20.0, start_timeout=60.0, **changes)


@dataclass
class User:
    """A person with an ipfeed home and (once started) a managed node of their own."""

    home: Path
    settings: Settings

    @property
    def service(self) -> Service:
        return Service(self.settings)

    def env(self) -> dict[str, str]:
        """Environment for running the CLI as this user in a subprocess."""
        s = self.settings
        env = dict(os.environ, IPFEED_HOME=str(self.home), IPFEED_NODE_PROFILE=s.node_profile,
                   IPFEED_NODE_CONFIG=s.node_config, IPFEED_SWARM=",".join(s.swarm),
                   IPFEED_TIMEOUT=str(s.timeout), IPFEED_RESOLVE_TIMEOUT=str(s.resolve_timeout))
        env.pop("IPFEED_API", None)
        return env

    def cli(self, *args: str, input: str | None = None) -> Result:
        """Run `ipfeed ARGS` in-process (click's CliRunner) as this user."""
        return off_loop(lambda: CliRunner().invoke(cli, list(args), env=self.env(), input=input,
                                                   catch_exceptions=False))

    def cli_ok(self, *args: str) -> str:
        """Run the CLI and insist it succeeds; return its stdout."""
        r = self.cli(*args)
        assert r.exit_code == 0, f"ipfeed {' '.join(args)} exited {r.exit_code}: {r.output}"
        return r.stdout

    def subprocess(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run `python -m ipfeed ARGS` as a separate process."""
        return subprocess.run([sys.executable, "-m", "ipfeed", *args], env=self.env(),
                              capture_output=True, text=True, timeout=timeout, check=False)

    def start(self) -> node.NodeStatus:
        return node.start(self.settings)

    def stop(self) -> None:
        node.stop(self.settings)

    @property
    def api(self) -> str:
        return node.api_address(self.settings)

    def addr(self) -> str:
        """One loopback swarm multiaddr of this user's node, with /p2p/."""
        return next(a for a in run(self.service.addrs()) if a.startswith("/ip4/127.0.0.1/tcp/"))

    def connect(self, other: User) -> None:
        run(self.service.connect(other.addr()))

    async def kubo(self) -> Kubo:
        return Kubo(self.api, 20.0)


@pytest.fixture
def make_user(tmp_path: Path) -> Iterator[Any]:
    """A factory of users; every node started is stopped at the end."""
    users: list[User] = []

    def make(name: str = "user", start: bool = True, init: bool = True, defaults: str = "test",
             port: int = 0) -> User:
        home = tmp_path / name
        u = User(home, test_settings(home, defaults, port))
        users.append(u)
        if init:
            u.service.init(name.capitalize())
        if start:
            u.start()
        return u

    yield make
    for u in users:
        node.stop(u.settings, timeout=10)


@pytest.fixture
def alice(make_user: Any) -> User:
    return make_user("alice")


@pytest.fixture
def bob(make_user: Any) -> User:
    return make_user("bob")


@pytest.fixture
def page() -> Iterator[Any]:
    """A page of Debian's headless Chromium driven by Playwright (dialogs recorded, dismissed)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed: run `make test` (it installs it)")
    OUT.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-background-networking", "--disable-gpu",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        pg = browser.new_page()
        pg.set_default_timeout(20_000)
        dialogs: list[str] = []
        pg.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        pg.dialogs = dialogs  # type: ignore[attr-defined]
        yield pg
        browser.close()


def from_dag_json(v: Any) -> Any:
    """The vectors' objects are written in DAG-JSON; turn them into dag_cbor package values."""
    if isinstance(v, dict) and set(v) == {"/"}:
        inner = v["/"]
        if isinstance(inner, dict):
            b64 = inner["bytes"]
            return base64.b64decode(b64 + "=" * (-len(b64) % 4))
        return CID.decode(inner)
    if isinstance(v, dict):
        return {k: from_dag_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_dag_json(x) for x in v]
    return v


def mutation(block: bytes, data: Any) -> bytes:
    """A random mutation of `block` drawn from hypothesis `data`: a flipped bit, a truncation,
    bytes appended, or bytes spliced in (the hostile-input tests of every signed object)."""
    from hypothesis import strategies as st

    op = data.draw(st.sampled_from(["flip", "truncate", "extend", "splice"]))
    if op == "flip":
        i = data.draw(st.integers(0, len(block) * 8 - 1))
        mutated = bytearray(block)
        mutated[i // 8] ^= 1 << (i % 8)
        return bytes(mutated)
    if op == "truncate":
        return block[: data.draw(st.integers(0, len(block) - 1))]
    if op == "extend":
        return block + data.draw(st.binary(min_size=1, max_size=16))
    i = data.draw(st.integers(0, len(block)))
    return block[:i] + data.draw(st.binary(min_size=1, max_size=8)) + block[i:]


DROP = object()  # a field value meaning "leave this field out" in the rule tests


def sign_object(obj: dict[str, Any], key: Any) -> bytes:
    """Sign any object the way ipfeed signs (without `sig`, fields set to DROP left out), so
    that only the rule under test is broken."""
    from ipfeed import codec

    obj = {k: v for k, v in obj.items() if k != "sig" and v is not DROP}
    obj["sig"] = key.sign(codec.encode(obj))
    return bytes(codec.encode(obj))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the figures the hostile-input tests gathered."""
    import test_entry
    import test_format
    import test_ipns

    m = test_format.MUTATED
    if m["tried"]:
        terminalreporter.write_line(
            f"mutated posts/roots/follow lists tried: {m['tried']}, rejected with a typed error: "
            f"{m['rejected']}")
    m = test_entry.MUTATED
    if m["tried"]:
        terminalreporter.write_line(
            f"mutated v2 entries/roots tried: {m['tried']}, rejected with a typed error: {m['rejected']}")
    r = test_ipns.COUNTS
    if r["tried"]:
        terminalreporter.write_line(
            f"mutated IPNS records tried: {r['tried']}, rejected: {r['rejected']}, accepted only "
            f"with the same meaning (unsigned bytes such as the V1 signature): {r['unchanged']}")
