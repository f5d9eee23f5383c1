"""Attacker-oriented properties of URL normalisation, receipts, redirects and proof of work."""

from __future__ import annotations

import string
from urllib.parse import urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.receipts import ReceiptHasher, parse_receipt
from portal.domain.urlnorm import InvalidURL, normalize_url
from portal.logging_setup import scrub
from portal.web import pow as proof_of_work
from portal.web.headers import is_local_path
from portal.web.ratelimit import hashed_client, network_of

ANY_TEXT = st.text(max_size=300)
HOSTILE = st.text(
    alphabet=st.sampled_from([*string.printable, "\u202e", "\u200b", "\uff0f", "\u3002", "%"]),
    max_size=120,
)


@given(st.one_of(ANY_TEXT, HOSTILE.map(lambda s: "https://" + s)))
@settings(max_examples=400)
def test_normalised_urls_are_always_plain_http_links(raw: str) -> None:
    try:
        url = normalize_url(raw)
    except InvalidURL:
        return
    parts = urlsplit(url.normalized)
    assert parts.scheme in ("http", "https")
    assert parts.hostname and parts.hostname == url.host
    assert "@" not in parts.netloc  # no credentials to hide the real host behind
    # Nothing that could break out of an attribute or a tag if a template forgot to escape.
    assert not set('"<> \n\r\t') & set(url.normalized)
    assert normalize_url(url.normalized).normalized == url.normalized


@given(HOSTILE)
def test_userinfo_tricks_never_change_the_host(tail: str) -> None:
    try:
        url = normalize_url(f"https://trusted.example@evil.example/{tail}")
    except InvalidURL:
        return
    assert url.host != "trusted.example"


@given(ANY_TEXT)
@settings(max_examples=400)
def test_receipt_parsing_yields_sixteen_ascii_digits_or_nothing(text: str) -> None:
    digits = parse_receipt(text)
    assert digits is None or (len(digits) == 16 and digits.isascii() and digits.isdigit())


@given(st.text(alphabet="0123456789", min_size=16, max_size=16), st.integers(0, 15))
@settings(max_examples=50, deadline=None)
def test_a_receipt_one_digit_off_does_not_match(digits: str, position: int) -> None:
    hasher = ReceiptHasher(pepper=b"p" * 32, time_cost=1, memory_cost_kib=256, parallelism=1)
    changed = str((int(digits[position]) + 1) % 10)
    other = digits[:position] + changed + digits[position + 1 :]
    assert hasher.lookup_hash(digits) != hasher.lookup_hash(other)


@given(ANY_TEXT)
@settings(max_examples=400)
def test_local_redirect_targets_never_name_another_host(target: str) -> None:
    if not is_local_path(target):
        return
    # What a browser would do with it: drop tabs/newlines, treat backslashes as slashes.
    browser_view = target.replace("\\", "/")
    for ch in "\t\n\r":
        browser_view = browser_view.replace(ch, "")
    parts = urlsplit("https://portal.example" + browser_view)
    assert parts.hostname == "portal.example"
    assert not browser_view.startswith("//")


@given(st.ip_addresses())
def test_rate_limit_keys_never_contain_the_address(address: object) -> None:
    text = str(address)
    key = hashed_client(text)
    assert text not in key and network_of(text).split("/")[0] not in key


@given(st.ip_addresses(), st.text(max_size=40))
def test_scrubbed_log_text_holds_no_address(address: object, around: str) -> None:
    text = str(address)
    cleaned = scrub(f"{around} {text} {around}")
    assert f" {text} " not in cleaned


@given(st.text(max_size=20))
@settings(max_examples=200)
def test_forged_proof_of_work_is_refused(nonce: str) -> None:
    challenge = proof_of_work.issue(b"secret", bits=8, ttl_seconds=60)
    forged = challenge[:-1] + ("0" if challenge[-1] != "0" else "1")
    assert proof_of_work.check(b"secret", forged, nonce, min_bits=8) is None
    assert proof_of_work.check(b"other", challenge, nonce, min_bits=8) is None
