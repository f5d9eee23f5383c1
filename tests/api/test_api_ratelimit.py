"""Per-partner rate limits: one partner's flood does not take another's allowance."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config(app_config: dict[str, object]) -> dict[str, object]:
    return {**app_config, "RATELIMIT_ENABLED": True, "RATELIMIT_API": "3/minute"}


def test_limit_is_counted_per_partner(client, partner_a, partner_b):
    for _ in range(3):
        assert client.get("/api/v1/reports", headers=partner_a.headers).status_code == 200
    refused = client.get("/api/v1/reports", headers=partner_a.headers)
    assert refused.status_code == 429
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["type"].endswith("/too_many_requests")
    assert int(refused.headers["Retry-After"]) > 0
    # Same client address, another partner: its own allowance.
    assert client.get("/api/v1/reports", headers=partner_b.headers).status_code == 200


def test_posts_use_the_partner_limit_not_the_per_address_default(client, partner_a):
    for _ in range(3):
        response = client.post(
            "/api/v1/reports/EB-0000-0000/messages", json={"body": "x"}, headers=partner_a.headers
        )
        assert response.status_code == 404
    response = client.post(
        "/api/v1/reports/EB-0000-0000/messages", json={"body": "x"}, headers=partner_a.headers
    )
    assert response.status_code == 429
