"""Blob stores for evidence ciphertext: a local directory or an S3-compatible bucket.

Stores hold opaque bytes under random keys (``new_blob_key``: 32 lowercase hex characters).
Every entry point validates the key before touching storage, so a key can never name a path
outside the store. Writes are all-or-nothing: a writer that is not committed leaves nothing
behind, neither in the store nor as a half-written object readers could see.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Protocol, Self, runtime_checkable
from urllib.parse import unquote, urlsplit

BLOB_KEY_PATTERN = re.compile(r"^[0-9a-f]{32}\Z")
DEFAULT_READ_CHUNK = 1 << 20
INCOMING_DIRNAME = ".incoming"
PART_SUFFIX = ".part"
S3_MIN_PART_SIZE = 5 * 1024 * 1024
S3_DEFAULT_PART_SIZE = 8 * 1024 * 1024

log = logging.getLogger(__name__)


class StorageError(Exception):
    """A blob store operation failed."""


class InvalidBlobKey(StorageError, ValueError):
    """A blob key is not 32 lowercase hex characters."""


class BlobNotFound(StorageError, KeyError):
    """No blob is stored under the key."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or used right now."""


def new_blob_key() -> str:
    return secrets.token_hex(16)


def check_blob_key(key: object) -> str:
    if not isinstance(key, str) or not BLOB_KEY_PATTERN.match(key):
        raise InvalidBlobKey(f"Invalid blob key {key!r}.")
    return key


# What writers accept: the intake hands them views of a buffer it reuses for the next piece.
BytesLike = bytes | bytearray | memoryview


@runtime_checkable
class BlobWriter(Protocol):
    """Receives one blob; nothing is visible under its key until ``commit``."""

    def write(self, data: BytesLike) -> None:
        """Take ``data`` in before returning: callers may reuse its buffer right after."""
        ...

    def commit(self) -> None: ...

    def abort(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


@runtime_checkable
class BlobStore(Protocol):
    def open_writer(self, key: str) -> BlobWriter: ...

    def read(self, key: str, chunk_size: int = DEFAULT_READ_CHUNK) -> Iterator[bytes]: ...

    def delete(self, key: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def ping(self) -> None: ...

    def keys(self) -> Iterator[str]: ...

    def stale_keys(self, older_than_seconds: float) -> Iterator[str]:
        """Keys of blobs written longer ago than ``older_than_seconds``."""
        ...

    def sweep_incoming(self, older_than_seconds: float) -> int:
        """Delete partial uploads untouched for that long (left by a crash); return how many."""
        ...


class _WriterBase(ABC):
    """Commit-or-abort bookkeeping shared by the writers; subclasses move the bytes."""

    def __init__(self) -> None:
        self._state = "open"

    def _check_open(self) -> None:
        if self._state != "open":
            raise StorageError(f"Blob writer is already {self._state}.")

    def write(self, data: BytesLike) -> None:
        self._check_open()
        try:
            self._write(data)
        except BaseException:
            self.abort()
            raise

    def commit(self) -> None:
        self._check_open()
        try:
            self._commit()
        except BaseException:
            self.abort()
            raise
        self._state = "committed"

    def abort(self) -> None:
        if self._state != "open":
            return
        self._state = "aborted"
        self._abort()

    def close(self) -> None:
        """Closing without committing discards the blob."""
        self.abort()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.abort()

    @abstractmethod
    def _write(self, data: BytesLike) -> None: ...

    @abstractmethod
    def _commit(self) -> None: ...

    @abstractmethod
    def _abort(self) -> None: ...


class _ChunkIterator:
    """An iterator over a blob's bytes that releases its handle when exhausted or closed.

    WSGI servers call ``close`` on response iterables, so a download cut short by the client
    does not leak a file descriptor or an HTTP connection.
    """

    def __init__(self, next_chunk: Callable[[], bytes], release: Callable[[], None]) -> None:
        self._next_chunk = next_chunk
        self._release: Callable[[], None] | None = release

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> bytes:
        if self._release is None:
            raise StopIteration
        try:
            chunk = self._next_chunk()
        except BaseException:
            self.close()
            raise
        if not chunk:
            self.close()
            raise StopIteration
        return chunk

    def close(self) -> None:
        release, self._release = self._release, None
        if release is not None:
            release()

    def __del__(self) -> None:
        self.close()


def fsync_dir(directory: Path) -> None:
    """Make the entries just created, renamed or removed in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700) and make the new entry durable in its parent."""
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        return
    fsync_dir(path.parent)


def _open_anonymous(directory: Path) -> int | None:
    """A file in ``directory`` with no name yet (Linux ``O_TMPFILE``), or None if unsupported.

    Until it is linked under its key it has no name: if the process dies, the kernel reclaims it
    and nothing is left behind to clean up.
    """
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not os.path.isdir("/proc/self/fd"):
        return None
    try:
        return os.open(directory, flag | os.O_WRONLY | getattr(os, "O_CLOEXEC", 0), 0o600)
    except OSError:
        return None  # a file system without O_TMPFILE support


class _FileWriter(_WriterBase):
    def __init__(self, store: FileBlobStore, final_path: Path) -> None:
        super().__init__()
        self._store = store
        self._final_path = final_path
        fd = _open_anonymous(store.incoming)
        self._part_path: Path | None = None
        if fd is None:
            # Elsewhere, a named part file; a crash leaves it for ``sweep_incoming``.
            self._part_path = store.incoming / f"{secrets.token_hex(16)}{PART_SUFFIX}"
            flags = (
                os.O_WRONLY
                | os.O_CREAT
                | os.O_EXCL
                | getattr(os, "O_NOFOLLOW", 0)
                | getattr(os, "O_CLOEXEC", 0)
            )
            fd = os.open(self._part_path, flags, 0o600)
        self._handle: BinaryIO = os.fdopen(fd, "wb")

    def _write(self, data: BytesLike) -> None:
        self._handle.write(data)

    def _commit(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        shard = self._final_path.parent
        _private_dir(shard.parent)
        _private_dir(shard)
        if self._part_path is None:
            self._link_anonymous(shard)
        else:
            self._handle.close()
            os.replace(self._part_path, self._final_path)
            fsync_dir(shard)

    def _link_anonymous(self, shard: Path) -> None:
        """Give the fully written, fsynced file its name in one step: readers see the whole
        blob or nothing. Keys are random, so the name is never taken."""
        shard_fd = os.open(shard, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            # A directory fd makes os.link use linkat(AT_SYMLINK_FOLLOW), which links the file
            # /proc/self/fd/N refers to rather than that symlink itself.
            os.link(
                f"/proc/self/fd/{self._handle.fileno()}",
                self._final_path.name,
                dst_dir_fd=shard_fd,
                follow_symlinks=True,
            )
            self._handle.close()
            os.fsync(shard_fd)
        finally:
            os.close(shard_fd)

    def _abort(self) -> None:
        self._handle.close()
        if self._part_path is not None:
            self._part_path.unlink(missing_ok=True)


class FileBlobStore:
    """Blobs as files under ``root/ab/cd/<key>``; writes land via ``root/.incoming``.

    Files are 0600 and directories 0700. A blob appears under its key only once fully written
    and fsynced, in one step, so readers never see a partial blob. While it is written it has
    no name at all (``O_TMPFILE``), so a killed process leaves nothing behind; on a file system
    without that, it is a named part file in ``.incoming``, renamed into place on commit.
    """

    def __init__(self, root: Path) -> None:
        root = Path(root)
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.root = root.resolve()
        self.incoming = self.root / INCOMING_DIRNAME
        _private_dir(self.incoming)

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"

    def path_for(self, key: str) -> Path:
        """The file that holds ``key``; refuses anything that would resolve outside the root."""
        check_blob_key(key)
        path = (self.root / key[:2] / key[2:4] / key).resolve()
        if not path.is_relative_to(self.root) or path.parent.parent.parent != self.root:
            raise InvalidBlobKey(f"Blob key {key!r} resolves outside the store.")
        return path

    def open_writer(self, key: str) -> BlobWriter:
        return _FileWriter(self, self.path_for(key))

    def read(self, key: str, chunk_size: int = DEFAULT_READ_CHUNK) -> Iterator[bytes]:
        path = self.path_for(key)
        try:
            handle = open(path, "rb", buffering=0)  # noqa: SIM115 - closed by the iterator
        except FileNotFoundError:
            raise BlobNotFound(key) from None
        return _ChunkIterator(lambda: handle.read(chunk_size), handle.close)

    def delete(self, key: str) -> None:
        self.path_for(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self.path_for(key).is_file()

    def ping(self) -> None:
        if not self.incoming.is_dir() or not os.access(self.incoming, os.W_OK | os.X_OK):
            raise StorageUnavailable(f"Evidence directory {self.root} is missing or read-only.")

    def keys(self) -> Iterator[str]:
        for first in sorted(self.root.iterdir()):
            if first.name.startswith(".") or not first.is_dir():
                continue
            for second in sorted(first.iterdir()):
                if not second.is_dir():
                    continue
                for entry in sorted(second.iterdir()):
                    name = entry.name
                    if (
                        BLOB_KEY_PATTERN.match(name)
                        and name[:2] == first.name
                        and name[2:4] == second.name
                        and entry.is_file()
                    ):
                        yield name

    def stale_keys(self, older_than_seconds: float) -> Iterator[str]:
        cutoff = time.time() - older_than_seconds
        for key in self.keys():
            try:
                if self.path_for(key).stat().st_mtime < cutoff:
                    yield key
            except FileNotFoundError:
                continue

    def sweep_incoming(self, older_than_seconds: float) -> int:
        """Delete partial uploads left by a crash; return how many were removed."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for part in self.incoming.glob(f"*{PART_SUFFIX}"):
            try:
                if part.stat().st_mtime < cutoff:
                    part.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def _client_error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


_S3_MISSING = {"404", "NoSuchKey", "NotFound"}


class _S3Writer(_WriterBase):
    """Buffers up to one part; small blobs go up in one PUT at commit, large ones as multipart."""

    def __init__(self, store: S3BlobStore, object_key: str) -> None:
        super().__init__()
        self._store = store
        self._object_key = object_key
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[dict[str, Any]] = []

    def _upload_part(self, data: memoryview) -> None:
        client = self._store.client
        if self._upload_id is None:
            created = client.create_multipart_upload(
                Bucket=self._store.bucket, Key=self._object_key
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        response = client.upload_part(
            Bucket=self._store.bucket,
            Key=self._object_key,
            UploadId=self._upload_id,
            PartNumber=number,
            Body=bytes(data),
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})

    def _write(self, data: BytesLike) -> None:
        self._buffer += data
        part_size = self._store.part_size
        if len(self._buffer) < part_size:
            return
        consumed = 0
        with memoryview(self._buffer) as view:
            while len(view) - consumed >= part_size:
                self._upload_part(view[consumed : consumed + part_size])
                consumed += part_size
        del self._buffer[:consumed]

    def _commit(self) -> None:
        client = self._store.client
        if self._upload_id is None:
            client.put_object(
                Bucket=self._store.bucket, Key=self._object_key, Body=bytes(self._buffer)
            )
        else:
            if self._buffer:
                with memoryview(self._buffer) as view:
                    self._upload_part(view)
            client.complete_multipart_upload(
                Bucket=self._store.bucket,
                Key=self._object_key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )
        self._buffer.clear()

    def _abort(self) -> None:
        self._buffer.clear()
        if self._upload_id is None:
            return
        try:
            self._store.client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._object_key, UploadId=self._upload_id
            )
        except Exception:
            # Abort runs while another error is propagating: report, do not mask it. A bucket
            # lifecycle rule for incomplete multipart uploads reclaims what is left.
            log.warning("Could not abort multipart upload %s", self._upload_id, exc_info=True)


class S3BlobStore:
    """Blobs as objects ``<prefix>/<key>`` in an S3-compatible bucket."""

    def __init__(
        self, bucket: str, prefix: str, client: Any, *, part_size: int = S3_DEFAULT_PART_SIZE
    ) -> None:
        if part_size < S3_MIN_PART_SIZE:
            raise ValueError(f"S3 parts must be at least {S3_MIN_PART_SIZE} bytes.")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client
        self.part_size = part_size

    def __repr__(self) -> str:
        return f"S3BlobStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    def object_key(self, key: str) -> str:
        check_blob_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def open_writer(self, key: str) -> BlobWriter:
        return _S3Writer(self, self.object_key(key))

    def read(self, key: str, chunk_size: int = DEFAULT_READ_CHUNK) -> Iterator[bytes]:
        object_key = self.object_key(key)
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=object_key)
        except Exception as exc:
            if _client_error_code(exc) in _S3_MISSING:
                raise BlobNotFound(key) from None
            raise
        body = response["Body"]
        chunks = body.iter_chunks(chunk_size)
        return _ChunkIterator(lambda: next(chunks, b""), body.close)

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.object_key(key))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_key(key))
        except Exception as exc:
            if _client_error_code(exc) in _S3_MISSING:
                return False
            raise
        return True

    def ping(self) -> None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            raise StorageUnavailable(f"S3 bucket {self.bucket!r} is unreachable: {exc}") from exc

    def _objects(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """(blob key, listing entry) for every blob under the prefix."""
        listing_prefix = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=listing_prefix):
            for item in page.get("Contents", []):
                name = item["Key"][len(listing_prefix) :]
                if BLOB_KEY_PATTERN.match(name):
                    yield name, item

    def keys(self) -> Iterator[str]:
        for name, _item in self._objects():
            yield name

    def stale_keys(self, older_than_seconds: float) -> Iterator[str]:
        cutoff = time.time() - older_than_seconds
        for name, item in self._objects():
            if item["LastModified"].timestamp() < cutoff:
                yield name

    def sweep_incoming(self, older_than_seconds: float) -> int:
        # Objects appear only when complete; the bucket's lifecycle rule for incomplete
        # multipart uploads reclaims the parts of an upload cut short.
        return 0


def open_store(
    url: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None
) -> BlobStore:
    """Open the store named by ``file:///absolute/path`` or ``s3://bucket/prefix``.

    S3 credentials come from the standard AWS environment variables and config files.
    """
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"Evidence store URL {url!r} must look like file:///absolute/path.")
        path = unquote(parts.path)
        if not path.startswith("/"):
            raise ValueError(f"Evidence store URL {url!r} must name an absolute path.")
        return FileBlobStore(Path(path))
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValueError(f"Evidence store URL {url!r} must look like s3://bucket/prefix.")
        import boto3
        from botocore.config import Config

        # S3-compatible servers (MinIO, Ceph, moto) generally need path-style addressing.
        config = Config(s3={"addressing_style": "path"}) if s3_endpoint_url else None
        client = boto3.client(
            "s3", endpoint_url=s3_endpoint_url, region_name=s3_region, config=config
        )
        return S3BlobStore(parts.netloc, unquote(parts.path), client)
    raise ValueError(f"Unsupported evidence store URL {url!r} (use file:// or s3://).")
