"""The inbox from the command line: notifications, requests (accept, ignore), where notices
for your feed are delivered, and what your own notices did."""

from __future__ import annotations

import time
from typing import Any

import click

from ..inboxdb import NOTIFICATIONS, REQUESTS, Received
from ..notice import VERBS
from .base import Context, echo_json, pass_ctx, run, through_home_server
from .terminal import safe_for_terminal

PAGE = 100  # notices shown at once (the device API's largest page)


def _line(c: Context, n: Received) -> str:
    state = c.service.feed_state(n.sender)
    return _shown(str((state.profile.get("name") if state else "") or ""), n.to_json())


def _shown(name: str, n: dict[str, Any]) -> str:
    """One notice as a line: `name` is the sender's own words (escaped); the rest is checked."""
    who = safe_for_terminal(name) or str(n["from"])[:16]
    mark = "*" if n["state"] == "unread" else " "
    what = f" {n['entry']}" if n["entry"] else ""
    when = time.strftime("%Y-%m-%d %H:%M", time.localtime(n["received"] / 1000))
    return f"{mark} {when}  {who} ({n['from']}) {VERBS.get(n['reason'], n['reason'])}{what}"


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--all", "show_all", is_flag=True, help="Read ones too (default: unread only).")
@click.option("--mark-read", is_flag=True, help="Mark what is shown read.")
@click.option("--requests", "requests_", is_flag=True, help="Requests (feeds you have no link to).")
@click.option("--fetch", is_flag=True, help="First read what your home server kept (a laptop).")
@click.option("--before", type=click.IntRange(0), default=0, metavar="ID",
              help="The older ones, below this id (printed at the end of a full page).")
@pass_ctx
def notifications(c: Context, as_json: bool, show_all: bool, mark_read: bool, requests_: bool,
                  fetch: bool, before: int) -> None:
    """Verified replies, mentions, quotes, reactions, reposts and new followers (on a paired
    device: those its home server verified and keeps)."""
    s = c.service
    if s.remote() is not None:
        if fetch:
            raise click.UsageError("a paired device reads its home server's inbox already (no --fetch)")
        _remote(c, as_json, show_all, mark_read, REQUESTS if requests_ else NOTIFICATIONS, before)
        return
    fetched = run(s.fetch_notifications()) if fetch else None
    box = REQUESTS if requests_ else NOTIFICATIONS
    shown = s.notifications(box, unread_only=not show_all, limit=PAGE, before=before)
    more = shown[-1].id if len(shown) == PAGE else None
    unread = s.unread()
    if mark_read:
        s.mark_read(box)
    if as_json:
        echo_json({"box": box, "unread": unread, "fetched": fetched,
                   "notices": [n.to_json() for n in shown], "next": more})
        return
    if fetched is not None:
        click.echo(f"fetched {fetched} new from your home server")
    click.echo(f"{unread[NOTIFICATIONS]} unread notifications, {unread[REQUESTS]} requests")
    for n in shown:
        click.echo(_line(c, n))
    _more(box, show_all, more)


def _more(box: str, show_all: bool, more: int | None) -> None:
    if more:
        click.echo(f"-- more: ipfeed notifications{' --requests' if box == REQUESTS else ''}"
                   f"{' --all' if show_all else ''} --before {more}")


def _remote(c: Context, as_json: bool, show_all: bool, mark_read: bool, box: str, before: int) -> None:
    """A page of the home server's box, checked by remote.check_inbox; each field printed
    escaped (a name is the sender's own words, relayed by the home server)."""
    page = c.service.remote_notifications(box, unread_only=not show_all, limit=PAGE, before=before)
    if mark_read and page["notices"]:
        c.service.remote_mark_read(box, max(n["id"] for n in page["notices"]))
    if as_json:
        echo_json({"box": box, "unread": page["unread"], "fetched": None, "notices": page["notices"],
                   "next": page["next"]})
        return
    unread = page["unread"]
    click.echo(f"{unread[NOTIFICATIONS]} unread notifications, {unread[REQUESTS]} requests "
               "(at your home server)")
    for n in page["notices"]:
        click.echo(_shown(n["sender_name"], n))
    _more(box, show_all, page["next"])


@click.command()
@click.argument("name")
@pass_ctx
def accept(c: Context, name: str) -> None:
    """Accept a request: follow its feed (its notices become notifications)."""
    if through_home_server(c, "accept", name):
        return
    r = run(c.service.accept_request(name))
    click.echo(f"following {name}; root {r.root}")


@click.command()
@click.argument("name")
@pass_ctx
def ignore(c: Context, name: str) -> None:
    """Ignore a feed's requests (they are no longer shown)."""
    if through_home_server(c, "ignore", name):
        return
    click.echo(f"ignored {c.service.ignore_request(name)} notices from {name}")


@click.group()
def inbox() -> None:
    """Where notices for your feed are delivered, and your own notices' delivery."""


@inbox.command("set")
@click.option("--peer", "peers", multiple=True, metavar="MULTIADDR/p2p/PEERID",
              help="A home server that receives for you (repeatable).")
@click.option("--here/--not-here", default=True, help="This node receives too (default: yes).")
@pass_ctx
def inbox_set(c: Context, peers: tuple[str, ...], here: bool) -> None:
    """Name your inbox peers in your profile and publish it."""
    listed = []
    for p in peers:
        addr, sep, peer = p.rpartition("/p2p/")
        if not sep or not peer:
            raise click.BadParameter(f"{p!r} does not end in /p2p/PEERID", param_hint="--peer")
        listed.append((peer, [addr] if addr else []))
    r = run(c.service.set_inbox(listed, here=here))
    click.echo(f"inbox published in root {r.root}")


@inbox.command("host")
@click.argument("name")
@pass_ctx
def inbox_host(c: Context, name: str) -> None:
    """Receive notices for another feed (a home server for someone else): its owner then lists
    this node (`ipfeed inbox set --peer`) and fetches them (`ipfeed notifications --fetch`)."""
    added, error = run(c.service.host_inbox(name))
    click.echo(f"{'hosting' if added else 'already hosting'} the inbox of {name}")
    if error:
        click.echo(f"warning: its feed does not verify yet ({safe_for_terminal(error)}); a notice "
                   "about its posts is refused until it does", err=True)


@inbox.command("unhost")
@click.argument("name")
@pass_ctx
def inbox_unhost(c: Context, name: str) -> None:
    """Stop receiving notices for a feed, dropping those kept for it."""
    click.echo(f"no longer hosting the inbox of {name}; dropped {c.service.unhost_inbox(name)} notices")


@inbox.command("hosted")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def inbox_hosted(c: Context, as_json: bool) -> None:
    """The feeds this node receives notices for besides your own."""
    rows = c.service.hosted_inboxes()
    if as_json:
        echo_json([{"name": n, "notices": k} for n, k in rows])
        return
    for name, kept in rows:
        click.echo(f"{name}  {kept} notices kept")


@inbox.command("outgoing")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def inbox_outgoing(c: Context, as_json: bool) -> None:
    """Your notices: sent, waiting (retried with backoff), refused or given up."""
    rows = c.service.outgoing_notices()
    if as_json:
        echo_json([{"to": o.target, "entry": o.entry or None, "state": o.state, "attempts": o.attempts,
                    "error": o.last_error} for o in rows])
        return
    for o in rows:
        err = f"  {safe_for_terminal(o.last_error)}" if o.last_error else ""
        click.echo(f"{o.state:8} {o.target} {o.entry or 'follow'} ({o.attempts} tries){err}")


@inbox.command("rejected")
@pass_ctx
def inbox_rejected(c: Context) -> None:
    """Why recent notices to you were refused."""
    for sender, reason, _ in c.service.rejected_notices():
        click.echo(f"{sender or '?'}: {safe_for_terminal(reason)}")


COMMANDS = (notifications, accept, ignore, inbox)
