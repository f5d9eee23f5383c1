"""Engine and session handling, independent of Flask request globals.

Services receive a ``Session``; the Flask layer opens one per app context and closes it at
teardown, rolling back anything left uncommitted by an error.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Table, create_engine, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers continue while a report is written; foreign keys are off by default.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


# ``Session.info`` entry holding the audit key: every session the app opens carries it, so that
# ``portal.services.audit.record`` can MAC entries without Flask globals or a key argument
# threaded through every service (see ``portal.services.audit.session_key``).
AUDIT_KEY_INFO = "audit_key"


def make_session_factory(
    engine: Engine, *, audit_key: bytes | None = None
) -> sessionmaker[Session]:
    info = {AUDIT_KEY_INFO: audit_key} if audit_key else None
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


def init_app(app: Any) -> None:
    from flask import g

    engine = make_engine(app.config["DATABASE_URL"])
    factory = make_session_factory(engine, audit_key=app.config["AUDIT_KEY"])
    app.extensions["db_engine"] = engine
    app.extensions["db_sessionmaker"] = factory

    @app.teardown_appcontext
    def _close_session(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            if exc is not None:
                session.rollback()
            session.close()


def get_session() -> Session:
    """The session of the current app context (created on first use)."""
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = current_app.extensions["db_sessionmaker"]()
    return g.db_session


def insert_missing(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows``, skipping those whose primary key exists (INSERT ... ON CONFLICT DO
    NOTHING, on the two databases the portal runs on), so that concurrent writers that then lock
    and update the rows never collide on creating them."""
    dialects = {"postgresql": postgresql, "sqlite": sqlite}
    dialect = dialects.get(connection.dialect.name)
    if dialect is None:
        raise ValueError(f"the portal runs on SQLite or PostgreSQL, not {connection.dialect.name}")
    connection.execute(dialect.insert(table).on_conflict_do_nothing(), rows)


def limit_statements(session: Session, milliseconds: int) -> None:
    """Have PostgreSQL cancel any statement of the session's current transaction that runs
    longer than ``milliseconds`` (``SET LOCAL statement_timeout``; the limit ends with the
    transaction). Nothing on SQLite, which has no such limit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.set_config("statement_timeout", str(int(milliseconds)), True)))


# Statements read beside a request (``alongside``) at most this many at once in a process.
SIDE_READERS = 4
_side_pool: tuple[int, ThreadPoolExecutor] | None = None
_side_guard = threading.Lock()


def _side_executor() -> ThreadPoolExecutor:
    """This process's pool: one made before gunicorn forks has no threads in the workers."""
    global _side_pool
    with _side_guard:
        if _side_pool is None or _side_pool[0] != os.getpid():
            _side_pool = (
                os.getpid(),
                ThreadPoolExecutor(SIDE_READERS, thread_name_prefix="side-read"),
            )
        return _side_pool[1]


@contextmanager
def alongside(session: Session, stmt: Executable) -> Iterator[Callable[[], Sequence[Any]]]:
    """Send ``stmt`` on a connection of its own while the caller goes on with ``session``, and
    yield a function that waits for its rows (:func:`fetch_all`'s, raising its error). On
    PostgreSQL the server works on both at once: a dashboard's open reports are counted there
    while the stored rollups are decoded here. The statement sees only what is committed, and
    runs under the ``statement_timeout`` of the session's transaction. Elsewhere (SQLite, or a
    session bound to one connection) it is simply read first.

    Only the wait for the server happens on another thread: everything that needs Python (the
    checkout, the statement's compilation, the rows' use) stays with the caller, so that the
    two never queue for the interpreter. Leaving the block waits for the read, which never
    outlives the caller's request."""
    bind = session.get_bind()
    if not isinstance(bind, Engine) or bind.dialect.name != "postgresql":
        rows = fetch_all(session.connection(), stmt)
        yield lambda: rows
        return
    timeout = session.scalar(select(func.current_setting("statement_timeout")))
    with bind.connect() as connection:
        connection.execute(select(func.set_config("statement_timeout", str(timeout), True)))
        query, parameters = _driver_query(connection, stmt)
        driver = connection.connection.driver_connection
        future = _side_executor().submit(_fetch_binary, driver, query, parameters, bind.dialect)
        try:
            yield future.result
        finally:
            wait([future])
            connection.rollback()


def _driver_query(connection: Connection, stmt: Executable) -> tuple[str, Any]:
    """The SQL and parameters of ``stmt`` for the driver's own cursor, which skips SQLAlchemy's
    type processing: a column or parameter that needs it (an aware datetime, JSON, ...) would
    read one way there and another on SQLite, so such a statement is refused."""
    dialect = connection.dialect
    compiled = stmt.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    columns = getattr(stmt, "selected_columns", ())
    if any(column.type.result_processor(dialect, None) for column in columns) or any(
        bind.type.bind_processor(dialect) for bind in compiled.binds.values()
    ):
        raise TypeError("the driver's cursor reads plain columns with plain parameters only")
    return str(compiled), compiled.params


def _fetch_binary(driver: Any, query: str, parameters: Any, dialect: Dialect) -> Sequence[Any]:
    try:
        with driver.cursor(binary=True) as cursor:
            cursor.execute(query, parameters)
            return cursor.fetchall()  # type: ignore[no-any-return]
    except dialect.loaded_dbapi.Error as error:
        # As SQLAlchemy's own statements raise it (a cancelled statement is an
        # OperationalError with the driver's error inside), so that callers catch one kind.
        raise DBAPIError.instance(query, parameters, error, dialect.loaded_dbapi.Error) from error


def fetch_all(connection: Connection, stmt: Executable) -> Sequence[Any]:
    """Every row of ``stmt``; on PostgreSQL in the binary result format, where ``bytea`` columns
    arrive as raw bytes instead of hex text (half the bytes on the wire and nothing to parse:
    a two-year dashboard reads megabytes of stored distributions)."""
    if connection.dialect.name != "postgresql":
        return connection.execute(stmt).all()
    query, parameters = _driver_query(connection, stmt)
    return _fetch_binary(
        connection.connection.driver_connection, query, parameters, connection.dialect
    )
