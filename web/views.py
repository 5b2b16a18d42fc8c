"""The pages. Every page renders from the local index; only explicit actions touch the node."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed import identity, media, post, private
from ipfeed.errors import (
    IdentityError,
    InvalidInput,
    IpfeedError,
    KuboNotFound,
    MissingIdentity,
    NodeError,
    NodeUnavailable,
    NotFound,
)
from ipfeed.feed import Profile
from ipfeed.index import IndexedPost
from ipfeed.service import Service

from . import compose as drafts
from . import feeds, identicon, text
from .worker import Worker

bp = Blueprint("ui", __name__)


def svc() -> Service:
    return current_app.extensions["ipfeed"]  # type: ignore[no-any-return]


def worker() -> Worker:
    return current_app.extensions["ipfeed_worker"]  # type: ignore[no-any-return]


def _node_timeout() -> float:
    s = svc().settings
    return s.resolve_timeout + s.timeout + 5


def install_filters(app: Flask) -> None:
    """Template helpers and error pages."""
    app.jinja_env.filters["linkify"] = text.linkify
    app.jinja_env.filters["when"] = text.when
    app.jinja_env.filters["ago"] = text.ago
    app.jinja_env.filters["short"] = text.short
    app.jinja_env.filters["handle"] = text.handle
    app.jinja_env.filters["display_name"] = text.display_name
    app.jinja_env.globals["limits"] = {
        "text_bytes": post.MAX_TEXT_BYTES, "attachments": post.MAX_ATTACHMENTS,
        "attachment_mib": post.MAX_ATTACHMENT_SIZE // 2**20, "images": media.IMAGE_NAMES,
        "image_types": ",".join(media.IMAGE_TYPES), "avatar_mib": media.MAX_AVATAR_BYTES // 2**20}

    @app.context_processor
    def common() -> dict[str, Any]:
        try:
            me = svc().identity().name
        except IpfeedError:
            me = None
        return {"me": me, "publish": worker().status, "pending": _pending()}

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[str, int]:
        return render_template("error.html", code=e.code, title=e.name, message=e.description), e.code or 500

    # Each error family has one status here; views catch an error only to add to it.
    for family, code, title in ERROR_PAGES:
        app.register_error_handler(family, _error_page(code, title))


# The one mapping of ipfeed's error families to pages (the most specific class wins).
ERROR_PAGES: tuple[tuple[type[IpfeedError], int, str], ...] = (
    (InvalidInput, 400, "Bad Request"), (NotFound, 404, "Not Found"), (NodeError, 502, "Bad Gateway"),
    (NodeUnavailable, 503, "Node unavailable"), (KuboNotFound, 503, "Node unavailable"),
    (MissingIdentity, 503, "No identity yet"))


def _error_page(code: int, title: str) -> Callable[[IpfeedError], tuple[str, int]]:
    """The error page of one family: its status, and the error's own one line."""
    def page(e: IpfeedError) -> tuple[str, int]:
        return render_template("error.html", code=code, title=title, message=str(e)), code
    return page


def _pending() -> int:
    try:
        return svc().pending()
    except IpfeedError:
        return 0


def _names(posts: list[IndexedPost]) -> dict[str, str]:
    """Display names of the authors and recipients on a page, from their verified profiles."""
    wanted = sorted({p.name for p in posts} | {r for p in posts for r in p.recipients})
    states = svc().feed_states(wanted)
    return {n: (st.profile.get("name") if (st := states.get(n)) else "") or "" for n in wanted}


def _timeline(form: drafts.Form | None = None, error: str = "", status: int = 200) -> tuple[str, int]:
    before = request.args.get("before") or None
    size = current_app.config["PAGE_SIZE"]
    posts = svc().timeline(size, before)
    form = form or drafts.Form(reply_to=request.args.get("reply_to", "").strip())
    return render_template("timeline.html", posts=posts, names=_names(posts), form=form, error=error,
                           follows=_follow_choices(),
                           next=posts[-1].cursor if len(posts) == size else None), status


def _follow_choices() -> list[tuple[str, str, str]]:
    """(name, alias, display name) of each followed feed, for picking recipients."""
    try:
        return [(f.name, f.alias, str(st.profile.get("name") or "") if st else "")
                for f, st in svc().status()]
    except IpfeedError:
        return []


@bp.get("/")
def timeline() -> tuple[str, int]:
    return _timeline()


@bp.post("/post")
def compose() -> WerkzeugResponse | tuple[str, int]:
    """Save a post; after any error the form comes back with everything that was entered
    (uploads kept in a staging area of this session), and a draft meant to be private is
    never published in the clear without the user ticking "post publicly"."""
    form, problems = drafts.read(svc().settings.home)
    if problems:
        return _again(form, "; ".join(problems))
    if form.meant_private and not form.recipients() and not form.public_ok:
        form.public_check = True
        return _timeline(form, f"This draft was private (to {form.meant_private}) and now has no "
                               "recipients: add them again, or tick “Post publicly” to publish it "
                               "for everyone.", 400)
    try:
        svc().save(form.text, form.reply_to or None, form.paths(), form.recipients())
    except InvalidInput as e:
        return _again(form, str(e))
    except IdentityError:
        raise
    except IpfeedError:
        pass  # saved as a draft before this failed (e.g. the feed lock was busy): publish retries
    form.discard()
    worker().publish_soon()
    return redirect(url_for("ui.timeline"), 303)


def _again(form: drafts.Form, error: str) -> tuple[str, int]:
    """The composer back with everything entered and the error; a draft that had recipients
    stays marked private, so emptying the field later does not publish it in the clear."""
    if form.recipients():
        form.meant_private = ", ".join(form.recipients())
    return _timeline(form, error, 400)


def _feed_name(name: str) -> str:
    try:
        return identity.normalize_name(name)
    except InvalidInput as e:
        abort(404, description=str(e))


def _ensure_synced(name: str) -> str:
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
            return f"could not fetch {name}: {e}"
        if result.error:
            return f"could not fetch and verify {name}: {result.error}"
    return ""


@bp.get("/feed/<name>")
def feed_page(name: str) -> str | tuple[str, int]:
    name = _feed_name(name)
    problem = _ensure_synced(name)
    followed = {f.name for f in svc().follows()} if _has_identity() else set()
    if problem:  # the page that asks before following a name nobody can find now
        return render_template("follow_confirm.html", name=name, alias="", message=problem,
                               followed=name in followed), 502
    st = svc().feed_state(name)
    size = current_app.config["PAGE_SIZE"]
    posts = svc().feed_posts(name, size, request.args.get("before") or None)
    return render_template("feed.html", name=name, st=st, posts=posts, names=_names(posts),
                           followed=name in followed, forks=svc().forks(name),
                           next=posts[-1].cursor if len(posts) == size else None)


def _has_identity() -> bool:
    try:
        svc().identity()
    except IpfeedError:
        return False
    return True


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
def follow(name: str) -> WerkzeugResponse | str:
    """Follow a feed that can be found; one that cannot gets a page asking "follow anyway?"."""
    name = _feed_name(name)
    alias = request.form.get("alias", "").strip()
    force = request.form.get("force") == "1"
    try:
        worker().call(svc().follow(name, alias, force=force), 2 * _node_timeout())
    except NotFound as e:
        return render_template("follow_confirm.html", name=name, alias=alias, message=str(e))
    except InvalidInput as e:
        abort(400, description=str(e))
    except IpfeedError as e:
        abort(502, description=f"could not publish your follow list: {e}")
    worker().submit(svc().sync([name]))
    if force:  # its page would only say again that it cannot be fetched
        return redirect(url_for("ui.following"), 303)
    return redirect(url_for("ui.feed_page", name=name), 303)


@bp.post("/unfollow/<name>")
def unfollow(name: str) -> WerkzeugResponse:
    name = _feed_name(name)
    try:
        worker().call(svc().unfollow(name), _node_timeout())
    except InvalidInput as e:
        abort(400, description=str(e))
    except IpfeedError as e:
        abort(502, description=f"could not publish your follow list: {e}")
    return redirect(url_for("ui.feed_page", name=name), 303)


@bp.get("/open")
def open_feed() -> WerkzeugResponse:
    """The 'open a feed by name' box."""
    return redirect(url_for("ui.feed_page", name=_feed_name(request.args.get("name", "").strip())), 303)


@bp.get("/post/<cid>")
def post_page(cid: str) -> str:
    try:
        p, replies = svc().indexed_post(cid)
    except InvalidInput as e:
        abort(404, description=str(e))
    if p is None:
        abort(404, description=f"post {cid} is not in the local index")
    parent = svc().indexed_post(p.reply_to)[0] if p.reply_to else None
    shown = [x for x in (parent, p, *replies) if x]
    return render_template("post.html", post=p, parent=parent, replies=replies, names=_names(shown))


@bp.get("/following")
def following() -> str:
    now = time.time_ns() // 1_000_000
    return render_template("following.html", rows=[(f, st, st.health(now) if st else "never")
                                                   for f, st in svc().status()])


@bp.get("/identicon/<name>.svg")
def identicon_svg(name: str) -> Response:
    """A name's identicon, made here from its hash (nothing remote is in it)."""
    resp = Response(identicon.svg(_feed_name(name)), mimetype="image/svg+xml")
    resp.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return resp


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
    except InvalidInput as e:
        return render_template("profile.html", profile=typed, error=f"not saved: {e}"), 400
    except IpfeedError as e:
        return render_template("profile.html", profile=typed, error=f"not saved: {e}"), 502
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return redirect(url_for("ui.feed_page", name=svc().identity().name), 303)


@bp.get("/search")
def search() -> str:
    q = request.args.get("q", "").strip()
    posts = svc().search(q) if q else []
    return render_template("search.html", q=q, posts=posts, names=_names(posts))


def _file_response(data: bytes, kind: str, name: str) -> Response:
    inline = media.is_image(data[:16], kind)
    resp = Response(data, mimetype=kind if inline else "application/octet-stream")
    disposition = "inline" if inline else "attachment"
    from urllib.parse import quote
    resp.headers["Content-Disposition"] = f"{disposition}; filename*=UTF-8''{quote(name)}"
    resp.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return resp


@bp.get("/post/<post_cid>/attachment/<cid>")
def attachment(post_cid: str, cid: str) -> Response:
    try:
        meta = svc().attachment(post_cid, cid)
    except InvalidInput as e:
        abort(404, description=str(e))
    if meta is None:
        abort(404, description=f"no indexed post {post_cid} carries the attachment {cid}")
    sealed = "key" in meta  # an attachment of a private post: encrypted on the network
    try:
        data = worker().call(svc().cat(cid, int(meta["size"]) + (16 if sealed else 0)), _node_timeout())
        if sealed:
            data = private.decrypt_file(bytes.fromhex(meta["key"]), bytes.fromhex(meta["nonce"]), data)
    except IpfeedError as e:
        abort(502, description=f"attachment {cid}: {e}")
    if len(data) != int(meta["size"]):
        abort(502, description=f"attachment {cid} is not the size its post declares")
    return _file_response(data, str(meta["type"]), str(meta["name"]))


@bp.get("/avatar/<name>")
def avatar(name: str) -> Response:
    st = svc().feed_state(_feed_name(name))
    cid = (st.profile.get("avatar") if st else None) or None
    if cid is None:
        abort(404, description="no avatar")
    try:
        data = worker().call(svc().cat(str(cid), media.MAX_AVATAR_BYTES), _node_timeout())
    except IpfeedError as e:
        abort(502, description=f"avatar {cid}: {e}")
    kind = media.sniff_image(data[:16])
    if kind is None:
        abort(404, description=f"the avatar is not a {media.IMAGE_NAMES} image")
    return _file_response(data, kind, "avatar")
