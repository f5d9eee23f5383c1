"""Purge and key rotation cover identifiers and image hashes; campaigns split when a link goes."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import func, select
from test_campaigns import encoded, screenshot

from portal.crypto.keyring import Keyring
from portal.models import CampaignMember, ImageHash, Report, Trace, utcnow
from portal.services import retention
from tests.support.web import submit_and_get_receipt


def _report(app, accounts: str, url: str, files=None) -> int:
    reference = submit_and_get_receipt(
        app.test_client(), urls=url, q_offender_accounts=accounts, evidence=files
    )[0]
    return reference


def test_purging_the_report_that_joined_two_groups_splits_the_campaign(app, db):
    first = _report(app, "0661000001", "https://ex.org/p1")
    bridge = _report(app, "0661000001\n0661000002", "https://ex.org/p2")
    last = _report(app, "0661000002", "https://ex.org/p3")
    ids = {
        ref: db.scalar(select(Report.id).where(Report.reference == ref))
        for ref in (first, bridge, last)
    }
    campaign = lambda ref: db.get(CampaignMember, ids[ref]).campaign_id  # noqa: E731
    assert campaign(first) == campaign(bridge) == campaign(last)

    report = db.get(Report, ids[bridge])
    report.status, report.closed_at = "closed", utcnow() - timedelta(days=400)
    db.commit()
    retention.purge(db, app.extensions["blob_store"], {"closed": 365})
    db.expire_all()
    assert (
        db.scalar(select(func.count()).select_from(Trace).where(Trace.report_id == ids[bridge]))
        == 0
    )
    assert db.get(CampaignMember, ids[bridge]) is None
    assert campaign(first) != campaign(last)


def test_rotation_reencrypts_identifiers_and_image_hashes(app, db):
    files = [(io.BytesIO(encoded(screenshot(5))), "s.png")]
    reference = _report(app, "0661000009\n@someone.x", "https://ex.org/r1", files)
    old = app.extensions["keyring"].active_id
    result = app.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    new = app.extensions["keyring"].active_id
    db.expire_all()
    tokens = [row.value_enc for row in db.scalars(select(Trace)) if row.value_enc is not None]
    tokens += [row.pdq_enc for row in db.scalars(select(ImageHash))]
    assert len(tokens) >= 4
    assert {Keyring.field_key_id(token) for token in tokens} == {new} != {old}
    # Still readable under the new key, with the same contexts.
    from portal.services.campaigns import own_traces

    report = db.scalar(select(Report).where(Report.reference == reference))
    values = {value for _, value in own_traces(db, report, app.extensions["keyring"])}
    assert "+212661000009" in values
