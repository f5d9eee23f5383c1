"""Identifiers an offender leaves: phone numbers, e-mail addresses, social handles, bank
accounts, money-transfer codes and crypto wallets. Parse, check and normalise.

Two spellings of the same trace must give the same normal form, because reports are linked by a
blind index over that form (``portal.crypto.blind_index``): ``0612345678``, ``+212 6 12 34 56
78`` and ``00212612345678`` are one phone number (E.164 ``+212612345678``); a Moroccan RIB and
the IBAN that contains it are one bank account; ``https://www.instagram.com/Some.Name/`` and
``@some.name`` are one Instagram account. Normalising a normal form changes nothing.

Checks use the libraries that own each format (``phonenumbers``, ``schwifty`` and
``python-stdnum``, ``base58``, Keccak from ``pycryptodome`` for Ethereum's EIP-55 checksum);
the RIB key is the Moroccan banking rule (97 - (22 digits x 100 mod 97)).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import base58
import phonenumbers
from Crypto.Hash import keccak
from flask_babel import lazy_gettext as _l
from schwifty import IBAN
from schwifty.exceptions import SchwiftyException
from stdnum import bitcoin
from stdnum import iban as stdnum_iban

DEFAULT_REGION = "MA"
MAX_LENGTH = 300

# What a person is asked for, and the kind of blind index each becomes.
KINDS: dict[str, object] = {
    "phone": _l("Phone number"),
    "email": _l("E-mail address"),
    "handle": _l("Social media account"),
    "bank_account": _l("Bank account (RIB or IBAN)"),
    "wallet": _l("Crypto wallet address"),
    "transfer_code": _l("Money transfer code"),
}

ERRORS: dict[str, object] = {
    "empty": _l("This is empty."),
    "too_long": _l("This is too long."),
    "phone": _l(
        "This is not a valid phone number. Write it with the country code if it is not "
        "Moroccan, e.g. +33 6 12 34 56 78."
    ),
    "email": _l("This is not a valid e-mail address."),
    "handle": _l("This is not a valid account name for this platform."),
    "platform": _l("Choose the platform of this account."),
    "rib": _l(
        "This RIB is not valid: it has 24 digits and its last two are a check key. "
        "Check each digit."
    ),
    "iban": _l("This IBAN is not valid. Check each character."),
    "wallet": _l(
        "This is not a valid Bitcoin, Ethereum or Tron (USDT) address. Check each character."
    ),
    "wallet_checksum": _l(
        "This wallet address has a wrong checksum: a character was probably mistyped."
    ),
    "transfer_code": _l("A transfer code has 6 to 20 letters or digits."),
    "unknown": _l(
        "We could not recognise this. Give a phone number, an e-mail, a profile link or an "
        "account name starting with @."
    ),
}


class InvalidIdentifier(ValueError):
    """``reason`` is a key of ``ERRORS``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def message(self) -> object:
        return ERRORS.get(self.reason, ERRORS["unknown"])


@dataclass(frozen=True)
class Identifier:
    kind: str
    value: str  # the normal form
    platform: str | None = None  # handles only

    @property
    def index_kind(self) -> str:
        """The blind-index kind: a handle is only the same account on the same platform."""
        return f"handle:{self.platform}" if self.kind == "handle" else self.kind


def _clean(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw or "")
    # Bidi marks and zero-width characters sneak in when copying from apps.
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()
    if not text:
        raise InvalidIdentifier("empty")
    if len(text) > MAX_LENGTH:
        raise InvalidIdentifier("too_long")
    return text


# --- phones ----------------------------------------------------------------------------------


def normalize_phone(raw: str, region: str = DEFAULT_REGION) -> Identifier:
    text = _clean(raw)
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        raise InvalidIdentifier("phone") from error
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentifier("phone")
    return Identifier(
        "phone", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    )


# --- e-mail ----------------------------------------------------------------------------------

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")
# Providers that ignore dots and "+tags" in the local part: one mailbox, many spellings.
_DOTLESS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}


def normalize_email(raw: str) -> Identifier:
    text = _clean(raw)
    if text.lower().startswith("mailto:"):
        text = text[7:]
    local, at, domain = text.rpartition("@")
    if not at or not _LOCAL.match(local) or local.startswith(".") or ".." in local:
        raise InvalidIdentifier("email")
    try:
        domain = domain.rstrip(".").encode("idna").decode("ascii").lower()
    except UnicodeError as error:
        raise InvalidIdentifier("email") from error
    labels = domain.split(".")
    if len(labels) < 2 or not all(re.fullmatch(r"[a-z0-9-]{1,63}", label) for label in labels):
        raise InvalidIdentifier("email")
    # Every large provider treats the local part without regard to case.
    local = local.lower()
    if domain in _DOTLESS:
        domain = _DOTLESS[domain]
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            raise InvalidIdentifier("email")
    return Identifier("email", f"{local}@{domain}")


# --- social handles --------------------------------------------------------------------------


@dataclass(frozen=True)
class HandleRule:
    pattern: re.Pattern[str]
    hosts: tuple[str, ...]
    # Folding that the platform itself applies: two spellings, one account.
    ignore_dots: bool = False
    case_sensitive: bool = False


HANDLE_RULES: dict[str, HandleRule] = {
    "instagram": HandleRule(re.compile(r"^[a-z0-9._]{1,30}$"), ("instagram.com", "instagr.am")),
    "tiktok": HandleRule(re.compile(r"^[a-z0-9._]{2,24}$"), ("tiktok.com",)),
    "x": HandleRule(re.compile(r"^[a-z0-9_]{1,15}$"), ("x.com", "twitter.com")),
    "telegram": HandleRule(re.compile(r"^[a-z][a-z0-9_]{3,31}$"), ("t.me", "telegram.me")),
    "snapchat": HandleRule(re.compile(r"^[a-z][a-z0-9._-]{2,14}$"), ("snapchat.com",)),
    # Facebook ignores dots and case in user names; numeric profiles are kept as "id:<n>".
    "facebook": HandleRule(
        re.compile(r"^(?:[a-z0-9]{5,50}|id:[0-9]{5,20})$"),
        ("facebook.com", "fb.com", "m.facebook.com"),
        ignore_dots=True,
    ),
    "youtube": HandleRule(
        re.compile(r"^(?:[a-z0-9._-]{3,30}|channel:UC[A-Za-z0-9_-]{22})$"), ("youtube.com",)
    ),
}
# Paths under a platform that are not accounts.
_RESERVED = {
    "p",
    "reel",
    "reels",
    "stories",
    "explore",
    "watch",
    "share",
    "video",
    "status",
    "groups",
    "pages",
    "events",
    "add",
    "s",
    "joinchat",
    "search",
    "hashtag",
    "i",
}


def _platform_of_host(host: str) -> str | None:
    host = host.lower().removeprefix("www.").removeprefix("m.").removeprefix("mobile.")
    for platform, rule in HANDLE_RULES.items():
        if host in rule.hosts or any(host.endswith("." + known) for known in rule.hosts):
            return platform
    if host in ("wa.me", "api.whatsapp.com"):
        return "whatsapp"
    return None


def _handle_from_url(text: str) -> tuple[str, str] | None:
    """(platform, raw handle) for a profile URL of a known platform, else None."""
    candidate = text if "://" in text else "https://" + text
    try:
        parts = urlsplit(candidate)
        hostname = parts.hostname or ""
    except ValueError as error:  # e.g. an unclosed "[" read as an IPv6 address
        raise InvalidIdentifier("handle") from error
    platform = _platform_of_host(hostname)
    if platform is None:
        return None
    segments = [segment for segment in parts.path.split("/") if segment]
    if platform == "whatsapp":
        phone = parse_qs(parts.query).get("phone", [""])[0]
        if not phone and segments and segments[0] != "send":
            phone = segments[0]
        return platform, "+" + phone.lstrip("+") if phone else ""
    if platform == "facebook" and segments[:1] == ["profile.php"]:
        return platform, "id:" + parse_qs(parts.query).get("id", [""])[0]
    if platform == "youtube" and segments[:1] == ["channel"] and len(segments) > 1:
        return platform, "channel:" + segments[1]
    if platform == "snapchat" and segments[:1] == ["add"]:
        segments = segments[1:]
    if not segments or segments[0].lower().lstrip("@") in _RESERVED:
        raise InvalidIdentifier("handle")
    return platform, segments[0]


def normalize_handle(raw: str, platform: str | None) -> Identifier:
    text = _clean(raw)
    from_url = (
        _handle_from_url(text) if ("/" in text or ("." in text and " " not in text)) else None
    )
    if from_url is not None:
        platform, text = from_url
    elif "/" in text:
        raise InvalidIdentifier("handle")
    if platform == "whatsapp":
        return normalize_phone(text)
    if platform not in HANDLE_RULES:
        raise InvalidIdentifier("platform")
    rule = HANDLE_RULES[platform]
    handle = text.lstrip("@").strip()
    if handle.startswith(("id:", "channel:")):
        prefix, _, rest = handle.partition(":")
        handle = f"{prefix}:{rest}"
    else:
        handle = handle.lower()
        if rule.ignore_dots:
            handle = handle.replace(".", "")
    if not rule.pattern.match(handle):
        raise InvalidIdentifier("handle")
    return Identifier("handle", handle, platform)


# --- bank accounts ---------------------------------------------------------------------------


def rib_key(first_22_digits: str) -> str:
    """The two-digit key of a Moroccan RIB: 97 - (bank, city and account x 100 mod 97)."""
    return f"{97 - (int(first_22_digits) * 100) % 97:02d}"


def _rib_to_iban(rib: str) -> str:
    return "MA" + stdnum_iban.calc_check_digits("MA00" + rib) + rib


def normalize_bank_account(raw: str) -> Identifier:
    """A Moroccan RIB (24 digits) or any IBAN; a Moroccan account is given as its IBAN."""
    text = re.sub(r"[\s.\-/]", "", _clean(raw)).upper()
    if text.isdigit():
        if len(text) != 24 or rib_key(text[:22]) != text[22:]:
            raise InvalidIdentifier("rib")
        return Identifier("bank_account", _rib_to_iban(text))
    try:
        account = IBAN(text)
    except SchwiftyException as error:
        raise InvalidIdentifier("iban") from error
    compact = account.compact
    if compact.startswith("MA") and rib_key(compact[4:26]) != compact[26:28]:
        raise InvalidIdentifier("rib")
    return Identifier("bank_account", compact)


# --- money transfer codes --------------------------------------------------------------------


def normalize_transfer_code(raw: str) -> Identifier:
    """A Western Union MTCN, a MoneyGram reference, a Wafacash or Cash Plus code..."""
    text = re.sub(r"[\s.\-/]", "", _clean(raw)).upper()
    if not re.fullmatch(r"[A-Z0-9]{6,20}", text):
        raise InvalidIdentifier("transfer_code")
    return Identifier("transfer_code", text)


# --- crypto wallets --------------------------------------------------------------------------


def eip55(address_hex: str) -> str:
    """The EIP-55 mixed-case checksum form of a 40-hex-digit Ethereum address."""
    lower = address_hex.lower()
    digest = keccak.new(digest_bits=256, data=lower.encode("ascii")).hexdigest()
    return "0x" + "".join(
        ch.upper() if ch.isalpha() and int(digest[i], 16) >= 8 else ch for i, ch in enumerate(lower)
    )


def normalize_wallet(raw: str) -> Identifier:
    text = _clean(raw)
    for prefix in ("bitcoin:", "ethereum:", "tron:"):
        if text.lower().startswith(prefix):
            text = text[len(prefix) :].split("?", 1)[0]
    if re.fullmatch(r"0[xX][0-9a-fA-F]{40}", text):
        body = text[2:]
        checksummed = eip55(body)
        # All one case carries no checksum; mixed case must match it exactly.
        if body not in (body.lower(), body.upper()) and "0x" + body != checksummed:
            raise InvalidIdentifier("wallet_checksum")
        return Identifier("wallet", checksummed)
    if re.fullmatch(r"T[1-9A-HJ-NP-Za-km-z]{33}", text):
        try:
            payload = base58.b58decode_check(text)
        except ValueError as error:
            raise InvalidIdentifier("wallet_checksum") from error
        if len(payload) != 21 or payload[0] != 0x41:
            raise InvalidIdentifier("wallet")
        return Identifier("wallet", text)
    if bitcoin.is_valid(text):
        return Identifier("wallet", bitcoin.compact(text))
    if re.fullmatch(r"(bc1|[13])[0-9A-Za-z]{25,87}", text, flags=re.IGNORECASE):
        raise InvalidIdentifier("wallet_checksum")
    raise InvalidIdentifier("wallet")


# --- any kind --------------------------------------------------------------------------------

_NORMALIZERS = {
    "phone": lambda raw, platform: normalize_phone(raw),
    "email": lambda raw, platform: normalize_email(raw),
    "handle": normalize_handle,
    "bank_account": lambda raw, platform: normalize_bank_account(raw),
    "wallet": lambda raw, platform: normalize_wallet(raw),
    "transfer_code": lambda raw, platform: normalize_transfer_code(raw),
}


def normalize(kind: str, raw: str, *, platform: str | None = None) -> Identifier:
    """The normal form of ``raw`` as a ``kind``; InvalidIdentifier with a reason otherwise."""
    if kind not in _NORMALIZERS:
        raise ValueError(f"unknown identifier kind {kind!r}")
    return _NORMALIZERS[kind](raw, platform)


def parse_account(raw: str, platform: str | None) -> Identifier:
    """An account as a reporter writes it: a profile link, an @name, a phone or an e-mail."""
    text = _clean(raw)
    if "@" in text and not text.startswith("@") and "/" not in text:
        return normalize_email(text)
    if re.fullmatch(r"[+0(][0-9 ()./-]{6,}|[0-9 ()./-]{8,}", text):
        return normalize_phone(text)
    if "/" in text or text.startswith("@") or platform in HANDLE_RULES:
        return normalize_handle(text, platform)
    raise InvalidIdentifier("unknown" if platform is None else "platform")


def parse_lines(
    text: str, parse: object, *, limit: int = 10
) -> tuple[list[Identifier], list[tuple[int, InvalidIdentifier]]]:
    """Each non-empty line through ``parse``; the identifiers and (line number, error) pairs."""
    found: list[Identifier] = []
    errors: list[tuple[int, InvalidIdentifier]] = []
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    for number, line in enumerate(lines[:limit], start=1):
        try:
            identifier = parse(line)  # type: ignore[operator]
        except InvalidIdentifier as error:
            errors.append((number, error))
            continue
        if identifier not in found:
            found.append(identifier)
    if len(lines) > limit:
        errors.append((limit + 1, InvalidIdentifier("too_long")))
    return found, errors


_IBAN_START = re.compile(r"^[A-Za-z]{2}[0-9]{2}")
_WALLET_START = re.compile(
    r"^(?:0[xX][0-9a-fA-F]|T[1-9A-HJ-NP-Za-km-z]{20}|[13][1-9A-HJ-NP-Za-km-z]{20}|bc1|BC1|bitcoin:|ethereum:)"
)


def parse_payee(raw: str) -> Identifier:
    """Where money went: a RIB or IBAN, a crypto wallet, or else a money-transfer code."""
    text = _clean(raw)
    compact = re.sub(r"[\s.\-/]", "", text)
    if _WALLET_START.match(compact):
        return normalize_wallet(compact)
    if _IBAN_START.match(compact) or (compact.isdigit() and len(compact) >= 22):
        return normalize_bank_account(compact)
    return normalize_transfer_code(compact)


def parse_answer(
    kind: str, text: str, platform: str | None = None
) -> tuple[list[Identifier], list[tuple[int, InvalidIdentifier]]]:
    """The identifiers in a free-text answer of ``kind`` (one per line)."""
    if kind == "accounts":
        return parse_lines(text, lambda line: parse_account(line, platform))
    if kind == "payees":
        return parse_lines(text, parse_payee)
    return parse_lines(text, lambda line: normalize(kind, line, platform=platform))
