"""The `ipfeed` command: thin click commands over the Service; errors become one clear line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import sys
import time
import traceback
import unicodedata
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from . import __version__, media, node
from . import post as post_rules
from .config import Settings
from .errors import IpfeedError
from .post import BIDI_CONTROLS
from .service import FeedView, Service
from .timefmt import age, format_ms

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


class _Group(click.Group):
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


pass_ctx = click.make_pass_decorator(Context)


@click.group(cls=_Group)
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


@cli.command()
@click.option("--name", default="", help="Display name for your profile.")
@click.option("--fresh", is_flag=True,
              help="For a key restored by hand: start a new feed (only if it never published).")
@pass_ctx
def init(c: Context, name: str, fresh: bool) -> None:
    """Create your identity key (0600) and your feed; a no-op if it exists (then --name is
    refused unless it is already your display name: `ipfeed profile set --name` changes it)."""
    me, created = c.service.init(name, fresh=fresh)
    if not created:
        if name and name != c.service.own_profile().name:
            raise click.ClickException(
                f"already initialized: {me.name}; --name does not change an existing feed. To "
                f"change your display name, run: ipfeed profile set --name {shlex.quote(name)}")
        click.echo(f"already initialized: {me.name} (key {c.settings.key_path}); nothing changed")
        return
    click.echo(f"created identity {me.name}")
    click.echo(f"key: {c.settings.key_path} (mode 600; back it up)")
    if c.settings.api or node.managed_api(c.settings):
        result = run(c.service.publish())
        click.echo(f"published feed root {result.root}")
    else:
        click.echo("start your node with `ipfeed node start`, then `ipfeed publish`")


@cli.command("id")
@pass_ctx
def id_(c: Context) -> None:
    """Print your feed's IPNS name."""
    click.echo(c.service.identity().name)


@cli.command()
@click.argument("text", required=False, default="")
@click.option("--reply-to", metavar="CID", help="The post this one answers (from any feed).")
@click.option("--attach", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help=f"Attach a file of any type, up to {post_rules.MAX_ATTACHMENT_SIZE // 2**20} MiB "
                   f"(repeatable, at most {post_rules.MAX_ATTACHMENTS}).")
@click.option("--to", "to", multiple=True, metavar="NAME",
              help="Encrypt the post end to end for NAME (repeatable): only they and you can read it. "
                   "NAME is an IPNS name, or the alias or display name of a feed you follow.")
@click.option("--many", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Post every line of FILE, each a JSON string (- for stdin), with one IPNS update.")
@pass_ctx
def post(c: Context, text: str, reply_to: str | None, attach: tuple[Path, ...], to: tuple[str, ...],
         many: TextIO | None) -> None:
    """Sign and publish a post; print its CID. Use - as TEXT to read stdin."""
    if many is not None:
        if text or reply_to or attach or to:
            raise click.UsageError("--many takes no TEXT, --reply-to, --attach or --to")
        r = run(c.service.post_many(_json_lines(many)))
        click.echo(f"published {r.name} -> {r.root} ({r.count} posts, {r.sealed} newly signed)")
        return
    if text == "-":
        text = sys.stdin.read()
    result = run(c.service.post(text, reply_to, attach, to))
    click.echo(result.cid)


def _json_lines(f: TextIO) -> list[str]:
    """The texts of a JSON Lines file of strings (blank lines skipped); all checked first."""
    texts = []
    for number, line in enumerate(f, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as e:
            raise click.ClickException(f"{f.name}, line {number}: not JSON ({e})") from e
        if not isinstance(value, str):
            raise click.ClickException(f"{f.name}, line {number}: a JSON string is expected, "
                                       f"not {type(value).__name__}")
        texts.append(value)
    return texts


@cli.command()
@pass_ctx
def publish(c: Context) -> None:
    """Send saved posts and the newest feed root to the node and IPNS."""
    r = run(c.service.publish())
    click.echo(f"published {r.name} -> {r.root} ({r.count} posts, {r.sealed} newly signed)")


@cli.group(cls=_Group)
def profile() -> None:
    """Your profile."""


@profile.command("set")
@click.option("--name", help="Display name.")
@click.option("--bio", help="A short text about you.")
@click.option("--avatar", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help=f"A {media.IMAGE_NAMES} image, up to {media.MAX_AVATAR_BYTES // 2**20} MiB.")
@pass_ctx
def profile_set(c: Context, name: str | None, bio: str | None, avatar: Path | None) -> None:
    """Change your profile and publish it."""
    r = run(c.service.profile_set(name, bio, avatar))
    click.echo(f"published {r.name} -> {r.root}")


@cli.command()
@click.argument("name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(0, 100000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def show(c: Context, name: str, limit: int, as_json: bool) -> None:
    """Resolve NAME, verify its feed, and print its newest posts."""
    view = run(c.service.show(name, limit))
    if as_json:
        click.echo(json.dumps(view.to_json(), indent=2, ensure_ascii=False))
    else:
        print_feed(view)


def _when(ms: int) -> str:
    return format_ms(ms)


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")  # the set FORMAT.md 3 defines
MAX_MARKS = 3  # combining marks kept in a row: enough for any script, too few to smear lines


def safe_for_terminal(text: object) -> str:
    """Remote text (names, aliases, posts, file names) for a terminal: control characters
    (escape sequences) and bidi controls (which reorder what follows) shown as \\x85, \\u202e;
    runs of more than MAX_MARKS combining marks (Unicode Mn, Me) cut to MAX_MARKS."""
    text = str(text)
    if text.isascii():
        return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    out, marks = [], 0
    for c in text:
        if c in "\t\n":
            out.append(c)
            marks = 0
            continue
        category = unicodedata.category(c)
        if category in ("Mn", "Me"):
            marks += 1
            if marks <= MAX_MARKS:
                out.append(c)
            continue
        marks = 0
        if category == "Cc":
            out.append(f"\\x{ord(c):02x}")
        elif _BIDI.match(c):
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def print_feed(view: FeedView) -> None:
    """Print a verified feed as `ipfeed show` does."""
    p = view.root.profile
    click.echo(f"{safe_for_terminal(p.name) or '(no name)'}  {view.name}")
    if p.bio:
        click.echo(safe_for_terminal(p.bio))
    click.echo(f"{view.root.count} posts, updated {_when(view.root.updated)}; newest first:")
    for item in map(view.post_json, view.posts):
        click.echo("")
        click.echo(f"#{item['seq']}  {_when(item['created'])}  {item['cid']}")
        if item["private"]:
            click.echo(f"  [private, to {', '.join(item['recipients'])}]")
        if item["reply_to"]:
            click.echo(f"  reply to {item['reply_to']}")
        for line in item["text"].splitlines() or [""]:
            click.echo(f"  {safe_for_terminal(line)}")
        for a in item["attachments"]:
            name = safe_for_terminal(a["name"])
            click.echo(f"  [attachment] {name} ({a['type']}, {a['size']} bytes) {a['cid']}")


# -- drafts -----------------------------------------------------------------------------
@cli.group(cls=_Group, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def drafts(ctx: click.Context, as_json: bool) -> None:
    """Your posts that are saved but not signed yet (the next `publish` signs them)."""
    if ctx.invoked_subcommand is not None:
        return
    found = ctx.find_object(Context)
    assert found is not None
    waiting = found.service.drafts()
    if as_json:
        click.echo(json.dumps([{"id": d.id, "created": d.created, "text": d.text, "reply_to": d.reply_to,
                                "attachments": [a["name"] for a in d.attachments], "to": d.recipients}
                               for d in waiting], indent=2, ensure_ascii=False))
        return
    for d in waiting:
        extra = f"  [{len(d.attachments)} attachments]" if d.attachments else ""
        click.echo(f"{d.id}  {format_ms(d.created)}  {safe_for_terminal(d.text[:60])}{extra}")


@drafts.command("drop")
@click.argument("draft_id", type=int)
@pass_ctx
def drafts_drop(c: Context, draft_id: int) -> None:
    """Give up draft DRAFT_ID (e.g. its attachment cannot be read); its text is printed."""
    d = c.service.drop_draft(draft_id)
    click.echo(f"dropped draft {d.id}; its text was:")
    click.echo(safe_for_terminal(d.text))


# -- keys -------------------------------------------------------------------------------
@cli.group(cls=_Group)
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


@cli.command("export")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--since", metavar="CID", help="Only what came after this root or post (incremental).")
@pass_ctx
def export_(c: Context, file: Path, since: str | None) -> None:
    """Write your whole feed (attachments and signed record included) to a CAR archive."""
    if file.exists():
        raise click.ClickException(f"{file} exists; choose another file")
    posts, size = run(c.service.export(file, since))
    click.echo(f"wrote {posts} posts ({size} bytes) to {file}")


@cli.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@pass_ctx
def import_(c: Context, file: Path) -> None:
    """Verify a feed archive (yours or a friend's) whole, then store, pin and index it."""
    arch = run(c.service.import_archive(file))
    click.echo(f"imported {len(arch.posts)} posts of {arch.name} (root {arch.root.cid}, "
               f"{arch.root.count} posts in the feed)")


# -- following --------------------------------------------------------------------------
@cli.command()
@click.argument("name")
@click.option("--as", "alias", default="", help="A name of your own for this feed.")
@click.option("--force", is_flag=True,
              help="Follow without checking that the name can be found now (e.g. a feed not published yet).")
@pass_ctx
def follow(c: Context, name: str, alias: str, force: bool) -> None:
    """Follow a feed that can be found now (your follow list is public, in your signed feed root)."""
    service = c.service
    if force and not service.known_feed(name):
        click.echo(f"warning: following {name} without checking that it can be found (--force): "
                   "if it is mistyped, the typo goes into your public follow list", err=True)
    run(service.follow(name, alias, force=force))
    click.echo(f"following {name}; run `ipfeed sync` to fetch it")


@cli.command()
@click.argument("name")
@pass_ctx
def unfollow(c: Context, name: str) -> None:
    """Stop following a feed."""
    run(c.service.unfollow(name))
    click.echo(f"unfollowed {name}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def following(c: Context, as_json: bool) -> None:
    """The feeds you follow, with their sync state."""
    rows = [_status_json(f, s) for f, s in c.service.status()]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    for r in rows:
        flag = "  FORK" if r["fork"] else ""
        label = r["alias"] or r["display_name"] or "?"
        click.echo(f"{r['name']}  {safe_for_terminal(label)}  {r['count']} posts{flag}")


SYNC_FAILED = 4  # exit status of `ipfeed sync` when a feed it was asked for (or a follow) failed


@cli.command("sync")
@click.argument("names", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print JSON: per feed its name, new posts, "
              "blocks fetched and error.")
@pass_ctx
def sync_(c: Context, names: tuple[str, ...], as_json: bool) -> None:
    """Fetch, verify, index and pin what is new in followed feeds (or only NAMES), now.

    Exits 4 if any feed could not be synced (each is named, with why)."""
    def progress(name: str, done: int, total: int) -> None:
        if total >= 1000 and sys.stderr.isatty() and not as_json:
            width = 30
            filled = width * done // max(total, 1)
            end = "\n" if done >= total else ""
            click.echo(f"\r{name[-12:]} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} posts",
                       err=True, nl=False)
            click.echo(end, err=True, nl=False)

    results = run(c.service.sync(names, progress, force=True))
    failed = [r for r in results if r.error]
    if as_json:
        click.echo(json.dumps([{"name": r.name, "new_posts": r.new_posts, "fetched": r.fetched,
                                "streamed": r.streamed, "root": r.root, "error": r.error}
                               for r in results], indent=2, ensure_ascii=False))
    else:
        for r in results:
            if r.error:
                click.echo(f"{r.name}: FAILED: {safe_for_terminal(r.error)}", err=True)
            else:
                click.echo(f"{r.name}: {r.new_posts} new posts ({r.fetched} blocks fetched)")
    if failed:
        if not as_json:
            click.echo(f"{len(failed)} of {len(results)} feeds could not be synced", err=True)
        raise SystemExit(SYNC_FAILED)


@cli.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--before", metavar="CURSOR", help="Continue after this cursor (printed at the end).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def timeline(c: Context, limit: int, before: str | None, as_json: bool) -> None:
    """Your and followed feeds merged, newest first (from the local index)."""
    posts = c.service.timeline(limit, before)
    more = posts[-1].cursor if len(posts) == limit else None
    if as_json:
        click.echo(json.dumps({"posts": [p.to_json() for p in posts], "next": more}, indent=2,
                              ensure_ascii=False))
        return
    for p in posts:
        click.echo(f"{_when(p.created)}  {p.name[-8:]} #{p.seq}  {p.cid}")
        for line in p.text.splitlines() or [""]:
            click.echo(f"  {safe_for_terminal(line)}")
    if more:
        click.echo(f"-- more: ipfeed timeline --before {more}")


def _status_json(f: Any, s: Any) -> dict[str, Any]:
    now = time.time_ns() // 1_000_000
    return {
        "name": f.name, "alias": f.alias,
        "display_name": (s.profile.get("name") if s else None),
        "count": s.count if s else 0, "head": s.head if s else None,
        "root": s.root_cid if s else None,
        "state": s.health(now) if s else "never",
        "last_check": s.last_sync if s else None, "last_ok": s.last_ok if s else None,
        "updated": s.updated if s else None,
        "lag_ms": (now - s.updated) if s and s.updated else None,
        "last_error": s.last_error if s else None, "fork": bool(s and s.fork),
        "record_expires": s.record_eol if s else None,
        "stale": bool(s and s.record_eol and s.record_eol <= now),
    }


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def status(c: Context, as_json: bool) -> None:
    """Each follow: state of the last check, post count, age of the verified feed, errors."""
    rows = [_status_json(f, s) for f, s in c.service.status()]
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    now = time.time_ns() // 1_000_000
    for r in rows:
        line = f"{r['name']}  {r['count']} posts  {r['state'].upper()}"
        if r["updated"] is not None:
            line += f"  verified feed from {age(r['updated'], now)} ago"
        if r["state"] == "stale":
            line += " (its record expired)"
        if r["last_check"] is not None:
            line += f"  last check {age(r['last_check'], now)} ago"
        if r["fork"]:
            line += "  FORK"
        if r["last_error"]:
            line += f"  error: {safe_for_terminal(r['last_error'])}"
        click.echo(line)


@cli.command()
@click.option("--interval", type=float, help="Seconds between sync rounds (default 60).")
@click.option("--rounds", type=int, default=0, help="Stop after N rounds (0: run until stopped).")
@pass_ctx
def daemon(c: Context, interval: float | None, rounds: int) -> None:
    """Home server without the web UI: run the node, sync and pin follows, re-put their records."""
    from .home import serve_forever

    if not c.settings.api:
        _notes(node.start(c.settings))
    run(serve_forever(c.service, interval or c.settings.sync_interval, rounds,
                      lambda line: click.echo(line, err=True)))


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, envvar="IPFEED_WEB_HOST",
              help="Address to bind. Anything but loopback exposes your feed controls.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535),
              envvar="IPFEED_WEB_PORT")
@click.option("--pin", is_flag=True, help="Also be a home server: sync and pin follows periodically.")
@pass_ctx
def serve(c: Context, host: str, port: int, pin: bool) -> None:
    """Run the web UI (and the node) on http://127.0.0.1:PORT."""
    from werkzeug.serving import make_server

    from .web import create_app  # web/, installed as ipfeed.web

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


# -- node -------------------------------------------------------------------------------
@cli.group(cls=_Group, name="node")
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


@node_group.group(cls=_Group)
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


def main() -> None:
    """Console entry point."""
    cli(prog_name="ipfeed")
