from __future__ import annotations

import string

import idna
import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.urlnorm import (
    REASONS,
    TRACKING_PARAMS,
    InvalidURL,
    NormalizedURL,
    normalize_url,
)

# --- table of cases ------------------------------------------------------------------------

NORMALIZED_CASES = [
    # scheme and host
    ("https://example.com/a", "https://example.com/a"),
    ("HTTPS://Example.COM/a", "https://example.com/a"),
    ("http://WWW.Facebook.com/Some/Path", "http://www.facebook.com/Some/Path"),
    ("facebook.com/x", "https://facebook.com/x"),
    ("www.facebook.com", "https://www.facebook.com/"),
    ("//example.com/x", "https://example.com/x"),
    ("example.com:8080/x", "https://example.com:8080/x"),
    ("example.com:/x", "https://example.com/x"),
    ("https:example.com/x", "https://example.com/x"),
    ("https:///example.com/x", "https://example.com/x"),
    ("https://example.com./x", "https://example.com/x"),
    ("https://exa_mple.blogspot.com/", "https://exa_mple.blogspot.com/"),
    # internationalised names
    ("https://مثال.com", "https://xn--mgbh0fb.com/"),
    ("https://مثال.المغرب/", "https://xn--mgbh0fb.xn--mgbc0a9azcg/"),
    ("https://مثال。com", "https://xn--mgbh0fb.com/"),
    ("https://xn--MGBH0FB.com", "https://xn--mgbh0fb.com/"),
    ("https://ÉCOLE.fr/", "https://xn--cole-9oa.fr/"),
    ("https://école.fr/", "https://xn--cole-9oa.fr/"),
    ("https://Ｅｘａｍｐｌｅ.com/", "https://example.com/"),
    # IP literals
    ("http://192.0.2.10/login", "http://192.0.2.10/login"),
    ("http://192.0.2.10:8080", "http://192.0.2.10:8080/"),
    ("https://[2001:DB8:0:0::1]:8443/x", "https://[2001:db8::1]:8443/x"),
    ("http://[::1]", "http://[::1]/"),
    # ports
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("http://example.com:443/a", "http://example.com:443/a"),
    ("https://example.com:80/a", "https://example.com:80/a"),
    ("https://example.com:0443/a", "https://example.com/a"),
    ("https://example.com:/a", "https://example.com/a"),
    # fragment
    ("https://example.com/a#comments", "https://example.com/a"),
    ("https://example.com/#!/profile", "https://example.com/"),
    ("https://example.com/a?x=1#frag?y=2", "https://example.com/a?x=1"),
    # path
    ("https://example.com", "https://example.com/"),
    ("https://example.com?q=1", "https://example.com/?q=1"),
    ("https://example.com/%7euser/%41%2f%2F", "https://example.com/~user/A%2F%2F"),
    ("https://example.com/%e2%82%ac", "https://example.com/%E2%82%AC"),
    ("https://example.com/€", "https://example.com/%E2%82%AC"),
    (
        "https://ar.wikipedia.org/wiki/المغرب",
        "https://ar.wikipedia.org/wiki/%D8%A7%D9%84%D9%85%D8%BA%D8%B1%D8%A8",
    ),
    ("https://example.com/100%", "https://example.com/100%25"),
    ("https://example.com/a/../b/./c/", "https://example.com/a/../b/./c/"),
    ("https://example.com/A/B", "https://example.com/A/B"),
    ("https://example.com/a\\b", "https://example.com/a/b"),
    ("https://example.com/<script>", "https://example.com/%3Cscript%3E"),
    # query
    ("https://example.com/?", "https://example.com/"),
    ("https://example.com/a?", "https://example.com/a"),
    ("https://example.com/?b=2&a=1", "https://example.com/?b=2&a=1"),
    ("https://example.com/?q=a+b&x=%2b", "https://example.com/?q=a+b&x=%2B"),
    ("https://example.com/?&&a=1&&", "https://example.com/?a=1"),
    ("https://example.com/?flag", "https://example.com/?flag"),
    ("https://example.com/?q=سلام", "https://example.com/?q=%D8%B3%D9%84%D8%A7%D9%85"),
    # tracking parameters
    ("https://example.com/p?utm_source=fb&utm_medium=social&id=7", "https://example.com/p?id=7"),
    ("https://example.com/p?id=7&UTM_Campaign=x&utm_whatever=1", "https://example.com/p?id=7"),
    ("https://example.com/?fbclid=IwAR0abc", "https://example.com/"),
    (
        "https://example.com/?a=1&gclid=x&dclid=x&gbraid=x&wbraid=x&b=2",
        "https://example.com/?a=1&b=2",
    ),
    ("https://example.com/?msclkid=1&yclid=2&mc_cid=3&mc_eid=4&z=0", "https://example.com/?z=0"),
    ("https://example.com/?_hsenc=1&_hsmi=2&mkt_tok=3&ref_src=twsrc", "https://example.com/"),
    ("https://www.instagram.com/p/Cx/?igsh=MWQ1&igshid=abc", "https://www.instagram.com/p/Cx/"),
    ("https://example.com/?utm%5Fsource=x&a=1", "https://example.com/?a=1"),
    ("https://example.com/?utm_source", "https://example.com/"),
    ("https://example.com/?notutm_source=1", "https://example.com/?notutm_source=1"),
    ("https://example.com/?fbclid_like=1", "https://example.com/?fbclid_like=1"),
    # "si" is a tracker only on YouTube and Spotify
    ("https://youtu.be/dQw4w9WgXcQ?si=AbCd&t=42", "https://youtu.be/dQw4w9WgXcQ?t=42"),
    (
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ&si=x",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
    ),
    ("https://music.youtube.com/watch?v=a&si=x", "https://music.youtube.com/watch?v=a"),
    ("https://open.spotify.com/track/4uLU6h?si=8f2c", "https://open.spotify.com/track/4uLU6h"),
    ("https://example.com/search?si=1", "https://example.com/search?si=1"),
    ("https://notyoutube.com/?si=1", "https://notyoutube.com/?si=1"),
    # trimming
    ("  https://example.com/a \n", "https://example.com/a"),
    ("\u200fhttps://example.com/a\u200e", "https://example.com/a"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZED_CASES)
def test_normalizes(raw: str, expected: str) -> None:
    assert normalize_url(raw).normalized == expected


INVALID_CASES = [
    ("", "empty"),
    ("   \t\n", "empty"),
    ("\u200f", "empty"),
    ("javascript:alert(1)", "scheme"),
    ("JavaScript:alert(document.cookie)", "scheme"),
    ("data:text/html;base64,PHNjcmlwdD4=", "scheme"),
    ("ftp://example.com/file", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("mailto:someone@example.com", "scheme"),
    ("htps://example.com", "scheme"),
    ("https://", "host"),
    ("https:///", "host"),
    ("https://?q=1", "host"),
    ("https://localhost/", "host"),
    ("just-some-words", "host"),
    ("https://a..com/", "host"),
    ("https://exa!mple.com/", "host"),
    ("https://exa%6Dple.com/", "host"),
    ("https://exa<mple.com/", "host"),
    ("https://" + "a" * 64 + ".com/", "host"),
    ("https://999.1.1.1/", "host"),
    ("https://0x7f.0.0.1/", "host"),
    ("https://01.2.3.4/", "host"),
    ("https://[2001:db8::1/", "host"),
    ("https://[not-an-ip]/", "host"),
    ("https://[fe80::1%25eth0]/", "host"),
    ("https://[::1]x/", "host"),
    ("https://example.com:0/", "port"),
    ("https://example.com:65536/", "port"),
    ("https://example.com:99999999999999999999999/", "port"),
    ("https://example.com:http/", "port"),
    ("https://example.com:-1/", "port"),
    ("https://example.com:٤٤٣/", "port"),
    ("https://example.com:80:80/", "port"),
    ("www.example.com:abc", "port"),
    ("https://example.com/a b", "malformed"),
    ("https://exa mple.com/", "malformed"),
    ("https://example.com/a\u00a0b", "malformed"),
    ("https://example.com/\x00", "malformed"),
    ("https://example.com/a\tb", "malformed"),
    ("https://example.com/a\x7fb", "malformed"),
    ("https://example.com/a\x85b", "malformed"),
    ("https://example.com/\u202egnp.exe", "malformed"),
    ("https://example.com/a\u200bb", "malformed"),
    ("https://example.com/\ud800", "malformed"),
    ("https://example.com/" + "a" * 3000, "too_long"),
]


@pytest.mark.parametrize(("raw", "reason"), INVALID_CASES)
def test_refuses(raw: str, reason: str) -> None:
    with pytest.raises(InvalidURL) as caught:
        normalize_url(raw)
    assert caught.value.reason == reason


def test_invalid_url_is_a_value_error_with_a_known_reason() -> None:
    with pytest.raises(ValueError):
        normalize_url("javascript:alert(1)")
    with pytest.raises(ValueError):
        InvalidURL("not-a-reason")


def test_max_length_bounds_the_input() -> None:
    url = "https://example.com/" + "a" * 80
    assert normalize_url(url, max_length=len(url)).normalized == url
    with pytest.raises(InvalidURL) as caught:
        normalize_url(url, max_length=len(url) - 1)
    assert caught.value.reason == "too_long"


def test_max_length_bounds_the_normalized_form() -> None:
    # Each Arabic letter becomes six characters once percent-encoded.
    url = "https://example.com/" + "م" * 100
    assert len(url) <= 200
    with pytest.raises(InvalidURL) as caught:
        normalize_url(url, max_length=200)
    assert caught.value.reason == "too_long"


def test_result_keeps_the_trimmed_original_and_the_host() -> None:
    result = normalize_url("  HTTPS://WWW.مثال.com/x?utm_source=a#top  ")
    assert result == NormalizedURL(
        original="HTTPS://WWW.مثال.com/x?utm_source=a#top",
        normalized="https://www.xn--mgbh0fb.com/x",
        host="www.xn--mgbh0fb.com",
    )


def test_backslash_cannot_hide_the_real_host() -> None:
    # A browser opens evil.example here; so must the normalised form officers click.
    assert normalize_url("https://evil.example\\@facebook.com/").host == "evil.example"


# --- hosts as browsers read them (UTS 46, non-transitional, as the WHATWG URL standard) -------

# What Chromium and Firefox open for each host typed in the address bar. IDNA 2003 (Python's
# "idna" codec) maps the first two to other domains and silently drops the joiner of the third.
BROWSER_HOSTS = [
    ("faßbook.com", "xn--fabook-cta.com"),
    ("FAẞBOOK.com", "xn--fabook-cta.com"),
    ("ς.gr", "xn--3xa.gr"),
    ("Σ.gr", "xn--4xa.gr"),
    ("σ.gr", "xn--4xa.gr"),
    ("xn--fabook-cta.com", "xn--fabook-cta.com"),
    ("XN--3XA.GR", "xn--3xa.gr"),
    ("مثال。com", "xn--mgbh0fb.com"),
    ("Ｅｘａｍｐｌｅ.com", "example.com"),
    ("ÉCOLE.fr", "xn--cole-9oa.fr"),
    # A joiner after a virama is how Devanagari spells some conjuncts: browsers keep it.
    ("क्\u200dष.com", "xn--11b2ezcw70k.com"),
    # Browsers skip the hyphen checks of IDNA 2008 and allow "_" in ASCII labels.
    ("ab--cd.com", "ab--cd.com"),
    ("-a-.com", "-a-.com"),
    ("exa_mple.blogspot.com", "exa_mple.blogspot.com"),
]


@pytest.mark.parametrize(("typed", "host"), BROWSER_HOSTS)
def test_hosts_are_encoded_as_a_browser_encodes_them(typed: str, host: str) -> None:
    result = normalize_url(f"https://{typed}/x")
    assert result.host == host
    assert result.normalized == f"https://{host}/x"


# The WHATWG URL standard runs UTS 46 with CheckJoiners: a joiner outside the context that
# needs it fails the host, so a browser opens nothing; "ab.com" would be another site.
BROWSER_REFUSED_HOSTS = [
    "a\u200db.com",
    "a\u200cb.com",
    "\u200dexample.com",
    "xn--zz.com",  # not valid punycode
    "xn--a.com",  # decodes to a label IDNA 2008 refuses
    "a\u0301b\u05d0.com",  # mixes directions inside one label
]


@pytest.mark.parametrize("typed", BROWSER_REFUSED_HOSTS)
def test_hosts_a_browser_refuses_are_refused(typed: str) -> None:
    with pytest.raises(InvalidURL) as caught:
        normalize_url(f"https://{typed}/")
    assert caught.value.reason == "host"


UNICODE_LABEL = st.text(
    alphabet=st.characters(categories=("Ll", "Lu", "Lo", "Mn", "Nd"), exclude_characters=".。．｡"),
    min_size=1,
    max_size=10,
)
JOINER_LABEL = st.lists(
    st.one_of(st.sampled_from("abcسلامक्षςßΣ"), st.just("\u200d")),
    min_size=1,
    max_size=8,
).map("".join)


@given(st.lists(st.one_of(UNICODE_LABEL, JOINER_LABEL), min_size=1, max_size=3))
def test_any_unicode_host_is_refused_or_normalizes_to_a_fixed_point(labels: list[str]) -> None:
    try:
        result = normalize_url("https://" + ".".join([*labels, "com"]) + "/")
    except InvalidURL as error:
        assert error.reason == "host"
        return
    assert result.host.isascii()
    again = normalize_url(result.normalized)
    assert (again.normalized, again.host) == (result.normalized, result.host)
    # The host a browser shows (Unicode), typed back in, lands on the same site.
    assert normalize_url(idna.decode(result.host)).host == result.host


# --- properties ----------------------------------------------------------------------------

ASCII_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9_-]{0,12}[a-z0-9])?", fullmatch=True)
ARABIC_LABEL = st.text(alphabet="ابتثجحخدذرزسشصضطظعغفقكلمنهوي", min_size=1, max_size=8)
TLD = st.sampled_from(["com", "ma", "org", "net", "fr", "xn--mgbc0a9azcg", "المغرب"])

hosts = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(st.one_of(ASCII_LABEL, ARABIC_LABEL), min_size=1, max_size=3),
    TLD,
)
ascii_hosts = st.builds(
    lambda labels, tld: ".".join([*labels, tld]),
    st.lists(ASCII_LABEL, min_size=1, max_size=3),
    st.sampled_from(["com", "ma", "org", "net", "fr"]),
)

# Characters a path or query may contain, including ones that need normalising.
URL_CHARS = string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@/%\\\"<>`{}|^[]" + "مثال€é"
ESCAPES = st.sampled_from(["%41", "%7e", "%7E", "%2f", "%2F", "%e2%82%ac", "%", "%4", "%zz", "%25"])
url_text = st.lists(st.one_of(st.text(alphabet=URL_CHARS, max_size=6), ESCAPES), max_size=6).map(
    "".join
)


def urls(fragments: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(
        lambda scheme, host, port, path, query, fragment: (
            f"{scheme}{host}{port}{path}{query}{fragment}"
        ),
        st.sampled_from(
            ["https://", "http://", "HTTP://", "HtTpS://", "", "//", "https:", "https:\\\\"]
        ),
        st.one_of(hosts, st.sampled_from(["192.0.2.1", "[2001:db8::1]", "[::FFFF:1]"])),
        st.sampled_from(["", ":", ":80", ":443", ":8080", ":0080"]),
        st.one_of(st.just(""), url_text.map(lambda t: "/" + t)),
        st.one_of(st.just(""), url_text.map(lambda t: "?" + t)),
        st.one_of(st.just(""), fragments.map(lambda t: "#" + t)),
    )


# Well-formed apart from the noise normalisation removes: every one must be accepted.
valid_urls = urls(st.text(alphabet=URL_CHARS + "#?", max_size=8))
# Anything may follow the "#", including what is refused anywhere in a URL.
urlish = urls(st.text(max_size=8))


def check_invariants(result: NormalizedURL) -> None:
    normalized = result.normalized
    assert normalized.startswith(("http://", "https://"))
    assert "#" not in normalized
    assert result.host == result.host.lower()
    assert normalized.split("://", 1)[1].startswith(result.host)
    assert normalized.isascii()
    assert not any(char.isspace() for char in normalized)


def check_idempotent(result: NormalizedURL) -> None:
    again = normalize_url(result.normalized)
    assert again.normalized == result.normalized
    assert again.host == result.host
    assert again.original == result.normalized


@given(urlish)
def test_urlish_input_normalizes_idempotently(raw: str) -> None:
    try:
        result = normalize_url(raw)
    except InvalidURL as error:
        assert error.reason in REASONS
        return
    check_invariants(result)
    check_idempotent(result)


@given(st.text(max_size=60))
def test_any_text_is_refused_cleanly_or_normalizes_idempotently(raw: str) -> None:
    try:
        result = normalize_url(raw)
    except InvalidURL as error:
        assert error.reason in REASONS
        return
    check_invariants(result)
    check_idempotent(result)


@given(valid_urls)
def test_well_formed_urls_are_accepted(raw: str) -> None:
    # Guards the properties above against passing only because everything is refused.
    result = normalize_url(raw)
    check_invariants(result)
    check_idempotent(result)


def _is_tracking_name(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith("utm_") or lowered == "si"


PARAM_NAME = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(
    lambda name: not _is_tracking_name(name)
)
PARAM_VALUE = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~!$'()*+,;:@/", max_size=8
)
params = st.lists(st.tuples(PARAM_NAME, PARAM_VALUE), max_size=5)
TRACKER = st.tuples(
    st.one_of(
        st.sampled_from(sorted(TRACKING_PARAMS)),
        st.from_regex(r"utm_[a-z]{1,8}", fullmatch=True),
        st.sampled_from(["UTM_SOURCE", "Fbclid", "GCLID"]),
    ),
    PARAM_VALUE,
)
plain_paths = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits + "-._~", min_size=1, max_size=8),
    max_size=4,
).map(lambda segments: "/" + "/".join(segments))


@given(
    scheme=st.sampled_from(["http", "https"]),
    host=ascii_hosts,
    path=plain_paths,
    kept=params,
    trackers=st.lists(TRACKER, max_size=4),
    positions=st.lists(st.integers(min_value=0), max_size=4),
    case_flips=st.lists(st.booleans(), min_size=1),
    fragment=st.text(alphabet=URL_CHARS + "#?", max_size=10),
    spell_default_port=st.booleans(),
)
def test_urls_differing_only_in_noise_normalize_equally(
    scheme: str,
    host: str,
    path: str,
    kept: list[tuple[str, str]],
    trackers: list[tuple[str, str]],
    positions: list[int],
    case_flips: list[bool],
    fragment: str,
    spell_default_port: bool,
) -> None:
    def query(pairs: list[tuple[str, str]]) -> str:
        return ("?" + "&".join(f"{k}={v}" for k, v in pairs)) if pairs else ""

    clean = f"{scheme}://{host}{path}{query(kept)}"

    noisy_pairs = list(kept)
    for tracker, position in zip(trackers, positions + [0] * len(trackers), strict=False):
        noisy_pairs.insert(position % (len(noisy_pairs) + 1), tracker)
    noisy_host = "".join(
        char.upper() if case_flips[i % len(case_flips)] else char for i, char in enumerate(host)
    )
    port = f":{80 if scheme == 'http' else 443}" if spell_default_port else ""
    noisy = f"{scheme.upper()}://{noisy_host}{port}{path}{query(noisy_pairs)}#{fragment}"

    expected = normalize_url(clean)
    assert normalize_url(noisy).normalized == expected.normalized
    assert normalize_url(noisy).host == host
    # The parameters that are kept come out in their order and with their values.
    assert expected.normalized == clean


@pytest.mark.parametrize(
    ("raw", "normalized", "host"),
    [
        ("https://facebook.com@evil.example/login", "https://evil.example/login", "evil.example"),
        ("https://user:pass@example.com/", "https://example.com/", "example.com"),
        ("http://a@b@phish.example:8080/x", "http://phish.example:8080/x", "phish.example"),
    ],
)
def test_userinfo_is_dropped_so_phishing_links_stay_reportable(raw, normalized, host):
    result = normalize_url(raw)
    assert (result.normalized, result.host) == (normalized, host)
    assert result.original == raw
