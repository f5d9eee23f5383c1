from __future__ import annotations

from portal.models import AuditEvent, Mandate, Report
from tests.support.partners import file_report, report_body


def test_file_and_read_own_report(client, db, partner_a):
    created = file_report(client, partner_a)
    assert created["status"] == "received"
    assert len(created["victim_receipt"].replace(" ", "")) == 16
    ref = created["reference"]
    got = client.get(f"/api/v1/reports/{ref}", headers=partner_a.headers)
    assert got.status_code == 200
    assert got.get_json()["mandate"]["origin"] == "partner_filed"
    assert "victim_receipt" not in got.get_json()
    timeline = client.get(f"/api/v1/reports/{ref}/timeline", headers=partner_a.headers).get_json()
    assert timeline["items"][0]["event"] == "submitted"
    report = db.query(Report).filter_by(reference=ref).one()
    assert db.query(Mandate).filter_by(report_id=report.id).one().partner_id == partner_a.id
    actions = [event.action for event in db.query(AuditEvent).all()]
    assert "partner.report_filed" in actions and "api.call" in actions


def test_field_errors_are_problem_details_with_pointers(client, partner_a):
    body = report_body(urls=["https://ok.example/a", "ftp://bad.example/x"], territory="MA-XXX")
    response = client.post(
        "/api/v1/reports", json=body, headers={**partner_a.headers, "Accept-Language": "fr"}
    )
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    pointers = {error["pointer"] for error in problem["errors"]}
    assert pointers == {"/urls/1", "/territory"}
    assert problem["title"] == "La requête contient des erreurs."


def test_schema_errors_have_pointers(client, partner_a):
    body = report_body(category="nonsense", description=None)
    response = client.post("/api/v1/reports", json=body, headers=partner_a.headers)
    assert response.status_code == 422
    pointers = {error["pointer"] for error in response.get_json()["errors"]}
    assert "/category" in pointers and "/description" in pointers


def test_no_token_and_cookie_is_refused(client, partner_a):
    client.set_cookie("portal_session", "anything")
    response = client.get("/api/v1/reports")
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert "Cookies" in response.get_json()["detail"]


def test_wrong_token_refused(client, partner_a):
    bad = partner_a.token[:-4] + "AAAA"
    response = client.get("/api/v1/reports", headers={"Authorization": f"Bearer {bad}"})
    assert response.status_code == 401


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    assert "/api/v1/reports" in doc["paths"]
    assert "/api/v1/reports/{reference}/evidence" in doc["paths"]


def test_bodies_that_are_not_json_are_refused_cleanly(client, partner_a):
    headers = {**partner_a.headers, "Content-Type": "application/json"}
    for body in (b"{not json", b"[" * 100_000 + b"]" * 100_000):
        response = client.post("/api/v1/reports", data=body, headers=headers)
        assert response.status_code == 400
        assert response.mimetype == "application/problem+json"
    response = client.post("/api/v1/reports", data=b"category=fraud", headers={**partner_a.headers})
    assert response.status_code == 415
    too_big = b'{"description": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = client.post("/api/v1/reports", data=too_big, headers=headers)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
