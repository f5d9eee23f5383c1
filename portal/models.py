"""The domain model (SQLAlchemy 2.0 typed mappings).

The schema itself comes only from the alembic migrations in ``migrations/``; a test checks that
upgrading to head yields exactly these tables. Fields marked ``_enc`` hold ciphertext produced by
``portal.crypto.keyring`` and bound (as associated data) to their column and row.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def as_stored(value: datetime) -> datetime:
    """An aware instant as the database keeps it: naive UTC."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass an aware UTC datetime")
    return value.astimezone(UTC).replace(tzinfo=None)


def from_stored(value: datetime) -> datetime:
    """An instant as the database keeps it (naive UTC), made aware."""
    return value.replace(tzinfo=UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Store naive UTC, hand back aware UTC: the same on SQLite and PostgreSQL (reads that skip
    SQLAlchemy's types convert with :func:`as_stored` and :func:`from_stored`)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_stored(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else from_stored(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# --- territory and routing -------------------------------------------------------------------


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name_ar: Mapped[str] = mapped_column(String(200))
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    name_es: Mapped[str | None] = mapped_column(String(200))  # None: Spanish uses name_fr

    subdivisions: Mapped[list[Subdivision]] = relationship(back_populates="region")

    def name(self, lang: str) -> str:
        return str(getattr(self, f"name_{lang}", None) or self.name_fr)


class Subdivision(Base):
    """A prefecture or province (ISO 3166-2:MA)."""

    __tablename__ = "subdivisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("regions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    name_ar: Mapped[str] = mapped_column(String(200))
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    name_es: Mapped[str | None] = mapped_column(String(200))  # None: Spanish uses name_fr

    region: Mapped[Region] = relationship(back_populates="subdivisions")

    def name(self, lang: str) -> str:
        return str(getattr(self, f"name_{lang}", None) or self.name_fr)


class Unit(Base):
    """A police unit owning a queue. Units are not regions: see the routing table."""

    __tablename__ = "units"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_ar: Mapped[str] = mapped_column(String(200))
    name_fr: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    name_es: Mapped[str | None] = mapped_column(String(200))  # None: Spanish uses name_fr
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"), index=True)
    national: Mapped[bool] = mapped_column(Boolean, default=False)
    specialty: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    region: Mapped[Region | None] = relationship()

    def name(self, lang: str) -> str:
        return str(getattr(self, f"name_{lang}", None) or self.name_fr)


class RoutingRule(Base):
    """One row of the routing table.

    kind: ``territory`` (key = subdivision code), ``abroad`` and ``outside_local`` (key empty),
    ``category`` (key = category code; a national specialised unit).
    """

    __tablename__ = "routing_rules"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)

    unit: Mapped[Unit] = relationship()


# --- staff -----------------------------------------------------------------------------------

officer_units = Table(
    "officer_units",
    Base.metadata,
    Column("officer_id", ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True),
    Column("unit_id", ForeignKey("units.id", ondelete="CASCADE"), primary_key=True),
)


class Officer(Base):
    """A staff account: role ``officer``, ``supervisor`` (region or national) or ``admin``."""

    __tablename__ = "officers"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="officer")
    # Supervisors: the region they answer for; None means national.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    totp_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enrolled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last accepted TOTP time step: a code at or before it is a replay.
    totp_last_counter: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    units: Mapped[list[Unit]] = relationship(secondary=officer_units)
    region: Mapped[Region | None] = relationship()


class StaffSession(Base):
    """Server-side staff session, so that an admin can revoke it."""

    __tablename__ = "staff_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    officer: Mapped[Officer] = relationship()


# --- reports ---------------------------------------------------------------------------------

PRIORITY_RANK = {"urgent": 0, "high": 1, "normal": 2}
# The lifecycle in DESIGN.md: a case is open until it is referred or closed (its resolution).
OPEN_STATUSES = ("received", "in_review", "awaiting_reporter", "investigating")
RESOLVED_STATUSES = ("referred", "closed")


class Report(Base):
    __tablename__ = "reports"
    __table_args__ = (
        # The queue: a unit's open reports, most urgent first, then oldest.
        Index("ix_reports_queue", "unit_id", "status", "priority_rank", "submitted_at", "id"),
        Index("ix_reports_unit_submitted", "unit_id", "submitted_at"),
        Index("ix_reports_region_submitted", "region_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(16), unique=True)
    receipt_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    category: Mapped[str] = mapped_column(String(40), index=True)
    platform: Mapped[str] = mapped_column(String(40))
    seen_on: Mapped[date | None] = mapped_column(Date)
    description_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # Category-specific answers (JSON), encrypted; the two that drive priority are kept plain.
    answers_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    minor_involved: Mapped[bool] = mapped_column(Boolean, default=False)
    threat_to_life: Mapped[bool] = mapped_column(Boolean, default=False)
    contact_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    # The interface language the reporter wrote in (officers are asked to answer in it).
    language: Mapped[str | None] = mapped_column(String(8))
    # Opt-in address for a content-free "there is news" notice, encrypted like the contact.
    notify_email_enc: Mapped[bytes | None] = mapped_column(LargeBinary)

    subdivision_id: Mapped[int | None] = mapped_column(ForeignKey("subdivisions.id"))
    # The reporter's region (None abroad), kept for per-region statistics.
    region_id: Mapped[int | None] = mapped_column(ForeignKey("regions.id"))
    abroad: Mapped[bool] = mapped_column(Boolean, default=False)
    handle_outside_local: Mapped[bool] = mapped_column(Boolean, default=False)
    routing_reason: Mapped[str] = mapped_column(String(32))
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    assigned_officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"), index=True)

    priority: Mapped[str] = mapped_column(String(10), default="normal")
    # The priority as a number (PRIORITY_RANK), so that queue indexes sort urgent cases first;
    # written together with ``priority`` by every code path that sets it.
    priority_rank: Mapped[int] = mapped_column(Integer, default=2)
    status: Mapped[str] = mapped_column(String(24), default="received")
    closure_reason: Mapped[str | None] = mapped_column(String(40))
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))

    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_reporter_activity_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    officer_seen_reporter_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Bumped on every officer action: a stale form or a concurrent claim loses cleanly.
    version: Mapped[int] = mapped_column(Integer, default=1)

    unit: Mapped[Unit] = relationship()
    subdivision: Mapped[Subdivision | None] = relationship()
    region: Mapped[Region | None] = relationship()
    assigned_officer: Mapped[Officer | None] = relationship()
    urls: Mapped[list[ReportURL]] = relationship(
        back_populates="report", order_by="ReportURL.position", cascade="all, delete-orphan"
    )
    evidence: Mapped[list[Evidence]] = relationship(
        back_populates="report", order_by="Evidence.id", cascade="all, delete-orphan"
    )
    messages: Mapped[list[Message]] = relationship(
        back_populates="report", order_by="Message.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[ReportEvent]] = relationship(
        back_populates="report", order_by="ReportEvent.id", cascade="all, delete-orphan"
    )
    # Read-only views for the case page; the rows go with the report (ON DELETE CASCADE).
    takedown_requests: Mapped[list[TakedownRequest]] = relationship(
        order_by="TakedownRequest.id", viewonly=True
    )
    referrals: Mapped[list[Referral]] = relationship(order_by="Referral.id", viewonly=True)

    @property
    def has_unread_reply(self) -> bool:
        if self.last_reporter_activity_at is None:
            return False
        return (
            self.officer_seen_reporter_at is None
            or self.officer_seen_reporter_at < self.last_reporter_activity_at
        )


class ReportURL(Base):
    """A reported URL, encrypted at rest (``portal.services.reports.report_url_context``).

    Reports naming the same URL, or the same site, are linked by equality on keyed blind
    indexes (``portal.crypto.blind_index``): a copy of the database alone shows neither the URLs
    nor their sites, nor lets anyone test whether a given URL was reported.
    """

    __tablename__ = "report_urls"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    original_enc: Mapped[bytes] = mapped_column(LargeBinary)
    normalized_enc: Mapped[bytes] = mapped_column(LargeBinary)
    host_enc: Mapped[bytes] = mapped_column(LargeBinary)
    # Blind index of ``normalized`` (kind "url"): reports sharing one form a cluster.
    url_index: Mapped[str] = mapped_column(String(64), index=True)
    # Blind index of the host (kind "host"): reports about the same site.
    host_index: Mapped[str] = mapped_column(String(64), index=True)

    report: Mapped[Report] = relationship(back_populates="urls")


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    blob_key: Mapped[str] = mapped_column(String(32), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sniffed_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(40))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    filename_enc: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16), default="report")
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    report: Mapped[Report] = relationship(back_populates="evidence")


class Message(Base):
    """kind: ``to_reporter``, ``from_reporter``, ``internal_note`` (never shown to reporters),
    or ``to_partner`` / ``from_partner`` (an officer and a mandated partner; the victim reads
    them too)."""

    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    body_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    report: Mapped[Report] = relationship(back_populates="messages")
    officer: Mapped[Officer | None] = relationship()


class ReportEvent(Base):
    """The case timeline. ``visible_to_reporter`` events appear on /follow-up in plain words."""

    __tablename__ = "report_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    visible_to_reporter: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[str | None] = mapped_column(Text)  # JSON, no personal data

    report: Mapped[Report] = relationship(back_populates="events")
    officer: Mapped[Officer | None] = relationship()


class FollowUpSession(Base):
    """A reporter's short-lived follow-up session, found by the hash of a random cookie token."""

    __tablename__ = "followup_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PendingUpload(Base):
    """An accepted evidence file held for a report form that came back for correction.

    The blob is already encrypted in the store, bound to the reference the report will take;
    the row is found by the hash of a random token kept in the reporter's session and repeated
    in the form, and it expires after minutes if the form is never sent again.
    """

    __tablename__ = "pending_uploads"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), index=True)
    reference: Mapped[str] = mapped_column(String(16))
    blob_key: Mapped[str] = mapped_column(String(32), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sniffed_type: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(40))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    filename_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ReceiptHandoff(Base):
    """Carries a new receipt from the submitting POST to the page that shows it, once.

    The receipt is encrypted, found by the hash of a one-time token held in the reporter's
    session, deleted when shown, and expires after minutes if never shown.
    """

    __tablename__ = "receipt_handoffs"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    receipt_enc: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class UsedPowToken(Base):
    """Proof-of-work challenges already redeemed (single use until they expire)."""

    __tablename__ = "used_pow_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEvent(Base):
    """Append-only log, each entry MACed with its predecessor's MAC (``portal.services.audit``).

    No code path updates or deletes a row.
    """

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(120), index=True)
    details: Mapped[str] = mapped_column(Text, default="{}")
    # Unique: two writers that read the same tail cannot both append (the chain never forks).
    prev_mac: Mapped[str] = mapped_column(String(64), unique=True)
    mac: Mapped[str] = mapped_column(String(64), unique=True)


class BreakGlassGrant(Base):
    """A supervisor's time-limited access to one report's content, with the reason given.

    Supervisors read figures and case metadata only; ``portal.services.content_access`` opens a
    report's content to one of them while a grant of theirs for it has not expired.
    """

    __tablename__ = "break_glass_grants"
    __table_args__ = (Index("ix_break_glass_grants_officer_report", "officer_id", "report_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("officers.id", ondelete="CASCADE"))
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


# --- takedowns and referrals ---------------------------------------------------------------


class TakedownRequest(Base):
    """A removal or preservation request to one platform for one or more URLs of a report.

    ``kind``: ``removal`` or ``preservation``. ``channel``: ``email`` (sent through the SMTP
    relay to the platform's configured address) or ``by_hand`` (the officer files it through the
    platform's own portal and records that here). The officer's explanation is encrypted.
    """

    __tablename__ = "takedown_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    kind: Mapped[str] = mapped_column(String(16))
    platform: Mapped[str] = mapped_column(String(40), index=True)
    legal_basis: Mapped[str] = mapped_column(String(40))
    explanation_enc: Mapped[bytes] = mapped_column(LargeBinary)
    preservation_days: Mapped[int | None] = mapped_column(Integer)
    language: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    report: Mapped[Report] = relationship()
    unit: Mapped[Unit] = relationship()
    officer: Mapped[Officer | None] = relationship()
    items: Mapped[list[TakedownItem]] = relationship(
        back_populates="request", order_by="TakedownItem.id", cascade="all, delete-orphan"
    )


class TakedownItem(Base):
    """One URL of a takedown request and what became of it.

    ``outcome``: None while waiting, then ``removed``, ``refused`` or ``no_answer``. The
    optional re-check records whether the URL still answers; only an officer records removal.
    """

    __tablename__ = "takedown_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(
        ForeignKey("takedown_requests.id", ondelete="CASCADE"), index=True
    )
    report_url_id: Mapped[int] = mapped_column(
        ForeignKey("report_urls.id", ondelete="CASCADE"), index=True
    )
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_check_status: Mapped[int | None] = mapped_column(Integer)

    request: Mapped[TakedownRequest] = relationship(back_populates="items")
    report_url: Mapped[ReportURL] = relationship()


class TakedownRollup(Base):
    """Takedown requests of one block of local days, per platform and report category, kept by
    the write path (``portal.services.takedown_rollups``). ``scope`` 0 is national, otherwise
    a region id; ``level`` and ``block`` as in ``StatsRollup``."""

    __tablename__ = "takedown_rollups"

    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(40), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    requested: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    removal: Mapped[bytes | None] = mapped_column(LargeBinary)


class Referral(Base):
    """A cross-border referral package: a STIX 2.1 bundle for the country that can act.

    The bundle holds only what the officer selected (URLs, identifiers, file hashes; never
    files) and is stored encrypted, so that the package sent can be produced again as it was.
    """

    __tablename__ = "referrals"

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"))
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    destination: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(8))
    url_count: Mapped[int] = mapped_column(Integer, default=0)
    hash_count: Mapped[int] = mapped_column(Integer, default=0)
    bundle_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    report: Mapped[Report] = relationship()
    unit: Mapped[Unit] = relationship()
    officer: Mapped[Officer | None] = relationship()


# --- statistics ------------------------------------------------------------------------------

# Period filters of the national dashboard, and the backlog (reports still open at a moment).
Index("ix_reports_submitted_at", Report.submitted_at)
Index("ix_reports_closed_submitted", Report.closed_at, Report.submitted_at)


class StatsRollup(Base):
    """Counts and response-time distributions of the reports submitted in one block of local
    days, for one grouping key; kept by the write path (``portal.services.rollups``).

    ``scope`` is 0 for national rows and a region id for a region's own rows; ``dim`` is ``t``
    (everything), ``r`` (region), ``u`` (unit) or ``c`` (category), ``key`` its value; every
    row is also split by priority. ``level`` names the block size (1, 7, 28, 112 or 448 local
    days from a Monday) and ``block`` its number.
    """

    __tablename__ = "stats_rollups"

    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    block: Mapped[int] = mapped_column(Integer, primary_key=True)
    dim: Mapped[str] = mapped_column(String(1), primary_key=True)
    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    priority: Mapped[str] = mapped_column(String(10), primary_key=True)
    received: Mapped[int] = mapped_column(Integer, default=0)
    answered: Mapped[int] = mapped_column(Integer, default=0)
    resolved: Mapped[int] = mapped_column(Integer, default=0)
    first_response: Mapped[bytes | None] = mapped_column(LargeBinary)
    resolution: Mapped[bytes | None] = mapped_column(LargeBinary)


# --- officer queue ---------------------------------------------------------------------------

# The statuses of an open case; the partial indexes below hold only those rows.
OPEN_STATUS_SQL = f"status IN ({', '.join(repr(status) for status in OPEN_STATUSES)})"


def _open_queue_index(name: str, *leading: Any) -> Index:
    """A partial index over open cases in queue order (priority, then oldest, then id)."""
    return Index(
        name,
        *leading,
        Report.priority_rank,
        Report.submitted_at,
        Report.id,
        sqlite_where=text(OPEN_STATUS_SQL),
        postgresql_where=text(OPEN_STATUS_SQL),
    )


# A unit's open queue, read straight from the index; the same narrowed to one category; and
# the same order across all units, for national supervisors.
_open_queue_index("ix_reports_open_queue", Report.unit_id)
_open_queue_index("ix_reports_open_queue_category", Report.unit_id, Report.category)
_open_queue_index("ix_reports_open_national")
Index("ix_reports_duplicate_of_id", Report.duplicate_of_id)


def _open_index(name: str, *columns: Any) -> Index:
    """A partial index over open cases in the order of one of the queue's sorts."""
    return Index(
        name,
        *columns,
        sqlite_where=text(OPEN_STATUS_SQL),
        postgresql_where=text(OPEN_STATUS_SQL),
    )


# The queue by age and by last activity (migration 0013_queue_sorts), per unit and, by last
# activity, across all units; an officer's own open cases ("my cases") by urgency; and every
# report of a unit by last activity, for the resolved part of that sort.
_open_index("ix_reports_open_queue_age", Report.unit_id, Report.submitted_at, Report.id)
_open_index("ix_reports_open_queue_activity", Report.unit_id, Report.updated_at, Report.id)
_open_index("ix_reports_open_activity_national", Report.updated_at, Report.id)
_open_index(
    "ix_reports_open_assigned",
    Report.assigned_officer_id,
    Report.priority_rank,
    Report.submitted_at,
    Report.id,
)
Index("ix_reports_unit_updated", Report.unit_id, Report.updated_at, Report.id)


# --- campaigns -------------------------------------------------------------------------------


class Campaign(Base):
    """Reports connected through shared traces (a connected component, kept incrementally).

    When a report joins two campaigns, the smaller is merged into the larger: its members move
    and it keeps ``merged_into_id`` so that an old link still finds the campaign.
    """

    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the latest report joined: the supervisors' "fastest growing" reads recent members.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    report_count: Mapped[int] = mapped_column(Integer, default=0, index=True)
    # Indexed: a merge re-points the campaigns already merged into the absorbed one.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)


class CampaignMember(Base):
    """A report's campaign, and the money facts the campaign sums (amounts stay per report)."""

    __tablename__ = "campaign_members"
    __table_args__ = (Index("ix_campaign_members_campaign_joined", "campaign_id", "joined_at"),)

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The reporter says they paid: a later report matching this one is a repeat blackmail.
    paid: Mapped[bool] = mapped_column(Boolean, default=False)
    amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str | None] = mapped_column(String(3))


class Trace(Base):
    """Something an offender left in a report, by which reports are linked.

    ``kind`` is the blind-index kind (``phone``, ``email``, ``handle:<platform>``,
    ``bank_account``, ``wallet``, ``transfer_code``, ``url``) or ``image``; ``key`` is the
    blind index (``BlindIndexer.index(kind, normal form)``) or, for images, the id of the first
    image of a group of near-duplicates. The value itself is only kept encrypted.
    """

    __tablename__ = "traces"
    __table_args__ = (
        Index("ix_traces_kind_key", "kind", "key"),
        Index("uq_traces_report_kind_key", "report_id", "kind", "key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    key: Mapped[str] = mapped_column(String(64))
    # What it was in the report: "account" (the offender's contact), "payee", "url", "image".
    role: Mapped[str] = mapped_column(String(16))
    value_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16), default="reporter")
    officer_id: Mapped[int | None] = mapped_column(ForeignKey("officers.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ImageHash(Base):
    """The PDQ hash of an image taken at intake, encrypted; ``quality`` as PDQ reports it."""

    __tablename__ = "image_hashes"

    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence.id", ondelete="CASCADE"), primary_key=True
    )
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    pdq_enc: Mapped[bytes] = mapped_column(LargeBinary)
    quality: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# --- partners (the partner API) -----------------------------------------------------------------


class Partner(Base):
    """An organisation filing through the API: an NGO, a lawyer, a platform's safety team.

    ``accreditation``: ``pending``, ``accredited`` or ``suspended``; only accredited partners
    can call the API or be chosen by a victim. ``allowed_categories`` is a space-separated list
    of category codes.
    """

    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    accreditation: Mapped[str] = mapped_column(String(16), default="pending")
    contact_email: Mapped[str] = mapped_column(String(200))
    allowed_categories: Mapped[str] = mapped_column(Text, default="")
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_secret_enc: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tokens: Mapped[list[PartnerToken]] = relationship(
        back_populates="partner", order_by="PartnerToken.id", cascade="all, delete-orphan"
    )

    @property
    def categories(self) -> list[str]:
        return self.allowed_categories.split()


class PartnerToken(Base):
    """An API token: ``ptk_<public_id>_<secret>``; only the secret's SHA-256 is kept."""

    __tablename__ = "partner_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    public_id: Mapped[str] = mapped_column(String(24), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    partner: Mapped[Partner] = relationship(back_populates="tokens")


class Mandate(Base):
    """A victim's consent for a partner to act on her report.

    ``origin``: ``partner_filed`` (the partner filed the report) or ``victim_granted`` (the
    victim chose the partner on /follow-up). Once ``withdrawn_at`` is set the partner sees
    nothing more of the report.
    """

    __tablename__ = "mandates"
    __table_args__ = (Index("ix_mandates_partner_report", "partner_id", "report_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(16))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_by: Mapped[str | None] = mapped_column(String(16))

    partner: Mapped[Partner] = relationship()
    report: Mapped[Report] = relationship()


class IdempotencyKey(Base):
    """A partner's ``Idempotency-Key``: the primary key makes concurrent duplicates collide."""

    __tablename__ = "idempotency_keys"

    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookDelivery(Base):
    """One signed event for one partner, with its delivery attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(200))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the attempts are used up: the event is kept for the log, never sent again.
    abandoned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    partner: Mapped[Partner] = relationship()


# Open reports by submission time: the dashboards' backlog and pending targets read only these.
Index(
    "ix_reports_open_submitted",
    Report.submitted_at,
    sqlite_where=text(OPEN_STATUS_SQL),
    postgresql_where=text(OPEN_STATUS_SQL),
    # Covering: the dashboards' pass over open reports never visits the table.
    postgresql_include=["region_id", "unit_id", "category", "priority", "first_response_at"],
)
# Open reports with no first response yet: the dashboards read each of them (their ages enter
# the medians "so far"), and there are far fewer of them than open reports.
Index(
    "ix_reports_waiting_submitted",
    Report.submitted_at,
    sqlite_where=text(f"{OPEN_STATUS_SQL} AND first_response_at IS NULL"),
    postgresql_where=text(f"{OPEN_STATUS_SQL} AND first_response_at IS NULL"),
    postgresql_include=["region_id", "unit_id", "category", "priority"],
)
# A cluster (reports sharing a URL) newest first, read from the index a page at a time.
Index("ix_report_urls_url_index_report", ReportURL.url_index, ReportURL.report_id)


class TraceCount(Base):
    """How many reports of one unit name one URL (``ReportURL.url_index``; a report counts once
    per distinct URL), kept by the write path (``portal.services.trace_counts``), so that the
    size of a cluster is read per unit whatever its size. A counter that falls to zero stays
    until ``portal stats rebuild``."""

    __tablename__ = "trace_counts"

    url_index: Mapped[str] = mapped_column(String(64), primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), primary_key=True)
    reports: Mapped[int] = mapped_column(Integer, default=0)


# --- officer alerts --------------------------------------------------------------------------


class OfficerAlertSettings(Base):
    """What reaches one staff member, and where: content-free alerts about their units' queues.

    No row means off duty: nothing is sent until the officer says so on their alerts page. The
    address is staff data (a work mailbox), not a reporter's.
    """

    __tablename__ = "officer_alert_settings"

    officer_id: Mapped[int] = mapped_column(
        ForeignKey("officers.id", ondelete="CASCADE"), primary_key=True
    )
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    email: Mapped[str | None] = mapped_column(String(254))
    # The language the alerts are written in.
    language: Mapped[str] = mapped_column(String(8), default="ar")
    urgent: Mapped[bool] = mapped_column(Boolean, default=True)
    reply: Mapped[bool] = mapped_column(Boolean, default=True)
    sla: Mapped[bool] = mapped_column(Boolean, default=True)
    digest: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertSlaMark(Base):
    """A report whose first-response deadline was announced once: never twice."""

    __tablename__ = "alert_sla_marks"

    report_id: Mapped[int] = mapped_column(
        ForeignKey("reports.id", ondelete="CASCADE"), primary_key=True
    )
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertDigestMark(Base):
    """A unit's daily digest for one local day, taken by the run that sends it."""

    __tablename__ = "alert_digest_marks"

    unit_id: Mapped[int] = mapped_column(
        ForeignKey("units.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
