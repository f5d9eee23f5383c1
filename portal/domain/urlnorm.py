"""Validation and normalisation of the URLs people report.

Reporters paste links from phones and messaging apps: with or without a scheme, with share
trackers, fragments, upper-case hosts or non-Latin domain names. Two reports about the same
content should land on the same normalised URL, so that officers see them as one cluster, and
the normalised URL must still open the same resource in a browser. The rules, in order:

* Surrounding whitespace and invisible direction marks are trimmed; the trimmed text is kept
  as `original`. Control characters, whitespace, direction controls and zero-width spaces
  inside the URL are refused (they are used to make a link look like another one).
* A missing scheme means https ("facebook.com/x"). Only http and https are accepted; as
  browsers do for these schemes, the slashes after "https:" may be missing or doubled.
* Userinfo ("https://facebook.com@evil.example/") is dropped from the normalised form: phishing
  links use it to disguise the real host, and they must stay reportable. The normalised URL
  keeps the host a browser would really open; `original` keeps what was typed.
* The host is processed as browsers do (WHATWG URL standard: UTS 46, non-transitional, with
  the joiner and bidi checks, without the hyphen and STD3 checks): mapped (case folding, full-
  width forms, ideographic full stops), each non-ASCII label checked against IDNA 2008 and
  encoded to punycode, "xn--" labels checked to decode to such a label, and a trailing dot
  removed. So "faßbook.com" is "xn--fabook-cta.com" and "ς.gr" is "xn--3xa.gr", the sites a
  browser opens (IDNA 2003 would map them to "fassbook.com" and "σ.gr", other domains), and a
  zero-width joiner outside the scripts that need one ("a\u200db.com") is refused, as browsers
  refuse it, instead of silently disappearing. ASCII labels keep "_" and "--" as browsers do.
  Names IDNA 2008 disallows (emoji domains, for one) are refused although some browsers open
  them: a host that cannot be stated exactly is not guessed at. A domain name needs at least two
  labels; IPv4 and bracketed IPv6 literals are accepted in their canonical form, and other
  numeric forms ("0x7f.1") are refused rather than guessed at.
* The default port (80 for http, 443 for https) is dropped; other ports must be 1-65535.
* The fragment is dropped: it never reaches the server.
* In the path and the query, percent-escapes get upper-case hex, escaped unreserved characters
  (letters, digits, "-._~") are decoded, non-ASCII characters are encoded as UTF-8 escapes
  the way a browser sends them, and a "%" that starts no escape becomes "%25" (otherwise
  normalising twice could decode a new escape). Backslashes in the path become slashes, as
  browsers treat them. An empty path becomes "/". Nothing else is rewritten: no dot-segment
  removal, no trailing-slash changes, no re-ordering.
* Tracking parameters are removed from the query (see `TRACKING_PARAMS`); the other parameters
  keep their order and their values. An empty query, and empty "&&" pieces, are dropped.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import unquote

import idna

REASONS = frozenset({"empty", "too_long", "scheme", "host", "port", "credentials", "malformed"})

DEFAULT_PORTS = {"http": 80, "https": 443}

TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "igshid",
        "igsh",
        "mc_cid",
        "mc_eid",
        "yclid",
        "_hsenc",
        "_hsmi",
        "mkt_tok",
        "ref_src",
    }
)
TRACKING_PREFIXES = ("utm_",)

# "si" is the share identifier YouTube and Spotify add to every shared link; it tells the
# platform who shared with whom and never changes the content. Elsewhere "si" is a short,
# common parameter name that can select content, so it is only removed on these hosts and
# their subdomains.
SHARE_ID_PARAM = "si"
SHARE_ID_HOSTS = ("youtube.com", "youtu.be", "spotify.com")

# Invisible characters that come along when a link is copied from right-to-left text or a
# rich-text message. Trimmed at the ends; refused inside, where they can disguise a link.
# Zero-width (non-)joiners are not listed: Persian and Indic words in paths need them.
_INVISIBLE = (
    "\u061c\u200b\u200e\u200f\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
_TRIM_RE = re.compile(rf"\A[\s{_INVISIBLE}]+|[\s{_INVISIBLE}]+\Z")
_SCHEME_RE = re.compile(r"\A([A-Za-z][A-Za-z0-9+.\-]*):")
_PORT_RE = re.compile(r"\A[0-9]+\Z")
_LABEL_RE = re.compile(r"\A[a-z0-9_-]{1,63}\Z")
_NUMERIC_LABEL_RE = re.compile(r"\A(?:[0-9]+|0x[0-9a-f]*)\Z")
_HEX = frozenset("0123456789abcdefABCDEF")
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# The characters browsers percent-encode in a path and in a query (WHATWG URL standard).
_PATH_ENCODE = frozenset('"<>`{}')
_QUERY_ENCODE = frozenset('"<>')


class InvalidURL(ValueError):
    """The text is not an acceptable web URL; `reason` is one of `REASONS`."""

    def __init__(self, reason: str) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown InvalidURL reason: {reason!r}")
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NormalizedURL:
    original: str
    normalized: str
    host: str


def normalize_url(raw: str, max_length: int = 2048) -> NormalizedURL:
    """Validate *raw* as an http(s) URL and return it with its normalised form and host.

    *max_length* bounds both the trimmed input and the normalised result, which can be longer
    (punycode, percent-encoded non-ASCII characters). Raises `InvalidURL`.
    """
    original = _TRIM_RE.sub("", raw)
    if not original:
        raise InvalidURL("empty")
    if len(original) > max_length:
        raise InvalidURL("too_long")
    for char in original:
        if char.isspace() or char in _INVISIBLE or unicodedata.category(char) in ("Cc", "Cs"):
            raise InvalidURL("malformed")

    scheme, rest = _split_scheme(original)
    rest = rest.partition("#")[0]
    end = len(rest)
    for delimiter in "/\\?":
        found = rest.find(delimiter)
        if found != -1:
            end = min(end, found)
    authority, tail = rest[:end], rest[end:]
    # The host is what follows the last "@": everything before it is userinfo.
    authority = authority.rpartition("@")[2]
    host, port = _split_authority(authority, scheme)

    path, has_query, query = tail.partition("?")
    path = _normalize_escapes(path.replace("\\", "/"), _PATH_ENCODE) or "/"
    query = _clean_query(_normalize_escapes(query, _QUERY_ENCODE), host) if has_query else ""

    normalized = f"{scheme}://{host}{f':{port}' if port else ''}{path}"
    if query:
        normalized = f"{normalized}?{query}"
    if len(normalized) > max_length:
        raise InvalidURL("too_long")
    return NormalizedURL(original=original, normalized=normalized, host=host)


def _split_scheme(text: str) -> tuple[str, str]:
    match = _SCHEME_RE.match(text)
    # "example.com:8080/x" looks like a scheme followed by a path; a dotted name not followed
    # by "//" is read as a host and port typed without a scheme.
    if match and "." in match.group(1) and not _starts_with_two_slashes(text[match.end() :]):
        match = None
    if match is None:
        return "https", text.lstrip("/\\")
    scheme = match.group(1).lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL("scheme")
    # Browsers ignore any run of slashes and backslashes after "http:" and "https:".
    return scheme, text[match.end() :].lstrip("/\\")


def _starts_with_two_slashes(text: str) -> bool:
    return len(text) >= 2 and text[0] in "/\\" and text[1] in "/\\"


def _split_authority(authority: str, scheme: str) -> tuple[str, int | None]:
    port_text: str | None
    if authority.startswith("["):
        close = authority.find("]")
        if close == -1:
            raise InvalidURL("host")
        host = _ipv6_host(authority[1:close])
        after = authority[close + 1 :]
        if after and not after.startswith(":"):
            raise InvalidURL("host")
        port_text = after[1:] if after else None
    else:
        host_text, colon, port_text = authority.partition(":")
        host = _domain_or_ipv4_host(host_text)
        port_text = port_text if colon else None
    return host, _port(port_text, scheme)


def _port(port_text: str | None, scheme: str) -> int | None:
    if not port_text:
        # "https://example.com:/" is the default port, as in browsers.
        return None
    if not _PORT_RE.match(port_text):
        raise InvalidURL("port")
    significant = port_text.lstrip("0")
    if len(significant) > 5:
        raise InvalidURL("port")
    port = int(significant or "0")
    if not 1 <= port <= 65535:
        raise InvalidURL("port")
    return None if port == DEFAULT_PORTS[scheme] else port


def _ipv6_host(text: str) -> str:
    if "%" in text:  # zone identifiers only make sense on the reporter's own machine
        raise InvalidURL("host")
    try:
        return f"[{ipaddress.IPv6Address(text).compressed}]"
    except ValueError:
        raise InvalidURL("host") from None


def _domain_or_ipv4_host(text: str) -> str:
    if not text or "%" in text:
        raise InvalidURL("host")
    host = _uts46_to_ascii(text)
    labels = host.split(".")
    if len(host) > 253 or not all(_LABEL_RE.match(label) for label in labels):
        raise InvalidURL("host")
    if _NUMERIC_LABEL_RE.match(labels[-1]):
        # A name ending in a number is an IPv4 address to a browser; accept only the
        # canonical dotted-decimal form.
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise InvalidURL("host") from None
    if len(labels) < 2:
        raise InvalidURL("host")
    return host


def _uts46_to_ascii(text: str) -> str:
    """The ASCII form of a domain name as a browser computes it (see the module docstring)."""
    try:
        mapped = idna.uts46_remap(text, std3_rules=False, transitional=False)
    except idna.IDNAError:
        raise InvalidURL("host") from None
    if mapped.endswith("."):
        mapped = mapped[:-1]
    labels = []
    for label in mapped.split("."):
        try:
            if label.startswith("xn--"):
                # Decoding checks the label; the A-label itself is what the browser sends.
                idna.ulabel(label)
            elif not label.isascii():
                label = idna.alabel(label).decode("ascii")
        except (idna.IDNAError, UnicodeError):
            raise InvalidURL("host") from None
        labels.append(label)
    return ".".join(labels)


def _normalize_escapes(text: str, encode: frozenset[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%":
            pair = text[i + 1 : i + 3]
            if len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX:
                decoded = chr(int(pair, 16))
                out.append(decoded if decoded in _UNRESERVED else f"%{pair.upper()}")
                i += 3
                continue
            out.append("%25")
        elif not char.isascii():
            out.append("".join(f"%{byte:02X}" for byte in char.encode("utf-8")))
        elif char in encode:
            out.append(f"%{ord(char):02X}")
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _clean_query(query: str, host: str) -> str:
    kept = [part for part in query.split("&") if part and not _is_tracking(part, host)]
    return "&".join(kept)


def _is_tracking(part: str, host: str) -> bool:
    name = unquote(part.partition("=")[0]).lower()
    if name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES):
        return True
    return name == SHARE_ID_PARAM and any(
        host == domain or host.endswith(f".{domain}") for domain in SHARE_ID_HOSTS
    )
