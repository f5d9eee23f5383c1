"""The queue's JSON format: every field of Huey's message comes back as it went; anything else
read from the storage is refused."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from huey.registry import Message

from portal.jobs.serializer import JsonSerializer, NotPlainData, RefusedPayload

serializer = JsonSerializer()


def _message(**fields: Any) -> Message:
    return Message(**{"id": "0f1e", "name": "portal.jobs.alerts.alerts.deliver"} | fields)


def test_every_field_of_a_message_comes_back() -> None:
    callback = _message(id="cb", args=("done",), kwargs={}, retries=0)
    message = _message(
        eta=datetime(2026, 3, 1, 9, 30, 15, 250),
        retries=5,
        retry_delay=120,
        priority=3,
        args=("urgent", 12, "email", "a1b2", [None, {"x": 1.5, "y": True}]),
        kwargs={"alert_id": "a1b2"},
        on_complete=callback,
        on_error=_message(id="err"),
        expires=timedelta(minutes=5),
        expires_resolved=datetime(2026, 3, 1, 9, 35, tzinfo=UTC),
        timeout=30,
        chord_config=("chord", 2, 1, callback),
        retry_backoff=1.5,
    )
    back = serializer.deserialize(serializer.serialize(message))
    assert back == message._replace(expires=300.0)
    assert back.eta.tzinfo is None and back.expires_resolved.tzinfo == UTC
    assert isinstance(back.args, tuple)
    assert serializer.deserialize(serializer.serialize(_message())) == _message()


def test_other_data_is_plain_json() -> None:
    record = {"job": "alerts.deliver", "at": "2026-03-01T09:30:15", "error": "OSError: down"}
    assert json.loads(serializer.serialize(record))["data"] == record
    assert serializer.deserialize(serializer.serialize("1")) == "1"


@pytest.mark.parametrize(
    "args",
    [((1, 2),), (datetime(2026, 1, 1),), (b"raw",), ({1: "one"},), (float("inf"),), ({1, 2},)],
)
def test_arguments_json_would_change_are_refused_when_written(args: tuple[Any, ...]) -> None:
    with pytest.raises(NotPlainData):
        serializer.serialize(_message(args=args, kwargs={}))


def _body(message: dict[str, Any]) -> bytes:
    return json.dumps({"portal_job": 1, "message": message}).encode()


VALID = json.loads(serializer.serialize(_message(args=(1,), kwargs={})))["message"]


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(_message()),
        pickle.dumps({"job": "x", "at": "y", "error": "z"}),
        b"",
        b"\xff\xfe",
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"message": VALID}).encode(),
        json.dumps({"portal_job": 2, "message": VALID}).encode(),
        json.dumps({"portal_job": 1, "message": VALID, "data": 1}).encode(),
        _body({key: value for key, value in VALID.items() if key != "kwargs"}),
        _body(VALID | {"callable": "os.system"}),
        _body(VALID | {"args": {"0": 1}}),
        _body(VALID | {"eta": "tomorrow"}),
        _body(VALID | {"retries": "5"}),
        _body(VALID | {"on_error": ["os.system", "touch /tmp/x"]}),
        b'{"portal_job": 1, "data": NaN}',
    ],
)
def test_anything_else_read_from_the_storage_is_refused(payload: bytes) -> None:
    with pytest.raises(RefusedPayload):
        serializer.deserialize(payload)
