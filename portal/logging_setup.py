"""Structured (JSON lines) logs without personal data.

Every handler gets the ``AnonymizingFilter``: filters on a logger do not see its children's
records, filters on a handler see everything that handler writes. Records carry no request
details (address, user agent, query string); only what the code chose to log, scrubbed.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import logging.config
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# The id of the request being served by this thread (set by ``portal.web.request_id``).
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
# Candidates only: each is checked with ``ipaddress`` so that times such as 12:30:45 survive.
_IPV6_CANDIDATE = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*")
REDACTED = "[addr]"
# The development server's start-up banner names the address it listens on, never a client's
# (its access lines start with the client's address, and stay scrubbed).
_SERVER_BANNER = re.compile(
    r"(?:\x1b\[[0-9;]*m)*(?:WARNING: This is a development server| \* Running on )"
)


def _scrub_ipv6(match: re.Match[str]) -> str:
    text = match.group(0)
    candidate = text.split("%", 1)[0].strip(":") if text.count(":") < 2 else text
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return text
    return REDACTED


def scrub(text: str) -> str:
    """Remove anything that is an IPv4 or IPv6 address from a piece of log text."""
    return _IPV6_CANDIDATE.sub(_scrub_ipv6, _IPV4.sub(REDACTED, text))


class AnonymizingFilter(logging.Filter):
    """Blank out client addresses before a log line is written.

    Attach it to handlers (as ``portal.logging_setup`` does): a filter on a logger does not see
    the records of its child loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.name == "werkzeug" and _SERVER_BANNER.match(message):
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


class RequestIdFilter(logging.Filter):
    """Tag a record with the id of the request it was logged in, when there is one.

    Gunicorn writes its access line after the response, outside the request: it gets the id
    from the ``X-Request-ID`` response header among the line's atoms.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = REQUEST_ID.get()
        if request_id is None and record.name == "gunicorn.access":
            atoms = record.args
            if isinstance(atoms, Mapping):
                value = atoms.get("{x-request-id}o")
                request_id = value if isinstance(value, str) and value != "-" else None
        if request_id is not None:
            record.request_id = request_id
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request id, message (scrubbed)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        entry["message"] = scrub(record.getMessage())
        if record.exc_info:
            entry["exception"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def logging_config(level: str = "INFO", stream: str = "ext://sys.stdout") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict (gunicorn's ``logconfig_dict`` takes the same)."""
    handler = {
        "class": "logging.StreamHandler",
        "stream": stream,
        "formatter": "json",
        # The request id is read before the anonymizer may replace the record's arguments.
        "filters": ["request_id", "anonymize"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "request_id": {"()": RequestIdFilter},
            "anonymize": {"()": AnonymizingFilter},
        },
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": handler},
        "root": {"level": level, "handlers": ["stdout"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stdout"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
        },
    }


def file_handler(path: str) -> logging.Handler:
    """A JSON file handler with the anonymizing filter (used by tests and ad-hoc runs)."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    handler.addFilter(AnonymizingFilter())
    return handler


def configure(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))
