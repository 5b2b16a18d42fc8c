"""The pages. Every page renders from the local index; only explicit actions touch the node."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed import identity, post, private
from ipfeed.errors import IdentityError, InvalidInput, IpfeedError, MissingIdentity
from ipfeed.index import IndexedPost
from ipfeed.service import Service

from . import feeds, text
from .worker import Worker

bp = Blueprint("ui", __name__)
INLINE_IMAGES = {  # media type -> magic bytes: only these are ever shown inline
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
MAX_AVATAR = 5 * 1024 * 1024


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
    app.jinja_env.filters["short"] = text.short

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

    @app.errorhandler(MissingIdentity)
    def no_identity(e: MissingIdentity) -> tuple[str, int]:
        return render_template("error.html", code=503, title="No identity yet", message=str(e)), 503


def _pending() -> int:
    try:
        return svc().pending()
    except IpfeedError:
        return 0


def _names(posts: list[IndexedPost]) -> dict[str, str]:
    """Display names of the authors on a page, from their verified profiles."""
    states = svc().feed_states(sorted({p.name for p in posts}))
    return {p.name: (st.profile.get("name") if (st := states.get(p.name)) else "") or "" for p in posts}


@bp.get("/")
def timeline() -> str:
    before = request.args.get("before") or None
    size = current_app.config["PAGE_SIZE"]
    try:
        posts = svc().timeline(size, before)
    except InvalidInput as e:
        abort(400, description=str(e))
    return render_template("timeline.html", posts=posts, names=_names(posts),
                           next=posts[-1].cursor if len(posts) == size else None,
                           reply_to=request.args.get("reply_to", ""))


@bp.post("/post")
def compose() -> WerkzeugResponse | tuple[str, int]:
    body = request.form.get("text", "").replace("\r\n", "\n")
    reply_to = request.form.get("reply_to", "").strip() or None
    uploads = [f for f in request.files.getlist("attach") if f and f.filename]
    tmp = Path(tempfile.mkdtemp(prefix="ipfeed-upload-"))
    try:
        paths = []
        for i, f in enumerate(uploads):
            name = _safe_name(f.filename or f"file-{i}")
            folder = tmp / str(i)
            folder.mkdir()
            f.save(folder / name)
            paths.append(folder / name)
        to = request.form.get("to", "").replace(",", " ").split()
        svc().save(body, reply_to, paths, to)
    except InvalidInput as e:
        posts = svc().timeline(current_app.config["PAGE_SIZE"])
        return render_template("timeline.html", posts=posts, names=_names(posts), next=None,
                               error=str(e), draft=body, reply_to=reply_to or ""), 400
    except IdentityError:
        raise
    except IpfeedError:
        pass  # saved as a draft before this failed (e.g. the feed lock was busy): publish retries
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    worker().publish_soon()
    return redirect(url_for("ui.timeline"), 303)


def _safe_name(name: str) -> str:
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if ord(c) >= 32).strip() or "file"
    if name in (".", ".."):
        name = "file"
    return name.encode()[: post.MAX_NAME_BYTES].decode("utf-8", "ignore") or "file"


def _feed_name(name: str) -> str:
    try:
        return identity.normalize_name(name)
    except InvalidInput as e:
        abort(404, description=str(e))


def _ensure_synced(name: str) -> None:
    """A feed nobody synced yet is fetched and verified now (explicit: the user opened it).
    Only for the user's own navigation: another site's <img> must not make the node fetch."""
    st = svc().feed_state(name)
    if st is None or st.root_cid is None:
        if request.headers.get("Sec-Fetch-Site", "none") not in ("none", "same-origin"):
            abort(403, description=f"{name} is not known here yet; open it from ipfeed itself")
        try:
            [result] = worker().call(svc().sync([name]), _node_timeout())
        except IpfeedError as e:
            abort(502, description=f"could not fetch {name}: {e}")
        if result.error:
            abort(502, description=f"could not fetch and verify {name}: {result.error}")


@bp.get("/feed/<name>")
def feed_page(name: str) -> str:
    name = _feed_name(name)
    _ensure_synced(name)
    st = svc().feed_state(name)
    size = current_app.config["PAGE_SIZE"]
    posts = svc().feed_posts(name, size, request.args.get("before") or None)
    followed = {f.name for f in svc().follows()} if _has_identity() else set()
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
def follow(name: str) -> WerkzeugResponse:
    name = _feed_name(name)
    try:
        worker().call(svc().follow(name, request.form.get("alias", "").strip()), _node_timeout())
    except InvalidInput as e:
        abort(400, description=str(e))
    except IpfeedError as e:
        abort(502, description=f"could not publish your follow list: {e}")
    worker().submit(svc().sync([name]))
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
    return render_template("following.html", rows=svc().status())


@bp.route("/profile", methods=["GET", "POST"])
def profile() -> str | WerkzeugResponse | tuple[str, int]:
    current = svc().own_profile()
    if request.method == "GET":
        return render_template("profile.html", profile=current)
    avatar = request.files.get("avatar")
    tmp = Path(tempfile.mkdtemp(prefix="ipfeed-avatar-"))
    try:
        path = None
        if avatar and avatar.filename:
            path = tmp / _safe_name(avatar.filename)
            avatar.save(path)
        worker().call(svc().profile_set(request.form.get("name", ""), request.form.get("bio", ""), path),
                      _node_timeout())
    except InvalidInput as e:
        return render_template("profile.html", profile=current, error=str(e)), 400
    except IpfeedError as e:
        return render_template("profile.html", profile=current, error=f"not saved: {e}"), 502
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return redirect(url_for("ui.feed_page", name=svc().identity().name), 303)


@bp.get("/search")
def search() -> str:
    q = request.args.get("q", "").strip()
    posts = svc().search(q) if q else []
    return render_template("search.html", q=q, posts=posts, names=_names(posts))


def _file_response(data: bytes, media: str, name: str) -> Response:
    inline = media in INLINE_IMAGES and data.startswith(INLINE_IMAGES[media])
    resp = Response(data, mimetype=media if inline else "application/octet-stream")
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
        data = worker().call(svc().cat(str(cid), MAX_AVATAR), _node_timeout())
    except IpfeedError as e:
        abort(502, description=f"avatar {cid}: {e}")
    media = next((t for t, magics in INLINE_IMAGES.items() if data.startswith(magics)), None)
    if media is None:
        abort(404, description="the avatar is not a PNG, JPEG, GIF or WebP image")
    return _file_response(data, media, "avatar")
