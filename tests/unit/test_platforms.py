"""The platform directory: hosts to platforms, languages of their channels."""

from __future__ import annotations

import pytest

from portal.domain.categories import PLATFORMS
from portal.domain.platforms import load_platforms, platform_for_host


@pytest.mark.parametrize(
    ("host", "code"),
    [
        ("www.facebook.com", "facebook"),
        ("m.facebook.com", "facebook"),
        ("fb.watch", "facebook"),
        ("instagram.com", "instagram"),
        ("wa.me", "whatsapp"),
        ("chat.whatsapp.com", "whatsapp"),
        ("vm.tiktok.com", "tiktok"),
        ("t.me", "telegram"),
        ("youtu.be", "youtube"),
        ("x.com", "x"),
        ("twitter.com", "x"),
        ("snapchat.com", "snapchat"),
    ],
)
def test_known_hosts_belong_to_their_platform(host: str, code: str) -> None:
    platform = platform_for_host(host)
    assert platform is not None and platform.code == code


@pytest.mark.parametrize("host", ["notfacebook.com", "facebook.com.evil.example", "example.ma"])
def test_look_alike_hosts_are_other_sites(host: str) -> None:
    assert platform_for_host(host) is None


def test_every_named_platform_of_the_form_is_in_the_directory() -> None:
    named = set(PLATFORMS) - {"website", "email_sms", "other"}
    assert named <= set(load_platforms())


def test_a_request_is_written_in_a_language_the_channel_accepts() -> None:
    telegram = load_platforms()["telegram"]
    assert telegram.language_for("ar") == "en"
    assert load_platforms()["facebook"].language_for("ar") == "ar"
