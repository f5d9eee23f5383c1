"""Identifiers: one normal form per trace, whatever the spelling; clear refusals otherwise."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.identifiers import (
    ERRORS,
    InvalidIdentifier,
    normalize,
    parse_account,
    parse_lines,
    rib_key,
)

SAME = [
    # Moroccan mobile, three ways; with spaces, dots, dashes; a landline; a foreign number.
    (
        "phone",
        None,
        [
            "0612345678",
            "+212 6 12 34 56 78",
            "00212612345678",
            "06.12.34.56.78",
            "+212-612-345-678",
            "\u200e+212612345678",
        ],
        "+212612345678",
    ),
    ("phone", None, ["0522 12 34 56", "+212522123456"], "+212522123456"),
    ("phone", None, ["+33 6 12 34 56 78", "0033612345678"], "+33612345678"),
    (
        "email",
        None,
        ["Scam.Mer@Example.MA", "scam.mer@example.ma", "mailto:scam.mer@example.ma"],
        "scam.mer@example.ma",
    ),
    (
        "email",
        None,
        ["Jo.Hn+tag@gmail.com", "john@googlemail.com", "JOHN@GMAIL.COM"],
        "john@gmail.com",
    ),
    (
        "handle",
        "instagram",
        [
            "https://www.instagram.com/Lina.Beauty_/",
            "@lina.beauty_",
            "instagram.com/lina.beauty_?igsh=abc",
            "LINA.BEAUTY_",
        ],
        "lina.beauty_",
    ),
    (
        "handle",
        "facebook",
        [
            "https://web.facebook.com/Karim.Benali.77",
            "karimbenali77",
            "@Karim.Benali.77",
            "https://m.facebook.com/karim.benali.77/",
        ],
        "karimbenali77",
    ),
    ("handle", "tiktok", ["https://www.tiktok.com/@Sara_Fx", "@sara_fx"], "sara_fx"),
    (
        "handle",
        "x",
        ["https://twitter.com/Scam_Er", "https://x.com/scam_er", "@SCAM_ER"],
        "scam_er",
    ),
    ("handle", "telegram", ["https://t.me/Invest_Pro_MA", "@invest_pro_ma"], "invest_pro_ma"),
    ("handle", "snapchat", ["https://www.snapchat.com/add/amina.22", "Amina.22"], "amina.22"),
    ("handle", "youtube", ["https://www.youtube.com/@CryptoGains", "@cryptogains"], "cryptogains"),
    # Account URLs that name a different platform than the report still land on theirs.
    (
        "bank_account",
        None,
        [
            "011519000001205000534921",
            "011 519 0000012050005349 21",
            "MA64 0115 1900 0001 2050 0053 4921",
            "ma64011519000001205000534921",
        ],
        "MA64011519000001205000534921",
    ),
    ("bank_account", None, ["FR14 2004 1010 0505 0001 3M02 606"], "FR1420041010050500013M02606"),
    (
        "wallet",
        None,
        [
            "0x52908400098527886e0f7030069857d2e4169ee7",
            "0x52908400098527886E0F7030069857D2E4169EE7",
            "ethereum:0x52908400098527886E0F7030069857D2E4169EE7",
        ],
        "0x52908400098527886E0F7030069857D2E4169EE7",
    ),
    ("wallet", None, ["TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"], "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6t"),
    (
        "wallet",
        None,
        ["1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "bitcoin:1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"],
        "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    ),
    (
        "wallet",
        None,
        [
            "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
            "BC1QAR0SRRR7XFKVY5L643LYDNW9RE59GTZZWF5MDQ",
        ],
        "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    ),
    ("transfer_code", None, ["123-456-7890", "123 456 7890", "1234567890"], "1234567890"),
]


@pytest.mark.parametrize(("kind", "platform", "spellings", "expected"), SAME)
def test_every_spelling_has_one_normal_form(kind, platform, spellings, expected):
    for spelling in spellings:
        identifier = normalize(kind, spelling, platform=platform)
        assert identifier.value == expected, spelling
        # Normalising the normal form again changes nothing.
        assert normalize(kind, identifier.value, platform=identifier.platform) == identifier


BAD = [
    ("phone", None, "12", "phone"),
    ("phone", None, "06 12 34", "phone"),
    ("phone", None, "call me", "phone"),
    ("email", None, "no-at-sign.example.ma", "email"),
    ("email", None, "a..b@example.ma", "email"),
    ("email", None, "someone@localhost", "email"),
    ("handle", "instagram", "has space", "handle"),
    ("handle", "x", "much_too_long_for_x", "handle"),
    ("handle", "instagram", "https://www.instagram.com/p/C1xYz/", "handle"),
    ("handle", None, "lina", "platform"),
    ("bank_account", None, "011519000001205000534922", "rib"),  # wrong key
    ("bank_account", None, "01151900000120500053492", "rib"),  # 23 digits
    ("bank_account", None, "MA64011519000001205000534922", "iban"),
    ("bank_account", None, "FR1420041010050500013M02607", "iban"),
    ("wallet", None, "0x52908400098527886E0F7030069857D2E4169Ee7", "wallet_checksum"),
    ("wallet", None, "TR7NHqjeKQxGTCi8q8ZY4pL8otSzgjLj6u", "wallet_checksum"),
    ("wallet", None, "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", "wallet_checksum"),
    ("wallet", None, "not a wallet", "wallet"),
    ("transfer_code", None, "12-34", "transfer_code"),
    ("handle", None, "https://[instagram.com/x", "handle"),  # not even a URL
    ("phone", None, "   ", "empty"),
    ("email", None, "x" * 400, "too_long"),
]


@pytest.mark.parametrize(("kind", "platform", "raw", "reason"), BAD)
def test_invalid_values_say_why(kind, platform, raw, reason):
    with pytest.raises(InvalidIdentifier) as caught:
        normalize(kind, raw, platform=platform)
    assert caught.value.reason == reason
    assert caught.value.message is ERRORS[reason]


def test_a_handle_and_an_email_never_share_an_index_kind():
    assert normalize("handle", "@lina", platform="instagram").index_kind == "handle:instagram"
    assert normalize("handle", "@lina", platform="tiktok").index_kind == "handle:tiktok"
    assert normalize("email", "lina@example.ma").index_kind == "email"


def test_whatsapp_links_are_phone_numbers():
    assert normalize("handle", "https://wa.me/212612345678").value == "+212612345678"
    assert parse_account("https://api.whatsapp.com/send?phone=212612345678", None).kind == "phone"


def test_accounts_as_reporters_write_them():
    assert parse_account("06 61 12 34 56", "instagram").value == "+212661123456"
    assert parse_account("scam@example.ma", None).kind == "email"
    assert parse_account("@lina.beauty_", "instagram").value == "lina.beauty_"
    assert parse_account("https://www.tiktok.com/@sara_fx", "facebook").platform == "tiktok"
    with pytest.raises(InvalidIdentifier):
        parse_account("lina", None)


def test_lines_keep_order_drop_duplicates_and_number_errors():
    found, errors = parse_lines(
        "0612345678\n\n+212612345678\nnonsense\n0522123456",
        lambda line: normalize("phone", line),
    )
    assert [item.value for item in found] == ["+212612345678", "+212522123456"]
    assert [(number, error.reason) for number, error in errors] == [(3, "phone")]


# --- properties ------------------------------------------------------------------------------

mobile_subscriber = st.integers(min_value=0, max_value=99_999_999).map(lambda n: f"{n:08d}")


@given(
    prefix=st.sampled_from(["6", "7"]),
    rest=mobile_subscriber,
    sep=st.sampled_from(["", " ", ".", "-"]),
)
def test_three_spellings_of_a_moroccan_mobile_agree(prefix, rest, sep):
    digits = prefix + rest
    grouped = sep.join(digits[i : i + 2] for i in range(1, 9, 2))
    spellings = [f"0{digits[0]}{sep}{grouped}", f"+212 {digits}", f"00212{sep}{digits}"]
    results = set()
    for spelling in spellings:
        try:
            results.add(normalize("phone", spelling).value)
        except InvalidIdentifier:
            results.add("invalid")
    assert len(results) == 1
    value = results.pop()
    if value != "invalid":
        assert value == f"+212{digits}"
        assert normalize("phone", value).value == value


@given(st.text(max_size=40))
def test_normalising_twice_changes_nothing(raw):
    for kind, platform in [
        ("phone", None),
        ("email", None),
        ("handle", "instagram"),
        ("handle", "facebook"),
        ("bank_account", None),
        ("wallet", None),
        ("transfer_code", None),
    ]:
        try:
            once = normalize(kind, raw, platform=platform)
        except InvalidIdentifier:
            continue
        assert normalize(once.kind, once.value, platform=once.platform) == once


@given(account=st.integers(min_value=0, max_value=10**22 - 1))
def test_rib_and_its_iban_are_one_account(account):
    first22 = f"{account:022d}"
    rib = first22 + rib_key(first22)
    from_rib = normalize("bank_account", rib)
    assert from_rib.value.startswith("MA") and from_rib.value.endswith(rib)
    spaced_iban = " ".join(from_rib.value[i : i + 4] for i in range(0, 28, 4))
    assert normalize("bank_account", spaced_iban) == from_rib
    # Any single wrong digit in the key is caught.
    wrong = first22 + f"{(int(rib[22:]) + 1) % 100:02d}"
    with pytest.raises(InvalidIdentifier):
        normalize("bank_account", wrong)


profile_urls = st.builds(
    lambda host, path: f"https://{host}/{path}",
    st.sampled_from(
        ["instagram.com", "www.facebook.com", "t.me", "wa.me", "x.com", "[::1", "snapchat.com"]
    ),
    st.text(st.sampled_from(list("abcXYZ019@:/.[]%?=#+-_ \u200e")), max_size=30),
)


@given(profile_urls, st.sampled_from([None, "instagram", "facebook", "whatsapp", "telegram"]))
def test_accounts_typed_by_reporters_parse_or_are_refused_never_crash(text, platform):
    try:
        once = parse_account(text, platform)
    except InvalidIdentifier:
        return
    assert normalize(once.kind, once.value, platform=once.platform) == once
