"""Where is a host's content hosted? A best guess, with where the guess comes from.

A cross-border referral goes to the country that can act on the content. The guess is made in
this order, and the officer always sees its source and can choose another country:

1. configuration (``HOSTING_COUNTRY_OVERRIDES``: host or parent domain -> country), for hosts
   the unit has established;
2. the platform directory: a platform's content is the business of the country of its operator's
   main establishment;
3. a WHOIS server (``HOSTING_WHOIS_SERVER``), asked for the country of the host's address
   (RFC 3912, the protocol regional internet registries answer);
4. the country-code top-level domain, except the ones sold worldwide (".io", ".co", ".me"...).

The WHOIS client is the pluggable part that needs the network; tests run it against a local
server. Nothing here is sent anywhere but the configured WHOIS server.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from portal.domain.platforms import platform_for_host

# Two-letter top-level domains marketed as generic: they say nothing about where content is.
GENERIC_CCTLDS = frozenset(
    {"ai", "am", "cc", "co", "fm", "gg", "io", "ly", "me", "nu", "sh", "tk", "to", "tv", "ws"}
)
# Top-level domains whose country code differs from ISO 3166-1.
TLD_COUNTRIES = {"uk": "GB", "ac": "GB"}
_COUNTRY_LINE = re.compile(r"^\s*country\s*:\s*([A-Za-z]{2})\s*$", re.IGNORECASE | re.MULTILINE)
MAX_WHOIS_ANSWER = 64 * 1024


@dataclass(frozen=True)
class HostingGuess:
    country: str | None  # ISO 3166-1 alpha-2, upper case
    source: str  # "configuration", "platform", "whois", "tld" or "unknown"


class CountryLookup(Protocol):
    def country_of(self, host: str) -> str | None: ...


class WhoisLookup:
    """Resolve a host and ask a WHOIS server for the country of its first address."""

    def __init__(self, server: str, *, timeout: float = 10.0) -> None:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError("a WHOIS server is given as host:port")
        self.server = (host.strip("[]"), int(port))
        self.timeout = timeout

    def country_of(self, host: str) -> str | None:
        try:
            address = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][4][0]
            with socket.create_connection(self.server, self.timeout) as connection:
                connection.sendall(f"{address}\r\n".encode("ascii"))
                answer = b""
                while len(answer) < MAX_WHOIS_ANSWER:
                    piece = connection.recv(4096)
                    if not piece:
                        break
                    answer += piece
        except (OSError, UnicodeError):
            return None
        match = _COUNTRY_LINE.search(answer.decode("utf-8", "replace"))
        return match.group(1).upper() if match else None


def _configured(host: str, overrides: Mapping[str, str]) -> str | None:
    labels = host.split(".")
    for start in range(len(labels) - 1):
        country = overrides.get(".".join(labels[start:]))
        if country:
            return country.upper()
    return None


def _from_tld(host: str) -> str | None:
    tld = host.rsplit(".", 1)[-1]
    if len(tld) != 2 or not tld.isalpha() or tld in GENERIC_CCTLDS:
        return None
    return TLD_COUNTRIES.get(tld, tld.upper())


def hosting_country(
    host: str, *, overrides: Mapping[str, str], lookup: CountryLookup | None = None
) -> HostingGuess:
    host = host.lower().rstrip(".")
    country = _configured(host, overrides)
    if country:
        return HostingGuess(country, "configuration")
    platform = platform_for_host(host)
    if platform is not None:
        return HostingGuess(platform.country, "platform")
    if lookup is not None:
        country = lookup.country_of(host)
        if country:
            return HostingGuess(country, "whois")
    country = _from_tld(host)
    if country:
        return HostingGuess(country, "tld")
    return HostingGuess(None, "unknown")
