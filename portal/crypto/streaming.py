"""Streaming AEAD for evidence files: AES-256-GCM chunks whose nonces bind order and the end.

The format is specified in ``portal.crypto.keyring``'s module docstring.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from portal.crypto.keyring import (
    DEFAULT_CHUNK_SIZE,
    HEADER_SIZE,
    MAX_CHUNK_SIZE,
    MAX_CHUNKS,
    NONCE_PREFIX_SIZE,
    STREAM_HEADER,
    STREAM_MAGIC,
    STREAM_VERSION,
    TAG_SIZE,
    TamperedStream,
    TruncatedStream,
)


def _chunk_nonce(prefix: bytes, index: int, last: bool) -> bytes:
    return prefix + index.to_bytes(4, "big") + (b"\x01" if last else b"\x00")


class StreamEncryptor:
    """Encrypt a byte stream chunk by chunk; output = ``header() + update(...)... + finalize()``.

    At most one partial chunk is held in memory; complete chunks are sealed as soon as they
    arrive. The final chunk is sealed by ``finalize`` and may be empty.
    """

    def __init__(self, file_key: bytes, aad: bytes, chunk_size: int = DEFAULT_CHUNK_SIZE) -> None:
        if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be between 1 and {MAX_CHUNK_SIZE}.")
        self._cipher = AESGCM(file_key)
        self._chunk_size = chunk_size
        self._prefix = os.urandom(NONCE_PREFIX_SIZE)
        self._header = STREAM_HEADER.pack(STREAM_MAGIC, STREAM_VERSION, chunk_size, self._prefix)
        self._ad = self._header + aad
        self._pending = bytearray()
        self._out = bytearray()
        self._index = 0
        self._finished = False

    def header(self) -> bytes:
        return self._header

    def _nonce(self, last: bool) -> bytes:
        if self._index >= MAX_CHUNKS:
            raise ValueError("Stream is too long for a 32-bit chunk counter.")
        nonce = _chunk_nonce(self._prefix, self._index, last)
        self._index += 1
        return nonce

    def _seal(self, data: memoryview, last: bool) -> bytes:
        return self._cipher.encrypt(self._nonce(last), data, self._ad)

    def update(self, data: bytes) -> bytes:
        """Seal every complete chunk now available; the tail waits for more data."""
        return bytes(self.update_view(data))

    def update_view(self, data: bytes | bytearray | memoryview) -> memoryview:
        """Like ``update``, but the result is a view of a buffer that the next call reuses.

        For callers that write the sealed bytes out at once (the evidence intake): it spares
        allocating and zero-filling a fresh output buffer for every piece of an upload.
        """
        if self._finished:
            raise ValueError("Stream already finalized.")
        size = self._chunk_size
        view = memoryview(data).cast("B")
        pending = self._pending
        count = (len(pending) + len(view)) // size
        if count == 0:
            pending += view
            return memoryview(b"")
        needed = count * (size + TAG_SIZE)
        if len(self._out) < needed:
            self._out = bytearray(needed)
        out = memoryview(self._out)[:needed]
        # Each chunk is sealed straight into its place in the output buffer: no join, no copy.
        slot = 0
        start = 0
        if pending:
            # Top up the held partial chunk once, then work straight from the caller's buffer.
            start = size - len(pending)
            pending += view[:start]
            with memoryview(pending) as held:
                self._seal_into(held, out[slot : slot + size + TAG_SIZE])
            slot += size + TAG_SIZE
            pending.clear()
        while len(view) - start >= size:
            self._seal_into(view[start : start + size], out[slot : slot + size + TAG_SIZE])
            slot += size + TAG_SIZE
            start += size
        pending += view[start:]
        return out

    def _seal_into(self, data: memoryview, target: memoryview) -> None:
        self._cipher.encrypt_into(self._nonce(False), data, self._ad, target)

    def finalize(self) -> bytes:
        if self._finished:
            raise ValueError("Stream already finalized.")
        self._finished = True
        with memoryview(self._pending) as held:
            sealed = self._seal(held, last=True)
        self._pending.clear()
        return sealed


def encrypt_stream(
    file_key: bytes, aad: bytes, chunks: Iterable[bytes], chunk_size: int = DEFAULT_CHUNK_SIZE
) -> Iterator[bytes]:
    """Yield the encrypted form of ``chunks`` (header first)."""
    encryptor = StreamEncryptor(file_key, aad, chunk_size)
    yield encryptor.header()
    for chunk in chunks:
        sealed = encryptor.update(chunk)
        if sealed:
            yield sealed
    yield encryptor.finalize()


def _parse_header(header: bytes) -> tuple[int, bytes]:
    magic, version, chunk_size, prefix = STREAM_HEADER.unpack(header)
    if magic != STREAM_MAGIC:
        raise TamperedStream("Not an evidence stream (bad magic).")
    if version != STREAM_VERSION:
        raise TamperedStream(f"Unsupported evidence stream version {version}.")
    if not 1 <= chunk_size <= MAX_CHUNK_SIZE:
        raise TamperedStream("Evidence stream header has an invalid chunk size.")
    return chunk_size, prefix


def decrypt_stream(file_key: bytes, aad: bytes, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield verified plaintext from an encrypted stream read in pieces of any size."""
    cipher = AESGCM(file_key)
    source = iter(chunks)
    head = bytearray()
    rest = memoryview(b"")
    for piece in source:
        need = HEADER_SIZE - len(head)
        head += piece[:need]
        if len(head) == HEADER_SIZE:
            rest = memoryview(piece)[need:]
            break
    if len(head) < HEADER_SIZE:
        raise TruncatedStream("Evidence stream ended inside its header.")
    header = bytes(head)
    chunk_size, prefix = _parse_header(header)
    ad = header + aad
    sealed_size = chunk_size + TAG_SIZE
    index = 0

    def open_chunk(data: memoryview, last: bool) -> bytes:
        if index >= MAX_CHUNKS:
            raise TamperedStream("Evidence stream is longer than the format allows.")
        try:
            return cipher.decrypt(_chunk_nonce(prefix, index, last), data, ad)
        except InvalidTag as exc:
            raise TamperedStream(f"Evidence chunk {index} did not authenticate.") from exc

    # Chunks are opened straight from the reader's pieces; only a chunk that straddles two
    # pieces is copied into ``carry``. A full-size chunk is known not to be the final one
    # only once at least one more byte follows it.
    carry = bytearray()
    for piece in itertools.chain((rest,), source):
        view = memoryview(piece)
        if not view:
            continue
        pos = 0
        if carry:
            pos = min(sealed_size - len(carry), len(view))
            carry += view[:pos]
            if pos == len(view):
                continue
            with memoryview(carry) as held:
                plaintext = open_chunk(held, last=False)
            carry.clear()
            index += 1
            yield plaintext
        while len(view) - pos > sealed_size:
            plaintext = open_chunk(view[pos : pos + sealed_size], last=False)
            pos += sealed_size
            index += 1
            yield plaintext
        carry += view[pos:]

    remaining = len(carry)
    if remaining == 0:
        raise TruncatedStream("Evidence stream ended on a chunk boundary without a final chunk.")
    if remaining < TAG_SIZE:
        raise TamperedStream("Evidence stream ends inside a chunk.")
    with memoryview(carry) as held:
        try:
            plaintext = open_chunk(held, last=True)
        except TamperedStream:
            if remaining != sealed_size:
                raise
            # A whole chunk that is not marked final means the real final chunk was cut off.
            open_chunk(held, last=False)
            raise TruncatedStream(
                f"Evidence stream ended after chunk {index} without a final chunk."
            ) from None
    if plaintext:
        yield plaintext
