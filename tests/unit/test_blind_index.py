"""Blind indexes link equal values without revealing them to a holder of the database alone."""

from __future__ import annotations

import hashlib

import pytest

from portal.crypto.blind_index import BlindIndexer

PEPPER = bytes(range(32))


def test_equal_values_of_one_kind_share_an_index() -> None:
    indexer = BlindIndexer(PEPPER)
    assert indexer.index("phone", "+212612345678") == indexer.index("phone", "+212612345678")
    assert indexer.index("phone", "+212612345678") != indexer.index("phone", "+212612345679")


def test_the_kind_separates_equal_text() -> None:
    indexer = BlindIndexer(PEPPER)
    assert indexer.index("handle", "amina") != indexer.index("email", "amina")


def test_without_the_pepper_the_index_cannot_be_recomputed() -> None:
    value = "https://example.com/profile"
    index = BlindIndexer(PEPPER).index("url", value)
    assert index != hashlib.sha256(value.encode()).hexdigest()
    assert index != BlindIndexer(bytes(32)).index("url", value)


def test_a_short_pepper_is_refused_and_never_shown() -> None:
    with pytest.raises(ValueError):
        BlindIndexer(b"short")
    assert PEPPER.hex() not in repr(BlindIndexer(PEPPER))
