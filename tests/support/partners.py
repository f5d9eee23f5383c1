"""Partners and tokens for API tests, made through the same service as the CLI."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.domain.categories import CATEGORIES
from portal.services import partners
from tests.support.web import free_port


@dataclass
class PartnerFixture:
    id: int
    slug: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Accept-Language": "en"}


def make_partner(
    db: Session,
    slug: str,
    *,
    scopes: tuple[str, ...] = partners.SCOPES,
    categories: tuple[str, ...] = tuple(CATEGORIES),
    accreditation: str = "accredited",
    days: int = 30,
) -> PartnerFixture:
    partner = db.query(partners.Partner).filter_by(slug=slug).one_or_none()
    if partner is None:
        partner = partners.create_partner(
            db,
            slug=slug,
            name=f"Centre {slug}",
            kind="ngo",
            contact_email=f"contact@{slug}.example",
            categories=categories,
            accreditation=accreditation,
            actor="test",
        )
    _, token = partners.issue_token(db, partner, scopes=scopes, days=days, actor="test")
    db.commit()
    return PartnerFixture(partner.id, slug, token)


def report_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "sextortion",
        "platform": "instagram",
        "description": "Someone threatens to publish her photos unless she pays.",
        "urls": ["https://www.instagram.com/some.blackmailer/?utm_source=ig"],
        "territory": "MA-CAS",
        "answers": {"money_demanded": "yes", "paid": "no"},
        "good_faith": True,
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


def file_report(client: FlaskClient, partner: PartnerFixture, **overrides: Any) -> dict[str, Any]:
    response = client.post(
        "/api/v1/reports", json=report_body(**overrides), headers=partner.headers
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


class Receiver:
    """A partner's endpoint: records what it gets, answers the statuses it is told to."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/portal"
