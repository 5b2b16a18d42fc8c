"""The `ipfeed` command: the root group and its options, every command group added, main()."""

from __future__ import annotations

from pathlib import Path

import click

from .. import __version__
from ..config import Settings
from . import devices, feeds, follows, inbox, interactions, keys, moderation, nodes, recovery
from .base import Context, Group


@click.group(cls=Group)
@click.option("--home", envvar="IPFEED_HOME", type=click.Path(path_type=Path),
              help="ipfeed home (key, outbox, node). Default: $XDG_DATA_HOME/ipfeed.")
@click.option("--api", envvar="IPFEED_API", metavar="MULTIADDR",
              help="Use an existing Kubo node's RPC API instead of the managed node.")
@click.option("-v", "--verbose", is_flag=True, help="Show details (tracebacks) on errors.")
@click.version_option(__version__, prog_name="ipfeed")
@click.pass_context
def cli(ctx: click.Context, home: Path | None, api: str | None, verbose: bool) -> None:
    """ipfeed: a signed social feed on your own IPFS node, named by your key in IPNS."""
    ctx.obj = Context(Settings.from_env().with_(home=home, api=api), verbose)


for _command in (*devices.COMMANDS, *feeds.COMMANDS, *follows.COMMANDS, *inbox.COMMANDS,
                 *interactions.COMMANDS, *keys.COMMANDS, *moderation.COMMANDS, *nodes.COMMANDS,
                 *recovery.COMMANDS):
    cli.add_command(_command)
keys.key.add_command(recovery.key_rotate)


def main() -> None:
    """Console entry point."""
    cli(prog_name="ipfeed")
