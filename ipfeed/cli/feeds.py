"""Your feed's commands: init, id, post, publish, profile, show and drafts."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TextIO

import click

from .. import media, node
from .. import post as post_rules
from ..recovery import RecoveryKey
from ..service import FeedView
from ..timefmt import format_ms
from .base import Context, Group, echo_json, pass_ctx, report_handover, run
from .recovery import show_or_save
from .terminal import safe_for_terminal


@click.command()
@click.option("--name", default="", help="Display name for your profile.")
@click.option("--fresh", is_flag=True,
              help="For a key restored by hand: start a new feed (only if it never published).")
@click.option("--recovery-file", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the recovery secret to this file (0600) instead of showing a phrase once.")
@click.option("--no-recovery", is_flag=True, help="Make no recovery key (`ipfeed recovery setup` later).")
@pass_ctx
def init(c: Context, name: str, fresh: bool, recovery_file: Path | None, no_recovery: bool) -> None:
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
    if not no_recovery:
        rk = RecoveryKey.generate()
        c.service.recovery_commit(rk)
        show_or_save(rk, me.name, recovery_file)
    if c.settings.api or node.managed_api(c.settings):
        result = run(c.service.publish())
        click.echo(f"published feed root {result.root}")
    else:
        click.echo("start your node with `ipfeed node start`, then `ipfeed publish`")


@click.command("id")
@pass_ctx
def id_(c: Context) -> None:
    """Print your feed's IPNS name."""
    click.echo(c.service.identity().name)


@click.command()
@click.argument("text", required=False, default="")
@click.option("--reply-to", metavar="CID", help="The post this one answers (from any feed).")
@click.option("--attach", multiple=True, type=click.Path(path_type=Path, dir_okay=False),
              help=f"Attach a file of any type, up to {post_rules.MAX_ATTACHMENT_SIZE // 2**20} MiB "
                   f"(repeatable, at most {post_rules.MAX_ATTACHMENTS}).")
@click.option("--to", "to", multiple=True, metavar="NAME",
              help="Encrypt the post end to end for NAME (repeatable): only they and you can read it. "
                   "NAME is an IPNS name, or the alias or display name of a feed you follow.")
@click.option("--many", type=click.File("r", encoding="utf-8"), metavar="FILE",
              help="Post every line of FILE, each a JSON string (- for stdin), with one IPNS update; "
                   "plain text: no structured #tags, @mentions or link cards.")
@click.option("--alt", "alts", multiple=True, metavar="TEXT",
              help="Describe an attachment for people who cannot see it (repeatable, in --attach order).")
@click.option("--cw", default="", metavar="TEXT", help="A content warning shown before the post.")
@click.option("--sensitive", is_flag=True, help="Hide the attachments until clicked.")
@click.option("--quote", metavar="CID", help="Quote this post (shown embedded).")
@click.option("--no-card", is_flag=True, help="No link card for the first link of the text.")
@pass_ctx
def post(c: Context, text: str, reply_to: str | None, attach: tuple[Path, ...], to: tuple[str, ...],
         many: TextIO | None, alts: tuple[str, ...], cw: str, sensitive: bool, quote: str | None,
         no_card: bool) -> None:
    """Sign and publish a post; print its CID. Use - as TEXT to read stdin."""
    if many is not None:
        if text or reply_to or attach or to or alts or cw or sensitive or quote:
            raise click.UsageError("--many takes no TEXT, --reply-to, --attach, --to, --alt, --cw, "
                                   "--sensitive or --quote")
        if c.service.remote() is not None:  # plain posts, handed over in order (section 17.4)
            report_handover(c.service.remote_post_many(_json_lines(many)))
            return
        r = run(c.service.post_many(_json_lines(many)))
        click.echo(f"published {r.name} -> {r.root} ({r.count} posts, {r.sealed} newly signed)")
        return
    if text == "-":
        text = sys.stdin.read()
    if c.service.remote() is not None:  # a paired device: the home server signs (section 17)
        _, pushed = c.service.remote_post(text, reply_to, attach, to, quote=quote, cw=cw,
                                          sensitive=sensitive, alts=alts, card=not no_card)
        report_handover(pushed)
        return
    result = run(c.service.post(text, reply_to, attach, to, quote=quote, cw=cw, sensitive=sensitive,
                                alts=alts, card=not no_card))
    for warning in result.warnings:
        click.echo(f"warning: {safe_for_terminal(warning)}", err=True)
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


@click.command()
@pass_ctx
def publish(c: Context) -> None:
    """Send saved posts and the newest feed root to the node and IPNS (on a paired device: hand
    the waiting posts to the home server)."""
    if c.service.remote() is not None:
        report_handover(c.service.remote_push())
        return
    r = run(c.service.publish())
    click.echo(f"published {r.name} -> {r.root} ({r.count} posts, {r.sealed} newly signed)")


@click.group(cls=Group)
def profile() -> None:
    """Your profile."""


@profile.command("set")
@click.option("--name", help="Display name.")
@click.option("--bio", help="A short text about you.")
@click.option("--avatar", type=click.Path(path_type=Path, dir_okay=False, exists=True),
              help=f"A {media.IMAGE_NAMES} image, up to {media.MAX_AVATAR_BYTES // 2**20} MiB.")
@pass_ctx
def profile_set(c: Context, name: str | None, bio: str | None, avatar: Path | None) -> None:
    """Change your profile and publish it (on a paired device: handed to the home server)."""
    if c.service.remote() is not None:
        _, pushed = c.service.remote_profile(name, bio, avatar)
        report_handover(pushed)
        return
    r = run(c.service.profile_set(name, bio, avatar))
    click.echo(f"published {r.name} -> {r.root}")


@click.command()
@click.argument("name")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(0, 100000))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def show(c: Context, name: str, limit: int, as_json: bool) -> None:
    """Resolve NAME, verify its feed, and print its newest posts; or, given a post's CID, print
    its conversation as this index knows it (replies that came through the inbox included)."""
    if name.startswith("bafy"):
        print_thread(c, name, as_json)
        return
    view = run(c.service.show(name, limit))
    if (state := c.service.moderation().state(view.name)) and not as_json:
        click.echo(f"(you {state} this feed" + ("; its posts are hidden: `ipfeed unblock NAME` shows them)"
                                                if state == "blocked" else ")"), err=True)
    moved = c.service.moved_to(view.name)
    if as_json:
        out = view.to_json()
        if moved:
            out["moved_to"] = {"name": moved[0], "seq": moved[1]}
            for item in out.get("posts", []):
                item["not_owner"] = moved[0] if item["seq"] >= moved[1] else None
        echo_json(out)
    else:
        print_feed(view, moved)
        if problem := c.service.migration_problems(view.name):
            click.echo(f"warning: a migration of this feed was refused: {safe_for_terminal(problem)}")
        if c.service.competing_moves(view.name):
            click.echo("warning: its recovery key signed competing migrations; the lowest seq counts")


def print_thread(c: Context, cid: str, as_json: bool) -> None:
    """A post in its conversation: the posts it answers, then the replies of replies, indented."""
    t = c.service.thread(cid)
    if t is None and c.service.deleted(cid):
        raise click.ClickException(f"post {cid} was deleted by its author; ipfeed does not show its content")
    if t is None:
        raise click.ClickException(f"{cid} is not a post known here (sync its feed first)")
    if as_json:
        echo_json({"post": t.post.to_json(), "ancestors": [p.to_json() for p in t.ancestors],
                   "replies": [{"depth": d, **p.to_json()} for d, p in t.replies],
                   "missing_parent": t.missing_parent})
        return
    for depth, p in [*((0, a) for a in t.ancestors), (0, t.post), *t.replies]:
        pad = "  " * depth
        click.echo(f"{pad}{p.name[:16]}…  {format_ms(p.created)}  {p.cid}")
        for line in p.text.splitlines() or [""]:
            click.echo(f"{pad}  {safe_for_terminal(line)}")


def print_feed(view: FeedView, moved: tuple[str, int] | None = None) -> None:
    """Print a verified feed as `ipfeed show` does (with the migration that counts, if any)."""
    p = view.root.profile
    click.echo(f"{safe_for_terminal(p.name) or '(no name)'}  {view.name}")
    if p.bio:
        click.echo(safe_for_terminal(p.bio))
    if moved:
        click.echo(f"moved to {moved[0]}: what its old key signs from #{moved[1]} on is not the owner's")
    click.echo(f"{view.root.count} posts, updated {format_ms(view.root.updated)}; newest first:")
    for item in map(view.post_json, view.posts):
        click.echo("")
        click.echo(f"#{item['seq']}  {format_ms(item['created'])}  {item['cid']}")
        if moved and item["seq"] >= moved[1]:
            click.echo(f"  [NOT THE OWNER'S: signed with the old key after the feed moved to {moved[0]}]")
        if item["private"]:
            click.echo(f"  [private, to {', '.join(item['recipients'])}]")
        if item["reply_to"]:
            click.echo(f"  reply to {item['reply_to']}")
        for line in item["text"].splitlines() or [""]:
            click.echo(f"  {safe_for_terminal(line)}")
        for a in item["attachments"]:
            name = safe_for_terminal(a["name"])
            click.echo(f"  [attachment] {name} ({a['type']}, {a['size']} bytes) {a['cid']}")


@click.group(cls=Group, invoke_without_command=True)
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
        echo_json([{"id": d.id, "created": d.created, "text": d.text, "reply_to": d.reply_to,
                    "attachments": [a["name"] for a in d.attachments], "to": d.recipients,
                    "kind": d.kind, "subject": d.subject["cid"] if d.subject else None}
                   for d in waiting])
        return
    if avatar := found.service.kept_avatar():
        click.echo(f"avatar  {safe_for_terminal(avatar)}  (saved while the node was down: "
                   "published with your profile when it is back)")
    for d in waiting:
        extra = f"  [{len(d.attachments)} attachments]" if d.attachments else ""
        what = "" if d.kind == "post" or not d.subject else f"[{d.kind} of {d.subject['cid']}] "
        click.echo(f"{d.id}  {format_ms(d.created)}  {what}{safe_for_terminal(d.text[:60])}{extra}")


@drafts.command("drop")
@click.argument("draft_id", type=int)
@pass_ctx
def drafts_drop(c: Context, draft_id: int) -> None:
    """Give up draft DRAFT_ID (e.g. its attachment cannot be read); its text is printed."""
    d = c.service.drop_draft(draft_id)
    click.echo(f"dropped draft {d.id}; its text was:")
    click.echo(safe_for_terminal(d.text))


COMMANDS = (init, id_, post, publish, profile, show, drafts)
