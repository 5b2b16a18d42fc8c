"""The inbox pages: Notifications (verified replies, mentions, quotes, reactions, reposts and
new followers from feeds the user follows or their follows follow), Requests (the rest,
with accept = follow, ignore and block as plain CSRF-checked forms), and the settings page of
the other feeds whose inboxes this home hosts (`ipfeed inbox host|unhost|hosted`)."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed.errors import IpfeedError, PublishPending
from ipfeed.notice import VERBS
from ipfeed.service import NOTIFICATIONS, REQUESTS

from . import names, text
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


@bp.get("/settings/inbox")
def hosting_page() -> str:
    """The feeds whose inboxes this home hosts, with how many notices it keeps for each."""
    s = svc()
    with s.held():
        hosted = s.hosted_inboxes()
        states = s.feed_states([n for n, _ in hosted])
        labels = {n: str(st.profile.get("name") or "") if (st := states.get(n)) else "" for n, _ in hosted}
        return render_template("hosting.html", hosted=hosted, labels=labels)


@bp.post("/settings/inbox/host")
def host_inbox() -> WerkzeugResponse:
    """Agree to receive notices for another feed (its feed synced now, so they can be checked)."""
    try:
        name = names.parse(request.form.get("name", ""))
        added, error = worker().call(svc().host_inbox(name), 2 * _node_timeout())
    except IpfeedError as e:  # a name that is none, your own, or the most hosted already
        flash(f"Not hosted: {e}")
    else:
        label = text.handle(name)
        flash(f"Hosting the inbox of {label}." if added else f"Already hosting the inbox of {label}.")
        if error:
            flash(f"Its feed does not verify yet ({error}); a notice about its posts is refused "
                  "until it does.")
    return redirect(url_for("ui.hosting_page"), 303)


@bp.post("/settings/inbox/<name>/unhost")
def unhost_inbox(name: str) -> WerkzeugResponse:
    """Stop receiving notices for a feed, dropping those kept for it."""
    name = _feed_name(name)
    dropped = svc().unhost_inbox(name)
    flash(f"No longer hosting the inbox of {text.handle(name)}; dropped {dropped} notices.")
    return redirect(url_for("ui.hosting_page"), 303)
