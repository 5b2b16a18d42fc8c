"""Feed pages: a feed, its Atom and JSON Feed, following and unfollowing, the follow list,
your profile."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed.errors import (
    InvalidInput,
    IpfeedError,
    KuboNotFound,
    NodeUnavailable,
    NotFound,
    PublishPending,
)
from ipfeed.feed import Profile
from ipfeed.index import IndexedPost

from . import compose as drafts
from . import feeds, names
from .views import _back, _cards, _feed_name, _has_identity, _node_timeout, bp, svc, worker


def _problem_page(problem: names.Problem, name: str = "", alias: str = "",
                  followed: bool = False) -> tuple[str, int]:
    """A name that could not be shown or followed, in plain words, with a retry (and, for a
    name that may simply not be published yet, "follow anyway")."""
    return render_template("problem.html", problem=problem, name=name, alias=alias,
                           followed=followed), problem.status


def _ensure_synced(name: str) -> names.Problem | None:
    """A feed nobody synced yet is fetched and verified now (explicit: the user opened it);
    returns why that failed, if it did. Only for the user's own navigation: another site's
    <img> must not make the node fetch."""
    st = svc().feed_state(name)
    if st is None or st.root_cid is None:
        if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
            abort(403, description=f"{name} is not known here yet; open it from ipfeed itself")
        try:
            [result] = worker().call(svc().sync([name]), _node_timeout())
        except IpfeedError as e:
            return names.explain(name, str(e), st)
        if result.error:
            return names.explain(name, result.error, st)
    return None


@bp.get("/feed/<name>")
def feed_page(name: str) -> str | tuple[str, int]:
    try:
        name = names.parse(name)
    except InvalidInput as e:
        return _problem_page(names.invalid(e))
    problem = _ensure_synced(name)
    followed = {f.name for f in svc().follows()} if _has_identity() else set()
    if problem:  # the page that asks before following a name nobody can find now
        return _problem_page(problem, name, followed=name in followed)
    st = svc().feed_state(name)
    size = current_app.config["PAGE_SIZE"]
    posts = svc().feed_posts(name, size, request.args.get("before") or None)
    moderated = svc().moderation().state(name) if _has_identity() else None
    return render_template("feed.html", name=name, st=st, posts=posts, **_cards(posts),
                           followed=name in followed, forks=svc().forks(name), moderated=moderated,
                           next=posts[-1].cursor if len(posts) == size else None)


def _public(posts: list[IndexedPost]) -> list[IndexedPost]:
    """Feed-reader documents leave private posts out: they are for a browser session only."""
    return [p for p in posts if not p.private]


@bp.get("/feed/<name>.atom")
def feed_atom(name: str) -> Response:
    name = _feed_name(name)
    st = svc().feed_state(name)
    if st is None or st.root_cid is None:
        abort(404, description=f"{name} is not in the local index; open /feed/{name} first")
    xml = feeds.atom(name, st, _public(svc().feed_posts(name, 50)), request.host_url)
    return Response(xml, mimetype="application/atom+xml")


@bp.get("/feed/<name>.json")
def feed_json(name: str) -> Response:
    name = _feed_name(name)
    st = svc().feed_state(name)
    if st is None or st.root_cid is None:
        abort(404, description=f"{name} is not in the local index; open /feed/{name} first")
    return current_app.response_class(feeds.json_feed(name, st, _public(svc().feed_posts(name, 50)),
                                                      request.host_url),
                                      mimetype="application/feed+json")


@bp.post("/follow/<name>")
def follow(name: str) -> WerkzeugResponse | str | tuple[str, int]:
    """Follow a feed that can be found; one that cannot gets a page asking "follow anyway?"."""
    name = _feed_name(name)
    alias = request.form.get("alias", "").strip()
    force = request.form.get("force") == "1"
    try:
        worker().call(svc().follow(name, alias, force=force), 2 * _node_timeout())
    except NotFound as e:
        return _problem_page(names.explain(name, str(e), svc().feed_state(name)), name, alias)
    except PublishPending as e:
        flash(_kept(f"Saved: you follow {alias or name}; your follow list", e))
    except InvalidInput as e:
        abort(400, description=str(e))
    except IpfeedError as e:
        return _problem_page(_publish_problem(e), name, alias)
    worker().submit(svc().sync([name]))
    if force:  # its page would only say again that it cannot be fetched
        return redirect(url_for("ui.following"), 303)
    return redirect(url_for("ui.feed_page", name=name), 303)


def _kept(what: str, e: PublishPending) -> str:
    """A change kept in the outbox whose publishing failed, in plain words."""
    if isinstance(e.__cause__, NodeUnavailable | KuboNotFound):
        return f"{what} will be published when your node is back (it is stopped now)."
    return f"{what} will be published at the next try (the network did not take it now)."


def _publish_problem(e: IpfeedError) -> names.Problem:
    """A follow-list change that could not be published, in plain words."""
    if isinstance(e, NodeUnavailable | KuboNotFound):
        return names.Problem("node-down", "Your node is not running",
                             "ipfeed checks that a feed exists before following it (a typo "
                             "would go into your public follow list), and cannot while your "
                             "node is stopped: nothing was changed.",
                             "Start the node with the button at the top, then try again.", str(e), 503)
    return names.Problem("publish", "Your follow list could not be published now",
                         "Nothing was changed.", "Try again in a moment.", str(e), 503)


@bp.post("/unfollow/<name>")
def unfollow(name: str) -> WerkzeugResponse | tuple[str, int]:
    name = _feed_name(name)
    try:
        worker().call(svc().unfollow(name), _node_timeout())
    except PublishPending as e:
        flash(_kept(f"Saved: you no longer follow {name}; your follow list", e))
    except InvalidInput as e:
        abort(400, description=str(e))
    except IpfeedError as e:
        return _problem_page(_publish_problem(e), name)
    return redirect(url_for("ui.feed_page", name=name), 303)


@bp.get("/open")
def open_feed() -> WerkzeugResponse | tuple[str, int]:
    """The 'open a feed by name' box: a name, or a feed URL or ipns:// link pasted whole."""
    try:
        name = names.parse(request.args.get("name", ""))
    except InvalidInput as e:
        return _problem_page(names.invalid(e))
    return redirect(url_for("ui.feed_page", name=name), 303)


@bp.get("/following")
def following() -> str:
    now = time.time_ns() // 1_000_000
    return render_template("following.html", rows=[(f, st, st.health(now) if st else "never")
                                                   for f, st in svc().status()])


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> str | WerkzeugResponse | tuple[str, int]:
    current = svc().own_profile()
    if request.method == "GET":
        return render_template("profile.html", profile=current)
    avatar = request.files.get("avatar")
    typed = Profile(request.form.get("name", ""), request.form.get("bio", ""), current.avatar)
    tmp = Path(tempfile.mkdtemp(prefix="ipfeed-avatar-"))
    try:
        path = None
        if avatar and avatar.filename:
            path = tmp / drafts.safe_name(avatar.filename)
            try:
                avatar.save(path)
            finally:
                avatar.close()  # a big upload is a spooled temporary file: close it now
        worker().call(svc().profile_set(typed.name, typed.bio, path), _node_timeout())
    except PublishPending as e:
        flash(_kept("Saved: your profile", e))
        return _back() if request.form.get("next") else \
            redirect(url_for("ui.feed_page", name=svc().identity().name), 303)
    except InvalidInput as e:
        return render_template("profile.html", profile=typed, error=f"not saved: {e}"), 400
    except IpfeedError as e:
        return render_template("profile.html", profile=typed, error=f"not saved: {e}"), 502
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if request.form.get("next"):  # the welcome form of the timeline goes back there
        flash("Saved: your display name is published with your feed.")
        return _back()
    return redirect(url_for("ui.feed_page", name=svc().identity().name), 303)
