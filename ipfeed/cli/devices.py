"""Devices: pairing them with this home server (`device …`), and this home as a device of
another home server (`remote …`). FORMAT.md section 17."""

from __future__ import annotations

import socket

import click

from ..timefmt import format_ms
from .base import Context, Group, echo_json, pass_ctx, report_handover
from .terminal import safe_for_terminal

DEFAULT_REMOTE_PORT = 8788


@click.group(cls=Group, name="device")
def device_group() -> None:
    """Devices paired with this home server (they post through it; no key is copied)."""


@device_group.command("pair")
@click.option("--name", "label", default="new device", show_default=True, help="A name for the device.")
@click.option("--url", help="The address the device opens (default: what `serve --remote-port` serves).")
@pass_ctx
def device_pair(c: Context, label: str, url: str | None) -> None:
    """Print a one-time pairing code, the URL to open and the certificate's fingerprint."""
    svc = c.service
    svc.identity()  # a home server has its feed key: refuse before making a code
    url = url or svc.device_setting("remote_url") or \
        f"https://{socket.gethostname()}:{DEFAULT_REMOTE_PORT}/"
    p = svc.open_pairing(label)
    fp = svc.tls_fingerprint()
    base = url.rstrip("/")
    click.echo(f"pairing code: {p.code}   (works once, until {format_ms(p.expires)})")
    click.echo(f"on a phone or browser, open: {base}/pair")
    click.echo(f"  and check that the certificate's SHA-256 fingerprint is {fp}")
    click.echo(f"on a laptop: ipfeed remote add {base} --code {p.code} --fingerprint {fp}")
    if not svc.device_setting("remote_url"):
        click.echo("note: serve devices with `ipfeed serve --remote-port 8788 --public-name HOST` "
                   "(TLS; HOST: the name or address they reach this machine by)", err=True)


@device_group.command("ls")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def device_ls(c: Context, as_json: bool) -> None:
    """The devices paired with this home (revoked ones marked)."""
    found = c.service.devices()
    if as_json:
        echo_json([d.__dict__ for d in found])
        return
    for d in found:
        state = f"revoked {format_ms(d.revoked)}" if d.revoked else \
            f"last seen {format_ms(d.last_seen)}" if d.last_seen else "not seen yet"
        click.echo(f"{d.id}  {safe_for_terminal(d.label)}  paired {format_ms(d.created)}  {state}")


@device_group.command("revoke")
@click.argument("device_id")
@pass_ctx
def device_revoke(c: Context, device_id: str) -> None:
    """Refuse DEVICE_ID's credential from now on (its next request gets 403)."""
    d = c.service.revoke_device(device_id)
    click.echo(f"revoked {d.id} ({safe_for_terminal(d.label)})")


@click.group(cls=Group, name="remote")
def remote_group() -> None:
    """This home as a device of a home server: `post` hands drafts to it, `timeline` reads it."""


@remote_group.command("add")
@click.argument("url")
@click.option("--code", required=True, help="The code `ipfeed device pair` printed on the home server.")
@click.option("--fingerprint", help="The certificate fingerprint it printed (pinned). Leave out only "
                                    "behind a reverse proxy with a certificate your system trusts.")
@click.option("--name", "label", default="", help="A name for this device (default: the one "
                                                   "`device pair --name` gave).")
@pass_ctx
def remote_add(c: Context, url: str, code: str, fingerprint: str | None, label: str) -> None:
    """Pair this home with the home server at URL."""
    p = c.service.remote_add(url, code, fingerprint, label)
    click.echo(f"paired with {p.url} as device {p.device}; posts here are signed there, as {p.name}")


@remote_group.command("status")
@pass_ctx
def remote_status(c: Context) -> None:
    """The home server this home is paired with, and the drafts waiting for it."""
    p = c.service.remote()
    if p is None:
        click.echo("not paired with a home server")
        raise SystemExit(3)
    waiting = c.service.remote_waiting()
    click.echo(f"paired with {p.url} as device {p.device} (feed {p.name}); {len(waiting)} waiting")
    for w in waiting:
        why = f"  refused: {safe_for_terminal(w.refused)}" if w.refused else ""
        what = safe_for_terminal(w.handover.describe())
        click.echo(f"{w.id}  {format_ms(w.handover.created)}  {what}{why}")


@remote_group.command("push")
@pass_ctx
def remote_push(c: Context) -> None:
    """Hand the drafts waiting here to the home server now, oldest first."""
    report_handover(c.service.remote_push())


@remote_group.command("rm")
@pass_ctx
def remote_rm(c: Context) -> None:
    """Unpair this home (drafts waiting here stay: `remote add` again to send them)."""
    click.echo("unpaired" if c.service.remote_rm() else "not paired")


COMMANDS = (device_group, remote_group)
