"""What every `ipfeed` command shares: its Context, run(), and the one place IpfeedError
becomes one clear line."""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any, TypeVar

import click

from ..config import Settings
from ..errors import InvalidInput, IpfeedError, PublishPending
from ..remote import HomeLists, PushResult, list_changes
from ..service import Service
from ..timefmt import format_ms

T = TypeVar("T")


@dataclass
class Context:
    """What every command gets: the settings and the service."""

    settings: Settings
    verbose: bool

    @property
    def service(self) -> Service:
        """The service for this home."""
        return Service(self.settings)


class Group(click.Group):
    """Turns IpfeedError into one line on stderr and exit 1 (-v adds the traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except IpfeedError as e:
            if isinstance(ctx.obj, Context) and ctx.obj.verbose:
                traceback.print_exc()
            raise click.ClickException(str(e)) from e


def run(aw: Awaitable[T]) -> T:
    """Run one service coroutine to completion."""
    async def main() -> T:
        return await aw

    return asyncio.run(main())


def echo_json(value: Any) -> None:
    """Print what --json asks for: indented, non-ASCII text as it is."""
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def report_handover(r: PushResult) -> None:
    """Say what a handover round did: each post handed over, then whether some still wait or
    were refused (kept on the device either way)."""
    for draft_id, cid, what in r.sent:
        if what and not cid:  # an action on a feed (no entry), or its entry not signed yet
            click.echo(f"handed over {draft_id} {what}: applied by the home server")
        else:
            click.echo(cid or f"handed over {draft_id} (the home server signs it when it can)")
    if r.waiting:
        raise PublishPending(f"saved on this device; {r.waiting} waiting for the home server "
                             f"({r.error}); `ipfeed remote push` hands them over later, in order")
    if r.refused:
        raise InvalidInput("; ".join(r.refused) + " (kept on this device: `ipfeed remote status`)")


def through_home_server(c: Context, kind: str, target: str, **fields: Any) -> bool:
    """On a paired device: hand the action to the home server (queued in order while it is
    unreachable) and report it; False on a home with its own key (then do it here)."""
    if c.service.remote() is None:
        return False
    _, pushed = c.service.remote_act(kind, target, **fields)
    report_handover(pushed)
    return True


def home_lists(c: Context) -> HomeLists | None:
    """On a paired device: the home server's follow, mute and block lists (the copy kept here
    while it cannot be reached, said so on stderr); None on a home with its own key."""
    if c.service.remote() is None:
        return None
    lists = c.service.remote_lists()
    if lists.offline:
        click.echo(f"offline: your home server's lists as fetched {format_ms(lists.fetched)} "
                   f"({lists.offline})", err=True)
    if waiting := list_changes(c.service.remote_waiting()):
        click.echo(f"{waiting} changes to these lists wait here to be handed over "
                   "(`ipfeed remote status`)", err=True)
    return lists

pass_ctx = click.make_pass_decorator(Context)
