"""The managed Kubo node: start, stop, status, keys, peering; against real daemons."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import User, run

from ipfeed import node, nodeconfig
from ipfeed.errors import NodeUnavailable


def test_start_is_idempotent_and_stop_stops(make_user: Any) -> None:
    u: User = make_user("carol", start=False)
    assert not node.status(u.settings).running
    first = u.start()
    assert first.running and first.api and first.api.startswith("/ip4/127.0.0.1/tcp/")
    again = u.start()  # a second start finds the running node instead of clashing
    assert again.pid == first.pid
    assert u.cli("node", "status").exit_code == 0
    assert node.stop(u.settings)
    assert not node.status(u.settings).running
    r = u.cli("node", "status")
    assert r.exit_code == 3 and "not running" in r.stdout
    with pytest.raises(NodeUnavailable, match="ipfeed node start"):
        node.api_address(u.settings)


def test_api_and_gateway_listen_on_loopback_only(alice: User) -> None:
    import json
    cfg = json.loads((alice.settings.node_dir / "config").read_text())
    assert cfg["Addresses"]["API"].startswith("/ip4/127.0.0.1/")
    assert all(a.startswith("/ip4/127.0.0.1/") for a in [cfg["Addresses"]["Gateway"]])


def test_two_concurrent_starts_do_not_clash(make_user: Any) -> None:
    u: User = make_user("dave", start=False)
    cmd = [sys.executable, "-m", "ipfeed", "node", "start"]
    procs = [subprocess.Popen(cmd, env=u.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=90) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    pids = {out.split("pid ")[1].split(")")[0] for out, _ in outs}
    assert len(pids) == 1  # both report the same daemon


def test_keystore_name_equals_the_offline_derivation(alice: User) -> None:
    key_name = run(alice.service.ensure_node_key())
    me = alice.service.identity()

    async def keys() -> dict[str, str]:
        async with await alice.kubo() as k:
            return await k.key_names()
    assert run(keys())[key_name] == me.name  # what Kubo reports for the imported key
    assert run(alice.service.ensure_node_key()) == key_name  # importing again is a no-op
    assert stat.S_IMODE(alice.settings.key_path.stat().st_mode) == 0o600


def test_addrs_connect_and_persistent_peering(alice: User, bob: User) -> None:
    addr = alice.addr()
    assert "/p2p/12D3KooW" in addr
    bob.cli_ok("node", "connect", addr)
    peer_id = addr.rsplit("/p2p/", 1)[1]

    async def peers(u: User) -> list[str]:
        async with await u.kubo() as k:
            return await k.swarm_peers()
    assert any(p.endswith(peer_id) for p in run(peers(bob)))

    bob.cli_ok("node", "peer", "add", addr)
    assert peer_id in bob.cli_ok("node", "peer", "ls")
    bob.cli_ok("node", "peer", "add", addr)  # twice: still one entry
    assert bob.cli_ok("node", "peer", "ls").count(peer_id) == 1
    # The peering survives a restart of Bob's node, and Kubo reconnects by itself.
    bob.stop()
    bob.start()
    assert peer_id in bob.cli_ok("node", "peer", "ls")
    assert "removed" in bob.cli_ok("node", "peer", "rm", addr)
    assert peer_id not in bob.cli_ok("node", "peer", "ls")
    assert "no such peering" in bob.cli_ok("node", "peer", "rm", peer_id)


def test_connect_needs_a_peer_id(alice: User) -> None:
    r = alice.cli("node", "connect", "/ip4/127.0.0.1/tcp/1")
    assert r.exit_code == 1 and "no /p2p/PEERID" in r.output


def test_a_stale_pid_file_never_names_another_process(tmp_path: Path) -> None:
    """After a reboot the pid in node.pid may belong to anything: status must not call it the
    node, and stop must not kill it."""
    from ipfeed.config import Settings

    settings = Settings.from_env({}).with_(home=tmp_path)
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "node.pid").write_text(f"{stranger.pid}\n")
        assert not node.status(settings).running
        assert node.stop(settings, timeout=1) is False
        assert stranger.poll() is None  # still alive
    finally:
        stranger.kill()
        stranger.wait(5)


def test_a_managed_node_has_no_auto_placeholders_and_logs_no_error(make_user: Any) -> None:
    u = make_user("real", defaults="real")
    config = json.loads((u.settings.node_dir / "config").read_text())
    assert '"auto"' not in json.dumps(config)  # nothing waits for the AutoConf URL
    assert config["AutoConf"]["Enabled"] is False and config["Routing"]["Type"] == "dht"
    assert config["Routing"]["DelegatedRouters"] == [] and config["Ipns"]["DelegatedPublishers"] == []
    assert config["Pubsub"]["Enabled"] is True
    log = (u.home / "node.log").read_text()
    assert "Daemon is ready" in log and "ERROR" not in log, log


def test_network_settings_replace_every_auto_and_keep_what_the_user_set() -> None:
    kubo_042 = {"Bootstrap": ["auto"], "Routing": {"Type": "auto", "DelegatedRouters": ["auto"]},
                "Ipns": {"DelegatedPublishers": ["auto"]}, "DNS": {"Resolvers": {".": "auto"}}}
    changes = nodeconfig.network_settings(kubo_042)
    assert changes["Bootstrap"] == list(nodeconfig.BOOTSTRAP) and changes["Routing.Type"] == "dht"
    assert changes["Routing.DelegatedRouters"] == changes["Ipns.DelegatedPublishers"] == []
    assert changes["DNS.Resolvers"] == {} and changes["AutoConf.Enabled"] is False
    mine = {"Bootstrap": ["/ip4/192.0.2.1/tcp/4001/p2p/12D3KooWExample"], "Routing": {"Type": "dhtclient",
            "DelegatedRouters": []}, "Ipns": {"DelegatedPublishers": []}, "DNS": {"Resolvers": {}},
            "AutoConf": {"Enabled": False}}
    assert nodeconfig.network_settings(mine) == {}


def test_a_home_made_with_kubo_042_keeps_working_on_the_pinned_kubo(tmp_path: Path) -> None:
    """tests/data/home-kubo-0.42.tar.gz: a home made by ipfeed 0.1.0 with Kubo 0.42.0 (two
    posts, a follow; its node on loopback), opened by this ipfeed and the pinned Kubo."""
    import tarfile

    from conftest import test_settings as user_settings

    with tarfile.open(Path(__file__).parent / "data" / "home-kubo-0.42.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    home = tmp_path / "home"
    u = User(home, user_settings(home, "real"))
    try:
        u.start()
        name = u.service.identity().name
        # Kubo 0.43 drops the records a 0.42 repo stored (its new /dht layout): publishing
        # (what `make run` and every home-server round do) puts the feed's record back.
        assert "published" in u.cli_ok("publish")
        before = json.loads(u.cli_ok("show", name, "--json"))
        assert [p["text"] for p in before["posts"]] == ["second post, on Kubo 0.42",
                                                        "first post, on Kubo 0.42"]
        assert before["profile"]["name"] == "Made with 0.42" and len(u.service.follows()) == 1
        u.cli_ok("post", "third post, on Kubo " + node.KUBO_VERSION)
        after = json.loads(u.cli_ok("show", name, "--json"))
        assert [p["seq"] for p in after["posts"]] == [3, 2, 1]
        assert after["posts"][1]["cid"] == before["posts"][0]["cid"]  # the same chain, continued
        config = json.loads((u.settings.node_dir / "config").read_text())
        assert '"auto"' not in json.dumps(config) and config["AutoConf"]["Enabled"] is False
        log = (home / "node.log").read_text()
        assert "ERROR" not in log, log
    finally:
        node.stop(u.settings, timeout=10)


def test_a_short_record_lifetime_is_refused_unless_the_node_config_shortens_the_republish_period(
    tmp_path: Path,
) -> None:
    from conftest import test_settings

    from ipfeed.errors import InvalidInput

    s = test_settings(tmp_path / "short", ipns_lifetime="61s")
    node.init_repo(s)
    with pytest.raises(InvalidInput, match="less than Kubo republishes them"):
        nodeconfig.configure(s)
    nodeconfig.configure(s.with_(node_config=json.dumps({"Ipns.RepublishPeriod": "1m"})))
    assert nodeconfig.read_config(s)["Ipns"]["RepublishPeriod"] == "1m"
