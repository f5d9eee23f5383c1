"""Backups and restores: the database, the evidence store, and the keys, kept apart.

A backup is two files:

- the **archive** (tar, 0600): ``manifest.json``, ``database.jsonl.gz`` (every table's rows,
  portable between SQLite and PostgreSQL, from one consistent snapshot) and ``evidence/<blob>``
  (each evidence blob exactly as stored, still encrypted);
- the **keys file** (JSON, 0600, ``portal.services.keys_file``): the master keys and the
  instance secrets (Flask secret key, receipt and index peppers, audit key), encrypted under the
  operator's passphrase. Without it the archive cannot be read: every file key is wrapped by a
  master key, every receipt check needs the pepper.

Anyone holding both, and the passphrase, reads every report, so the files must never be stored
together; the command refuses to write them into the same directory. The manifest records
fingerprints (SHA-256 prefixes) of every key and secret the data needs, and so does the keys
file's header, so a restore refuses a keys file that is missing one or holds different ones
before it asks for the passphrase, and before it writes anything.

Database snapshot: SQLite is first copied with SQLite's online backup API (a consistent copy
while the portal runs), PostgreSQL is read in one ``REPEATABLE READ`` transaction. Evidence
blobs are copied after the snapshot: those the snapshot names and the store still holds (a blob
purged in between is listed as missing; its report is gone from the live data too).

A restore goes into an empty database (no rows; the schema is created at the backup's revision,
then migrated to head) and writes the blobs through the configured store (file or S3), all or
nothing: on failure the blobs it wrote are deleted and the database transaction rolled back.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import sqlite3
import tarfile
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, Engine, Integer, MetaData, Table, func, select, text
from sqlalchemy.orm import Session

from portal.crypto.keyring import write_new_private_file
from portal.db import make_engine
from portal.services import schema
from portal.services.key_rotation import key_usage
from portal.services.keys_file import Fingerprints, KeyMaterial, seal_keys
from portal.storage.blobs import BlobNotFound, BlobStore, check_blob_key

FORMAT = "eblagh-backup/1"
MANIFEST = "manifest.json"
DATABASE = "database.jsonl.gz"
EVIDENCE_DIR = "evidence/"
SKIPPED_TABLES = {"alembic_version"}
_BATCH = 500


class BackupError(Exception):
    """A backup or restore cannot go ahead; nothing was changed."""


class KeysMissing(BackupError):
    """The keys lack a key or secret the backup needs, or hold different ones."""


@dataclass
class BackupSummary:
    archive: Path
    keys_file: Path
    revision: str | None
    tables: dict[str, int] = field(default_factory=dict)
    evidence_files: int = 0
    evidence_bytes: int = 0
    missing_blobs: list[str] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)


@dataclass
class RestoreSummary:
    revision: str | None
    tables: dict[str, int] = field(default_factory=dict)
    evidence_files: int = 0


# --- values in the portable dump ---------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, date):
        return {"$d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"$n": str(value)}
    if isinstance(value, dict | list):
        return {"$j": value}
    return value


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if "$b" in value:
        return base64.b64decode(value["$b"])
    if "$dt" in value:
        return datetime.fromisoformat(value["$dt"])
    if "$d" in value:
        return date.fromisoformat(value["$d"])
    if "$n" in value:
        return Decimal(value["$n"])
    return value["$j"]


# --- backup ------------------------------------------------------------------------------------


def _private_temp(directory: Path, suffix: str) -> Path:
    fd, name = tempfile.mkstemp(prefix=".portal-backup-", suffix=suffix, dir=directory)
    os.close(fd)
    return Path(name)


def _snapshot_sqlite(engine: Engine, directory: Path) -> Path:
    """A consistent copy of a live SQLite database (SQLite's online backup API)."""
    copy = _private_temp(directory, ".sqlite3")
    source = sqlite3.connect(str(engine.url.database))
    target = sqlite3.connect(str(copy))
    try:
        with target:
            source.backup(target)
    finally:
        source.close()
        target.close()
    return copy


def _dump(connection: Connection, out: IO[str], summary: BackupSummary) -> list[str]:
    """Write every table's rows; return the evidence blob keys the snapshot names."""
    metadata = MetaData()
    metadata.reflect(bind=connection)
    blob_keys: list[str] = []
    for table in metadata.sorted_tables:
        if table.name in SKIPPED_TABLES:
            continue
        columns = [column.name for column in table.columns]
        out.write(json.dumps({"table": table.name, "columns": columns}) + "\n")
        order = list(table.primary_key.columns) or list(table.columns)
        count = 0
        result = connection.execution_options(yield_per=_BATCH).execute(
            select(table).order_by(*order)
        )
        for row in result:
            out.write(json.dumps([_encode(value) for value in row]) + "\n")
            if table.name == "evidence":
                blob_keys.append(row._mapping["blob_key"])
            count += 1
        summary.tables[table.name] = count
    return blob_keys


def _add_file(tar: tarfile.TarFile, name: str, path: Path) -> None:
    info = tar.gettarinfo(str(path), arcname=name)
    info.mode, info.uid, info.gid, info.uname, info.gname = 0o600, 0, 0, "", ""
    with path.open("rb") as handle:
        tar.addfile(info, handle)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mtime: float) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o600, mtime
    tar.addfile(info, io.BytesIO(data))


def create_backup(
    engine: Engine,
    store: BlobStore,
    keys: KeyMaterial,
    archive: Path,
    keys_file: Path,
    *,
    passphrase: str,
    now: datetime,
) -> BackupSummary:
    """Write the archive and the keys file sealed under ``passphrase``, both or neither."""
    archive, keys_file = archive.resolve(), keys_file.resolve()
    if archive.parent == keys_file.parent:
        raise BackupError(
            "The keys file must not go into the archive's directory: whoever gets both reads "
            "every report. Write it to another, separately protected place."
        )
    for path in (archive, keys_file):
        if path.exists():
            raise BackupError(f"{path} already exists; nothing was overwritten.")
        if not path.parent.is_dir():
            raise BackupError(f"The directory {path.parent} does not exist.")
    backup_id = uuid.uuid4().hex
    created_at = now.isoformat(timespec="seconds")
    # Sealed first: a refused passphrase or a failing key derivation leaves nothing behind.
    sealed_keys = seal_keys(keys, passphrase, backup_id=backup_id, created_at=created_at)
    summary = BackupSummary(archive=archive, keys_file=keys_file, revision=None)
    partial = archive.with_name(f".{archive.name}.partial")
    temporary: list[Path] = []
    keys_written = False
    try:
        dump = _private_temp(archive.parent, ".jsonl.gz")
        temporary.append(dump)
        if engine.dialect.name == "sqlite":
            copy = _snapshot_sqlite(engine, archive.parent)
            temporary.append(copy)
            snapshot_engine = make_engine(f"sqlite:///{copy}")
            context = snapshot_engine.connect()
        else:
            snapshot_engine = None
            context = engine.connect().execution_options(isolation_level="REPEATABLE READ")
        try:
            with context as connection, connection.begin():
                summary.revision = schema.revision_of(connection)
                with gzip.open(dump, "wt", encoding="utf-8") as out:
                    blob_keys = _dump(connection, out, summary)
                with Session(bind=connection) as session:
                    usage = key_usage(session)
        finally:
            if snapshot_engine is not None:
                snapshot_engine.dispose()
        summary.key_ids = sorted(usage)
        missing_keys = set(usage) - set(keys.master_keys)
        if missing_keys:
            raise KeysMissing(
                f"Data is sealed under master key(s) {', '.join(sorted(missing_keys))} that "
                "this instance does not hold; nothing was written."
            )

        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            _add_file(tar, DATABASE, dump)
            for key in blob_keys:
                blob = _private_temp(archive.parent, ".blob")
                temporary.append(blob)
                try:
                    with blob.open("wb") as handle:
                        for chunk in store.read(key):
                            handle.write(chunk)
                except BlobNotFound:
                    summary.missing_blobs.append(key)
                    continue
                summary.evidence_files += 1
                summary.evidence_bytes += blob.stat().st_size
                _add_file(tar, EVIDENCE_DIR + key, blob)
                blob.unlink()
            manifest = {
                "format": FORMAT,
                "backup_id": backup_id,
                "created_at": created_at,
                "revision": summary.revision,
                "dialect": engine.dialect.name,
                "tables": summary.tables,
                "evidence_files": summary.evidence_files,
                "missing_blobs": summary.missing_blobs,
                "key_ids": summary.key_ids,
                "fingerprints": keys.fingerprints(),
            }
            data = json.dumps(manifest, indent=2, sort_keys=True).encode()
            _add_bytes(tar, MANIFEST, data, now.timestamp())
            raw.flush()
            os.fsync(raw.fileno())
        write_new_private_file(keys_file, sealed_keys)
        keys_written = True
        os.replace(partial, archive)
    except BaseException:
        partial.unlink(missing_ok=True)
        if keys_written:
            keys_file.unlink(missing_ok=True)
        raise
    finally:
        for path in temporary:
            path.unlink(missing_ok=True)
    return summary


# --- restore -----------------------------------------------------------------------------------


def read_manifest(tar: tarfile.TarFile) -> dict[str, Any]:
    try:
        member = tar.extractfile(MANIFEST)
    except KeyError as exc:
        raise BackupError("This is not an archive written by `portal backup`.") from exc
    manifest = json.loads(member.read()) if member else {}
    if manifest.get("format") != FORMAT:
        raise BackupError("This is not an archive written by `portal backup`.")
    return manifest


def read_archive_manifest(archive: Path) -> dict[str, Any]:
    try:
        with tarfile.open(archive, mode="r:") as tar:
            return read_manifest(tar)
    except tarfile.TarError as exc:
        raise BackupError(f"{archive} is not an archive written by `portal backup`.") from exc


def check_keys(manifest: Mapping[str, Any], held: Fingerprints, active_id: str) -> None:
    """Refuse keys that lack, or differ from, what the archive's data was sealed with.

    Only fingerprints are compared: a keys file's header is checked before its passphrase is
    asked for, the opened keys again before anything is written.
    """
    wanted = manifest["fingerprints"]
    problems = []
    for kid in manifest["key_ids"]:
        if kid not in held["master_keys"]:
            problems.append(f"master key {kid} is missing")
        elif wanted["master_keys"].get(kid) != held["master_keys"][kid]:
            problems.append(f"master key {kid} is not the one the data was sealed with")
    for name, fingerprint in wanted["secrets"].items():
        if name not in held["secrets"]:
            problems.append(f"secret {name} is missing")
        elif held["secrets"][name] != fingerprint:
            problems.append(f"secret {name} differs from the backed-up instance's")
    if active_id not in held["master_keys"]:
        problems.append(f"the active master key {active_id} is missing")
    if problems:
        raise KeysMissing(
            "These keys cannot read this backup (" + "; ".join(problems) + "). Nothing was "
            "restored. Use the keys file written with this backup, or a later one."
        )


def _table_rows(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def _insert_table(
    connection: Connection, table: Table, columns: list[str], rows: Iterator[list[Any]]
) -> int:
    # A row may point to a later row of its own table (a report marked as a duplicate of a
    # newer one): such columns are filled in once every row exists.
    self_refs = [
        fk.parent.name
        for fk in table.foreign_keys
        if fk.column.table.name == table.name and fk.parent.name in columns
    ]
    pk = [column.name for column in table.primary_key.columns]
    deferred: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = []
    count = 0
    for raw in rows:
        row = dict(zip(columns, (_decode(value) for value in raw), strict=True))
        if any(row.get(name) is not None for name in self_refs):
            deferred.append({name: row[name] for name in pk + self_refs})
            for name in self_refs:
                row[name] = None
        batch.append(row)
        count += 1
        if len(batch) >= _BATCH:
            connection.execute(table.insert(), batch)
            batch = []
    if batch:
        connection.execute(table.insert(), batch)
    for values in deferred:
        condition = [table.c[name] == values[name] for name in pk]
        connection.execute(
            table.update().where(*condition).values({name: values[name] for name in self_refs})
        )
    return count


def _reset_sequences(connection: Connection, table: Table) -> None:
    """Make PostgreSQL's next generated id follow the restored rows."""
    for column in table.primary_key.columns:
        if not isinstance(column.type, Integer) or column.autoincrement is False:
            continue
        sequence = connection.execute(
            text("SELECT pg_get_serial_sequence(:table, :column)"),
            {"table": table.name, "column": column.name},
        ).scalar_one_or_none()
        highest = connection.execute(select(func.max(column))).scalar_one_or_none()
        if sequence and highest is not None:
            connection.execute(
                text("SELECT setval(:sequence, :value)"), {"sequence": sequence, "value": highest}
            )


def _lines(tar: tarfile.TarFile) -> Iterator[Any]:
    member = tar.extractfile(DATABASE)
    if member is None:
        raise BackupError("The archive holds no database.")
    with gzip.open(member, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def restore_backup(
    engine: Engine, store: BlobStore, archive: Path, keys: KeyMaterial
) -> RestoreSummary:
    with tarfile.open(archive, mode="r:") as tar:
        manifest = read_manifest(tar)
        check_keys(manifest, keys.fingerprints(), keys.active_id)
        blobs = [m for m in tar.getmembers() if m.name.startswith(EVIDENCE_DIR) and m.isfile()]
        for member in blobs:
            key = check_blob_key(member.name[len(EVIDENCE_DIR) :])
            if store.exists(key):
                raise BackupError(f"The evidence store already holds blob {key}; not restoring.")

        current = schema.current_revision(engine)
        if current not in (None, manifest["revision"]):
            raise BackupError(
                f"The database is at revision {current}, the backup at {manifest['revision']}: "
                "restore into an empty database."
            )
        if any(schema.data_counts(engine).values()):
            raise BackupError("The database already holds data; restore into an empty one.")
        schema.upgrade(engine, manifest["revision"])

        summary = RestoreSummary(revision=manifest["revision"])
        written: list[str] = []
        try:
            for member in blobs:
                key = member.name[len(EVIDENCE_DIR) :]
                source = tar.extractfile(member)
                assert source is not None
                with store.open_writer(key) as writer:
                    while chunk := source.read(1024 * 1024):
                        writer.write(chunk)
                    writer.commit()
                written.append(key)
            summary.evidence_files = len(written)
            with engine.begin() as connection:
                _restore_rows(connection, tar, summary)
        except BaseException:
            for key in written:
                store.delete(key)
            raise
    schema.upgrade(engine, "head")
    summary.revision = schema.current_revision(engine)
    return summary


def _restore_rows(connection: Connection, tar: tarfile.TarFile, summary: RestoreSummary) -> None:
    metadata = MetaData()
    metadata.reflect(bind=connection)
    for table in metadata.sorted_tables:
        if table.name not in SKIPPED_TABLES and _table_rows(connection, table):
            raise BackupError(f"The table {table.name} is not empty; restore into an empty one.")
    if connection.dialect.name == "sqlite":
        # Rows of a table arrive in key order; links between tables are checked at commit.
        connection.execute(text("PRAGMA defer_foreign_keys = ON"))
    reader = _TableReader(_lines(tar))
    while (header := reader.next_table()) is not None:
        table = metadata.tables.get(header["table"])
        if table is None:
            raise BackupError(f"The archive holds a table {header['table']!r} the schema lacks.")
        summary.tables[table.name] = _insert_table(
            connection, table, list(header["columns"]), reader.rows()
        )
        if connection.dialect.name == "postgresql":
            _reset_sequences(connection, table)


class _TableReader:
    """Walks the dump: a header object per table, then that table's rows (lists)."""

    def __init__(self, lines: Iterator[Any]) -> None:
        self._lines = lines
        self._header: dict[str, Any] | None = next(lines, None)

    def next_table(self) -> dict[str, Any] | None:
        header, self._header = self._header, None
        return header

    def rows(self) -> Iterator[list[Any]]:
        for item in self._lines:
            if isinstance(item, dict):
                self._header = item
                return
            yield item
