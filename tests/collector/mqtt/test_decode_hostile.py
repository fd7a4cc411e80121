"""Hostile payloads: each one a DecodeError (or TimestampOutOfRange) naming what is wrong, never anything else."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from sitewatch.collector.errors import DecodeError, TimestampOutOfRange
from sitewatch.collector.mqtt.decode import (
    AlarmEvent,
    HostStatus,
    Message,
    TimestampPolicy,
    decode_message,
)
from sitewatch.collector.timestamps import TimestampWindow

from .hostile import Hostile, hostile_cases, time_cases

PREFIX = "sitewatch/alarmhost"
HOSTS = {"ah-001": "alarm-north-01"}
ARRIVED = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
ARRIVAL_CLOCK = TimestampPolicy(arrival_hosts=frozenset({"ah-001"}))
CASES = hostile_cases(ARRIVED)


_HOST_CLOCK = TimestampPolicy()


def _decode(case: Hostile, *, timestamps: TimestampPolicy = _HOST_CLOCK) -> Message:
    return decode_message(
        topic=f"{PREFIX}/ah-001/{case.leaf}", payload=case.payload, prefix=PREFIX, hosts=HOSTS,
        received_at=ARRIVED, timestamps=timestamps,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_payload_is_a_decode_error_naming_the_fault(case: Hostile) -> None:
    try:
        _decode(case)
    except DecodeError as error:
        assert case.names in error.message, error.message
        assert isinstance(error, TimestampOutOfRange) == (case.kind == "bad_timestamp"), repr(error)
        assert (error.device_id, error.where) == ("ah-001", f"{PREFIX}/ah-001/{case.leaf}")
        assert len(str(error)) < 400, "an error quotes at most a bounded part of the payload"
        str(error).encode("utf-8")  # printable by any log handler or API response
    else:
        pytest.fail(f"{case.name}: accepted")


def test_the_corpus_covers_every_kind_and_has_unique_names() -> None:
    assert len({c.name for c in CASES}) == len(CASES)
    assert {c.kind for c in CASES} == {"malformed", "bad_timestamp"}


ARRIVAL_CASES = [c for c in time_cases(ARRIVED) if c.kind == "bad_timestamp" or "year 1" in c.name or "9999" in c.name]


@pytest.mark.parametrize("case", ARRIVAL_CASES, ids=[c.name for c in ARRIVAL_CASES])
def test_a_host_with_a_bad_clock_is_stamped_on_arrival(case: Hostile) -> None:
    message = _decode(case, timestamps=ARRIVAL_CLOCK)
    assert message.ts == ARRIVED
    assert isinstance(message, AlarmEvent if case.leaf == "event" else HostStatus)


def test_arrival_stamping_is_per_host() -> None:
    [ahead] = [c for c in time_cases(ARRIVED) if c.name == "6 minutes ahead"]
    other_host = TimestampPolicy(arrival_hosts=frozenset({"ah-002"}))
    with pytest.raises(TimestampOutOfRange):
        _decode(ahead, timestamps=other_host)


def test_arrival_stamping_still_refuses_a_malformed_payload() -> None:
    [naive] = [c for c in CASES if c.name == "ts = '2026-01-01T00:00:00'"]
    with pytest.raises(DecodeError, match="ts: Input should have timezone info"):
        _decode(naive, timestamps=ARRIVAL_CLOCK)


@pytest.mark.parametrize(
    ("offset", "accepted"),
    [
        (timedelta(days=-7), True),
        (timedelta(days=-7, seconds=-1), False),
        (timedelta(minutes=5), True),
        (timedelta(minutes=5, seconds=1), False),
    ],
)
def test_the_window_edges_are_inclusive(offset: timedelta, accepted: bool) -> None:
    payload = json.dumps({"event_id": "e", "ts": (ARRIVED + offset).isoformat(), "type": "tamper"}).encode()
    case = Hostile("edge", "event", payload, "bad_timestamp", "")
    if accepted:
        assert _decode(case).ts == ARRIVED + offset
    else:
        with pytest.raises(TimestampOutOfRange):
            _decode(case)


def test_a_configured_window_is_used() -> None:
    narrow = TimestampPolicy(window=TimestampWindow(max_age_s=60, max_lead_s=1))
    payload = json.dumps({"event_id": "e", "ts": (ARRIVED - timedelta(seconds=61)).isoformat(), "type": "tamper"})
    with pytest.raises(TimestampOutOfRange, match=r"at most 60 s old: max_timestamp_age_s"):
        _decode(Hostile("old", "event", payload.encode(), "bad_timestamp", ""), timestamps=narrow)


def test_a_payload_of_exactly_4096_bytes_is_read() -> None:
    payload = json.dumps({"event_id": "e", "ts": ARRIVED.isoformat(), "type": "tamper"}).encode().ljust(4096)
    assert _decode(Hostile("4 KB", "event", payload, "malformed", "")).ts == ARRIVED
