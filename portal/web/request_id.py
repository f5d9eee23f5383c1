"""A random id for every request: in each log line written while serving it, and in the
``X-Request-ID`` response header, so that one request can be followed through the logs.

The id is random and per request: it identifies no one. An id sent by the client is ignored
unless it comes through the trusted reverse proxy (``TRUSTED_PROXY_HOPS`` > 0), which may set
its own so that its log and ours share it.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from typing import Any

from werkzeug.wsgi import ClosingIterator

from portal.logging_setup import REQUEST_ID

HEADER = "X-Request-ID"
_VALID = re.compile(r"^[A-Za-z0-9._-]{8,64}\Z")


class RequestIdMiddleware:
    def __init__(self, wsgi_app: Any, *, trust_incoming: bool) -> None:
        self.wsgi_app = wsgi_app
        self.trust_incoming = trust_incoming

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        incoming = environ.get("HTTP_X_REQUEST_ID", "")
        if self.trust_incoming and _VALID.match(incoming):
            request_id = incoming
        else:
            request_id = secrets.token_hex(8)
        environ["portal.request_id"] = request_id
        REQUEST_ID.set(request_id)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((HEADER, request_id))
            return start_response(status, headers, exc_info)

        def forget() -> None:
            REQUEST_ID.set(None)

        try:
            body = self.wsgi_app(environ, start)
        except BaseException:
            forget()
            raise
        # Lines logged while the body streams (an evidence download) carry the id too.
        return ClosingIterator(body, [forget])
