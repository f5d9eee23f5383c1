"""Offender traces at rest: a copy of the database shows no reported URL, no reported site,
and gives no way to test whether a given URL was reported; officers still read them and still
see which reports share one."""

from __future__ import annotations

import hashlib
import os
import subprocess

import pytest
from sqlalchemy import Engine, inspect, select, table, text
from sqlalchemy.engine import make_url

from portal.crypto.blind_index import BlindIndexer
from portal.models import Report, ReportURL
from portal.services.reports import report_urls
from tests.support.staff import make_officer, sign_in
from tests.support.web import submit_and_get_receipt

# A victim's own album on a small site: the kind of URL a leak must not reveal.
TYPED = "HTTPS://Amina-Berrada-Photos.example.ma/album/7f3a9c?utm_source=wa#top"
TYPED_AGAIN = "amina-berrada-photos.example.ma/album/7f3a9c"
NORMALIZED = "https://amina-berrada-photos.example.ma/album/7f3a9c"
HOST = "amina-berrada-photos.example.ma"


def _needles() -> list[bytes]:
    values = [TYPED, TYPED_AGAIN, NORMALIZED, HOST, "amina-berrada", "album/7f3a9c"]
    needles = [value.encode() for value in values] + [value.lower().encode() for value in values]
    # Nor the unkeyed digest that would let anyone confirm a guess.
    needles.append(hashlib.sha256(NORMALIZED.encode()).hexdigest().encode())
    return needles


def _dump_database(engine: Engine) -> bytes:
    """Every column of every row of every table, as text and bytes."""
    chunks: list[bytes] = []
    with engine.connect() as connection:
        for name in inspect(engine).get_table_names():
            columns = [c["name"] for c in inspect(engine).get_columns(name)]
            query = select(*[text(f'"{c}"') for c in columns]).select_from(table(name))
            for row in connection.execute(query):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def _full_dump(app, engine) -> bytes:
    """What an attacker copying the database gets: pg_dump, or the SQLite files themselves."""
    url = make_url(app.config["DATABASE_URL"])
    if url.get_backend_name() == "postgresql":
        plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
        dumped = subprocess.run(
            ["pg_dump", "--data-only", plain], check=True, capture_output=True, timeout=120
        ).stdout
        return dumped + _dump_database(engine)
    files = [url.database + suffix for suffix in ("", "-wal", "-shm")]
    raw = b"".join(open(name, "rb").read() for name in files if os.path.exists(name))  # noqa: SIM115
    return raw + _dump_database(engine)


@pytest.fixture
def reported(app, client):
    first, _ = submit_and_get_receipt(client, urls=TYPED, platform="website", category="fraud")
    second, _ = submit_and_get_receipt(client, urls=TYPED_AGAIN, platform="website")
    other, _ = submit_and_get_receipt(client, territory="MA-CAS")
    return first, second, other


def test_a_database_dump_holds_no_reported_url_nor_its_site(app, db, reported):
    dump = _full_dump(app, app.extensions["db_engine"])
    assert reported[0].encode() in dump  # the dump holds the reports (references are plain)
    for needle in _needles():
        assert needle not in dump, f"{needle!r} found in the database"


def test_reports_naming_one_url_share_a_keyed_index(app, db, keyring, reported):
    first, second, other = reported
    rows = {
        reference: db.scalars(
            select(ReportURL).join(Report).where(Report.reference == reference)
        ).one()
        for reference in reported
    }
    indexer = app.extensions["blind_indexer"]
    assert rows[first].url_index == rows[second].url_index == indexer.index("url", NORMALIZED)
    assert rows[first].host_index == indexer.index("host", HOST)
    assert rows[other].url_index != rows[first].url_index
    # Without the pepper, the index of a guessed URL cannot be computed.
    assert BlindIndexer(os.urandom(32)).index("url", NORMALIZED) != rows[first].url_index
    report = db.scalars(select(Report).where(Report.reference == first)).one()
    [url] = report_urls(report, keyring)
    assert (url.original, url.normalized, url.host) == (TYPED, NORMALIZED, HOST)


def test_officer_reads_the_urls_and_sees_the_cluster(app, db, reported):
    first, second, _ = reported
    _, secret = make_officer(app, db, "amina")
    staff = app.test_client()
    staff.set_cookie("lang", "en")
    sign_in(staff, "amina", secret)
    page = staff.get(f"/officer/reports/{first}").get_data(as_text=True)
    assert "album/7f3a9c?utm_source=wa#top" in page  # what the reporter typed
    assert NORMALIZED in page and HOST in page
    assert second in page  # the other report naming the same URL
    queue = staff.get("/officer/?status=all").get_data(as_text=True)
    assert first in queue
