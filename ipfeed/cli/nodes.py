"""Running ipfeed: the managed node and its peers (`node …`), the home server (daemon) and
the web UI (serve)."""

from __future__ import annotations

import threading
from typing import Any

import click

from .. import node, tls
from .base import Context, Group, pass_ctx, run


@click.command()
@click.option("--interval", type=float, help="Seconds between sync rounds (default 60).")
@click.option("--rounds", type=int, default=0, help="Stop after N rounds (0: run until stopped).")
@pass_ctx
def daemon(c: Context, interval: float | None, rounds: int) -> None:
    """Home server without the web UI: run the node, sync and pin follows, re-put their records.
    On a paired device: hand the posts waiting here to its home server every round."""
    from ..home import hand_over_forever, serve_forever

    if c.service.remote() is not None:
        run(hand_over_forever(c.service, interval or c.settings.sync_interval, rounds,
                              lambda line: click.echo(line, err=True)))
        return

    if not c.settings.api:
        _notes(node.start(c.settings))
    run(serve_forever(c.service, interval or c.settings.sync_interval, rounds,
                      lambda line: click.echo(line, err=True)))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="IPFEED_WEB_HOST",
              help="Loopback address to bind (other devices: --remote-port).")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              envvar="IPFEED_WEB_PORT")
@click.option("--pin", is_flag=True, help="Also be a home server: sync and pin follows periodically.")
@click.option("--remote-port", type=click.IntRange(0, 65535), envvar="IPFEED_REMOTE_PORT",
              help="Also serve paired devices on this port: TLS, and a paired device's credential "
                   "on every request.")
@click.option("--remote-host", default="0.0.0.0", show_default=True, envvar="IPFEED_REMOTE_HOST",
              help="Address the devices' listener binds (every address: give --public-name).")
@click.option("--public-name", "public_names", multiple=True, metavar="HOST", envvar="IPFEED_PUBLIC_NAME",
              help="A host name devices reach this server by (repeatable): answered, and in the certificate.")
@click.option("--behind-proxy", is_flag=True,
              help="The devices' listener is plain HTTP on loopback behind a TLS-terminating reverse proxy.")
@pass_ctx
def serve(c: Context, host: str, port: int, pin: bool, remote_port: int | None, remote_host: str,
          public_names: tuple[str, ...], behind_proxy: bool) -> None:
    """Run the web UI (and the node) on http://127.0.0.1:PORT; with --remote-port, also for
    paired devices (`ipfeed device pair`) over TLS."""
    from ..web import create_app  # web/, installed as ipfeed.web
    from ..web.worker import Worker

    if host not in LOOPBACK:
        raise click.UsageError(f"--host {host}: the unauthenticated UI binds loopback only; serve "
                               "other devices with --remote-port (TLS, paired devices only)")
    if behind_proxy and remote_host not in LOOPBACK:
        raise click.UsageError("--behind-proxy: bind the devices' listener on loopback "
                               "(--remote-host 127.0.0.1); the proxy is what the devices reach")
    wildcard = remote_host in ("0.0.0.0", "::", "")
    if remote_port is not None and wildcard and not public_names:
        raise click.UsageError("--remote-host binds every address: name the one devices use with "
                               "--public-name (e.g. 192.168.1.20 or home.example.org)")
    names = tuple(public_names) + (() if wildcard else (remote_host,))
    if not c.settings.api:
        _notes(node.start(c.settings))
    worker = Worker(c.service, pin=pin)
    servers = [_server(host, port, create_app(c.settings, worker=worker), None)]
    click.echo(f"ipfeed web UI on http://{_shown(host)}:{servers[0].server_port}/  (Ctrl-C to stop)",
               err=True)
    if remote_port is not None:
        context = None if behind_proxy else tls.server_context(c.settings.home, names)
        app = create_app(c.settings, worker=worker, remote=True, public_names=names,
                         behind_proxy=behind_proxy)
        servers.append(_server(remote_host, remote_port, app, context))
        url = f"https://{_shown(names[0])}/" if behind_proxy else \
            f"https://{_shown(names[0])}:{servers[1].server_port}/"
        c.service.device_setting("remote_url", url)
        how = "behind your proxy" if behind_proxy else f"TLS, certificate {c.service.tls_fingerprint()}"
        click.echo(f"paired devices: {url}  ({how}); pair one with `ipfeed device pair`", err=True)
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers[1:]]
    for t in threads:
        t.start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for extra in servers[1:]:
            extra.shutdown()
        for s in servers:
            s.server_close()
        worker.stop()


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _shown(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _server(host: str, port: int, app: Any, context: Any) -> Any:
    from ..web.serving import make_server

    return make_server(host, port, app, context)


@click.group(cls=Group, name="node")
def node_group() -> None:
    """The managed Kubo node."""


@node_group.command()
@pass_ctx
def start(c: Context) -> None:
    """Start the node in the background (API on 127.0.0.1)."""
    st = node.start(c.settings)
    _notes(st)
    click.echo(f"node running (pid {st.pid}), API {st.api}, repo {st.repo}")


def _notes(st: node.NodeStatus) -> None:
    for note in st.notes:
        click.echo(f"note: {note}", err=True)


@node_group.command()
@pass_ctx
def stop(c: Context) -> None:
    """Stop the node."""
    click.echo("node stopped" if node.stop(c.settings) else "node was not running")


@node_group.command("status")
@pass_ctx
def node_status(c: Context) -> None:
    """Whether the node runs, and where."""
    st = node.status(c.settings)
    if st.running:
        click.echo(f"running (pid {st.pid}), API {st.api}, repo {st.repo}")
    else:
        click.echo(f"not running (repo {st.repo})")
        raise SystemExit(3)


@node_group.command()
@pass_ctx
def addrs(c: Context) -> None:
    """Print the node's swarm multiaddrs (give one to a friend)."""
    for a in run(c.service.addrs()):
        click.echo(a)


@node_group.command()
@click.argument("multiaddr")
@pass_ctx
def connect(c: Context, multiaddr: str) -> None:
    """Connect to a peer now."""
    run(c.service.connect(multiaddr))
    click.echo(f"connected to {multiaddr}")


@node_group.group(cls=Group)
def peer() -> None:
    """Persistent peerings (Kubo's Peering config), e.g. with a friend's home server."""


@peer.command("add")
@click.argument("multiaddr")
@pass_ctx
def peer_add(c: Context, multiaddr: str) -> None:
    """Keep a connection to MULTIADDR (…/p2p/PEERID) from now on."""
    run(c.service.peer_add(multiaddr))
    click.echo(f"peering with {multiaddr} (kept across node restarts)")


@peer.command("rm")
@click.argument("multiaddr")
@pass_ctx
def peer_rm(c: Context, multiaddr: str) -> None:
    """Stop peering with MULTIADDR or PEERID."""
    removed = run(c.service.peer_rm(multiaddr))
    click.echo("removed" if removed else "no such peering")


@peer.command("ls")
@pass_ctx
def peer_ls(c: Context) -> None:
    """List persistent peerings."""
    for p in run(c.service.peers()):
        addrs_ = p.get("Addrs") or []
        click.echo(" ".join([p.get("ID", "?"), *addrs_]))


COMMANDS = (daemon, serve, node_group)
