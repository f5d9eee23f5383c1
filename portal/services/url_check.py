"""Does a reported URL still answer? One HEAD request, nothing of the content read.

The URLs are typed by reporters, so the check must not become a way to reach the portal's own
network (server-side request forgery): the host is resolved first, every address must be a
public one (no loopback, private, link-local, multicast or reserved range) unless the deployment
allows private targets, and the connection goes to the address that was checked (the TLS
certificate is still verified against the host name). Redirects are not followed: a 3xx is
recorded as such. Any failure is "no answer" (None).
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urlsplit

USER_AGENT = "portal-takedown-check/1"


def _public(address: str) -> bool:
    return ipaddress.ip_address(address).is_global


def _resolve(host: str, port: int, *, allow_private: bool) -> str | None:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        return None
    if not allow_private and not all(_public(address) for address in addresses):
        return None
    return addresses[0]


class _PinnedHTTPS(http.client.HTTPSConnection):
    """An https connection to an address resolved and vetted beforehand."""

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


def http_status(url: str, *, timeout: float = 10.0, allow_private: bool = False) -> int | None:
    """The status a HEAD request for ``url`` gets, or None when nothing answers."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _resolve(parts.hostname, port, allow_private=allow_private)
    if address is None:
        return None
    connection_class = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = connection_class(parts.hostname, address, port, timeout)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        connection.request("HEAD", target, headers={"User-Agent": USER_AGENT})
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()
