"""The web UI beyond loopback (FORMAT.md section 17): only paired devices get in. Every
request carries a device credential (a cookie set by pairing or login: Secure, HttpOnly,
SameSite=Strict, `__Host-`), checked against the home server's device store, revoked ones
refused; pairing and login are rate limited. The loopback UI has none of this (unchanged)."""

from __future__ import annotations

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response as BaseResponse

from ipfeed.errors import AuthError, InvalidInput, RateLimited, Revoked

from .views import svc

bp = Blueprint("devices", __name__)

DEVICE_COOKIE = "__Host-ipfeed_device"
COOKIE_DAYS = 90
OPEN_ENDPOINTS = {"devices.pair", "devices.login", "static", "api.pair"}  # no credential needed yet


def status_of(e: AuthError) -> int:
    """The HTTP status of an authentication failure."""
    if isinstance(e, Revoked):
        return 403
    if isinstance(e, RateLimited):
        return 429
    return 401


def client() -> str:
    """Who is trying (for the rate limits): the peer address (the proxy's X-Forwarded-For
    when served behind one, through ProxyFix)."""
    return request.remote_addr or "?"


def require_device() -> BaseResponse | None:
    """Before every request of a remote app (after the Host check, before CSRF): a paired,
    unrevoked device's credential, or a refusal in plain words."""
    if current_app.config.get("BEHIND_PROXY") and request.scheme != "https":
        return _refuse(400, "this listener is for a TLS-terminating reverse proxy: the request did "
                            "not come through TLS (X-Forwarded-Proto is not https)")
    if request.endpoint in OPEN_ENDPOINTS:
        return None
    api = request.path.startswith("/api/")
    header = request.headers.get("Authorization", "")
    token = header.removeprefix("Bearer ").strip() if api else request.cookies.get(DEVICE_COOKIE, "")
    if not token:
        return _refuse(401, "this home server answers paired devices only: pair this device "
                            "(`ipfeed device pair` on the home server) or log in")
    try:
        g.device = svc().authenticate_device(token)
    except AuthError as e:
        return _refuse(status_of(e), str(e))
    return None


def install(app: Flask) -> None:
    """The pairing and login pages of a remote app (the gate itself is in security.install)."""
    app.register_blueprint(bp)
    app.jinja_env.globals["remote_ui"] = True


def _refuse(code: int, message: str) -> BaseResponse:
    """A refusal in plain words: JSON for the API, the login page for a browser."""
    if request.path.startswith("/api/"):
        return make_response({"error": message}, code)
    resp = make_response(render_template("login.html", message=message), code)
    if code in (401, 403):
        resp.delete_cookie(DEVICE_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return resp


def _with_credential(resp: Response, token: str) -> Response:
    resp.set_cookie(DEVICE_COOKIE, token, max_age=COOKIE_DAYS * 86400, path="/", secure=True,
                    httponly=True, samesite="Strict")
    return resp


@bp.route("/pair", methods=["GET", "POST"])
def pair() -> BaseResponse | tuple[str, int] | str:
    """Pair this browser with the one-time code `ipfeed device pair` printed."""
    if request.method == "GET":
        return render_template("pair.html")
    code, label = request.form.get("code", ""), request.form.get("label", "")
    try:
        device, token = svc().redeem_pairing(code, label, client())
    except AuthError as e:
        return render_template("pair.html", message=str(e), label=label), status_of(e)
    except InvalidInput as e:
        return render_template("pair.html", message=str(e), label=label), 400
    resp = make_response(render_template("paired.html", device=device, token=token))
    return _with_credential(resp, token)


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | tuple[str, int] | str:
    """Log in again with the device key shown at pairing."""
    if request.method == "GET":
        return render_template("login.html")
    try:
        device = svc().login_device(request.form.get("token", ""), client())
    except AuthError as e:
        return render_template("login.html", message=str(e)), status_of(e)
    resp = make_response(redirect(url_for("ui.timeline")))
    return _with_credential(resp, request.form.get("token", "").strip()) if device else resp


@bp.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    """Forget this browser's credential (the device stays paired: log in again with its key)."""
    resp = make_response(redirect(url_for("devices.login")))
    resp.delete_cookie(DEVICE_COOKIE, path="/", secure=True, httponly=True, samesite="Strict")
    return resp

