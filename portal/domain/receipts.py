"""The reporter's secret receipt and the public report reference.

The *receipt* is the only thing that links a reporter to their report: 16 random decimal
digits, shown once, never stored in clear. It is digits only so that it can be read aloud,
written on paper and typed on any phone keyboard (GlobaLeaks does the same).

The *reference* ("EB-7K3M-9Q2P") is public and not a secret: it names a report in the officer
console, in audit entries and in conversations between units. Knowing it grants nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from argon2.low_level import Type, hash_secret_raw

RECEIPT_DIGITS = 16
REFERENCE_PREFIX = "EB"
# Crockford's base32 alphabet: no I, L, O or U, so nothing is confused with 1, 0 or V
# when read aloud or copied by hand.
REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_BODY_LENGTH = 8
# Large enough for any way of typing 16 digits with separators; longer input is not a receipt.
_MAX_RECEIPT_INPUT = 128

_RECEIPT_RE = re.compile(r"\A[0-9]{16}\Z")
_REFERENCE_RE = re.compile(
    rf"\A{REFERENCE_PREFIX}-[{REFERENCE_ALPHABET}]{{4}}-[{REFERENCE_ALPHABET}]{{4}}\Z"
)


def _digit_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for zero in (
        0x0660,  # Arabic-Indic ٠-٩
        0x06F0,  # Eastern Arabic-Indic / Persian ۰-۹
        0xFF10,  # fullwidth ０-９
    ):
        for value in range(10):
            table[zero + value] = str(value)
    return table


_DIGITS = _digit_table()

# What people put between groups of digits: spaces of any kind, dashes of any kind, dots, the
# Arabic decimal and thousands separators, and the invisible direction marks that copying
# from right-to-left text drags along.
_SEPARATORS = frozenset(
    "-.\u00b7_"
    "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"  # dashes and minus signs
    "\u3002\uff0e\u066b\u066c"  # ideographic/fullwidth full stops, Arabic separators
    "\u061c\u200b\u200c\u200d\u200e\u200f\u2060\ufeff"  # direction marks, zero-width chars
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"  # bidi embeddings and isolates
)


def generate_receipt() -> str:
    """Return a new receipt: 16 decimal digits from the OS CSPRNG (about 53 bits)."""
    return f"{secrets.randbelow(10**RECEIPT_DIGITS):0{RECEIPT_DIGITS}d}"


def is_receipt(digits: str) -> bool:
    """True if *digits* is a receipt in canonical form (16 ASCII digits, nothing else)."""
    return bool(_RECEIPT_RE.match(digits))


def format_receipt(digits: str) -> str:
    """Group a canonical receipt in fours for display: "1234 5678 9012 3456"."""
    if not is_receipt(digits):
        raise ValueError("a receipt is exactly 16 ASCII digits")
    return " ".join(digits[i : i + 4] for i in range(0, RECEIPT_DIGITS, 4))


def parse_receipt(text: str) -> str | None:
    """Read a receipt as a person may type it; return its 16 ASCII digits, or None.

    Accepts any grouping with spaces, dashes or dots, and Arabic-Indic, Persian or fullwidth
    digits, mixed freely. Anything else (letters, too few or too many digits) is not a receipt.
    """
    if len(text) > _MAX_RECEIPT_INPUT:
        return None
    digits: list[str] = []
    for char in text:
        if "0" <= char <= "9":
            digits.append(char)
        elif ord(char) in _DIGITS:
            digits.append(_DIGITS[ord(char)])
        elif char.isspace() or char in _SEPARATORS:
            continue
        else:
            return None
    result = "".join(digits)
    return result if len(result) == RECEIPT_DIGITS else None


@dataclass(frozen=True)
class ReceiptHasher:
    """Turn a receipt into the value stored on the report and used to find it again.

    A receipt has only about 53 bits of entropy, so a plain or even a salted hash of it would
    be brute-forced quickly from a leaked database. The lookup hash is therefore both keyed
    and memory-hard::

        salt    = HMAC-SHA256(pepper, "receipt-salt")[:16]
        stretch = argon2id(receipt, salt, time_cost, memory_cost_kib, parallelism) -> 32 bytes
        lookup  = HMAC-SHA256(pepper, stretch)

    The salt is derived from the pepper rather than random per report, because the result must
    be deterministic to serve as a unique index: a reporter brings only the receipt, and the
    report is found with one indexed query instead of one argon2 run per stored report.

    Threat model:

    * **Database leak alone.** Every stored value passed through HMAC keyed with the pepper,
      which lives in the instance directory or the environment and never in the database.
      Without it there is nothing to test guesses against: offline guessing is impossible.
    * **Database and pepper leak together.** Each guess still costs a full argon2id run with
      the configured memory and time cost (19 MiB and 2 passes by default, OWASP's argon2id
      baseline; more would let the submissions a rate limit admits exhaust the CPU), so
      dedicated hardware gains little. Because the salt is shared, one guess is checked
      against every stored report at once: finding one specific receipt takes about 10^16
      runs, finding *some* receipt among N reports about 10^16 / N. Keeping the pepper out of
      the database is therefore the main defence, and the cost parameters are the margin
      behind it.
    * **Online guessing** through the follow-up form is not this module's concern: it is
      bounded by rate limits in front of the lookup.

    Changing the pepper or the cost parameters makes every existing receipt unfindable, so
    they are fixed per deployment once reports exist.
    """

    pepper: bytes = field(repr=False)
    time_cost: int = 2
    memory_cost_kib: int = 19456
    parallelism: int = 1

    MIN_PEPPER_BYTES = 16
    HASH_BYTES = 32

    def __post_init__(self) -> None:
        if len(self.pepper) < self.MIN_PEPPER_BYTES:
            raise ValueError(f"the receipt pepper must be at least {self.MIN_PEPPER_BYTES} bytes")

    def _salt(self) -> bytes:
        return hmac.new(self.pepper, b"receipt-salt", hashlib.sha256).digest()[:16]

    def lookup_hash(self, receipt_digits: str) -> bytes:
        """Return the 32-byte lookup hash of a canonical receipt (see `parse_receipt`)."""
        if not is_receipt(receipt_digits):
            raise ValueError("lookup_hash takes a canonical receipt: 16 ASCII digits")
        stretched = hash_secret_raw(
            secret=receipt_digits.encode("ascii"),
            salt=self._salt(),
            time_cost=self.time_cost,
            memory_cost=self.memory_cost_kib,
            parallelism=self.parallelism,
            hash_len=self.HASH_BYTES,
            type=Type.ID,
        )
        return hmac.new(self.pepper, stretched, hashlib.sha256).digest()


def generate_reference() -> str:
    """Return a new public report reference such as "EB-7K3M-9Q2P" (40 random bits).

    References are short for people, so collisions are possible over millions of reports;
    the database keeps them unique and the caller draws again on a conflict.
    """
    body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_BODY_LENGTH))
    return f"{REFERENCE_PREFIX}-{body[:4]}-{body[4:]}"


def is_reference(text: str) -> bool:
    """True if *text* is a reference in canonical form, such as "EB-7K3M-9Q2P"."""
    return bool(_REFERENCE_RE.match(text))


# Crockford decoding: letters that look like digits are read as those digits.
_REFERENCE_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def normalize_reference(text: str) -> str | None:
    """Read a reference as a person may type it; return the canonical form, or None.

    Case, spaces and dashes do not matter, the "EB" prefix may be left out, O is read as 0 and
    I or L as 1, and Arabic-Indic or fullwidth digits are accepted.
    """
    if len(text) > _MAX_RECEIPT_INPUT:
        return None
    kept: list[str] = []
    for char in text:
        if ord(char) in _DIGITS:
            kept.append(_DIGITS[ord(char)])
        elif char.isspace() or char in _SEPARATORS:
            continue
        else:
            kept.append(char)
    compact = "".join(kept)
    if not compact.isascii():
        return None
    compact = compact.upper()
    if len(compact) == len(REFERENCE_PREFIX) + REFERENCE_BODY_LENGTH and compact.startswith(
        REFERENCE_PREFIX
    ):
        compact = compact[len(REFERENCE_PREFIX) :]
    if len(compact) != REFERENCE_BODY_LENGTH:
        return None
    body = compact.translate(_REFERENCE_LOOKALIKES)
    if any(char not in REFERENCE_ALPHABET for char in body):
        return None
    return f"{REFERENCE_PREFIX}-{body[:4]}-{body[4:]}"
