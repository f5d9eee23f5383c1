"""The platform directory: which platform a host belongs to, what its channels accept.

The directory is data (``portal/data/platforms.json``): the platforms reporters name, the host
names that identify each, the languages their law-enforcement and abuse channels accept and the
country of the operator's main establishment (where a cross-border request goes). How a request
actually reaches a platform (an e-mail address of its law-enforcement channel, or "by hand"
through its web portal) is deployment configuration, never code: ``TAKEDOWN_CHANNELS``.
A host no platform claims is "other": its hosting country comes from the resolver.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

OTHER = "other"


@dataclass(frozen=True)
class Platform:
    code: str
    name: str
    operator: str
    country: str  # ISO 3166-1 alpha-2 of the operator's main establishment
    languages: tuple[str, ...]  # languages its channel accepts, preferred first
    hosts: tuple[str, ...]
    channel_url: str

    def claims(self, host: str) -> bool:
        """Whether ``host`` (lower-case, punycode) is one of this platform's hosts or below one."""
        return any(host == known or host.endswith("." + known) for known in self.hosts)

    def language_for(self, preferred: str) -> str:
        """The language a request to this platform is written in: ``preferred`` if accepted."""
        return preferred if preferred in self.languages else self.languages[0]


@cache
def load_platforms() -> Mapping[str, Platform]:
    raw = json.loads(
        (resources.files("portal") / "data" / "platforms.json").read_text(encoding="utf-8")
    )
    platforms = {
        item["code"]: Platform(
            code=item["code"],
            name=item["name"],
            operator=item["operator"],
            country=item["country"],
            languages=tuple(item["languages"]),
            hosts=tuple(host.lower() for host in item["hosts"]),
            channel_url=item["channel_url"],
        )
        for item in raw["platforms"]
    }
    return MappingProxyType(platforms)


def platform_for_host(host: str) -> Platform | None:
    """The platform a URL's host belongs to, or None ("other": an ordinary website).

    The longest matching known host wins, so that a directory entry for a sub-domain is never
    shadowed by a shorter one.
    """
    host = host.lower().rstrip(".")
    best: tuple[int, Platform] | None = None
    for platform in load_platforms().values():
        for known in platform.hosts:
            if (host == known or host.endswith("." + known)) and (
                best is None or len(known) > best[0]
            ):
                best = (len(known), platform)
    return best[1] if best else None
