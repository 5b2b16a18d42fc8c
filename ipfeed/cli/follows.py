"""Following and reading others: follow, unfollow, following, sync, timeline, status."""

from __future__ import annotations

import sys
import time
from typing import Any

import click

from ..errors import IpfeedError
from ..timefmt import age, format_ms
from .base import Context, echo_json, home_lists, pass_ctx, run, through_home_server
from .terminal import safe_for_terminal


@click.command()
@click.argument("name")
@click.option("--as", "alias", default="", help="A name of your own for this feed.")
@click.option("--force", is_flag=True,
              help="Follow without checking that the name can be found now (e.g. a feed not published yet).")
@pass_ctx
def follow(c: Context, name: str, alias: str, force: bool) -> None:
    """Follow a feed that can be found now (your follow list is public, in your signed feed root)."""
    if through_home_server(c, "follow", name, alias=alias, force=force):
        return
    service = c.service
    if force and not service.known_feed(name):
        click.echo(f"warning: following {name} without checking that it can be found (--force): "
                   "if it is mistyped, the typo goes into your public follow list", err=True)
    run(service.follow(name, alias, force=force))
    click.echo(f"following {name}; run `ipfeed sync` to fetch it")


@click.command()
@click.argument("name")
@pass_ctx
def unfollow(c: Context, name: str) -> None:
    """Stop following a feed."""
    if through_home_server(c, "unfollow", name):
        return
    run(c.service.unfollow(name))
    click.echo(f"unfollowed {name}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def following(c: Context, as_json: bool) -> None:
    """The feeds you follow, with their sync state (on a paired device: the home server's list)."""
    if (lists := home_lists(c)) is not None:
        listed = [f.__dict__ for f in lists.following]
        if as_json:
            echo_json(listed)
            return
        for f in lists.following:
            click.echo(f"{f.name}  {safe_for_terminal(f.alias or f.display_name or '?')}")
        return
    rows = [_status_json(f, s) for f, s in c.service.status()]
    if as_json:
        echo_json(rows)
        return
    for r in rows:
        flag = "  FORK" if r["fork"] else ""
        label = r["alias"] or r["display_name"] or "?"
        click.echo(f"{r['name']}  {safe_for_terminal(label)}  {r['count']} posts{flag}")


SYNC_FAILED = 4  # exit status of `ipfeed sync` when a feed it was asked for (or a follow) failed


@click.command("sync")
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
        echo_json([{"name": r.name, "new_posts": r.new_posts, "fetched": r.fetched,
                    "streamed": r.streamed, "root": r.root, "error": r.error} for r in results])
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


@click.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
@click.option("--before", metavar="CURSOR", help="Continue after this cursor (printed at the end).")
@click.option("--tag", metavar="TAG", help="Only posts with this #tag.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def timeline(c: Context, limit: int, before: str | None, tag: str | None, as_json: bool) -> None:
    """Your and followed feeds merged, newest first (from the local index; on a paired device,
    from its home server)."""
    if c.service.remote() is not None:
        page = c.service.remote_timeline(limit, before, tag)
        if as_json:
            echo_json({"posts": page["posts"], "next": page["next"]})
            return
        for item in page["posts"]:
            click.echo(f"{format_ms(item['created'])}  {item['name'][-8:]} #{item['seq']}  {item['cid']}")
            for line in str(item["text"]).splitlines() or [""]:
                click.echo(f"  {safe_for_terminal(line)}")
        if page["next"]:
            click.echo(f"-- more: ipfeed timeline --before {page['next']}")
        return
    posts = c.service.timeline(limit, before, tag)
    more = posts[-1].cursor if len(posts) == limit else None
    if as_json:
        echo_json({"posts": [p.to_json() for p in posts], "next": more})
        return
    for p in posts:
        click.echo(f"{format_ms(p.created)}  {p.name[-8:]} #{p.seq}  {p.cid}"
                   + (f"  (edited {format_ms(p.edited)})" if p.edited else ""))
        if p.reposted_by:
            click.echo(f"  reposted by {p.reposted_by[-8:]}")
        if p.not_owner:
            click.echo(f"  [NOT THE OWNER'S: signed with the old key after the feed moved to {p.not_owner}]")
        if p.cw:
            click.echo(f"  [content warning: {safe_for_terminal(p.cw)}]")
        for line in p.text.splitlines() or [""]:
            click.echo(f"  {safe_for_terminal(line)}")
        if p.quote:
            click.echo(f"  quoting {p.quote}")
        counts = [f"{n} {w}" for n, w in ((p.likes, "reactions"), (p.reposts, "reposts"),
                                          (p.quotes, "quotes"), (p.replies, "replies")) if n]
        if counts:
            click.echo(f"  {', '.join(counts)}")
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


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
def status(c: Context, as_json: bool) -> None:
    """Each follow: state of the last check, post count, age of the verified feed, errors."""
    rows = [_status_json(f, s) for f, s in c.service.status()]
    if as_json:
        echo_json(rows)
        return
    if c.service.remote() is None:
        unread = c.service.unread()
        where = ""
    else:  # a paired device: its home server keeps the inbox
        try:
            unread, where = c.service.remote_notifications("notifications", limit=1)["unread"], \
                " at your home server"
        except IpfeedError as e:
            unread, where = None, safe_for_terminal(str(e))
    if unread is None:
        click.echo(f"inbox: unknown ({where})")
    else:
        click.echo(f"inbox: {unread['notifications']} unread notifications, {unread['requests']} "
                   f"requests{where} (`ipfeed notifications`)")
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


COMMANDS = (follow, unfollow, following, sync_, timeline, status)
