"""The interactions of a post card: like, repost, edit, delete, their pages (edit, delete
confirmation, history) and the tag pages. Each action is a plain form (CSRF-checked like every
POST) that saves a draft, hands publishing to the web worker, and comes back with a message."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed import mentions
from ipfeed.errors import FeedLocked, InvalidInput, PublishPending
from ipfeed.index import IndexedPost
from ipfeed.interact import PRIVATE_EDIT

from . import cards
from .views import _back, _cards, _known_post, _node_timeout, bp, svc, worker


def _act(action: Callable[[], int], done: str) -> WerkzeugResponse:
    """Run one action (it saves a draft), publish soon, and go back where the user was. An
    action refused (a bad CID, a post not known, not one's own) gets its error page."""
    with suppress(FeedLocked, PublishPending):  # the draft is saved; publishing retries
        action()
    worker().publish_soon()
    flash(done)
    return _back()


def _whole_chain() -> None:
    """Before a deletion: a home that continued the feed with a restored key fetches the older
    entries it rebuilds from (at once where the home holds its whole chain; refused, with the
    reason, when they cannot be fetched)."""
    worker().call(svc().complete_chain(), _node_timeout() + svc().settings.sync_timeout)


def _post_or_404(cid: str) -> IndexedPost:
    p = _known_post(cid)
    if p is None:
        abort(404, description=f"post {cid} is not in the local index (or was deleted)")
    return p


def _own_or_403(cid: str) -> IndexedPost:
    """A post of this home's own feed: only its author edits or deletes it."""
    p = _post_or_404(cid)
    if p.name != svc().identity().name:
        abort(403, description="only a post's author can edit or delete it, and this one is not yours")
    return p


@bp.post("/post/<cid>/react")
def react(cid: str) -> WerkzeugResponse:
    emoji = request.form.get("emoji", cards.REACTIONS[0])
    if emoji not in cards.REACTIONS:
        abort(400, description="choose one of the reactions offered")
    label = "Liked" if emoji == cards.REACTIONS[0] else f"Reacted with {emoji}"
    return _act(lambda: cards.interactions(svc()).react(cid, emoji),
                f"{label}: it is published with your feed in a moment.")


@bp.post("/post/<cid>/unreact")
def unreact(cid: str) -> WerkzeugResponse:
    _whole_chain()
    return _act(lambda: cards.interactions(svc()).unreact(cid), "Your reaction is removed.")


@bp.post("/post/<cid>/repost")
def repost(cid: str) -> WerkzeugResponse:
    return _act(lambda: cards.interactions(svc()).repost(cid),
                "Reposted: your followers see it in their timelines.")


@bp.post("/post/<cid>/unrepost")
def unrepost(cid: str) -> WerkzeugResponse:
    _whole_chain()
    return _act(lambda: cards.interactions(svc()).unrepost(cid), "Your repost is undone.")


@bp.route("/post/<cid>/edit", methods=["GET", "POST"])
def edit_page(cid: str) -> WerkzeugResponse | tuple[str, int]:
    """Edit one's own post: the text prefilled; saving publishes a new version (the old ones
    stay in its history)."""
    p = _own_or_403(cid)
    if p.private:
        abort(400, description=f"cannot edit this post: {PRIVATE_EDIT}")
    if request.method == "GET":
        return render_template("edit.html", post=p, text=p.text, error="", **_cards([p])), 200
    typed = request.form.get("text", "").replace("\r\n", "\n")
    try:
        if not typed.strip():
            raise InvalidInput("an edit needs some text (to take the post away, delete it)")
        cards.interactions(svc()).edit(cid, typed)
    except InvalidInput as e:
        return render_template("edit.html", post=p, text=typed, error=f"not saved: {e}", **_cards([p])), 400
    except (FeedLocked, PublishPending):
        pass
    worker().publish_soon()
    flash("Saved your edit: readers see the new version, marked as edited.")
    return redirect(url_for("ui.post_page", cid=cid), 303)


@bp.route("/post/<cid>/delete", methods=["GET", "POST"])
def delete_page(cid: str) -> WerkzeugResponse | tuple[str, int]:
    """Delete one's own post, after a page saying what deletion can and cannot guarantee."""
    p = _own_or_403(cid)
    if request.method == "GET":
        return render_template("delete.html", post=p, **_cards([p])), 200
    _whole_chain()
    with suppress(FeedLocked, PublishPending):
        cards.interactions(svc()).delete(cid)
    worker().publish_soon()
    flash("Deleted: your feed now says so, and nodes that honour it stop showing and serving the post.")
    return redirect(url_for("ui.timeline"), 303)


@bp.get("/post/<cid>/history")
def history_page(cid: str) -> tuple[str, int]:
    """Every known version of an edited post, newest first."""
    try:
        versions = cards.interactions(svc()).history(cid)
    except InvalidInput as e:
        abort(404, description=str(e))
    if not versions:
        abort(404, description=f"post {cid} is not in the local index (or was deleted)")
    return render_template("history.html", cid=cid, versions=versions, **_cards(versions)), 200


@bp.get("/tag/<tag>")
def tag_page(tag: str) -> tuple[str, int]:
    """The timeline filtered by one tag, with a pager."""
    norm = mentions.tag_of(tag)
    if norm is None:
        abort(404, description="that is not a tag: letters, digits and _, up to 64 bytes")
    size = current_app.config["PAGE_SIZE"]
    posts = cards.interactions(svc()).timeline(size, request.args.get("before") or None, tag=norm)
    return render_template("tag.html", tag=norm, posts=posts, **_cards(posts),
                           next=posts[-1].cursor if len(posts) == size else None), 200
