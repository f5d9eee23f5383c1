"""The nginx recipe agrees with the portal's own settings (checked without running nginx; the
running recipe is tested in test_deployed.py)."""

from __future__ import annotations

import re

from portal.config import DefaultConfig
from portal.web.body_limit import FORM_OVERHEAD
from tests.support.deployment import RECIPE

MIB = 1024 * 1024


def _directives(name: str) -> list[str]:
    return re.findall(rf"^\s*{name}\s+([^;]+);", RECIPE.read_text(), flags=re.MULTILINE)


def test_the_proxy_refuses_exactly_the_bodies_the_portal_refuses() -> None:
    (size,) = _directives("client_max_body_size")
    portal_limit = DefaultConfig.EVIDENCE_MAX_REQUEST_SIZE + FORM_OVERHEAD
    assert size == f"{portal_limit // MIB}m"


def test_nothing_of_a_request_or_a_response_is_spooled_to_disk() -> None:
    assert _directives("proxy_request_buffering") == ["off"]
    assert _directives("proxy_max_temp_file_size") == ["0"]
    # Whatever stays in memory while it passes through stays within these bounds.
    assert _directives("client_body_buffer_size") == ["256k"]


def test_the_client_address_is_the_one_the_proxy_saw() -> None:
    headers = dict(
        value.split(None, 1) for value in _directives("proxy_set_header") if " " in value
    )
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["Host"] == "$http_host"


def test_slow_clients_are_bounded_and_logs_name_nobody() -> None:
    assert _directives("client_header_timeout") == ["10s"]
    assert _directives("client_body_timeout") == ["30s"]
    (log_format,) = re.findall(r"log_format portal_anonymous([^;]+);", RECIPE.read_text())
    for variable in ("$remote_addr", "$http_user_agent", "$http_referer", "$request ", "$args"):
        assert variable not in log_format
    assert all("portal_anonymous" in value for value in _directives("access_log"))
