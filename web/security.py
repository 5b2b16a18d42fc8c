"""Web protections in one place: Host check, a paired device beyond loopback (devices.py), CSRF on
every POST, strict response headers."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, abort, request, session

# Scripts only from the files of web/static (no inline script or style, no eval).
CSP = ("default-src 'none'; script-src 'self'; img-src 'self'; style-src 'self'; manifest-src 'self'; "
       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def install(app: Flask) -> None:
    """Register the checks and headers on an app."""

    @app.before_request
    def check_host() -> None:
        host = (request.host or "").rsplit(":", 1)[0] if not request.host.startswith("[") \
            else request.host.split("]")[0] + "]"
        if host not in app.config["ALLOWED_HOSTS"]:
            abort(400, description=f"unexpected Host header {request.host!r}: ipfeed answers only "
                                   "on 127.0.0.1/localhost (DNS rebinding protection)")

    if app.config.get("REMOTE"):  # beyond loopback: a paired device first, then its CSRF token
        from .devices import require_device

        app.before_request(require_device)

    @app.before_request
    def check_csrf() -> None:
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            origin = request.headers.get("Origin")
            if origin and origin != request.host_url.rstrip("/"):
                abort(403, description=f"request from another origin ({origin}) refused")
            if request.path.startswith("/api/") and (request.mimetype == "application/json"
                                                     or request.method == "PUT"):
                return  # the device API: JSON or PUT and a bearer credential, which no other
                # site's page can send here (each needs a CORS preflight, and none is granted)
            sent = request.form.get("csrf", "")
            if not sent or "csrf" not in session or not hmac.compare_digest(sent, session["csrf"]):
                abort(403, description="missing or wrong CSRF token: reload the page and try again")

    @app.after_request
    def headers(resp):  # type: ignore[no-untyped-def]
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        # same-origin, not no-referrer: with no-referrer browsers send `Origin: null` on our own forms
        resp.headers["Referrer-Policy"] = "same-origin"
        resp.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        resp.headers["Cross-Origin-Resource-Policy"] = "same-origin"
        return resp

    app.jinja_env.globals["csrf_token"] = csrf_token
