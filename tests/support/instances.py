"""Instances and databases for the tests: the secrets of an instance directory, a migrated
database with reference data and no case data, and the configuration of a test app."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from portal.crypto.instance_secrets import ensure_secrets
from portal.crypto.keyring import create_master_key
from portal.db import make_session_factory
from portal.models import Base
from portal.services import schema
from portal.services.reference_data import sync_reference_data
from tests.support.staff import CHEAP_PASSWORD_HASHING

REFERENCE_TABLES = {"regions", "subdivisions", "units", "routing_rules", "alembic_version"}
TEST_DATABASE_URL = os.environ.get("PORTAL_TEST_DATABASE_URL")


def prepare_database(engine: Engine) -> None:
    schema.upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as session:
        sync_reference_data(session)
        session.commit()


def reset_postgres_schema(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))


def truncate_case_data(engine: Engine) -> None:
    """Empty every table but the reference data, so each test starts from a clean case load.

    On PostgreSQL a TRUNCATE, not a DELETE: a DELETE is cheaper but leaves dead rows and the
    planner statistics of earlier tests behind, and the tests that check query plans then see
    another index chosen depending on what ran before them and when autovacuum passed.
    """
    tables = [t.name for t in Base.metadata.sorted_tables if t.name not in REFERENCE_TABLES]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                connection.execute(text(f"DELETE FROM {name}"))


def new_instance(parent: Path) -> Path:
    """An instance directory with its secrets and master key."""
    path = parent / "instance"
    path.mkdir(mode=0o700)
    ensure_secrets(path)
    create_master_key(path)
    return path


@contextmanager
def empty_case_database(
    instance_path: Path, template_sqlite: Path, postgres_engine: Engine | None
) -> Iterator[str]:
    """The URL of a migrated database with reference data and no case data, emptied again
    after use: a copy of the template on SQLite, the test database on PostgreSQL."""
    if postgres_engine is not None:
        truncate_case_data(postgres_engine)
        yield TEST_DATABASE_URL  # type: ignore[misc]
        truncate_case_data(postgres_engine)
        return
    target = instance_path / "portal.sqlite3"
    shutil.copyfile(template_sqlite, target)
    yield f"sqlite:///{target}"


def base_test_config(instance_path: Path, database_url: str) -> dict[str, object]:
    return {
        "TESTING": True,
        "INSTANCE_PATH": str(instance_path),
        "DATABASE_URL": database_url,
        "EVIDENCE_STORE": f"file://{instance_path / 'evidence'}",
        "RATELIMIT_STORAGE_URI": "memory://",
        # Cheap receipt hashing in tests; production parameters are the defaults.
        "RECEIPT_ARGON2_TIME_COST": 1,
        "RECEIPT_ARGON2_MEMORY_KIB": 256,
        **CHEAP_PASSWORD_HASHING,
        # Limits are exercised by tests/security with this switched on.
        "RATELIMIT_ENABLED": False,
    }
