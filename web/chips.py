"""The small pieces every post card repeats (identicon, who, face, author, stamp), built in
Python: a page of 20 cards made them ~100 times, and a Jinja macro call costs more than the
HTML it makes. Every value is escaped; names from elsewhere are isolated in <bdi> and capped
in combining marks, as the templates did. (f-strings with `escape`: `Markup.format` is slower
than the macros were.)"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping
from typing import Any

from markupsafe import Markup, escape

from . import text

PathFor = Callable[..., str]


def identicon(name: str, size: int = 20, *, path_for: PathFor) -> Markup:
    """A feed's identicon image (served by the local route)."""
    return Markup(f'<img class="identicon" src="{escape(path_for("ui.identicon_svg", name=name))}" alt="" '
                  f'width="{int(size)}" height="{int(size)}">')


def who(name: str, label: str = "", alias: str = "", icon: bool = True, *, path_for: PathFor) -> Markup:
    """A feed as shown: identicon, alias, display name (each isolated) and its handle."""
    icon_html = identicon(name, path_for=path_for) if icon else ""
    alias_html = f' <bdi class="dname alias">{escape(text.display_name(alias))}</bdi>' if alias else ""
    label_html = f' <bdi class="dname">{escape(text.display_name(label))}</bdi>' if label else ""
    return Markup(f'<span class="who" title="{escape(name)}">{icon_html}{alias_html}{label_html}\n'
                  f'  <span class="handle">{escape(text.handle(name))}</span></span>')


def face(name: str, avatars: Collection[str] | None, *, path_for: PathFor) -> Markup:
    """A card's face: the feed's avatar if it has one, else its identicon, linking to the feed."""
    if name in (avatars or ()):
        img = (f'<img class="avatar-sm" src="{escape(path_for("ui.avatar", name=name))}" alt="" width="40" '
               'height="40" loading="lazy">')
    else:
        icon = escape(path_for("ui.identicon_svg", name=name))
        img = f'<img class="avatar-sm" src="{icon}" alt="" width="40" height="40">'
    return Markup(f'<a class="face" href="{escape(path_for("ui.feed_page", name=name))}" tabindex="-1" '
                  f'aria-hidden="true">{img}</a>')


def author(name: str, names: Mapping[str, str], *, path_for: PathFor) -> Markup:
    """A card's author, linking to the feed (the face beside it has the identicon)."""
    return Markup(f'<a class="author" href="{escape(path_for("ui.feed_page", name=name))}">'
                  f'{who(name, names.get(name) or "", icon=False, path_for=path_for)}</a>')


def stamp(p: Any, *, path_for: PathFor) -> Markup:
    """When a post was made ("5 min ago"), linking to its page."""
    return Markup(f'<a class="time" href="{escape(path_for("ui.post_page", cid=p.cid))}"><time '
                  f'datetime="{escape(text.iso(p.sort))}" '
                  f'title="{escape(text.when(p.sort))} · post #{int(p.seq)}">'
                  f'{escape(text.ago(p.sort))}</time></a>')


def _form(action: str, csrf: str, back: str, label: str, cls: str = "", aria: str = "") -> str:
    """One card button as a plain form (CSRF token, and the page to come back to)."""
    aria_html = f' aria-label="{escape(aria)}"' if aria else ""
    return (f'<form method="post" action="{escape(action)}" class="act">\n'
            f'  <input type="hidden" name="csrf" value="{escape(csrf)}"><input type="hidden" name="next" '
            f'value="{escape(back)}">\n'
            f'  <button type="submit" class="small {escape(cls)}"{aria_html}>{escape(label)}</button>\n'
            '</form>')


@functools.lru_cache(maxsize=4)
def _more_reactions(reactions: tuple[str, ...]) -> str:
    """The buttons of the reactions after the first (the same on every card: made once)."""
    return "".join(f'<button type="submit" class="small" name="emoji" value="{escape(e)}" '
                   f'aria-label="React with {escape(e)}">{escape(e)}</button>' for e in reactions[1:])


def actions(p: Any, me: str | None, here: str, csrf: str, reactions: tuple[str, ...], *,
            path_for: PathFor) -> Markup:
    """A card's buttons: reply; like (or unlike), other reactions, repost (or undo) and quote
    unless the post is private (a public reaction would tell whom it was shared with); edit (not
    of a private post) and delete on one's own posts."""
    cid = p.cid
    back = f"{here}#post-{cid}"
    out = ['<div class="actions">\n',
           f'  <a href="{escape(path_for("ui.post_page", cid=cid, reply=1))}">Reply</a>\n']
    if me and not p.private:
        if p.my_reaction:
            out.append(_form(path_for("ui.unreact", cid=cid), csrf, back, f"{p.my_reaction} Unlike", "on",
                             f"Remove your reaction {p.my_reaction}"))
        else:
            more = _more_reactions(reactions)
            react = escape(path_for("ui.react", cid=cid))
            out.append(f'<form method="post" action="{react}" class="act react">\n'
                       f'  <input type="hidden" name="csrf" value="{escape(csrf)}"><input type="hidden" '
                       f'name="next" value="{escape(back)}">\n'
                       f'  <button type="submit" class="small" name="emoji" value="{escape(reactions[0])}">'
                       f'{escape(reactions[0])} Like</button>\n'
                       f'  <details class="more-reactions"><summary aria-label="Other reactions">+</summary>'
                       f'{more}</details>\n</form>')
        out.append("\n  ")
        out.append(_form(path_for("ui.unrepost", cid=cid), csrf, back, "🔁 Undo repost", "on") if p.reposted
                   else _form(path_for("ui.repost", cid=cid), csrf, back, "🔁 Repost"))
        out.append(f'\n  <a href="{escape(path_for("ui.timeline", quote=cid))}#compose">Quote</a>\n')
    if me and p.name == me:  # a private post is not edited (ipfeed.interact.edit says why)
        if not p.private:
            out.append(f'  <a href="{escape(path_for("ui.edit_page", cid=cid))}">Edit</a>\n')
        out.append(f'  <a href="{escape(path_for("ui.delete_page", cid=cid))}">Delete</a>\n')
    out.append("</div>")
    return Markup("".join(out))
