"""The ipfeed web UI: a Flask app over the Service, for the browser on this machine, and (as a
second app, `remote=True`) for paired devices over TLS or behind a reverse proxy."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask, g

from ipfeed.config import Settings
from ipfeed.service import Service

from .security import install as install_security
from .worker import Worker


def _secret(settings: Settings) -> bytes:
    """The session-signing key, kept 0600 in the home so sessions survive restarts."""
    path = settings.home / "web-secret"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key


def create_app(settings: Settings | None = None, *, worker: Worker | None = None,
               pin: bool = False, test_config: dict[str, Any] | None = None, remote: bool = False,
               public_names: tuple[str, ...] = (), behind_proxy: bool = False) -> Flask:
    """The app for one home; `worker` runs node work off the request threads. `remote`: the
    app for paired devices (every request authenticated, secure cookies, the device API),
    answering also to `public_names`; `behind_proxy`: behind a TLS-terminating reverse proxy
    on loopback (X-Forwarded-For/-Proto/-Host of one proxy trusted)."""
    settings = settings or Settings.from_env()
    app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"),
                static_folder=str(Path(__file__).parent / "static"))
    app.config.update(
        SECRET_KEY=_secret(settings),
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_NAME="ipfeed_session",
        MAX_CONTENT_LENGTH=8 * 64 * 1024 * 1024 + 1024 * 1024,
        ALLOWED_HOSTS={"127.0.0.1", "localhost", "[::1]", "::1", *public_names},
        PAGE_SIZE=20,
        IPFEED_HOME=settings.home,
        REMOTE=remote,
        BEHIND_PROXY=behind_proxy,
    )
    if remote:  # cookies only over TLS, and only for this exact origin
        app.config.update(SESSION_COOKIE_SECURE=True, SESSION_COOKIE_NAME="__Host-ipfeed_session")
    if test_config:
        app.config.update(test_config)
    service = Service(settings)
    app.extensions["ipfeed"] = service
    app.extensions["ipfeed_worker"] = worker or Worker(service, pin=pin)
    install_security(app)
    if remote:
        from werkzeug.middleware.proxy_fix import ProxyFix

        from . import api, devices

        devices.install(app)
        app.register_blueprint(api.bp)
        if behind_proxy:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]

    @app.before_request
    def hold_stores() -> None:  # one page opens the index and the outbox once, not per question
        g.ipfeed_held = service.held()
        g.ipfeed_held.__enter__()

    @app.teardown_request
    def release_stores(exc: BaseException | None) -> None:
        held = g.pop("ipfeed_held", None)
        if held is not None:
            held.__exit__(None, None, None)

    from . import (  # each adds routes to views.bp
        actions,
        feed_pages,
        files,
        inbox_pages,
        moderation_pages,
        node_pages,
        views,
    )

    assert actions and feed_pages and files and inbox_pages and moderation_pages and node_pages

    app.register_blueprint(views.bp)
    views.install_filters(app)
    return app
