"""Reacting to, reposting, editing and deleting posts: react, unreact, repost, unrepost, edit,
delete. Each is saved first (it survives the node being down) and then published like a post
(on a paired device: handed to the home server, which does the same)."""

from __future__ import annotations

from collections.abc import Callable

import click

from .. import kinds
from ..errors import IpfeedError, KuboNotFound, NodeUnavailable
from .base import Context, pass_ctx, run, through_home_server


def _publish(c: Context, save: Callable[[], int], done: str, *, deletes: bool = False) -> None:
    """Save (errors are the user's: refused) and then publish; a node that cannot take it
    now leaves it saved, and says so. What `deletes` first makes the home hold its whole
    chain (a restored key's home fetches the older entries; refused if it cannot)."""
    if deletes:
        run(c.service.complete_chain())
    save()
    try:
        r = run(c.service.publish())
    except (NodeUnavailable, KuboNotFound) as e:
        raise click.ClickException(f"{done}: saved; will publish when the node is back "
                                   f"(`ipfeed node start`, then `ipfeed publish`): {e}") from e
    except IpfeedError as e:
        raise click.ClickException(f"{done}: saved; will publish at the next try "
                                   f"(`ipfeed publish`): {e}") from e
    click.echo(f"{done}; published {r.root}")


@click.command()
@click.argument("cid")
@click.argument("emoji", required=False, default=kinds.DEFAULT_EMOJI)
@pass_ctx
def react(c: Context, cid: str, emoji: str) -> None:
    """React to the post CID (default ❤); reacting again replaces your reaction."""
    if not through_home_server(c, "react", cid, emoji=emoji):
        _publish(c, lambda: c.service.react(cid, emoji), f"reacted {emoji} to {cid}")


def _simple(name: str, doc: str, save: Callable[[Context, str], int], done: str, *,
            deletes: bool = False) -> click.Command:
    """A command of one argument, CID: save `save(c, cid)`, then publish."""
    @click.command(name, help=doc)
    @click.argument("cid")
    @pass_ctx
    def command(c: Context, cid: str) -> None:
        if not through_home_server(c, name, cid):
            _publish(c, lambda: save(c, cid), done.format(cid=cid), deletes=deletes)
    return command


unreact = _simple("unreact", "Take back your reactions to the post CID.",
                  lambda c, cid: c.service.unreact(cid), "took back your reaction to {cid}", deletes=True)
repost = _simple("repost", "Repost the post CID to your followers.",
                 lambda c, cid: c.service.repost(cid), "reposted {cid}")
unrepost = _simple("unrepost", "Take back your reposts of the post CID.",
                   lambda c, cid: c.service.unrepost(cid), "took back your repost of {cid}", deletes=True)


@click.command()
@click.argument("cid")
@click.argument("text")
@pass_ctx
def edit(c: Context, cid: str, text: str) -> None:
    """Replace the text of your post CID (readers show the newest version, marked edited)."""
    if not through_home_server(c, "edit", cid, text=text):
        _publish(c, lambda: c.service.edit(cid, text), f"edited {cid}")


@click.command()
@click.argument("cid")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_ctx
def delete(c: Context, cid: str, yes: bool) -> None:
    """Delete your post (or reaction, repost, edit) CID. Readers that honour it stop showing
    and keeping it; copies others made cannot be taken back."""
    if not yes:
        click.confirm(f"Delete {cid}? Readers that honour deletions stop showing it; copies others "
                      "already made stay", abort=True)
    if not through_home_server(c, "delete", cid):
        _publish(c, lambda: c.service.delete(cid), f"deleted {cid}", deletes=True)


COMMANDS = (react, unreact, repost, unrepost, edit, delete)
