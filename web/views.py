"""The pages. Every page renders from the local index; only explicit actions touch the node."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any
from urllib.parse import quote

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed import media, mentions, post
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
from ipfeed.index import IndexedPost, search_stems
from ipfeed.service import Service

from . import cards, chips, names, state, text
from . import compose as drafts
from .security import csrf_token
from .worker import Worker

bp = Blueprint("ui", __name__)


def svc() -> Service:
    return current_app.extensions["ipfeed"]  # type: ignore[no-any-return]


def worker() -> Worker:
    return current_app.extensions["ipfeed_worker"]  # type: ignore[no-any-return]


def _node_timeout() -> float:
    s = svc().settings
    return s.resolve_timeout + s.timeout + 5


_SLOT = re.compile(r"ipfeedslot(\d+)x")


def path_for(endpoint: str, **values: Any) -> str:
    """`url_for` for the links every post card repeats (a page of 20 asks ~160 times): each
    route is built once per request with placeholders, kept as a format string, then filled
    with the values, each quoted (a value is never read as a placeholder)."""
    keys = tuple(sorted(values))
    shapes: dict[tuple[str, tuple[str, ...]], str] = g.setdefault("ipfeed_paths", {})
    shape = shapes.get((endpoint, keys))
    if shape is None:
        slots: dict[str, Any] = {k: f"ipfeedslot{i}x" for i, k in enumerate(keys)}
        built = url_for(endpoint, **slots).replace("{", "{{").replace("}", "}}")
        shape = shapes[(endpoint, keys)] = _SLOT.sub(lambda m: "{" + m[1] + "}", built)
    return shape.format(*(_quoted(values[k]) for k in keys))


def _quoted(value: object) -> str:
    """A path segment or query value, %-quoted (names and CIDs are plain ASCII and need none)."""
    s = str(value)
    return s if s.isascii() and s.isalnum() else quote(s, safe="")


def install_filters(app: Flask) -> None:
    """Template helpers and error pages."""
    app.jinja_env.globals["path_for"] = path_for
    app.jinja_env.filters["linkify"] = text.linkify
    app.jinja_env.filters["when"] = text.when
    app.jinja_env.filters["ago"] = text.ago
    app.jinja_env.filters["iso"] = text.iso
    app.jinja_env.filters["highlight"] = text.highlight
    app.jinja_env.filters["short"] = text.short
    app.jinja_env.filters["handle"] = text.handle
    app.jinja_env.filters["display_name"] = text.display_name
    app.jinja_env.globals.update(
        rich=lambda p, names, terms=(): cards.rich(p, names, terms, path_for),
        excerpt=cards.excerpt, domain=cards.domain, others=cards.others, plural=cards.plural,
        is_web_url=cards.is_web_url, reactions=cards.REACTIONS,
        identicon=partial(chips.identicon, path_for=path_for), who=partial(chips.who, path_for=path_for),
        face=partial(chips.face, path_for=path_for), author=partial(chips.author, path_for=path_for),
        stamp=partial(chips.stamp, path_for=path_for), actions=partial(chips.actions, path_for=path_for))
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
        settings = svc().settings
        line = state.strip(settings, worker(), _pending())
        if line and session.get("dismissed") == line.key:
            line = None
        unread = svc().unread() if me else {}
        return {"me": me, "strip": line, "node": state.node_state(settings), "here": _here(),
                "unread": unread, "csrf": csrf_token()}

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> tuple[str, int]:
        code = e.code or 500
        title, message = TITLES.get(code, ("Something went wrong", e.description or ""))
        return render_template("error.html", code=code, title=title,
                               message=e.description if code in (400, 403, 404, 410) else message), code

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


TITLES = {  # error pages in plain words (no "502 Bad Gateway")
    400: ("That did not work", ""),
    403: ("Refused", ""),
    404: ("Nothing here", ""),
    410: ("Deleted by its author", ""),
    405: ("Not possible here", "This address does not take that kind of request."),
    413: ("That upload is too large",
          f"A post takes up to {post.MAX_ATTACHMENTS} images of "
          f"{post.MAX_ATTACHMENT_SIZE // 2**20} MiB each."),
    500: ("Something went wrong", "ipfeed hit an error of its own; your saved posts are safe. "
                                  "Try again, and if it keeps happening, look at the terminal."),
}


def _node_failed(title: str, message: str, e: Exception) -> Exception:
    """An error page for node work that failed: plain words, the cause folded away."""
    return HTTPException(response=current_app.make_response((
        render_template("error.html", code=502, title=title, message=message, detail=str(e)), 502)))


def _pending() -> int:
    try:
        return svc().pending()
    except IpfeedError:
        return 0


def _cards(posts: Sequence[IndexedPost], quotes: Sequence[str] = ()) -> dict[str, Any]:
    """What the post cards of a page need besides the posts, from verified profiles: display
    names of authors, recipients, reposters and mentioned feeds (and of the authors replied to
    and quoted), who has an avatar, the author of each post replied to (None: not known here),
    and each quoted post (None: not known here, or deleted)."""
    parents = svc().reply_authors([p.reply_to for p in posts if p.reply_to])
    quoted = {cid: _known_post(cid) for cid in {*quotes, *(p.quote for p in posts if p.quote)}}
    wanted = sorted({p.name for p in posts} | {r for p in posts for r in p.recipients}
                    | {p.reposted_by for p in posts if p.reposted_by}
                    | {p.not_owner for p in posts if p.not_owner}
                    | {n for p in posts for n in cards.mentioned(p)}
                    | {q.name for q in quoted.values() if q} | set(parents.values()))
    states = svc().feed_states(wanted)
    names = {n: (st.profile.get("name") if (st := states.get(n)) else "") or "" for n in wanted}
    avatars = {n for n, st in states.items() if st.profile.get("avatar")}
    return {"names": names, "avatars": avatars, "parents": parents, "quoted": quoted}


def _known_post(cid: str) -> IndexedPost | None:
    """A post of the index by CID (None: not known here, deleted, or not a CID)."""
    try:
        found = svc().indexed_post(cid)
    except InvalidInput:
        return None
    return found[0] if found else None


def _timeline(form: drafts.Form | None = None, error: str = "", status: int = 200) -> tuple[str, int]:
    before = request.args.get("before") or None
    size = current_app.config["PAGE_SIZE"]
    posts = svc().timeline(size, before)
    form = form or drafts.Form(reply_to=request.args.get("reply_to", "").strip(),
                               quote=request.args.get("quote", "").strip())
    me = svc().identity().name
    welcome = not svc().own_profile().name
    share = url_for("ui.feed_page", name=me, _external=True)
    open_composer = bool(error or form.text or form.kept or form.reply_to or form.to
                         or form.quote) or not posts
    return render_template("timeline.html", posts=posts, **_cards(posts, [form.quote] if form.quote else []),
                           form=form, error=error, follows=_follow_choices(), welcome=welcome,
                           share=share, open_composer=open_composer,
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
        return _composer(form, f"This draft was private (to {form.meant_private}) and now has no "
                               "recipients: add them again, or tick “Post publicly” to publish it "
                               "for everyone.", 400)
    try:
        cards.interactions(svc()).save(form.text, form.reply_to or None, form.paths(), form.recipients(),
                                       **form.v2_fields())
    except InvalidInput as e:
        return _again(form, str(e))
    except IdentityError:
        raise
    except IpfeedError:
        pass  # saved as a draft before this failed (e.g. the feed lock was busy): publish retries
    form.discard()
    worker().publish_soon()
    if _from_thread(form):  # a reply goes back to its conversation
        return redirect(url_for("ui.post_page", cid=form.reply_to) + "#replies", 303)
    return redirect(url_for("ui.timeline"), 303)


def _from_thread(form: drafts.Form) -> bool:
    """Whether the form is a post page's reply box (for an indexed post)."""
    if request.form.get("from") != "thread" or not form.reply_to:
        return False
    try:
        return svc().indexed_post(form.reply_to)[0] is not None
    except InvalidInput:
        return False


def _composer(form: drafts.Form, error: str, status: int = 400) -> tuple[str, int]:
    """The form back where it was filled in: the reply box of a post's page, or the timeline."""
    if _from_thread(form):
        return _post_page(form.reply_to, form, error, status)
    return _timeline(form, error, status)


def _again(form: drafts.Form, error: str) -> tuple[str, int]:
    """The composer back with everything entered and the error; a draft that had recipients
    stays marked private, so emptying the field later does not publish it in the clear."""
    if form.recipients():
        form.meant_private = ", ".join(form.recipients())
    return _composer(form, error)


def _feed_name(name: str) -> str:
    try:
        return names.parse(name)
    except InvalidInput as e:
        abort(404, description=str(e))


def _here() -> str:
    """This page's path and query, for the buttons that come back to it (a page answering a
    POST comes back to the timeline: its address takes no GET)."""
    if request.method != "GET":
        return url_for("ui.timeline")
    return request.full_path.rstrip("?") if request.query_string else request.path


def _back() -> WerkzeugResponse:
    """Back to the page a header button was pressed on (a local path only, never elsewhere)."""
    target = request.form.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target or "\n" in target:
        target = url_for("ui.timeline")
    return redirect(target, 303)


def _has_identity() -> bool:
    try:
        svc().identity()
    except IpfeedError:
        return False
    return True


@bp.get("/post/<cid>")
def post_page(cid: str) -> str | tuple[str, int]:
    return _post_page(cid)


def _post_page(cid: str, form: drafts.Form | None = None, error: str = "",
               status: int = 200) -> tuple[str, int]:
    """A post in its whole known conversation, with a reply box under it (focused when the
    user came by "Reply", or back after a failed reply with everything entered)."""
    try:
        t = svc().thread(cid)
    except InvalidInput as e:
        abort(404, description=str(e))
    if t is None:
        if svc().deleted(cid):
            abort(410, description=f"post {cid} was deleted by its author: its content is not shown "
                                   "here any more (copies others made may remain)")
        abort(404, description=f"post {cid} is not in the local index")
    form = form or drafts.Form(reply_to=t.post.cid)
    shown = [*t.ancestors, t.post, *(r for _, r in t.replies)]
    focus = bool(error) or request.args.get("reply") == "1"
    moderated = svc().moderation().state(t.post.name) if _has_identity() else None
    return render_template("post.html", t=t, post=t.post, form=form, error=error, focus=focus,
                           moderated=moderated, **_cards(shown)), status


@bp.get("/search")
def search() -> str:
    """Posts by their words (prefixes and plurals too) and people by their display names."""
    q = request.args.get("q", "").strip()[:200]
    posts = svc().search(q) if q else []
    found = svc().find_people(q, svc().follows() if _has_identity() else ()) if q else []
    tag = mentions.tag_of(q) if q.startswith("#") and " " not in q else None
    return render_template("search.html", q=q, posts=posts, people=found, tag=tag,
                           terms=[] if tag else search_stems(q), **_cards(posts))


