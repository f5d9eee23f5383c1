"""Cross-border referrals: a STIX 2.1 bundle for the country where the content is hosted.

The package carries only what the officer selected: URLs of the report and SHA-256 hashes of
its evidence (never a file: partners match hashes against what they hold), with a short
summary built from the case's metadata in the destination's language and the officer's note.
Referrals of child sexual exploitation carry URLs and hashes only: no note, no summary beyond
the category, as hotline practice requires. Bundles are marked TLP:AMBER, validated by the
``stix2`` library when built, stored encrypted so that the package sent can be produced again
exactly, and every creation, download and showing of its contents on the page is audited.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import stix2
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.crypto.keyring import Keyring
from portal.models import Officer, Referral, Report
from portal.services import audit
from portal.services.takedowns import report_url_text

CSAM_CATEGORY = "child_sexual_exploitation"
MAX_NOTE = 2000


class ReferralError(Exception):
    def __init__(self, message: object) -> None:
        super().__init__(str(message))
        self.message = message


@dataclass(frozen=True)
class ReferralDraft:
    destination: str
    url_ids: Sequence[int]
    evidence_ids: Sequence[int]
    language: str
    note: str


@dataclass(frozen=True)
class Issuer:
    """The issuing unit as the bundle names it."""

    name: str
    email: str
    phone: str


def bundle_context(reference: str, referral_id: int) -> str:
    return f"referral:{reference}:{referral_id}:bundle"


def _check(draft: ReferralDraft, home_country: str, countries: Mapping[str, str]) -> None:
    destination = draft.destination.upper()
    if destination not in countries:
        raise ReferralError(_l("Choose the country the referral goes to."))
    if destination == home_country.upper():
        raise ReferralError(_l("A referral goes to another country than this one."))
    if not draft.url_ids and not draft.evidence_ids:
        raise ReferralError(_l("Choose at least one URL or file hash."))
    if len(draft.note) > MAX_NOTE:
        raise ReferralError(
            _l("The note is too long (at most %(count)d characters).", count=MAX_NOTE)
        )


def build_bundle(
    *,
    report: Report,
    issuer: Issuer,
    destination: str,
    urls: Sequence[str],
    hashes: Sequence[tuple[str, int, str]],
    summary: str,
    now: datetime,
) -> stix2.Bundle:
    """The STIX 2.1 bundle: the issuer, a report object, URL and file observables."""
    identity = stix2.Identity(
        name=issuer.name,
        identity_class="organization",
        contact_information=f"{issuer.email} / {issuer.phone}",
        created=now,
        modified=now,
    )
    observables: list[stix2.base._STIXBase] = [stix2.URL(value=url) for url in urls]
    observables += [
        stix2.File(hashes={"SHA-256": sha256}, size=size, mime_type=media_type)
        for sha256, size, media_type in hashes
    ]
    stix_report = stix2.Report(
        name=f"Referral {report.reference} to {destination}",
        description=summary,
        published=now,
        created=now,
        modified=now,
        report_types=["observed-data"],
        created_by_ref=identity.id,
        object_refs=[item.id for item in observables],
        object_marking_refs=[stix2.TLP_AMBER],
        labels=[report.category],
    )
    return stix2.Bundle(objects=[stix2.TLP_AMBER, identity, stix_report, *observables])


def create_referral(
    session: Session,
    *,
    officer: Officer,
    report: Report,
    draft: ReferralDraft,
    issuer: Issuer,
    summary: str,
    keyring: Keyring,
    home_country: str,
    countries: Mapping[str, str],
    now: datetime,
) -> Referral:
    """Build, validate and store the bundle for ``draft``; ``summary`` is already translated."""
    _check(draft, home_country, countries)
    url_rows = {row.id: row for row in report.urls}
    evidence_rows = {row.id: row for row in report.evidence}
    if any(i not in url_rows for i in draft.url_ids) or any(
        i not in evidence_rows for i in draft.evidence_ids
    ):
        raise ReferralError(_l("A chosen item is not part of this report."))
    csam = report.category == CSAM_CATEGORY
    description = (
        summary if csam or not draft.note.strip() else f"{summary}\n\n{draft.note.strip()}"
    )
    urls = [report_url_text(keyring, url_rows[i]) for i in dict.fromkeys(draft.url_ids)]
    hashes = [
        (row.sha256, row.size, row.sniffed_type)
        for row in (evidence_rows[i] for i in dict.fromkeys(draft.evidence_ids))
    ]
    bundle = build_bundle(
        report=report,
        issuer=issuer,
        destination=draft.destination.upper(),
        urls=urls,
        hashes=hashes,
        summary=description,
        now=now,
    )
    referral = Referral(
        report=report,
        unit_id=report.unit_id,
        officer_id=officer.id,
        destination=draft.destination.upper(),
        language=draft.language,
        url_count=len(urls),
        hash_count=len(hashes),
        bundle_enc=b"",
        created_at=now,
    )
    session.add(referral)
    session.flush()
    referral.bundle_enc = keyring.encrypt_field(
        bundle.serialize(), bundle_context(report.reference, referral.id)
    )
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action="referral.created",
        subject=f"report:{report.reference}",
        details={
            "referral_id": referral.id,
            "destination": referral.destination,
            "urls": len(urls),
            "hashes": len(hashes),
            "bundle_id": bundle.id,
        },
        at=now,
    )
    return referral


def bundle_json(keyring: Keyring, referral: Referral) -> str:
    return keyring.decrypt_field(
        referral.bundle_enc, bundle_context(referral.report.reference, referral.id)
    )


def bundle_objects(keyring: Keyring, referral: Referral) -> list[dict[str, object]]:
    return list(json.loads(bundle_json(keyring, referral))["objects"])


def referrals_for(session: Session, report: Report) -> list[Referral]:
    return list(
        session.scalars(
            select(Referral).where(Referral.report_id == report.id).order_by(Referral.id)
        )
    )


def _record_export(
    session: Session, officer: Officer, referral: Referral, action: str, now: datetime
) -> None:
    audit.record(
        session,
        actor=audit.officer_name(officer),
        action=action,
        subject=f"report:{referral.report.reference}",
        details={"referral_id": referral.id, "destination": referral.destination},
        at=now,
    )


def record_download(
    session: Session, *, officer: Officer, referral: Referral, now: datetime
) -> None:
    _record_export(session, officer, referral, "referral.downloaded", now)


def record_view(session: Session, *, officer: Officer, referral: Referral, now: datetime) -> None:
    """The referral's page lists what the bundle holds (URLs, hashes, the summary): an export,
    audited like the bundle's download."""
    _record_export(session, officer, referral, "referral.viewed", now)
