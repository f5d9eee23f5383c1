"""An empty database for a migration test: a schema of its own on the test PostgreSQL (the shared
test database is left alone), or a SQLite file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from portal.db import make_engine


@contextmanager
def empty_database(name: str, tmp_path: Path) -> Iterator[Engine]:
    url = os.environ.get("PORTAL_TEST_DATABASE_URL")
    if url:
        engine = make_engine(url, connect_args={"options": f"-csearch_path={name}"})
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            connection.execute(text(f"CREATE SCHEMA {name}"))
        try:
            yield engine
        finally:
            with engine.begin() as connection:
                connection.execute(text(f"DROP SCHEMA IF EXISTS {name} CASCADE"))
            engine.dispose()
    else:
        engine = make_engine(f"sqlite:///{tmp_path / f'{name}.sqlite3'}")
        try:
            yield engine
        finally:
            engine.dispose()
