"""Run the alembic migrations programmatically: they are the only source of the schema."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent.parent / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str) -> None:
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
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
