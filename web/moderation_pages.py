"""Mute and block from the web UI: the buttons of a feed's page (block after a confirmation
page), and the settings page that lists muted and blocked feeds with unmute and unblock."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers.response import Response as WerkzeugResponse

from ipfeed.errors import InvalidInput, InvalidObject, IpfeedError, PublishPending
from ipfeed.service import Changed, Service

from . import text
from .feed_pages import _kept
from .views import _back, _feed_name, _node_timeout, bp, svc, worker

DONE = {"mute": "Muted", "unmute": "Unmuted", "block": "Blocked", "unblock": "Unblocked"}


Change = Callable[[Service, str], Coroutine[Any, Any, Changed]]


def _change(name: str, action: str, call: Change) -> WerkzeugResponse:
    """Apply one change (saved and in force at once; published now, or later if the node is
    down) and go back to the page the button was on."""
    name = _feed_name(name)
    label = _label(name)
    try:
        r: Changed = worker().call(call(svc(), name), 2 * _node_timeout())
    except PublishPending as e:
        flash(_kept(f"{DONE[action]} {label}. Saved: your mute and block lists", e))
    except InvalidInput as e:
        abort(400, description=str(e))
    except InvalidObject as e:  # the lists in the outbox are not this key's: refuse, change nothing
        abort(409, description=str(e))
    except IpfeedError as e:
        flash(f"Nothing was changed: {e}")
    else:
        also = " and unfollowed" if r.unfollowed else ""
        flash(f"{DONE[action]}{also} {label}." if r.changed else f"Nothing to change for {label}.")
    return _back()


def _label(name: str) -> str:
    """A feed in a message: its handle (a flash is plain text, never a remote display name,
    which could carry bidi controls outside a <bdi>)."""
    return text.handle(name)


@bp.post("/feed/<name>/mute")
def mute(name: str) -> WerkzeugResponse:
    return _change(name, "mute", lambda s, n: s.mute(n))


@bp.post("/feed/<name>/unmute")
def unmute(name: str) -> WerkzeugResponse:
    return _change(name, "unmute", lambda s, n: s.unmute(n))


@bp.get("/feed/<name>/block")
def block_page(name: str) -> str:
    """Blocking asks first: it unfollows and hides the feed everywhere."""
    name = _feed_name(name)
    return render_template("block.html", name=name, st=svc().feed_state(name),
                           followed=name in {f.name for f in svc().follows()})


@bp.post("/feed/<name>/block")
def block(name: str) -> WerkzeugResponse:
    if request.form.get("confirm") != "1":  # only the confirmation page's form blocks
        return redirect(url_for("ui.block_page", name=_feed_name(name)), 303)
    return _change(name, "block", lambda s, n: s.block(n))


@bp.post("/feed/<name>/unblock")
def unblock(name: str) -> WerkzeugResponse:
    return _change(name, "unblock", lambda s, n: s.unblock(n))


@bp.get("/settings/moderation")
def moderation_page() -> str:
    """The muted and blocked feeds, with unmute and unblock."""
    lists = svc().moderation()
    states = svc().feed_states(sorted(lists.hidden))
    labels = {n: str(st.profile.get("name") or "") if (st := states.get(n)) else "" for n in lists.hidden}
    return render_template("moderation.html", muted=sorted(lists.muted), blocked=sorted(lists.blocked),
                           labels=labels)
