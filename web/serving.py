"""The HTTP servers of the web UI: threaded, each connection bounded by a timeout, and on the
device listener a TLS handshake made in the connection's own thread, so one client that
connects and says nothing cannot hold the listener (werkzeug's own TLS server shakes hands
in its accept loop)."""

from __future__ import annotations

import ssl
from contextlib import suppress
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler
from werkzeug.serving import make_server as werkzeug_server

CONNECTION_TIMEOUT = 30.0  # seconds a connection may stay silent (handshake, headers, body)


class _Handler(WSGIRequestHandler):
    timeout = CONNECTION_TIMEOUT
    tls_failed: BaseException | None = None

    def setup(self) -> None:
        super().setup()  # sets the timeout; makes the files, reads nothing yet
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (OSError, ValueError) as e:  # a bad or silent client: this connection only
                self.tls_failed = e

    def handle(self) -> None:
        if self.tls_failed is None:
            super().handle()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Quiet unless something failed: a line per refused or failed request only."""
        if str(getattr(code, "value", code))[:1] in ("4", "5"):
            super().log_request(code, size)

    def finish(self) -> None:
        with suppress(OSError):  # the client went away: nothing to flush to
            super().finish()


def make_server(host: str, port: int, app: Any, ssl_context: ssl.SSLContext | None = None) -> BaseWSGIServer:
    """A threaded server of `app`; with `ssl_context`, TLS (handshakes off the accept loop)."""
    server = werkzeug_server(host, port, app, threaded=True, request_handler=_Handler)
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True,
                                                do_handshake_on_connect=False)
        server.ssl_context = ssl_context  # what werkzeug reads for wsgi.url_scheme
    return server
