"""Run the alembic migrations programmatically: they are the only source of the schema."""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from portal.config import resource_dir
from portal.crypto.blind_index import BlindIndexer
from portal.crypto.keyring import Keyring

MIGRATIONS_DIR = resource_dir("migrations")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


# Key under which migrations that convert data find the instance secrets.
SECRETS_ATTRIBUTE = "portal_secrets"


@dataclass(frozen=True)
class MigrationSecrets:
    """What a data migration may need: none of it is in the database, so the caller passes it.

    ``portal init`` (which also upgrades an existing instance) passes them; a migration that
    has rows to convert and gets none refuses, before changing anything, rather than leave
    data half-converted.
    """

    keyring: Keyring
    indexer: BlindIndexer
    audit_key: bytes


def upgrade(
    engine: Engine, revision: str = "head", *, secrets: MigrationSecrets | None = None
) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes[SECRETS_ATTRIBUTE] = secrets
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str, *, secrets: MigrationSecrets | None = None) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        config.attributes[SECRETS_ATTRIBUTE] = secrets
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
