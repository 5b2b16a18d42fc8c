"""Your key and your feed as files: key export and import (a passphrase backup), export and
import (a CAR archive)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from .base import Context, Group, pass_ctx, run


@click.group(cls=Group)
def key() -> None:
    """Back up and restore your identity key (encrypted with a passphrase)."""


def _passphrase(path: Path | None, confirm: bool) -> str:
    if path is not None:
        return path.read_text(encoding="utf-8").rstrip("\n")
    if env := os.environ.get("IPFEED_PASSPHRASE"):
        return env
    return str(click.prompt("Passphrase", hide_input=True, confirmation_prompt=confirm))


@key.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--passphrase-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Read the passphrase from a file (else IPFEED_PASSPHRASE, else a prompt).")
@click.option("--strength", type=click.Choice(["interactive", "moderate", "sensitive"]),
              default="moderate", show_default=True, envvar="IPFEED_KDF",
              help="argon2id cost: moderate takes ~0.5 s and 256 MiB.")
@pass_ctx
def key_export(c: Context, file: Path, passphrase_file: Path | None, strength: str) -> None:
    """Write your key to FILE, encrypted with a passphrase (argon2id)."""
    if file.exists():
        raise click.ClickException(f"{file} exists; choose another file")
    name = c.service.key_export(file, _passphrase(passphrase_file, confirm=True), strength)
    click.echo(f"key of {name} written to {file} (encrypted; keep the passphrase safe)")


@key.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--passphrase-file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Read the passphrase from a file (else IPFEED_PASSPHRASE, else a prompt).")
@pass_ctx
def key_import(c: Context, file: Path, passphrase_file: Path | None) -> None:
    """Restore your key from FILE into this home."""
    name = c.service.restore_key(file, _passphrase(passphrase_file, confirm=False))
    click.echo(f"restored {name}; your feed is fetched from the network (or `ipfeed import`) "
               "before your next post, so it continues where it was")


@click.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--since", metavar="CID", help="Only what came after this root or post (incremental).")
@pass_ctx
def export_(c: Context, file: Path, since: str | None) -> None:
    """Write your whole feed (attachments and signed record included) to a CAR archive."""
    if file.exists():
        raise click.ClickException(f"{file} exists; choose another file")
    posts, size = run(c.service.export(file, since))
    click.echo(f"wrote {posts} posts ({size} bytes) to {file}")


@click.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_ctx
def import_(c: Context, file: Path) -> None:
    """Verify a feed archive (yours or a friend's) whole, then store, pin and index it."""
    arch = run(c.service.import_archive(file))
    click.echo(f"imported {len(arch.posts)} posts of {arch.name} (root {arch.root.cid}, "
               f"{arch.root.count} posts in the feed)")


COMMANDS = (key, export_, import_)
