"""Shared fixtures: a real instance directory, a migrated database, the app and its client.

The suite runs on SQLite by default; with ``PORTAL_TEST_DATABASE_URL`` it runs on that database
(PostgreSQL in CI). The schema always comes from the alembic migrations, never ``create_all``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from portal import create_app
from portal.crypto.keyring import Keyring
from portal.db import make_engine
from tests.support.instances import (
    TEST_DATABASE_URL,
    base_test_config,
    empty_case_database,
    new_instance,
    prepare_database,
    reset_postgres_schema,
)


@pytest.fixture(scope="session")
def template_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with reference data, copied for each test (fast and isolated)."""
    path = tmp_path_factory.mktemp("template") / "portal.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    prepare_database(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine | None]:
    if not TEST_DATABASE_URL:
        yield None
        return
    engine = make_engine(TEST_DATABASE_URL)
    reset_postgres_schema(engine)
    prepare_database(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def instance_path(tmp_path: Path) -> Path:
    return new_instance(tmp_path)


@pytest.fixture
def database_url(
    instance_path: Path, template_sqlite: Path, postgres_engine: Engine | None
) -> Iterator[str]:
    with empty_case_database(instance_path, template_sqlite, postgres_engine) as url:
        yield url


@pytest.fixture
def app_config(instance_path: Path, database_url: str) -> dict[str, object]:
    """Override in a test module to change settings before the app is built."""
    return base_test_config(instance_path, database_url)


class SharedTemplateCode(BytecodeCache):
    """Compiled templates kept for the whole run: every test builds its app, whose Jinja
    environment would otherwise parse and compile each page it renders again. The apps are built
    alike, and a bucket is keyed by the template's file and checked against its source."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self.code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = SharedTemplateCode()


@pytest.fixture
def app(app_config: dict[str, object]) -> Iterator[Flask]:
    application = create_app(dict(app_config))
    application.jinja_env.bytecode_cache = TEMPLATE_CODE
    yield application
    application.extensions["db_engine"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session outside any request, for arranging and inspecting data."""
    factory = app.extensions["db_sessionmaker"]
    with factory() as session:
        yield session


@pytest.fixture
def keyring(app: Flask) -> Keyring:
    return app.extensions["keyring"]


# S3: a local S3-compatible server (moto), started once and only for tests that ask for it.


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials only: nothing from the machine's own AWS setup may leak in."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


@pytest.fixture
def s3_admin(s3_endpoint: str, aws_env: None) -> Any:
    """A plain client to set up buckets and look behind the store's back."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture
def bucket(s3_admin: Any) -> str:
    import uuid

    name = f"evidence-{uuid.uuid4().hex[:12]}"
    s3_admin.create_bucket(Bucket=name)
    return name
