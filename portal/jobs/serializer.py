"""The job queue's wire format: JSON of plain data, never pickle.

Huey's own serializer pickles every message, and unpickling runs whatever code the bytes name:
anyone able to write to the queue's storage (a Redis reachable from the network, the SQLite
file) would run code in the worker. ``JsonSerializer`` writes and reads JSON only, so the worst a
forged entry can do is ask for one of the portal's own tasks with plain arguments.

What is stored
--------------
- a task message: ``{"portal_job": 1, "message": {...}}`` with every field of Huey's ``Message``
  (``id``, ``name``, ``eta``, ``retries``, ``retry_delay``, ``priority``, ``args``, ``kwargs``,
  ``on_complete``, ``on_error``, ``expires``, ``expires_resolved``, ``timeout``,
  ``chord_config``, ``retry_backoff``); times are ISO 8601 strings (naive ones stay naive);
- anything else Huey keeps (failure records, locks): ``{"portal_job": 1, "data": ...}``.

Arguments, keyword arguments and other data must be plain JSON (None, booleans, integers,
finite floats, strings, lists, dicts with string keys): anything else (a tuple, a datetime, a
model object) raises ``NotPlainData`` when the job is enqueued, not when the worker reads it.
Bytes of any other shape (a pickle pushed into Redis, a truncated write) raise
``RefusedPayload`` and are logged; Huey's consumer logs the error and goes on with the next job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from huey.registry import Message
from huey.serializer import Serializer

log = logging.getLogger("portal.jobs")

FORMAT_KEY = "portal_job"
FORMAT_VERSION = 1


class RefusedPayload(ValueError):
    """Bytes read from the queue's storage that are not a payload of this format."""


class NotPlainData(TypeError):
    """A value that JSON would not give back equal (only plain data goes on the queue)."""


def check_plain(value: Any, where: str) -> None:
    """Raise ``NotPlainData`` unless ``value`` comes back from JSON exactly as it is."""
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise NotPlainData(f"{where}: {value!r} is not a finite number")
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise NotPlainData(f"{where}: the key {key!r} is not a string")
            check_plain(item, f"{where}[{key!r}]")
        return
    raise NotPlainData(
        f"{where}: a {type(value).__name__} is not plain data (pass ids, strings, numbers, "
        "lists or dicts; an ISO string for a time)"
    )


# --- one codec per field of Huey's Message: (encode, decode), None passing through both ---------


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise NotPlainData(f"{where}: {value!r} is not a string")
    return value


def _number(value: Any, where: str) -> int | float:
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise NotPlainData(f"{where}: {value!r} is not a number")
    return value


def _integer(value: Any, where: str) -> int:
    if not isinstance(value, int):
        raise NotPlainData(f"{where}: {value!r} is not an integer")
    return value


def _time_out(value: Any, where: str) -> str:
    if not isinstance(value, datetime):
        raise NotPlainData(f"{where}: {value!r} is not a datetime")
    return value.isoformat()


def _time_in(value: Any, where: str) -> datetime:
    try:
        return datetime.fromisoformat(_text(value, where))
    except ValueError as error:
        raise NotPlainData(f"{where}: {value!r} is not an ISO time") from error


def _args_out(value: Any, where: str) -> list[Any]:
    if not isinstance(value, tuple | list):
        raise NotPlainData(f"{where}: {value!r} is not a sequence of arguments")
    items = list(value)
    check_plain(items, where)
    return items


def _args_in(value: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list):
        raise NotPlainData(f"{where}: {value!r} is not a list")
    return tuple(value)


def _kwargs(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise NotPlainData(f"{where}: {value!r} is not a dict")
    check_plain(value, where)
    return value


def _expires_out(value: Any, where: str) -> Any:
    # Huey takes seconds, a timedelta or a datetime; a timedelta travels as its seconds.
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime):
        return {"at": value.isoformat()}
    return _number(value, where)


def _expires_in(value: Any, where: str) -> Any:
    if isinstance(value, dict) and set(value) == {"at"}:
        return _time_in(value["at"], where)
    return _number(value, where)


def _chord_out(value: Any, where: str) -> list[Any]:
    cid, size, index, callback = value
    return [
        _text(cid, where),
        _integer(size, where),
        _integer(index, where),
        encode_message(callback),
    ]


def _chord_in(value: Any, where: str) -> tuple[Any, ...]:
    if not isinstance(value, list) or len(value) != 4:
        raise NotPlainData(f"{where}: {value!r} is not a chord configuration")
    cid, size, index, callback = value
    return (
        _text(cid, where),
        _integer(size, where),
        _integer(index, where),
        decode_message(callback),
    )


Codec = tuple[Callable[[Any, str], Any], Callable[[Any, str], Any]]

FIELDS: dict[str, Codec] = {
    "id": (_text, _text),
    "name": (_text, _text),
    "eta": (_time_out, _time_in),
    "retries": (_integer, _integer),
    "retry_delay": (_number, _number),
    "priority": (_integer, _integer),
    "args": (_args_out, _args_in),
    "kwargs": (_kwargs, _kwargs),
    "on_complete": (lambda value, _: encode_message(value), lambda value, _: decode_message(value)),
    "on_error": (lambda value, _: encode_message(value), lambda value, _: decode_message(value)),
    "expires": (_expires_out, _expires_in),
    "expires_resolved": (_time_out, _time_in),
    "timeout": (_number, _number),
    "chord_config": (_chord_out, _chord_in),
    "retry_backoff": (_number, _number),
}
if set(FIELDS) != set(Message._fields):
    raise RuntimeError("Huey's Message fields changed: the queue's JSON format must follow them")


def encode_message(message: Message) -> dict[str, Any]:
    name = message.name
    return {
        field: None if value is None else FIELDS[field][0](value, f"job {name}: {field}")
        for field, value in zip(Message._fields, message, strict=True)
    }


def decode_message(value: Any) -> Message:
    if not isinstance(value, dict) or set(value) != set(FIELDS):
        raise NotPlainData("not a job message")
    return Message(
        **{
            field: None if value[field] is None else decode(value[field], field)
            for field, (_, decode) in FIELDS.items()
        }
    )


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


class JsonSerializer(Serializer):  # type: ignore[misc]
    """Huey's serializer, JSON instead of pickle (Huey's compression options still apply)."""

    def _serialize(self, data: Any) -> bytes:
        if isinstance(data, Message):
            body: dict[str, Any] = {"message": encode_message(data)}
        else:
            check_plain(data, "queue data")
            body = {"data": data}
        body[FORMAT_KEY] = FORMAT_VERSION
        return json.dumps(body, allow_nan=False, separators=(",", ":")).encode()

    def _deserialize(self, data: bytes | str) -> Any:
        raw = data.encode() if isinstance(data, str) else bytes(data)
        try:
            body = json.loads(raw, parse_constant=_refuse_constant)
            if not isinstance(body, dict) or body.get(FORMAT_KEY) != FORMAT_VERSION:
                raise NotPlainData("no portal_job version")
            if set(body) == {FORMAT_KEY, "message"}:
                return decode_message(body["message"])
            if set(body) == {FORMAT_KEY, "data"}:
                return body["data"]
            raise NotPlainData("neither a message nor data")
        except (ValueError, TypeError, RecursionError) as error:
            # Never the bytes themselves: they may be large, or carry what an attacker chose.
            digest = hashlib.sha256(raw).hexdigest()[:16]
            log.error(
                "Refused a queue entry that is not a portal job (%d bytes, sha256 %s…): %s",
                len(raw),
                digest,
                str(error)[:200],
            )
            raise RefusedPayload(f"not a portal job ({len(raw)} bytes, sha256 {digest}…)") from None
