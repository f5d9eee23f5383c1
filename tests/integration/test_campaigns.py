"""Campaigns as officers meet them: reports from three cities linked by one blackmailer."""

from __future__ import annotations

import io
import re

from PIL import Image, ImageDraw
from sqlalchemy import func, select

from portal.models import (
    AuditEvent,
    Campaign,
    CampaignMember,
    ImageHash,
    Report,
    Trace,
)
from tests.support.staff import make_officer, sign_in
from tests.support.web import csrf_token, submit_and_get_receipt

PHONE_SPELLINGS = ["0661 23 45 67", "+212 661-234567", "00212661234567"]
CITIES = ["MA-CAS", "MA-RAB", "MA-FES"]


def screenshot(seed: int = 1, size: tuple[int, int] = (640, 480)) -> Image.Image:
    image = Image.new("RGB", size, (240, 240, 250))
    draw = ImageDraw.Draw(image)
    for i in range(14):
        x = (seed * 37 + i * 53) % size[0]
        y = (seed * 91 + i * 29) % size[1]
        draw.ellipse((x, y, x + 60 + i * 5, y + 40 + i * 3), fill=((i * 40) % 255, 80, 200 - i * 9))
        draw.rectangle(
            (y % size[0], x % size[1], y % size[0] + 30, x % size[1] + 90), fill=(20, i * 15, 60)
        )
    return image


def encoded(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _report(
    client, phone: str, territory: str, *, url: str, paid="no", files=None, bait="Bait.Profile_"
):
    return submit_and_get_receipt(
        client,
        urls=url,
        territory=territory,
        q_offender_accounts=f"{phone}\nhttps://www.instagram.com/{bait}/",
        q_paid=paid,
        q_amount_demanded="5000",
        q_currency="MAD",
        evidence=files,
    )[0]


def test_three_cities_one_blackmailer_one_campaign(app, client, db):
    original = screenshot()
    variant = original.resize((480, 360))
    references = [
        _report(
            app.test_client(),
            PHONE_SPELLINGS[0],
            CITIES[0],
            url="https://example.org/a",
            paid="yes",
            files=[(io.BytesIO(encoded(original)), "shot.png")],
        ),
        _report(app.test_client(), PHONE_SPELLINGS[1], CITIES[1], url="https://example.org/b"),
        _report(
            app.test_client(),
            "0700000000",
            CITIES[2],
            url="https://example.org/c",
            files=[(io.BytesIO(encoded(variant, "JPEG", quality=70)), "again.jpg")],
        ),
    ]
    ids = [db.scalar(select(Report.id).where(Report.reference == ref)) for ref in references]
    campaigns = {db.get(CampaignMember, report_id).campaign_id for report_id in ids}
    assert len(campaigns) == 1
    assert db.get(Campaign, campaigns.pop()).report_count == 3
    # The third report is linked by its image alone, and repeats a blackmail already paid.
    third = db.get(Report, ids[2])
    assert third.priority == "urgent"
    assert db.scalar(select(ImageHash.quality).where(ImageHash.report_id == ids[2])) >= 50

    # The database holds no phone number, handle or address in clear.
    dump = "\n".join(
        repr(row)
        for model in (Trace, ImageHash, CampaignMember)
        for row in db.execute(select(model.__table__)).all()
    )
    for needle in ("661234567", "bait.profile_", "Bait.Profile"):
        assert needle not in dump


def test_rabat_sees_that_other_units_hold_linked_reports_but_cannot_open_them(app, client, db):
    casa = _report(app.test_client(), PHONE_SPELLINGS[0], "MA-CAS", url="https://example.org/1")
    rabat_ref = _report(
        app.test_client(), PHONE_SPELLINGS[2], "MA-RAB", url="https://example.org/2"
    )
    _, secret = make_officer(app, db, "rabat1", units=("RABAT",))
    rabat = app.test_client()
    sign_in(rabat, "rabat1", secret)
    page = rabat.get(f"/officer/reports/{rabat_ref}").get_data(as_text=True)
    assert "1 other report shares this Phone number" in page
    assert "+212661234567" in page  # the value of its own report
    assert re.search(r"Casablanca[^<]*\(1\)", page)
    assert casa not in page
    assert rabat.get(f"/officer/reports/{casa}").status_code == 404
    member = db.scalar(select(CampaignMember).join(Report).where(Report.reference == casa))
    # A local officer does not open whole campaigns.
    assert rabat.get(f"/officer/campaigns/{member.campaign_id}").status_code == 404
    assert "/officer/campaigns/" not in page


def test_national_officer_sees_the_whole_campaign_as_references_audited(app, client, db):
    refs = [
        _report(app.test_client(), PHONE_SPELLINGS[i], CITIES[i], url=f"https://example.org/n{i}")
        for i in range(3)
    ]
    _, secret = make_officer(app, db, "national", units=("NATIONAL-CYBER",))
    national = app.test_client()
    sign_in(national, "national", secret)
    member = db.scalar(select(CampaignMember).join(Report).where(Report.reference == refs[0]))
    response = national.get(f"/officer/campaigns/{member.campaign_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for ref in refs:
        assert ref in page
        assert f'href="/officer/reports/{ref}"' not in page  # none is in its unit
    assert "15,000" in page or "15 000" in page or "15000" in page
    assert "Someone threatens" not in page
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.viewed")).all()
    assert [event.subject for event in events] == [f"campaign:{member.campaign_id}"]


def test_officer_adds_an_identifier_from_evidence_and_merges_two_campaigns(app, client, db):
    first = _report(app.test_client(), "0661111111", "MA-CAS", url="https://ex.org/1", bait="a1")
    second = _report(app.test_client(), "0662222222", "MA-CAS", url="https://ex.org/2", bait="b2")
    third = _report(app.test_client(), "0662222222", "MA-CAS", url="https://ex.org/3", bait="c3")
    camp = lambda ref: db.scalar(  # noqa: E731
        select(CampaignMember.campaign_id).join(Report).where(Report.reference == ref)
    )
    assert camp(first) != camp(second) == camp(third)
    small, large = camp(first), camp(second)
    _, secret = make_officer(app, db, "casa", units=("CASABLANCA",))
    officer = app.test_client()
    sign_in(officer, "casa", secret)
    path = f"/officer/reports/{first}/identifiers"
    token = csrf_token(officer, path)
    bad = officer.post(
        path,
        data={
            "csrf_token": token,
            "identifier-kind": "bank_account",
            "identifier-role": "payee",
            "identifier-value": "011519000001205000534922",
        },
    )
    assert bad.status_code == 400
    assert "This RIB is not valid" in bad.get_data(as_text=True)
    assert "011519000001205000534922" in bad.get_data(as_text=True)  # nothing typed is lost
    ok = officer.post(
        path,
        data={
            "csrf_token": token,
            "identifier-kind": "phone",
            "identifier-role": "account",
            "identifier-value": "+212 662 22 22 22",
        },
    )
    assert ok.status_code == 303
    db.expire_all()
    assert camp(first) == camp(second) == camp(third)
    survivor = db.get(Campaign, camp(first))
    assert survivor.report_count == 3
    # The smaller campaign was merged into the larger; its old id leads to the survivor.
    assert survivor.id == large
    assert db.get(Campaign, small).merged_into_id == large
    assert db.get(Campaign, small).report_count == 0


def test_freeze_letter_for_a_payee_in_french_and_arabic_is_audited(app, client, db):
    ref = submit_and_get_receipt(
        app.test_client(),
        category="fraud",
        urls="https://example.org/shop",
        q_amount="2500",
        q_payee_account="011 519 0000012050005349 21",
    )[0]
    _, secret = make_officer(app, db, "casa2", units=("CASABLANCA",))
    officer = app.test_client()
    sign_in(officer, "casa2", secret)
    trace = db.scalar(
        select(Trace).join(Report).where(Report.reference == ref, Trace.kind == "bank_account")
    )
    fr = officer.get(f"/officer/reports/{ref}/freeze-letter?trace={trace.id}&lang=fr")
    assert fr.status_code == 200
    assert "MA64011519000001205000534921" in fr.get_data(as_text=True)
    assert "gel des fonds" in fr.get_data(as_text=True)
    ar = officer.get(f"/officer/reports/{ref}/freeze-letter?trace={trace.id}&lang=ar")
    assert 'dir="rtl"' in ar.get_data(as_text=True)
    assert "تجميد الأموال" in ar.get_data(as_text=True)
    pdf = officer.get(f"/officer/reports/{ref}/freeze-letter?trace={trace.id}&lang=ar&format=pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-")
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.action == "campaign.freeze_letter")
    )
    assert len(list(actions)) == 3


def test_demo_campaigns_tell_their_story(app, db):
    import os

    from portal.domain.receipts import ReceiptHasher
    from portal.models import utcnow
    from portal.services.demo_campaigns import create_demo_campaigns

    created = create_demo_campaigns(
        db,
        app.extensions["keyring"],
        app.extensions["blind_indexer"],
        ReceiptHasher(pepper=os.urandom(32), time_cost=1, memory_cost_kib=64),
        now=utcnow(),
    )
    db.commit()
    sizes = sorted(
        campaign.report_count
        for campaign in db.scalars(select(Campaign).where(Campaign.report_count > 1))
    )
    assert sum(sizes) == created
    assert sizes == [5, 7, 9]
    latest = db.scalars(select(Report).order_by(Report.submitted_at.desc())).first()
    assert latest.platform == "whatsapp" and latest.priority == "urgent"
    units = db.scalar(
        select(func.count(Report.unit_id.distinct()))
        .join(CampaignMember)
        .where(CampaignMember.campaign_id == db.get(CampaignMember, latest.id).campaign_id)
    )
    assert units >= 4


def test_supervisors_see_the_largest_campaigns_of_their_region(app, db):
    refs = [
        _report(app.test_client(), "0661555555", city, url=f"https://ex.org/s{i}", bait="sup1")
        for i, city in enumerate(["MA-CAS", "MA-RAB", "MA-CAS"])
    ]
    member = db.scalar(select(CampaignMember).join(Report).where(Report.reference == refs[0]))
    _, casa_secret = make_officer(app, db, "chiefcasa", role="supervisor", region="MA-06", units=())
    _, south_secret = make_officer(app, db, "chiefmrk", role="supervisor", region="MA-07", units=())
    casa, south = app.test_client(), app.test_client()
    sign_in(casa, "chiefcasa", casa_secret)
    sign_in(south, "chiefmrk", south_secret)

    listing = casa.get("/officer/campaigns/").get_data(as_text=True)
    assert f'href="/officer/campaigns/{member.campaign_id}"' in listing
    page = casa.get(f"/officer/campaigns/{member.campaign_id}").get_data(as_text=True)
    # Casablanca's reports open; Rabat's is a reference only.
    assert f'href="/officer/reports/{refs[0]}"' in page
    assert refs[1] in page and f'href="/officer/reports/{refs[1]}"' not in page

    assert f"/officer/campaigns/{member.campaign_id}" not in south.get(
        "/officer/campaigns/"
    ).get_data(as_text=True)
    assert south.get(f"/officer/campaigns/{member.campaign_id}").status_code == 404
    listed = db.scalars(select(AuditEvent).where(AuditEvent.action == "campaign.list_viewed")).all()
    assert len(listed) == 2


def test_a_mistyped_number_is_named_next_to_its_field_and_kept(app, client):
    from tests.support.web import submit_report

    client.set_cookie("lang", "en")
    response = submit_report(
        client,
        q_offender_accounts="0661234567\n06 12 34\n@good.name",
        q_payee="011519000001205000534922",
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Line 2: This is not a valid phone number." in page
    assert "This RIB is not valid" in page
    # What was typed comes back as typed.
    assert "0661234567\n06 12 34\n@good.name</textarea>" in page
    assert "011519000001205000534922</textarea>" in page
