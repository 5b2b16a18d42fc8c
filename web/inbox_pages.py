"""The inbox pages: Notifications (verified replies, mentions, quotes, reactions, reposts and
new followers from feeds the user follows or their follows follow) and Requests (the rest,
with accept = follow, ignore and block as plain CSRF-checked forms)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from flask import flash, redirect, render_template, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed.errors import IpfeedError, PublishPending
from ipfeed.notice import VERBS
from ipfeed.service import NOTIFICATIONS, REQUESTS

from .views import _feed_name, _node_timeout, bp, svc, worker


def _page(box: str, template: str) -> str:
    s = svc()
    with s.held():
        shown = s.notifications(box, limit=200)
        states = s.feed_states(sorted({n.sender for n in shown}))
        posts = {n.entry: p for n in shown if n.entry and (p := s.indexed_post(n.entry)[0]) is not None}
        return render_template(template, notices=shown, states=states, posts=posts, verbs=VERBS,
                               unread=s.unread())


@bp.get("/notifications")
def notifications() -> str:
    return _page(NOTIFICATIONS, "notifications.html")


@bp.get("/requests")
def requests() -> str:
    return _page(REQUESTS, "requests.html")


@bp.post("/notifications/read")
def mark_read() -> WerkzeugResponse:
    n = svc().mark_read()
    flash(f"Marked {n} as read.")
    return redirect(url_for("ui.notifications"), 303)


def _node_action(coro: Coroutine[Any, Any, object], done: str, pending: str) -> WerkzeugResponse:
    """Run a change that publishes (follow, block) and come back to Requests with a message."""
    try:
        worker().call(coro, 2 * _node_timeout())
        flash(done)
    except PublishPending:
        flash(pending)
    except IpfeedError as e:
        flash(f"Could not do that: {e}")
    return redirect(url_for("ui.requests"), 303)


@bp.post("/requests/<name>/accept")
def request_accept(name: str) -> WerkzeugResponse:
    return _node_action(svc().accept_request(_feed_name(name)),
                        "Accepted: you follow them now, and their notices are notifications.",
                        "Accepted: your follow list will be published when your node is back.")


@bp.post("/requests/<name>/ignore")
def request_ignore(name: str) -> WerkzeugResponse:
    svc().ignore_request(_feed_name(name))
    flash("Ignored: their requests are no longer shown.")
    return redirect(url_for("ui.requests"), 303)


@bp.post("/requests/<name>/block")
def request_block(name: str) -> WerkzeugResponse:
    return _node_action(svc().block(_feed_name(name)),
                        "Blocked: their posts are hidden and their notices dropped.",
                        "Blocked here; your block list will be published when your node is back.")
