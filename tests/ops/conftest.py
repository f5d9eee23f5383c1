"""Fixtures for the operator's commands: each test gets its own empty database.

On PostgreSQL that is a schema of its own in the test database (the URL names it through
``search_path``), so a command that migrates or restores never touches the shared schema.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from portal.db import make_engine

TEST_DATABASE_URL = os.environ.get("PORTAL_TEST_DATABASE_URL")


def _with_schema(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options=-csearch_path%3D{schema}"


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables."""
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    schema = f"ops_{uuid.uuid4().hex[:10]}"
    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield _with_schema(TEST_DATABASE_URL, schema)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def second_empty_database(tmp_path: Path) -> Iterator[str]:
    if not TEST_DATABASE_URL:
        yield f"sqlite:///{tmp_path / 'second.sqlite3'}"
        return
    schema = f"ops_{uuid.uuid4().hex[:10]}"
    admin = make_engine(TEST_DATABASE_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    yield _with_schema(TEST_DATABASE_URL, schema)
    with admin.begin() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()
