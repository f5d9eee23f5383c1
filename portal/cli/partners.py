"""``portal partners``: organisations filing through the API, their tokens and webhooks."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from portal.db import get_session
from portal.domain.categories import CATEGORIES
from portal.models import Partner, PartnerToken, utcnow
from portal.services import partners as service
from portal.services import webhooks
from portal.web.context import keyring

ACTOR = "cli"


def _partner(slug: str) -> Partner:
    partner = get_session().scalar(select(Partner).where(Partner.slug == slug))
    if partner is None:
        raise click.ClickException(f"no partner named {slug}")
    return partner


def _issue(partner: Partner, scopes: tuple[str, ...], days: int, label: str) -> None:
    token, clear = service.issue_token(
        get_session(), partner, scopes=scopes, days=days, label=label, actor=ACTOR
    )
    click.echo(
        f"Token {token.public_id} ({' '.join(scopes)}), expires {token.expires_at:%Y-%m-%d}:"
    )
    click.echo(f"  {clear}")
    click.echo("It is shown only now: hand it to the partner over a safe channel.")


@click.group("partners")
def partners_group() -> None:
    """Partners (NGOs, lawyers, platforms) filing through the API."""


@partners_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The organisation's name.")
@click.option("--kind", type=click.Choice(service.KINDS), default="ngo", show_default=True)
@click.option("--email", "contact_email", required=True, help="Contact e-mail address.")
@click.option(
    "--category",
    "categories",
    multiple=True,
    type=click.Choice(sorted(CATEGORIES)),
    help="A category it may file (repeatable; default: all).",
)
@click.option(
    "--accreditation",
    type=click.Choice(service.ACCREDITATIONS),
    default="accredited",
    show_default=True,
)
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(service.SCOPES),
    help="Scope of the first token (repeatable; default: all).",
)
@click.option("--days", default=365, show_default=True, help="Lifetime of the first token.")
@click.option("--no-token", is_flag=True, help="Create the partner without a token.")
@with_appcontext
def create_command(
    slug: str,
    name: str,
    kind: str,
    contact_email: str,
    categories: tuple[str, ...],
    accreditation: str,
    scopes: tuple[str, ...],
    days: int,
    no_token: bool,
) -> None:
    """Create a partner and, unless --no-token, its first API token."""
    session = get_session()
    try:
        partner = service.create_partner(
            session,
            slug=slug,
            name=name,
            kind=kind,
            contact_email=contact_email,
            categories=categories or tuple(CATEGORIES),
            accreditation=accreditation,
            actor=ACTOR,
        )
        click.echo(f"Created partner {partner.slug} (id {partner.id}, {accreditation}).")
        if not no_token:
            _issue(partner, scopes or service.SCOPES, days, "first token")
    except service.PartnerError as error:
        raise click.ClickException(str(error)) from error
    session.commit()


@partners_group.command("token")
@click.argument("slug")
@click.option("--scope", "scopes", multiple=True, type=click.Choice(service.SCOPES))
@click.option("--days", default=365, show_default=True)
@click.option("--label", default="")
@with_appcontext
def token_command(slug: str, scopes: tuple[str, ...], days: int, label: str) -> None:
    """Issue another API token."""
    try:
        _issue(_partner(slug), scopes or service.SCOPES, days, label)
    except service.PartnerError as error:
        raise click.ClickException(str(error)) from error
    get_session().commit()


@partners_group.command("revoke")
@click.argument("public_id")
@with_appcontext
def revoke_command(public_id: str) -> None:
    """Revoke a token by its public id (the part after ``ptk_``)."""
    session = get_session()
    token = session.scalar(select(PartnerToken).where(PartnerToken.public_id == public_id))
    if token is None:
        raise click.ClickException(f"no token {public_id}")
    service.revoke_token(session, token, actor=ACTOR)
    session.commit()
    click.echo(f"Revoked token {public_id}.")


@partners_group.command("list")
@with_appcontext
def list_command() -> None:
    """Partners, their tokens and their accuracy."""
    now = utcnow()
    for figures in service.partner_figures(get_session()):
        partner = figures.partner
        accuracy = "-" if figures.accuracy is None else f"{figures.accuracy:.0%}"
        click.echo(
            f"{partner.slug}: {partner.name} ({partner.kind}, {partner.accreditation}); "
            f"filings {figures.filings}, open {figures.open}, accuracy {accuracy}"
        )
        for token in partner.tokens:
            state = (
                "revoked"
                if token.revoked_at
                else "expired"
                if token.expires_at <= now
                else f"until {token.expires_at:%Y-%m-%d}"
            )
            click.echo(f"  token {token.public_id} [{token.scopes}] {state}")


@partners_group.command("deliver-webhooks")
@click.option("--limit", default=100, show_default=True, help="Most events to send in this run.")
@with_appcontext
def deliver_command(limit: int) -> None:
    """Send the webhook events that are due, once (a periodic job runs the same function)."""
    run = webhooks.deliver_due_webhooks(
        get_session(),
        keyring=keyring(),
        limit=limit,
        allow_local_http=bool(current_app.config.get("WEBHOOK_ALLOW_LOCAL_HTTP")),
    )
    click.echo(
        f"Webhook events delivered: {run.delivered}; failed, to retry: {run.failed}; "
        f"abandoned: {run.abandoned}."
    )
