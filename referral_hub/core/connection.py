"""Closing a keep-alive connection whose request body was refused unread.

A client that sends a body over the limit (413) has bytes of it still on the wire. The
server cannot read them as the next request, and gunicorn drains at most 64 KiB before it
drops the connection — after having answered `Connection: keep-alive`. The client then
sends its next request into a closed socket. So a 413 closes the connection and says so.

gunicorn ignores a `Connection` header set by the application (it is hop-by-hop, and PEP
3333 forbids it), so the close is asked of gunicorn's response object, which is what its
`start_response` belongs to; gunicorn then writes `Connection: close` itself. Under other
servers this changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class CloseAfterRefusedBody:
    """WSGI middleware: a 413 answer ends the connection."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        def starting(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if status.startswith("413"):
                server_response = getattr(start_response, "__self__", None)
                force_close = getattr(server_response, "force_close", None)
                if callable(force_close):
                    force_close()
            return start_response(status, headers, exc_info)

        return self.app(environ, starting)
