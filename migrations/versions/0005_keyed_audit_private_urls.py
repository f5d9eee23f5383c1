"""keyed audit chain; reported URLs encrypted and linked by blind indexes

Revision ID: 0005_keyed_audit_private_urls
Revises: 0004_queue_category
Create Date: 2026-12-04 14:40:00.000000

Audit entries get a MAC under the audit key instead of a plain SHA-256 link. An existing chain
is re-keyed from its first entry: each entry gets a MAC under the re-keying tag, then an
``audit.rekeyed`` entry records how many entries that covers and the old unkeyed head.

Reported URLs (original, normalised and host) are encrypted with the keyring and found by keyed
blind indexes of the normalised URL and of the host, instead of being stored in clear with an
unkeyed digest. Existing URLs are normalised again from what the reporter typed (hosts now
follow UTS 46 as browsers do); one the current rules refuse keeps its earlier normalised form.

Converting rows needs the keyring, the index pepper and the audit key, which are not in the
database: ``portal init`` passes them (``portal.services.schema.MigrationSecrets``). Without them
this migration refuses to run on a database holding URLs or audit entries, before changing
anything. It uses the current normaliser, MAC and blind-index code on purpose: the conversion is
to what the portal computes today.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

revision = "0005_keyed_audit_private_urls"
down_revision = "0004_queue_category"
branch_labels = None
depends_on = None

BATCH = 500

report_urls_old = sa.table(
    "report_urls",
    sa.column("id", sa.Integer),
    sa.column("report_id", sa.Integer),
    sa.column("position", sa.Integer),
    sa.column("original", sa.Text),
    sa.column("normalized", sa.Text),
    sa.column("host", sa.String),
    sa.column("digest", sa.String),
    sa.column("original_enc", sa.LargeBinary),
    sa.column("normalized_enc", sa.LargeBinary),
    sa.column("host_enc", sa.LargeBinary),
    sa.column("url_index", sa.String),
    sa.column("host_index", sa.String),
)
reports = sa.table("reports", sa.column("id", sa.Integer), sa.column("reference", sa.String))
audit_events = sa.table(
    "audit_events",
    sa.column("id", sa.Integer),
    sa.column("at", sa.DateTime),
    sa.column("actor", sa.String),
    sa.column("action", sa.String),
    sa.column("subject", sa.String),
    sa.column("details", sa.Text),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
    sa.column("prev_mac", sa.String),
    sa.column("mac", sa.String),
)

# The table once its unkeyed columns are gone.
audit_events_new = sa.table(
    "audit_events",
    *(sa.column(c.name, c.type) for c in audit_events.c if c.name not in ("prev_hash", "hash")),
)


def _secrets(connection: sa.Connection, direction: str):  # type: ignore[no-untyped-def]
    from portal.services.schema import SECRETS_ATTRIBUTE

    secrets = context.config.attributes.get(SECRETS_ATTRIBUTE)
    if secrets is not None:
        return secrets
    rows = connection.execute(sa.select(sa.func.count()).select_from(report_urls_old)).scalar()
    if direction == "upgrade":
        rows = (
            rows
            or connection.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar()
        )
    if rows:
        raise RuntimeError(
            "This migration converts reported URLs and audit entries with the instance secrets: "
            "run it with `portal init` (it upgrades an existing instance), not without them."
        )
    return None


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def upgrade() -> None:
    connection = op.get_bind()
    secrets = _secrets(connection, "upgrade")

    with op.batch_alter_table("report_urls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("normalized_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("host_enc", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("url_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("host_index", sa.String(length=64), nullable=True))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_mac", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))

    marker = None
    if secrets is not None:
        _encrypt_urls(connection, secrets)
        marker = _rekey_audit_chain(connection, secrets.audit_key)

    with op.batch_alter_table("report_urls", schema=None) as batch_op:
        batch_op.drop_index("ix_report_urls_digest")
        batch_op.drop_index("ix_report_urls_host")
        batch_op.drop_column("original")
        batch_op.drop_column("normalized")
        batch_op.drop_column("host")
        batch_op.drop_column("digest")
        for name in ("original_enc", "normalized_enc", "host_enc"):
            batch_op.alter_column(name, existing_type=sa.LargeBinary(), nullable=False)
        for name in ("url_index", "host_index"):
            batch_op.alter_column(name, existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_report_urls_url_index"), ["url_index"], unique=False)
        batch_op.create_index(batch_op.f("ix_report_urls_host_index"), ["host_index"], unique=False)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_events_hash", type_="unique")
        batch_op.drop_constraint("uq_audit_events_prev_hash", type_="unique")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
    if marker is not None:
        connection.execute(audit_events_new.insert().values(**marker))
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        for name in ("prev_mac", "mac"):
            batch_op.alter_column(name, existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_mac"), ["mac"])
        batch_op.create_unique_constraint(batch_op.f("uq_audit_events_prev_mac"), ["prev_mac"])


def _encrypt_urls(connection: sa.Connection, secrets) -> None:  # type: ignore[no-untyped-def]
    from portal.domain.urlnorm import InvalidURL, normalize_url
    from portal.services.reports import host_index, report_url_context, url_index

    kept_as_before = 0
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(report_urls_old, reports.c.reference)
            .join(reports, reports.c.id == report_urls_old.c.report_id)
            .where(report_urls_old.c.id > last_id)
            .order_by(report_urls_old.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            try:
                url = normalize_url(row.original)
                normalized, host = url.normalized, url.host
            except InvalidURL:
                normalized, host = row.normalized, row.host
                kept_as_before += 1

            def seal(value: str, column: str, row=row) -> bytes:  # type: ignore[no-untyped-def]
                context_text = report_url_context(row.reference, row.position, column)
                return secrets.keyring.encrypt_field(value, context_text)

            connection.execute(
                report_urls_old.update()
                .where(report_urls_old.c.id == row.id)
                .values(
                    original_enc=seal(row.original, "original"),
                    normalized_enc=seal(normalized, "normalized"),
                    host_enc=seal(host, "host"),
                    url_index=url_index(secrets.indexer, normalized),
                    host_index=host_index(secrets.indexer, host),
                )
            )
        last_id = rows[-1].id
    if kept_as_before:
        print(f"  {kept_as_before} reported URL(s) refused by today's rules kept their old form")


def _rekey_audit_chain(connection: sa.Connection, key: bytes) -> dict[str, object] | None:
    """MAC every existing entry under the re-keying tag; return the entry that says so."""
    from portal.services.audit import GENESIS_MAC, REKEYED_ACTION, REKEYED_TAG, entry_mac

    prev_mac = GENESIS_MAC
    count = 0
    first_id = last_id = 0
    unkeyed_head = None
    while True:
        rows = connection.execute(
            sa.select(audit_events)
            .where(audit_events.c.id > last_id)
            .order_by(audit_events.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            break
        for row in rows:
            mac = entry_mac(
                key,
                prev_mac,
                _aware(row.at),
                row.actor,
                row.action,
                row.subject,
                row.details,
                tag=REKEYED_TAG,
            )
            connection.execute(
                audit_events.update()
                .where(audit_events.c.id == row.id)
                .values(prev_mac=prev_mac, mac=mac)
            )
            prev_mac = mac
            first_id = first_id or row.id
            last_id = row.id
            unkeyed_head = row.hash
            count += 1
    if not count:
        return None
    now = datetime.now(UTC)
    details = json.dumps(
        {"entries": count, "first_id": first_id, "last_id": last_id, "unkeyed_head": unkeyed_head},
        sort_keys=True,
    )
    fields = ("system:migration", REKEYED_ACTION, "audit:chain", details)
    return {
        "at": now.replace(tzinfo=None),
        "actor": fields[0],
        "action": fields[1],
        "subject": fields[2],
        "details": fields[3],
        "prev_mac": prev_mac,
        "mac": entry_mac(key, prev_mac, now, *fields),
    }


def downgrade() -> None:
    connection = op.get_bind()
    secrets = _secrets(connection, "downgrade")

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("report_urls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("original", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("normalized", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("host", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("digest", sa.String(length=64), nullable=True))

    _unkeyed_audit_chain(connection)
    if secrets is not None:
        _decrypt_urls(connection, secrets)

    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_audit_events_mac", type_="unique")
        batch_op.drop_constraint("uq_audit_events_prev_mac", type_="unique")
        batch_op.drop_column("mac")
        batch_op.drop_column("prev_mac")
        for name in ("prev_hash", "hash"):
            batch_op.alter_column(name, existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint("uq_audit_events_hash", ["hash"])
        batch_op.create_unique_constraint("uq_audit_events_prev_hash", ["prev_hash"])
    with op.batch_alter_table("report_urls", schema=None) as batch_op:
        batch_op.drop_index("ix_report_urls_url_index")
        batch_op.drop_index("ix_report_urls_host_index")
        for name in ("original_enc", "normalized_enc", "host_enc", "url_index", "host_index"):
            batch_op.drop_column(name)
        batch_op.alter_column("original", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("normalized", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column("host", existing_type=sa.String(length=255), nullable=False)
        batch_op.alter_column("digest", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index("ix_report_urls_digest", ["digest"], unique=False)
        batch_op.create_index("ix_report_urls_host", ["host"], unique=False)


def _unkeyed_audit_chain(connection: sa.Connection) -> None:
    """The plain SHA-256 chain of revision 0004 (no key needed to compute it)."""
    prev = "0" * 64
    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(audit_events)
            .where(audit_events.c.id > last_id)
            .order_by(audit_events.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            payload = json.dumps(
                [
                    prev,
                    _aware(row.at).isoformat(timespec="microseconds"),
                    row.actor,
                    row.action,
                    row.subject,
                    row.details,
                ],
                ensure_ascii=False,
                separators=(",", ":"),
            )
            digest = hashlib.sha256(payload.encode()).hexdigest()
            connection.execute(
                audit_events.update()
                .where(audit_events.c.id == row.id)
                .values(prev_hash=prev, hash=digest)
            )
            prev = digest
        last_id = rows[-1].id


def _decrypt_urls(connection: sa.Connection, secrets) -> None:  # type: ignore[no-untyped-def]
    from portal.services.reports import report_url_context

    last_id = 0
    while True:
        rows = connection.execute(
            sa.select(report_urls_old, reports.c.reference)
            .join(reports, reports.c.id == report_urls_old.c.report_id)
            .where(report_urls_old.c.id > last_id)
            .order_by(report_urls_old.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:

            def unseal(column: str, row=row) -> str:  # type: ignore[no-untyped-def]
                return secrets.keyring.decrypt_field(
                    getattr(row, f"{column}_enc"),
                    report_url_context(row.reference, row.position, column),
                )

            normalized = unseal("normalized")
            connection.execute(
                report_urls_old.update()
                .where(report_urls_old.c.id == row.id)
                .values(
                    original=unseal("original"),
                    normalized=normalized,
                    host=unseal("host"),
                    digest=hashlib.sha256(normalized.encode("utf-8")).hexdigest(),
                )
            )
        last_id = rows[-1].id
