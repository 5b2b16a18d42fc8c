"""Muting and blocking feeds: mute, unmute, block, unblock, muted, blocked. The lists are
private (sealed to your own key in your feed); a change is saved first and published like a
profile change, so it survives the node being down."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import click

from ..errors import PublishPending
from ..moderation import Changed
from ..service import Service
from .base import Context, echo_json, home_lists, pass_ctx, run, through_home_server
from .terminal import safe_for_terminal

DONE = {"mute": "muted", "unmute": "unmuted", "block": "blocked", "unblock": "unblocked"}
ALREADY = {"mute": "was muted already", "unmute": "was not muted",
           "block": "was blocked already", "unblock": "was not blocked"}
HELP = {
    "mute": "Mute the feed NAME: its posts and reposts leave your timeline, threads and search "
            "(you still follow it, and its page still opens). NAME is a k51… name, or the alias "
            "or display name of a feed you follow.",
    "unmute": "Show the muted feed NAME again (a name, alias or display name).",
    "block": "Block the feed NAME: hidden everywhere, its notices dropped, and unfollowed if you "
             "follow it. Only you can see whom you block.",
    "unblock": "Stop blocking the feed NAME (it is not followed again).",
}


def _label(service: Service, name: str) -> str:
    """A feed's display name as the index knows it, for the terminal."""
    st = service.feed_state(name)
    shown = str(st.profile.get("name") or "") if st else ""
    return f" ({safe_for_terminal(shown)})" if shown else ""


def _command(action: str, call: Callable[[Service, str], Awaitable[Changed]]) -> click.Command:
    @click.command(action, help=HELP[action])
    @click.argument("name")
    @pass_ctx
    def command(c: Context, name: str) -> None:
        if through_home_server(c, action, name):
            return
        service = c.service
        try:
            r = run(call(service, name))
        except PublishPending as e:  # saved: it counts here from now on
            click.echo(f"{DONE[action]} {name}: {e}")
            return
        if not r.changed:
            click.echo(f"{r.name}{_label(service, r.name)} {ALREADY[action]}")
            return
        also = "; unfollowed it" if r.unfollowed else ""
        click.echo(f"{DONE[action]} {r.name}{_label(service, r.name)}{also}")
    return command


mute = _command("mute", lambda s, n: s.mute(n))
unmute = _command("unmute", lambda s, n: s.unmute(n))
block = _command("block", lambda s, n: s.block(n))
unblock = _command("unblock", lambda s, n: s.unblock(n))


def _listing(which: str, verb: str) -> click.Command:
    @click.command(which, help=f"The feeds you {verb}, with their display names (only you can "
                               "see this list).")
    @click.option("--json", "as_json", is_flag=True, help='Print JSON: [{"name", "display_name"}].')
    @pass_ctx
    def command(c: Context, as_json: bool) -> None:
        service = c.service
        if (home := home_lists(c)) is not None:  # a paired device: the home server's list
            rows = [{"name": f.name, "display_name": f.display_name}
                    for f in (home.muted if which == "muted" else home.blocked)]
        else:
            lists = service.moderation()
            names = sorted(lists.muted if which == "muted" else lists.blocked)
            states = service.feed_states(names)
            rows = [{"name": n, "display_name": str(st.profile.get("name") or "")
                     if (st := states.get(n)) else ""} for n in names]
        if as_json:
            echo_json(rows)
            return
        if not rows:
            click.echo(f"no {which} feeds")
        for r in rows:
            click.echo(f"{r['name']}  {safe_for_terminal(r['display_name']) or '?'}")
    return command


muted = _listing("muted", "mute")
blocked = _listing("blocked", "block")

COMMANDS = (mute, unmute, block, unblock, muted, blocked)
