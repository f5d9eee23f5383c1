"""Page views have a per-client limit of their own (the application-wide limit)."""

from __future__ import annotations

import pytest

CLIENT = {"REMOTE_ADDR": "198.51.100.77"}
OTHER = {"REMOTE_ADDR": "203.0.113.9"}


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    app_config.update(RATELIMIT_ENABLED=True, RATELIMIT_APPLICATION="4/minute")
    return app_config


def test_a_client_reloading_pages_is_refused_and_others_are_not(client):
    client.set_cookie("lang", "en")
    paths = ["/report", "/", "/report", "/follow-up"]
    assert [client.get(p, environ_base=CLIENT).status_code for p in paths] == [200] * 4
    refused = client.get("/report", environ_base=CLIENT)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert client.get("/report", environ_base=OTHER).status_code == 200
