"""Evidence the database does not point to: partial uploads and blobs left by a crash.

On a file system without nameless files (``O_TMPFILE``), an upload killed mid-stream leaves an
encrypted partial file in the store's incoming area; anywhere, a worker killed between storing
a blob and committing its row leaves a complete blob that no row names (its wrapped key died
with the worker, so it can never be decrypted). Neither is ever served, but neither should
stay. Only what has been untouched for a grace period is removed, so an upload still in
progress, or a blob whose row is being committed, is never touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Evidence, PendingUpload
from portal.storage.blobs import BlobStore

_BATCH = 500


@dataclass
class OrphanSweep:
    dry_run: bool
    partial_uploads_removed: int = 0
    orphan_blobs: list[str] = field(default_factory=list)


def _batches(keys: Iterable[str]) -> Iterator[list[str]]:
    iterator = iter(keys)
    while batch := list(islice(iterator, _BATCH)):
        yield batch


def find_orphan_blobs(session: Session, store: BlobStore, grace_seconds: float) -> list[str]:
    """Blobs older than the grace period that no evidence row (or held upload) names."""
    orphans: list[str] = []
    for batch in _batches(store.stale_keys(grace_seconds)):
        named = set(session.scalars(select(Evidence.blob_key).where(Evidence.blob_key.in_(batch))))
        named |= set(
            session.scalars(select(PendingUpload.blob_key).where(PendingUpload.blob_key.in_(batch)))
        )
        orphans.extend(key for key in batch if key not in named)
    return orphans


def sweep(
    session: Session, store: BlobStore, grace_seconds: float, *, dry_run: bool = False
) -> OrphanSweep:
    result = OrphanSweep(
        dry_run=dry_run, orphan_blobs=find_orphan_blobs(session, store, grace_seconds)
    )
    if dry_run:
        return result
    result.partial_uploads_removed = store.sweep_incoming(grace_seconds)
    for key in result.orphan_blobs:
        store.delete(key)
    return result


def describe(result: OrphanSweep) -> str:
    if result.dry_run:
        return f"Would delete {len(result.orphan_blobs)} evidence blob(s) no report points to."
    return (
        f"Deleted {len(result.orphan_blobs)} evidence blob(s) no report points to and "
        f"{result.partial_uploads_removed} partial upload(s) left by interrupted requests."
    )
