"""Running ipfeed: the managed node and its peers (`node …`), the home server (daemon) and
the web UI (serve)."""

from __future__ import annotations

import click

from .. import node
from .base import Context, Group, pass_ctx, run


@click.command()
@click.option("--interval", type=float, help="Seconds between sync rounds (default 60).")
@click.option("--rounds", type=int, default=0, help="Stop after N rounds (0: run until stopped).")
@pass_ctx
def daemon(c: Context, interval: float | None, rounds: int) -> None:
    """Home server without the web UI: run the node, sync and pin follows, re-put their records."""
    from ..home import serve_forever

    if not c.settings.api:
        _notes(node.start(c.settings))
    run(serve_forever(c.service, interval or c.settings.sync_interval, rounds,
                      lambda line: click.echo(line, err=True)))


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="IPFEED_WEB_HOST",
              help="Address to bind. Anything but loopback exposes your feed controls.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              envvar="IPFEED_WEB_PORT")
@click.option("--pin", is_flag=True, help="Also be a home server: sync and pin follows periodically.")
@pass_ctx
def serve(c: Context, host: str, port: int, pin: bool) -> None:
    """Run the web UI (and the node) on http://127.0.0.1:PORT."""
    from werkzeug.serving import make_server

    from ..web import create_app  # web/, installed as ipfeed.web

    if not c.settings.api:
        _notes(node.start(c.settings))
    loopback = host in ("127.0.0.1", "localhost", "::1")
    if not loopback:
        click.echo(f"warning: binding {host}: anyone who can reach it can use your feed", err=True)
    app = create_app(c.settings, pin=pin)
    if not loopback:
        app.config["ALLOWED_HOSTS"] = {*app.config["ALLOWED_HOSTS"], host}
    server = make_server(host, port, app, threaded=True)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"ipfeed web UI on http://{shown}:{server.server_port}/  (Ctrl-C to stop)", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


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
