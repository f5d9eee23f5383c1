"""Blob stores: the local directory store and the S3 store against a real (moto) S3 server."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from portal.crypto.keyring import TamperedStream, new_file_key
from portal.crypto.streaming import StreamEncryptor, decrypt_stream
from portal.storage import blobs as storage
from portal.storage.blobs import (
    INCOMING_DIRNAME,
    BlobNotFound,
    BlobStore,
    FileBlobStore,
    InvalidBlobKey,
    S3BlobStore,
    StorageError,
    StorageUnavailable,
    new_blob_key,
    open_store,
)

MiB = 1024 * 1024

BAD_KEYS = [
    "../etc/passwd",
    "../../../../../../etc/passwd",
    "/etc/passwd",
    "",
    "0" * 31,
    "0" * 33,
    "A" * 32,
    "g" * 32,
    "0" * 32 + "\n",
    "0" * 30 + "/.",
    "ab/cd/" + "0" * 26,
    "%2e%2e%2f" + "0" * 23,
]


@pytest.fixture
def s3_store(s3_endpoint: str, bucket: str) -> S3BlobStore:
    store = open_store(
        f"s3://{bucket}/evidence", s3_endpoint_url=s3_endpoint, s3_region="us-east-1"
    )
    assert isinstance(store, S3BlobStore)
    return store


@pytest.fixture
def file_store(tmp_path: Path) -> FileBlobStore:
    store = open_store(f"file://{tmp_path / 'evidence'}")
    assert isinstance(store, FileBlobStore)
    return store


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest) -> BlobStore:
    return request.getfixturevalue(f"{request.param}_store")


def put(store: BlobStore, data: bytes, piece: int = 64 * 1024) -> str:
    key = new_blob_key()
    with store.open_writer(key) as writer:
        for start in range(0, len(data), piece):
            writer.write(data[start : start + piece])
        writer.commit()
    return key


def stored_files(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file())


# Contract shared by both stores


def test_new_blob_keys_are_random_hex() -> None:
    keys = {new_blob_key() for _ in range(1000)}
    assert len(keys) == 1000
    assert all(len(key) == 32 and set(key) <= set("0123456789abcdef") for key in keys)


def test_store_satisfies_protocol(store: BlobStore) -> None:
    assert isinstance(store, BlobStore)


@pytest.mark.parametrize("size", [0, 1, 4096, 3 * MiB + 17])
def test_committed_blob_reads_back(store: BlobStore, size: int) -> None:
    data = os.urandom(size)
    key = put(store, data)
    assert store.exists(key)
    assert b"".join(store.read(key)) == data
    assert b"".join(store.read(key, chunk_size=1000)) == data
    assert all(len(chunk) <= 1000 for chunk in store.read(key, chunk_size=1000))
    assert key in set(store.keys())


def test_blob_is_invisible_until_commit(store: BlobStore) -> None:
    key = new_blob_key()
    with store.open_writer(key) as writer:
        writer.write(b"half of a screenshot")
        assert not store.exists(key)
        with pytest.raises(BlobNotFound):
            store.read(key)
        writer.commit()
    assert store.exists(key)


def test_explicit_abort_leaves_nothing(store: BlobStore) -> None:
    key = new_blob_key()
    writer = store.open_writer(key)
    writer.write(b"x" * 1000)
    writer.abort()
    assert not store.exists(key)
    assert list(store.keys()) == []
    with pytest.raises(StorageError):
        writer.write(b"more")
    with pytest.raises(StorageError):
        writer.commit()
    assert not store.exists(key)


def test_leaving_the_block_without_commit_discards(store: BlobStore) -> None:
    key = new_blob_key()
    with store.open_writer(key) as writer:
        writer.write(b"forgotten commit")
    assert not store.exists(key)
    assert list(store.keys()) == []


def test_exception_inside_block_discards_and_propagates(store: BlobStore) -> None:
    key = new_blob_key()
    with pytest.raises(RuntimeError, match="upload cut"), store.open_writer(key) as writer:
        writer.write(b"y" * 5000)
        raise RuntimeError("upload cut")
    assert not store.exists(key)
    assert list(store.keys()) == []


def test_write_after_commit_is_refused(store: BlobStore) -> None:
    key = new_blob_key()
    with store.open_writer(key) as writer:
        writer.write(b"done")
        writer.commit()
        with pytest.raises(StorageError):
            writer.write(b"late addition")
    assert b"".join(store.read(key)) == b"done"


def test_missing_blob(store: BlobStore) -> None:
    key = new_blob_key()
    assert not store.exists(key)
    with pytest.raises(BlobNotFound):
        store.read(key)


def test_delete_is_idempotent(store: BlobStore) -> None:
    key = put(store, b"evidence")
    other = put(store, b"other evidence")
    store.delete(key)
    store.delete(key)
    assert not store.exists(key)
    with pytest.raises(BlobNotFound):
        store.read(key)
    assert list(store.keys()) == [other]


@pytest.mark.parametrize("bad_key", BAD_KEYS)
def test_invalid_keys_are_rejected_everywhere(store: BlobStore, bad_key: str) -> None:
    with pytest.raises(InvalidBlobKey):
        store.open_writer(bad_key)
    with pytest.raises(InvalidBlobKey):
        store.read(bad_key)
    with pytest.raises(InvalidBlobKey):
        store.delete(bad_key)
    with pytest.raises(InvalidBlobKey):
        store.exists(bad_key)


def test_non_string_key_is_rejected(store: BlobStore) -> None:
    with pytest.raises(InvalidBlobKey):
        store.open_writer(b"0" * 32)  # type: ignore[arg-type]


def test_ping_reachable_store(store: BlobStore) -> None:
    store.ping()


def test_encrypted_evidence_round_trip_and_tamper_detection(store: BlobStore) -> None:
    file_key = new_file_key()
    aad = b"EB-2026-ABCD:1"
    plaintext = os.urandom(2 * MiB + 5)
    encryptor = StreamEncryptor(file_key, aad)
    key = new_blob_key()
    with store.open_writer(key) as writer:
        writer.write(encryptor.header())
        for start in range(0, len(plaintext), 100_000):
            writer.write(encryptor.update(plaintext[start : start + 100_000]))
        writer.write(encryptor.finalize())
        writer.commit()
    assert b"".join(decrypt_stream(file_key, aad, store.read(key))) == plaintext

    # Someone with write access to the store swaps in a doctored copy under the same key.
    doctored = bytearray(b"".join(store.read(key)))
    doctored[len(doctored) // 2] ^= 0x01
    store.delete(key)
    with store.open_writer(key) as writer:
        writer.write(bytes(doctored))
        writer.commit()
    with pytest.raises(TamperedStream):
        b"".join(decrypt_stream(file_key, aad, store.read(key)))


# FileBlobStore specifics


def test_file_layout_and_permissions(file_store: FileBlobStore) -> None:
    key = put(file_store, b"screenshot bytes")
    path = file_store.root / key[:2] / key[2:4] / key
    assert path.read_bytes() == b"screenshot bytes"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in (path.parent, path.parent.parent, file_store.root / INCOMING_DIRNAME):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700


def test_permissions_hold_under_a_permissive_umask(tmp_path: Path) -> None:
    previous = os.umask(0)
    try:
        store = FileBlobStore(tmp_path / "evidence")
        key = new_blob_key()
        writer = store.open_writer(key)
        writer.write(b"data")
        writer.commit()
    finally:
        os.umask(previous)
    path = store.path_for(key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_aborted_writes_leave_no_part_files(file_store: FileBlobStore) -> None:
    with pytest.raises(ValueError), file_store.open_writer(new_blob_key()) as writer:
        writer.write(b"z" * 10_000)
        raise ValueError("rejected file type")
    with file_store.open_writer(new_blob_key()) as writer:
        writer.write(b"never committed")
    assert stored_files(file_store.root) == []


def test_a_blob_being_written_has_no_name_until_commit(file_store: FileBlobStore) -> None:
    incoming = file_store.root / INCOMING_DIRNAME
    key = new_blob_key()
    with file_store.open_writer(key) as writer:
        writer.write(b"z" * 100_000)
        assert list(incoming.iterdir()) == []
        writer.commit()
    assert stored_files(file_store.root) == [file_store.path_for(key)]


def test_a_process_killed_mid_write_leaves_nothing_behind(file_store: FileBlobStore) -> None:
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from portal.storage.blobs import FileBlobStore, new_blob_key\n"
        "writer = FileBlobStore(Path(sys.argv[1])).open_writer(new_blob_key())\n"
        "writer.write(os.urandom(1 << 20))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(file_store.root)], check=False)
    assert result.returncode == -signal.SIGKILL
    assert stored_files(file_store.root) == []
    assert list((file_store.root / INCOMING_DIRNAME).iterdir()) == []


def test_named_part_files_where_the_file_system_cannot_hold_nameless_ones(
    file_store: FileBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(storage, "_open_anonymous", lambda directory: None)
    incoming = file_store.root / INCOMING_DIRNAME
    key = new_blob_key()
    with file_store.open_writer(key) as writer:
        writer.write(b"evidence")
        assert len(list(incoming.glob("*.part"))) == 1
        writer.commit()
    with file_store.open_writer(new_blob_key()) as writer:
        writer.write(b"never committed")
    assert stored_files(file_store.root) == [file_store.path_for(key)]
    assert b"".join(file_store.read(key)) == b"evidence"


def test_committed_write_leaves_no_part_file(file_store: FileBlobStore) -> None:
    key = put(file_store, b"kept")
    assert stored_files(file_store.root) == [file_store.path_for(key)]


def test_traversal_creates_nothing_outside_root(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "evidence")
    for bad_key in BAD_KEYS:
        with pytest.raises(InvalidBlobKey):
            store.open_writer(bad_key)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evidence"]
    assert stored_files(tmp_path) == []


def test_shard_symlink_pointing_outside_is_refused(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "evidence")
    outside = tmp_path / "outside"
    outside.mkdir()
    key = "ab" + "0" * 30
    (store.root / "ab").symlink_to(outside)
    with pytest.raises(InvalidBlobKey):
        store.open_writer(key)
    with pytest.raises(InvalidBlobKey):
        store.read(key)
    assert list(outside.iterdir()) == []


def test_keys_ignores_foreign_files(file_store: FileBlobStore) -> None:
    key = put(file_store, b"real")
    misplaced = new_blob_key()
    (file_store.root / "README").write_text("not a blob")
    (file_store.root / "zz" / "yy").mkdir(parents=True)
    (file_store.root / "zz" / "yy" / misplaced).write_bytes(b"wrong shard")
    (file_store.root / INCOMING_DIRNAME / "stale.part").write_bytes(b"partial")
    assert list(file_store.keys()) == [key]


def test_sweep_incoming_removes_only_stale_parts(file_store: FileBlobStore) -> None:
    incoming = file_store.root / INCOMING_DIRNAME
    stale = incoming / f"{uuid.uuid4().hex}.part"
    stale.write_bytes(b"left by a crash")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))

    key = new_blob_key()
    with file_store.open_writer(key) as writer:
        writer.write(b"upload in progress")
        assert file_store.sweep_incoming(older_than_seconds=600) == 1
        writer.write(b" continues")
        writer.commit()
    assert not stale.exists()
    assert b"".join(file_store.read(key)) == b"upload in progress continues"
    assert file_store.sweep_incoming(older_than_seconds=600) == 0


def test_abandoned_read_releases_file_handle(file_store: FileBlobStore) -> None:
    key = put(file_store, os.urandom(3 * MiB))
    path = str(file_store.path_for(key))

    def open_handles() -> int:
        fd_dir = Path("/proc/self/fd")
        count = 0
        for entry in fd_dir.iterdir():
            try:
                count += os.readlink(entry) == path
            except OSError:
                continue
        return count

    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to inspect open file descriptors")
    chunks = file_store.read(key)
    assert len(next(chunks)) == MiB
    assert open_handles() == 1
    chunks.close()  # type: ignore[attr-defined]
    assert open_handles() == 0


def test_ping_fails_when_directory_vanishes(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path / "evidence")
    (store.root / INCOMING_DIRNAME).rmdir()
    with pytest.raises(StorageUnavailable):
        store.ping()


@pytest.mark.parametrize(
    "url",
    ["file://relative/evidence", "file:relative", "ftp://host/evidence", "evidence", "s3:///x"],
)
def test_open_store_rejects_unusable_urls(url: str) -> None:
    with pytest.raises(ValueError):
        open_store(url)


def test_open_store_file_url(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/with%20space")
    assert isinstance(store, FileBlobStore)
    assert store.root == (tmp_path / "with space").resolve()


# S3BlobStore specifics


def test_s3_objects_live_under_prefix(s3_store: S3BlobStore, s3_admin, bucket: str) -> None:
    key = put(s3_store, b"content")
    s3_admin.put_object(Bucket=bucket, Key="elsewhere/" + new_blob_key(), Body=b"not ours")
    s3_admin.put_object(Bucket=bucket, Key="evidence/not-a-blob-key", Body=b"not ours")
    listed = s3_admin.list_objects_v2(Bucket=bucket)["Contents"]
    assert f"evidence/{key}" in {item["Key"] for item in listed}
    assert list(s3_store.keys()) == [key]


def test_s3_large_blob_goes_up_in_parts(s3_store: S3BlobStore, s3_admin, bucket: str) -> None:
    data = os.urandom(2 * 8 * MiB + 123)
    key = put(s3_store, data, piece=MiB)
    head = s3_admin.head_object(Bucket=bucket, Key=f"evidence/{key}")
    # A multipart object's ETag ends in "-<number of parts>".
    assert head["ETag"].strip('"').endswith("-3")
    assert head["ContentLength"] == len(data)
    assert b"".join(s3_store.read(key)) == data


def test_s3_small_blob_is_a_single_put(s3_store: S3BlobStore, s3_admin, bucket: str) -> None:
    key = put(s3_store, b"small")
    head = s3_admin.head_object(Bucket=bucket, Key=f"evidence/{key}")
    assert "-" not in head["ETag"]


def test_s3_exact_part_multiple(s3_store: S3BlobStore) -> None:
    data = os.urandom(2 * 8 * MiB)
    key = put(s3_store, data, piece=3 * MiB)
    assert b"".join(s3_store.read(key)) == data


def test_s3_failed_multipart_upload_is_aborted(
    s3_store: S3BlobStore, s3_admin, bucket: str
) -> None:
    key = new_blob_key()
    with pytest.raises(ConnectionError), s3_store.open_writer(key) as writer:
        writer.write(os.urandom(9 * MiB))
        uploads = s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
        assert [upload["Key"] for upload in uploads] == [f"evidence/{key}"]
        raise ConnectionError("client went away")
    assert not s3_store.exists(key)
    assert s3_admin.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert s3_admin.list_objects_v2(Bucket=bucket).get("Contents", []) == []


def test_s3_store_without_prefix(s3_endpoint: str, bucket: str, s3_admin) -> None:
    store = open_store(f"s3://{bucket}", s3_endpoint_url=s3_endpoint, s3_region="us-east-1")
    key = put(store, b"at the bucket root")
    assert s3_admin.get_object(Bucket=bucket, Key=key)["Body"].read() == b"at the bucket root"
    assert list(store.keys()) == [key]


def test_s3_ping_fails_for_missing_bucket(s3_endpoint: str, aws_env: None) -> None:
    store = open_store(
        "s3://no-such-bucket-here/evidence", s3_endpoint_url=s3_endpoint, s3_region="us-east-1"
    )
    with pytest.raises(StorageUnavailable):
        store.ping()


def test_s3_part_size_floor(s3_admin) -> None:
    with pytest.raises(ValueError):
        S3BlobStore("bucket", "prefix", s3_admin, part_size=4 * MiB)


def test_stale_keys_are_those_written_before_the_grace_period(store: BlobStore) -> None:
    key = put(store, b"ciphertext")
    # Just written: not stale for any real grace period, stale once the period has passed.
    assert key not in set(store.stale_keys(3600))
    time.sleep(1.1)  # S3 keeps whole seconds
    assert key in set(store.stale_keys(0.5))
