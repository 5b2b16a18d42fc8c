"""Mute and block: the user's two private lists of feeds, sealed to their own key with the
sealing of private posts (private.py) in one block that their v2 root links to (FORMAT.md
section 16), so that the feed carries them and a restore brings them back; and what each hides.

Muting a feed hides its posts and reposts from the timeline, threads and search (its own page
still opens, saying it is muted); blocking hides it everywhere, drops its notices and, as on
Mastodon, unfollows it. A name is in at most one list: blocking a muted feed moves it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from . import drafts, feed, publishing, reading, writing
from .errors import InvalidInput
from .feed import Follow, Root
from .homedir import Home, latest_root, now_ms
from .identity import Identity
from .moderationblock import ACTIONS, BLOCK, MUTE, UNBLOCK, UNMUTE, Lists, changed, seal_lists
from .outbox import Outbox, feed_lock_async
from .publishing import PublishResult

__all__ = ["ACTIONS", "BLOCK", "MUTE", "UNBLOCK", "UNMUTE", "Changed", "Lists", "change", "lists", "resolve"]


@dataclass(frozen=True)
class Changed:
    """What a mute, unmute, block or unblock did."""

    name: str
    action: str
    changed: bool  # False: the feed was already so (nothing new was signed)
    unfollowed: bool = False  # a block of a followed feed also unfollows it
    published: PublishResult | None = None
    lists: Lists = field(default_factory=Lists)


# -- the user's lists (outbox) ---------------------------------------------------------------
def lists(home: Home) -> Lists:
    """The user's current lists, from the newest root in the outbox (empty before any)."""
    return home.moderation_lists()


def resolve(home: Home, text: str, among: Iterable[str] = ()) -> str:
    """The feed a NAME argument stands for: a name, a followed feed's alias or display name
    (drafts.resolve_recipient), or else the display name of one of `among` (the listed feeds,
    for unmute and unblock)."""
    try:
        return drafts.resolve_recipient(home, text)
    except InvalidInput as e:
        wanted = text.strip().casefold()
        names = sorted(among)
        states = reading.feed_states(home, names)
        found = [n for n in names if (st := states.get(n))
                 and str(st.profile.get("name") or "").strip().casefold() == wanted]
        if len(found) == 1:
            return found[0]
        if found:
            raise InvalidInput(f"{text!r} could be any of {', '.join(found)}; give the name (k51…)") from e
        raise


async def change(home: Home, text: str, action: str) -> Changed:
    """Mute, unmute, block or unblock a feed: new sealed lists in a new root (a block of a
    followed feed also drops it from the follow list, in the same root), shown at once and
    published; with the node down kept and published later (PublishPending)."""
    if action not in ACTIONS:
        raise InvalidInput(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    me = home.identity()
    current = lists(home)
    name = resolve(home, text, current.hidden if action in (UNMUTE, UNBLOCK) else ())
    if name == me.name:
        raise InvalidInput(f"you cannot {action} yourself")
    with home.outbox() as box:
        async with feed_lock_async(home.settings.home, home.settings.lock_timeout):
            await publishing.ensure_root(home, me, box)
            await publishing.check_own_head(home, me, box)
            current = lists(home)
            new = changed(current, name, action)
            follows = {f.name: f for f in reading.follows(home)}
            unfollow = action == BLOCK and follows.pop(name, None) is not None
            if new == current and not unfollow:
                return Changed(name, action, False, lists=new)
            _advance(home, me, box, new, list(follows.values()) if unfollow else None)
        what = "the change to your mute and block lists" + (" and follow list" if unfollow else "")
        published = await publishing.flush_change(home, me, box, what)
    return Changed(name, action, True, unfollow, published, new)


def _advance(home: Home, me: Identity, box: Outbox, new: Lists, follows: Sequence[Follow] | None) -> Root:
    """Sign the next root with `new` lists (and a new follow list if given); a v1 root becomes
    v2, the only version that can link them."""
    block, cid = seal_lists(me, new)
    linked = [block]
    prev = latest_root(box)
    follows_cid = None
    if follows is not None:
        follows_block, follows_cid = feed.build_follows(follows)
        linked.append(follows_block)
    listing = None
    if prev is None or prev.version != feed.VERSION_2:
        listing, _ = writing.listing(prev, None, [], lambda: [])
    root = feed.advance(me, prev, updated=now_ms(), follows=follows_cid, listing=listing, moderation=cid)
    box.add_root(root.seq, root.cid, root.block, tuple(linked))
    home.linked_cache[cid] = new
    drafts.show_own(home, me, root, follows=follows)
    return root
