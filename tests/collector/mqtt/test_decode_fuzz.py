"""Property tests of the alarm-host payload decoder: anyone who can reach the broker can publish.

- Any topic and payload (bytes, text, JSON of the right shape with wrong types, NaN, huge
  numbers, deep nesting, duplicated keys, odd times) gives a message or a DecodeError, never
  anything else; an error is printable and bounded.
- What is accepted comes out as the module documents: times timezone-aware UTC inside the
  window around arrival, samples with finite values in their unit ("state" 0/1, "V").
- A valid event or status written by a host decodes to what it says.
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sitewatch.collector.errors import DecodeError, TimestampOutOfRange
from sitewatch.collector.mqtt.decode import (
    MAX_MESSAGE_CHARS,
    AlarmEvent,
    EventType,
    HostStatus,
    TimestampPolicy,
    decode_message,
    to_samples,
)
from sitewatch.collector.timestamps import TimestampWindow
from tests.corpus import corpus_files, fuzz_settings

PREFIX = "sitewatch/alarmhost"
HOSTS = {"ah-001": "alarm-north-01", "ah-002": "alarm-north-02"}
ZONES = {"ah-001": 8}
ARRIVED = st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
WINDOW = TimestampWindow()
EVENT_TYPES = list(EventType.__args__)
ZONE_TYPES = [t for t in EVENT_TYPES if t.startswith("zone_")]
CHANNEL = re.compile(r"^(online|tamper|armed|mains_ok|battery_low|zone_\d{2,3}_(alarm|fault)|battery_v)$")

# --- what a payload may hold ------------------------------------------------------------------

OFFSETS = st.one_of(st.none(), st.just(UTC), st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m))))
TIMES = st.one_of(
    st.datetimes(timezones=OFFSETS).map(lambda d: d.isoformat()),  # year 1 to 9999, any offset
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1)).map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "2026-12-03T24:00:00Z",
                     "2026-02-30T10:00:00Z", "2026-12-03", "2026-12-03T10:30:00+25:00", "2026-W49-4T10:30Z",
                     "1772533800", "", " 2026-12-03T10:30:00Z", "2026-12-03T10:30:00.1234567+00:00"]),
    st.text(max_size=40),
)
NUMBERS = st.one_of(st.integers(), st.integers(-(10**30), 10**30), st.floats(),
                    st.sampled_from([0, 1, 999, 1000, -1, 60, 60.0000001, 1e308, 5e-324]))
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=70), TIMES, st.sampled_from(EVENT_TYPES))
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                      max_leaves=8)
KEYS = st.sampled_from(["event_id", "ts", "type", "zone", "battery_v", "online"])


def json_text(value: object) -> str:
    # Python's json writes NaN and Infinity, which JSON does not have: exactly what a broken host sends.
    return json.dumps(value, allow_nan=True)


@st.composite
def documents(draw: st.DrawFn) -> bytes:
    """A JSON object built from the payloads' own keys, each with any value, some keys twice,
    an unknown key now and then."""
    pairs = draw(st.lists(st.tuples(st.one_of(KEYS, st.text(max_size=10)), VALUES), max_size=7))
    if pairs and draw(st.booleans()):
        pairs.append(draw(st.sampled_from(pairs)))  # a key given twice
    body = ", ".join(f"{json_text(k)}: {json_text(v)}" for k, v in pairs)
    return ("{" + body + "}").encode("utf-8", "surrogatepass")


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, object]:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    event: dict[str, object] = {"event_id": draw(st.text(st.characters(exclude_categories=["Cs"]), min_size=1,
                                                         max_size=64)),
                                "ts": draw(TIMES), "type": event_type}
    if event_type in ZONE_TYPES:
        event["zone"] = draw(st.integers(1, 999))
    if draw(st.booleans()):
        event["battery_v"] = draw(st.floats(0, 60))
    return event


PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    documents(),
    valid_events().map(lambda e: json_text(e).encode("utf-8", "surrogatepass")),
    st.builds(lambda n, inner: ("[" * n + inner + "]" * n).encode(), st.integers(0, 3000), st.sampled_from(["", "1"])),
    st.builds(lambda n: ('{"zone": ' + "9" * n + "}").encode(), st.integers(15, 5000)),
    st.builds(lambda n: ('{"event_id": "' + "x" * n + '"}').encode(), st.integers(4000, 4200)),
)
TOPICS = st.one_of(
    st.builds(lambda host, leaf: f"{PREFIX}/{host}/{leaf}", st.sampled_from([*HOSTS, "ah-999", ""]),
              st.sampled_from(["status", "event", "event/x", "Status"])),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=60),
)


def decode(topic: str, payload: bytes, received_at: datetime, *, arrival: bool = False):
    policy = TimestampPolicy(window=WINDOW, arrival_hosts=frozenset({"ah-002"} if arrival else ()))
    return decode_message(topic=topic, payload=payload, prefix=PREFIX, hosts=HOSTS, received_at=received_at,
                          timestamps=policy, zones=ZONES)


def check(topic: str, payload: bytes, received_at: datetime) -> None:
    """The module's promises for one message, whatever it holds."""
    try:
        message = decode(topic, payload, received_at)
    except DecodeError as error:
        str(error).encode("utf-8")  # printable by any log handler, sendable in any API response
        if topic.startswith(PREFIX + "/ah-00"):
            assert len(error.message) <= MAX_MESSAGE_CHARS, "an error quotes a bounded part of the payload"
        if isinstance(error, TimestampOutOfRange):
            assert error.ts.utcoffset() == timedelta(0)
        return
    assert isinstance(message, AlarmEvent | HostStatus)
    assert message.asset_id == HOSTS[message.host_id]
    assert message.ts.tzinfo is not None and message.ts.utcoffset() == timedelta(0), message.ts
    assert received_at - timedelta(seconds=WINDOW.max_age_s) <= message.ts
    assert message.ts <= received_at + timedelta(seconds=WINDOW.max_lead_s)
    if isinstance(message, AlarmEvent) and message.zone is not None and message.host_id in ZONES:
        assert message.zone <= ZONES[message.host_id]
    for sample in to_samples(message):
        assert CHANNEL.match(sample.channel), sample.channel
        assert math.isfinite(sample.value), sample
        if sample.unit == "state":
            assert sample.value in (0.0, 1.0), sample
        else:
            assert sample.unit == "V" and 0 <= sample.value <= 60, sample
        assert sample.ts == message.ts


@fuzz_settings(250)
@given(TOPICS, PAYLOADS, ARRIVED)
@example(f"{PREFIX}/ah-001/event", b'{"zone": ' + b"9" * 5000 + b"}", datetime(2026, 12, 3, tzinfo=UTC))
@example(f"{PREFIX}/ah-001/event", b"[" * 3000, datetime(2026, 12, 3, tzinfo=UTC))
def test_any_message_decodes_or_is_a_decode_error(topic: str, payload: bytes, received_at: datetime):
    check(topic, payload, received_at)


@fuzz_settings(250)
@given(st.sampled_from(["ah-001", "ah-002"]), st.sampled_from(["status", "event"]), documents(), ARRIVED)
def test_payloads_of_the_right_keys_with_any_values(host: str, leaf: str, payload: bytes, received_at: datetime):
    check(f"{PREFIX}/{host}/{leaf}", payload, received_at)


@fuzz_settings(250)
@given(valid_events(), ARRIVED)
def test_an_event_a_host_writes_decodes_to_what_it_says(event: dict[str, object], received_at: datetime):
    payload = json.dumps(event).encode()
    topic = f"{PREFIX}/ah-002/event"  # zones unlimited, stamped on arrival: only the time can be refused
    try:
        message = decode(topic, payload, received_at, arrival=True)
    except DecodeError as error:
        # Only the time can be wrong here: not ISO 8601 with an offset.
        assert "ts" in error.message, error.message
        return
    assert isinstance(message, AlarmEvent)
    assert (message.event_id, message.type, message.zone, message.battery_v) == (
        event["event_id"], event["type"], event.get("zone"), event.get("battery_v"))
    assert message.ts == received_at
    check(topic, payload, received_at)


@fuzz_settings(150)
@given(st.booleans(), st.one_of(st.none(), TIMES), ARRIVED)
def test_a_status_a_host_writes_decodes_to_what_it_says(online: bool, ts: str | None, received_at: datetime):
    payload = json.dumps({"online": online} | ({} if ts is None else {"ts": ts})).encode()
    try:
        message = decode(f"{PREFIX}/ah-001/status", payload, received_at)
    except DecodeError:
        assert ts is not None, "a last will (no ts) is always read"
        return
    assert isinstance(message, HostStatus) and message.online is online and message.from_will is (ts is None)
    if ts is not None:
        assert message.ts == datetime.fromisoformat(ts).astimezone(UTC)


@pytest.mark.parametrize("path", corpus_files("mqtt"), ids=lambda p: p.name)
def test_kept_payloads_decode_in_linear_time(path):
    """Each kept payload costs ~1 ms; before the nesting count skipped strings in one pass,
    a 4 KB one of escaped quotes cost ~0.45 s of the consumer's CPU."""
    payload = path.read_bytes()
    started = time.process_time()
    for host in HOSTS:
        for leaf in ("status", "event"):
            check(f"{PREFIX}/{host}/{leaf}", payload, datetime(2026, 12, 3, 10, 30, tzinfo=UTC))
    assert time.process_time() - started < 0.1, "quadratic in the payload's length"
