"""Recovery keys and migrations: recovery setup, recover, key rotate (FORMAT.md section 18)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..recovery import RecoveryKey, load_secret, save_file
from .base import Context, Group, pass_ctx, run

SECRET_HELP = "Read the recovery phrase or recovery file from FILE (else IPFEED_RECOVERY, else a prompt)."


def show_or_save(rk: RecoveryKey, feed: str, file: Path | None) -> None:
    """Show the recovery secret once, or write it to the file the user chose."""
    if file is not None:
        save_file(rk, feed, file)
        click.echo(f"recovery secret written to {file} (mode 600): move it off this machine")
        return
    click.echo("recovery phrase (shown once; write it down and keep it away from this machine):")
    click.echo(f"  {rk.phrase}")


def read_secret(file: Path | None) -> tuple[RecoveryKey, str | None]:
    """The recovery key the user gives: a file, the environment, or a hidden prompt."""
    if file is not None:
        return load_secret(file.read_text(encoding="utf-8"))
    if env := os.environ.get("IPFEED_RECOVERY"):
        return load_secret(env)
    return load_secret(str(click.prompt("Recovery phrase", hide_input=True)))


@click.group(cls=Group)
def recovery() -> None:
    """Your recovery key: commit an existing feed to one."""


@recovery.command("setup")
@click.option("--recovery-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the recovery secret to this file (0600) instead of showing a phrase.")
@pass_ctx
def recovery_setup(c: Context, recovery_file: Path | None) -> None:
    """Make a recovery key and commit this feed to it (weaker than at init: see the README)."""
    rk = RecoveryKey.generate()
    result = run(c.service.recovery_setup(rk))
    show_or_save(rk, c.service.identity().name, recovery_file)
    click.echo(f"published the commitment (root {result.root})")


@click.command()
@click.argument("old", required=False)
@click.option("--secret-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), help=SECRET_HELP)
@click.option("--since", type=int, metavar="SEQ",
              help="Disown the old key's entries from SEQ on (default: after its newest one).")
@pass_ctx
def recover(c: Context, old: str | None, secret_file: Path | None, since: int | None) -> None:
    """On a fresh home: a new feed key, and a migration of feed OLD signed by the recovery key."""
    rk, named = read_secret(secret_file)
    old = old or named
    if not old:
        raise click.ClickException("name the feed to recover (OLD), or give a recovery file")
    me, seq, result = run(c.service.recover(rk, old, since))
    click.echo(f"recovered {old} as {me.name}; its old key's entries from seq {seq} on are not yours")
    click.echo(f"published the migration (root {result.root}); followers move when they sync")


@click.command("rotate")
@click.option("--secret-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), help=SECRET_HELP)
@pass_ctx
def key_rotate(c: Context, secret_file: Path | None) -> None:
    """Move this feed to a new key (the old one at hand; the recovery key signs the move too)."""
    rk, _ = read_secret(secret_file)
    new, seq = run(c.service.rotate(rk))
    click.echo(f"moved to {new.name} from seq {seq}; the old key and outbox are kept in "
               f"{c.settings.home / 'retired'}")


COMMANDS = (recovery, recover)
