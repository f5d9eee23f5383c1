"""Run the alembic migrations programmatically: they are the only source of the schema."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

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


@contextmanager
def _migrating(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction for migrations. On SQLite, foreign keys are off meanwhile:
    a batch migration rebuilds a table by copying it and dropping the old one, and with foreign
    keys on that drop would cascade and delete the rows that point to it."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()  # ends SQLAlchemy's autobegun transaction (no BEGIN was sent)
        try:
            with connection.begin():
                yield connection
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def upgrade(
    engine: Engine, revision: str = "head", *, secrets: MigrationSecrets | None = None
) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with _migrating(engine) as connection:
        config.attributes["connection"] = connection
        config.attributes[SECRETS_ATTRIBUTE] = secrets
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str, *, secrets: MigrationSecrets | None = None) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with _migrating(engine) as connection:
        config.attributes["connection"] = connection
        config.attributes[SECRETS_ATTRIBUTE] = secrets
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


# Tables whose rows only people put there (reference data is loaded by ``portal init``).
DATA_TABLES = ("reports", "officers", "audit_events", "evidence")


def data_counts(engine: Engine) -> dict[str, int]:
    """Rows in the tables that hold real data; all zero for a missing or empty schema."""
    from sqlalchemy import func, inspect, select, table

    present = set(inspect(engine).get_table_names())
    counts: dict[str, int] = dict.fromkeys(DATA_TABLES, 0)
    with engine.connect() as connection:
        for name in DATA_TABLES:
            if name in present:
                query = select(func.count()).select_from(table(name))
                counts[name] = int(connection.execute(query).scalar_one())
    return counts


def revision_of(connection: Connection) -> str | None:
    """The revision seen by an open connection (inside its transaction)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()
