"""``portal keys``: rotate, retire and list the master keys."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.crypto.keyring import ENV_MASTER_KEYS, Keyring, KeyringError, create_master_key
from portal.db import get_session
from portal.services import audit
from portal.services.key_rotation import key_usage, retire, rewrap_all
from portal.web.context import keyring as app_keyring


def _env_keys_in_use(env: Mapping[str, str]) -> bool:
    return bool(env.get(ENV_MASTER_KEYS, "").strip())


@click.group("keys")
def keys_group() -> None:
    """Master keys: rotate, retire, show usage."""


@keys_group.command("rotate")
@click.option(
    "--resume",
    is_flag=True,
    help="Do not create a new key; finish re-wrapping under the active one.",
)
@with_appcontext
def rotate_command(resume: bool) -> None:
    """Create a new active master key and re-wrap every file key and encrypted field under it."""
    instance = Path(current_app.instance_path)
    created = False
    if not resume:
        if _env_keys_in_use(os.environ):
            raise click.ClickException(
                f"Master keys come from {ENV_MASTER_KEYS}: add a new key there, make it active "
                "with PORTAL_ACTIVE_KEY_ID, restart, then run `portal keys rotate --resume`."
            )
        kid = create_master_key(instance)
        created = True
        click.echo(f"Created master key {kid} (0600) and made it active.")
    keyring = Keyring.load(instance, os.environ)
    # Later commands of this process use the new key at once.
    current_app.extensions["keyring"] = keyring
    session = get_session()
    result = rewrap_all(session, keyring)
    audit.record(
        session,
        actor="admin:cli",
        action="keys.rotated",
        subject=f"key:{keyring.active_id}",
        details={
            "created": created,
            "rewrapped_file_keys": result.rewrapped_keys,
            "reencrypted": result.reencrypted,
        },
    )
    session.commit()
    click.echo(
        f"Re-wrapped {result.rewrapped_keys} evidence file key(s) under {keyring.active_id}."
    )
    for name, count in result.reencrypted.items():
        click.echo(f"  re-encrypted {count} {name} value(s)")
    old = [kid for kid in keyring.key_ids if kid != keyring.active_id]
    if old:
        click.echo(f"Old keys no longer needed: {', '.join(old)} (`portal keys retire KID`).")
    if _env_keys_in_use(os.environ):
        click.echo("Restart the app servers and workers with the new PORTAL_MASTER_KEYS.")
    else:
        click.echo(
            "Running app servers and workers use the new key from their next request or job "
            f"(they watch {instance / 'keys'}); no restart needed."
        )


@keys_group.command("retire")
@click.argument("kid")
@with_appcontext
def retire_command(kid: str) -> None:
    """Delete an old master key file, refusing while anything is still sealed under it."""
    try:
        removed = retire(get_session(), Path(current_app.instance_path), kid)
    except KeyringError as error:
        raise click.ClickException(str(error)) from error
    if removed:
        click.echo(f"Retired master key {kid}.")
    else:
        click.echo(f"No key file for {kid}; nothing to do.")


@keys_group.command("status")
@with_appcontext
def status_command() -> None:
    """List the loaded master keys and how much data each one still protects."""
    ring = app_keyring()
    usage = key_usage(get_session())
    for kid in ring.key_ids:
        marker = " (active)" if kid == ring.active_id else ""
        click.echo(f"{kid}{marker}: {usage.get(kid, 0)} item(s)")
    for kid in sorted(set(usage) - set(ring.key_ids)):
        click.echo(f"{kid} (NOT LOADED): {usage[kid]} item(s)")
