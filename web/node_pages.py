"""The node from the header: start it, publish and sync now, connect a peer, dismiss the
status line."""

from __future__ import annotations

from flask import (
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed import node
from ipfeed.errors import (
    InvalidInput,
    IpfeedError,
    KuboNotFound,
    NodeUnavailable,
)

from .views import _back, _node_timeout, bp, svc, worker


@bp.post("/dismiss")
def dismiss() -> WerkzeugResponse:
    """Hide the status strip's current line (a new state shows again)."""
    session["dismissed"] = request.form.get("key", "")[:32]
    return _back()


@bp.post("/node/start")
def start_node() -> WerkzeugResponse | tuple[str, int]:
    """Start the managed node (the header's button), then publish what waits."""
    try:
        node.start(svc().settings)
    except IpfeedError as e:
        return render_template("error.html", code=503, title="Your node did not start",
                               message="ipfeed could not start your IPFS node. The details below "
                                       "say why; `ipfeed node start` in a terminal says the same.",
                               detail=str(e)), 503
    worker().publish_soon()
    return _back()


@bp.post("/publish")
def publish_now() -> WerkzeugResponse:
    """Publish what waits (the strip's button), in the background."""
    worker().publish_soon()
    return _back()


@bp.post("/sync")
def sync_now() -> WerkzeugResponse:
    """Sync every followed feed now, in the background (the strip says how it went)."""
    worker().sync_soon()
    return _back()


@bp.post("/peer")
def peer_add() -> WerkzeugResponse | tuple[str, int]:
    """Connect to a friend's node by its multiaddr and keep it as a peering (`node peer add`)."""
    maddr = request.form.get("maddr", "").strip()
    try:
        if not maddr.startswith("/") or "/p2p/" not in maddr:
            raise InvalidInput("a node address starts with /ip4/, /ip6/ or /dns4/ and ends with "
                               "/p2p/ and the node's ID (12D3Koo…): ask your friend for the output of "
                               "`ipfeed node addrs`")
        worker().call(svc().peer_add(maddr), _node_timeout())
    except InvalidInput as e:
        return render_template("error.html", code=400, title="That is not a node address",
                               message=str(e)), 400
    except IpfeedError as e:
        down = isinstance(e, NodeUnavailable | KuboNotFound)
        return render_template(
            "error.html", code=503, title="Could not connect to that node",
            message=("Your node is not running: start it with the button at the top, then try again."
                     if down else "The address is kept as a peering of your node (it is tried "
                     "again at every start), but the node did not answer now: it may be offline "
                     "or behind a firewall."), detail=str(e)), 503
    flash("Connected to that node; it is kept as a peering of yours. Now open your friend's feed by name.")
    return redirect(url_for("ui.timeline"), 303)
