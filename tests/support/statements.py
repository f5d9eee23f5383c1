"""The SQL statements a piece of work sends, for tests that count queries or read their text."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """(statement, parameters) of every statement sent on ``engine`` inside the block."""
    statements: list[tuple[str, Any]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many) -> None:
        statements.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", capture)
