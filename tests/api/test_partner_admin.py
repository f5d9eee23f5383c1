"""Admin pages and the command line for partners: tokens shown once, revocation, figures."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.models import AuditEvent, Partner, PartnerToken, Report
from portal.services import cases
from portal.services import partners as service
from tests.support.partners import file_report, make_partner
from tests.support.staff import in_english, make_officer, sign_in
from tests.support.web import csrf_token


@pytest.fixture
def admin(app, db):
    _, secret = make_officer(app, db, "root", units=(), role="admin")
    client = in_english(app.test_client())
    sign_in(client, "root", secret)
    return client


def test_admin_creates_a_partner_issues_a_token_once_and_revokes_it(app, admin, client, db):
    response = admin.post(
        "/admin/partners",
        data={
            "csrf_token": csrf_token(admin, "/admin/partners"),
            "slug": "stop-blackmail",
            "name": "Stop Blackmail Centre",
            "kind": "ngo",
            "contact_email": "desk@stop-blackmail.example",
            "accreditation": "accredited",
            "categories": ["sextortion", "threats"],
        },
    )
    assert response.status_code == 303
    page_path = response.headers["Location"]
    response = admin.post(
        f"{page_path}/tokens",
        data={"csrf_token": csrf_token(admin, page_path), "scopes": ["read", "file"], "days": "30"},
    )
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    token = re.search(r'id="new-token">(ptk_[A-Za-z0-9_-]+)<', response.get_data(as_text=True))[1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/reports", headers=headers).status_code == 200
    # Never shown again, and not stored in clear.
    page = admin.get(page_path).get_data(as_text=True)
    assert token not in page
    stored = db.scalar(select(PartnerToken))
    assert token.split("_")[2] not in (stored.secret_hash, stored.public_id)

    revoke = re.search(r'action="([^"]+/revoke)"', page)[1]
    admin.post(revoke, data={"csrf_token": csrf_token(admin, page_path)})
    assert client.get("/api/v1/reports", headers=headers).status_code == 401
    actions = set(db.scalars(select(AuditEvent.action)))
    assert {"partner.created", "partner.token_issued", "partner.token_revoked"} <= actions


def test_partner_settings_audit_only_what_changed(app, admin, db):
    partner = make_partner(db, "ngo-settings")
    db.commit()
    page_path = f"/admin/partners/{partner.id}"

    def save(categories):
        return admin.post(
            f"{page_path}/settings",
            data={
                "csrf_token": csrf_token(admin, page_path),
                "accreditation": "accredited",
                "categories": categories,
            },
        )

    def changes():
        db.expire_all()
        return db.scalars(
            select(AuditEvent).where(AuditEvent.action == "partner.categories_changed")
        ).all()

    before = len(changes())
    assert save(["threats", "sextortion"]).status_code in (200, 303)
    entries = changes()
    assert len(entries) == before + 1
    assert '"categories": ["sextortion", "threats"]' in entries[-1].details
    # Saving the same choice again changes nothing, and the log says nothing.
    assert save(["sextortion", "threats"]).status_code in (200, 303)
    assert len(changes()) == before + 1


def test_admin_sees_each_partners_accuracy_and_the_delivery_log(app, admin, client, db):
    partner = make_partner(db, "centre-a")
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    references = [file_report(client, partner)["reference"] for _ in range(4)]
    reasons = ("no_offence", "duplicate", "content_removed")
    for reference, reason in zip(references[:3], reasons, strict=True):
        report = db.scalar(select(Report).where(Report.reference == reference))
        cases.change_status(db, officer, report, report.version, "in_review")
        cases.change_status(db, officer, report, report.version, "closed", reason)
        db.commit()
    [figures] = service.partner_figures(db)
    assert (figures.filings, figures.open, figures.closed, figures.inaccurate) == (4, 1, 3, 2)
    assert figures.accuracy == pytest.approx(1 / 3)
    page = admin.get("/admin/partners").get_data(as_text=True)
    assert "Centre centre-a" in page and "33 %" in page
    log = admin.get("/admin/partners/deliveries")
    assert log.status_code == 200


def test_officers_cannot_reach_partner_admin(app, db):
    _, secret = make_officer(app, db, "casa1", units=("CASABLANCA",))
    officer = app.test_client()
    sign_in(officer, "casa1", secret)
    assert officer.get("/admin/partners").status_code == 404


def test_cli_creates_a_partner_with_a_working_token(app, client, db):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "partners",
            "create",
            "lawyers-guild",
            "--name",
            "Lawyers' Guild",
            "--kind",
            "lawyer",
            "--email",
            "desk@guild.example",
            "--category",
            "fraud",
            "--scope",
            "read",
        ]
    )
    assert result.exit_code == 0, result.output
    token = re.search(r"(ptk_\S+)", result.output)[1]
    response = client.get("/api/v1/reports", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    partner = db.scalar(select(Partner).where(Partner.slug == "lawyers-guild"))
    assert partner.categories == ["fraud"] and partner.accreditation == "accredited"
    listed = runner.invoke(args=["partners", "list"])
    assert "lawyers-guild" in listed.output and "[read]" in listed.output
    public_id = token.split("_")[1]
    assert runner.invoke(args=["partners", "revoke", public_id]).exit_code == 0
    response = client.get("/api/v1/reports", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    delivered = runner.invoke(args=["partners", "deliver-webhooks"])
    assert delivered.exit_code == 0 and "delivered: 0" in delivered.output


@pytest.fixture
def lane_config(app):
    app.config.update(PARTNER_LANE_MIN_ACCURACY=0.75, PARTNER_LANE_MIN_CLOSED=3)


def _close_all(db, officer, references, reasons):
    for reference, reason in zip(references, reasons, strict=True):
        report = db.scalar(select(Report).where(Report.reference == reference))
        cases.change_status(db, officer, report, report.version, "in_review")
        cases.change_status(db, officer, report, report.version, "closed", reason)
        db.commit()


def test_trusted_partner_lane_raises_normal_filings_one_step(app, client, db, lane_config):
    accurate = make_partner(db, "accurate")
    sloppy = make_partner(db, "sloppy")
    officer, _ = make_officer(app, db, "casa1", units=("CASABLANCA",))
    body = {"category": "fraud", "answers": {}}
    good = [file_report(client, accurate, **body)["reference"] for _ in range(3)]
    bad = [file_report(client, sloppy, **body)["reference"] for _ in range(3)]
    _close_all(db, officer, good, ("content_removed",) * 3)
    _close_all(db, officer, bad, ("no_offence", "duplicate", "content_removed"))

    def priority(partner):
        reference = file_report(client, partner, **body)["reference"]
        return db.scalar(select(Report.priority).where(Report.reference == reference))

    assert priority(accurate) == "high"
    assert priority(sloppy) == "normal"
    app.config["PARTNER_LANE_MIN_ACCURACY"] = None
    assert priority(accurate) == "normal"
