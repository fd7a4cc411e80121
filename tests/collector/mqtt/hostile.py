"""A generated corpus of hostile alarm-host payloads, shared by the decode and the whole-service tests.

Each case says how the consumer must count it (``malformed`` or ``bad_timestamp``) and what
its error message must name. Timestamps are built around ``now`` so that every case fails
for its own reason only; a case that is fine apart from its time carries a valid ``ts``.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Kind = Literal["malformed", "bad_timestamp"]


@dataclass(frozen=True)
class Hostile:
    name: str
    leaf: Literal["event", "status"]
    payload: bytes
    kind: Kind
    names: str  # a fragment of the error message: what is wrong


def _event(ts: str, **fields: object) -> dict[str, object]:
    return {"event_id": "hostile-1", "ts": ts, "type": "heartbeat"} | fields


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


def _with_raw(document: dict[str, object], key: str, raw: str) -> bytes:
    """``document`` with ``key`` set to ``raw`` JSON text (NaN, 1e400: json.dumps would not write them)."""
    text = json.dumps(document | {key: "RAW"})
    return text.replace('"RAW"', raw).encode()


def time_cases(now: datetime) -> list[Hostile]:
    """Timestamps that cannot be used: unrepresentable in UTC, or outside the window around ``now``."""
    eight_days_old = (now - timedelta(days=8)).isoformat()
    six_minutes_ahead = (now + timedelta(minutes=6)).isoformat()
    return [
        Hostile("year 1 with an offset", "event", _json(_event("0001-01-01T00:00:00+05:00")), "malformed",
                "cannot be represented in UTC"),
        Hostile("status, year 1 with an offset", "status", _json({"online": True, "ts": "0001-01-01T00:00:00+05:00"}),
                "malformed", "cannot be represented in UTC"),
        Hostile("year 9999 west of UTC", "event", _json(_event("9999-12-31T23:59:59-05:00")), "malformed",
                "cannot be represented in UTC"),
        Hostile("year 9999", "event", _json(_event("9999-12-31T20:00:00Z")), "bad_timestamp", "max_timestamp_lead_s"),
        Hostile("status in year 9999", "status", _json({"online": True, "ts": "9999-12-31T20:00:00Z"}), "bad_timestamp",
                "max_timestamp_lead_s"),
        Hostile("8 days old", "event", _json(_event(eight_days_old)), "bad_timestamp", "max_timestamp_age_s"),
        Hostile("6 minutes ahead", "event", _json(_event(six_minutes_ahead)), "bad_timestamp", "max_timestamp_lead_s"),
    ]


def hostile_cases(now: datetime) -> list[Hostile]:
    ts = now.isoformat()
    good = _event(ts)
    zone_alarm = _event(ts, type="zone_alarm", zone=3)
    cases = [
        Hostile("2,000 nested [", "event", b"[" * 2000, "malformed", "nested 2000 levels deep"),
        Hostile("800 nested objects", "event", b'{"a":' * 800, "malformed", "nested 800 levels deep"),
        Hostile("nesting inside a field", "event", _with_raw(good, "event_id", "[" * 6 + "]" * 6), "malformed",
                "nested 7 levels deep"),
        Hostile("zone of 4,000 digits", "event", _with_raw(zone_alarm, "zone", "9" * 4000), "malformed",
                "integer of 4000 digits"),
        Hostile("zone of 25 digits", "event", _with_raw(zone_alarm, "zone", "-" + "9" * 25), "malformed",
                "integer of 25 digits"),
        Hostile("battery_v 1e400", "event", _with_raw(good, "battery_v", "1e400"), "malformed",
                "number 1e400 is out of range"),
        Hostile("battery_v -1e400", "event", _with_raw(good, "battery_v", "-1e400"), "malformed",
                "number -1e400 is out of range"),
        Hostile("battery_v 1e308", "event", _with_raw(good, "battery_v", "1e308"), "malformed",
                "battery_v: Input should be less than or equal to 60"),
        *(Hostile(f"battery_v {raw}", "event", _with_raw(good, "battery_v", raw), "malformed",
                  f"{raw} is not a JSON number") for raw in ("NaN", "Infinity", "-Infinity")),
        Hostile("payload of 4 KB + 1", "event", _json(good).ljust(4097), "malformed",
                "payload of 4097 bytes exceeds 4096"),
        Hostile("empty payload", "event", b"", "malformed", "empty payload"),
        Hostile("not UTF-8", "event", b"\xff\xfe{}", "malformed", "not UTF-8 text: invalid start byte at byte 0"),
        Hostile("UTF-16 JSON", "event", json.dumps(good).encode("utf-16"), "malformed", "not UTF-8 text"),
        Hostile("NUL bytes", "event", b"\x00" * 16, "malformed", "not JSON"),
        Hostile("random bytes", "event", random.Random(9).randbytes(512), "malformed", "not UTF-8 text"),
        Hostile("truncated JSON", "event", _json(good)[:-5], "malformed", "not JSON"),
        Hostile("duplicate key", "event", _json(good)[:-1] + b', "ts": "2000-01-01T00:00:00Z"}', "malformed",
                "duplicate key 'ts'"),
        Hostile("lone surrogate as a key", "event", _json(good | {"\ud800": 1}), "malformed",
                "'\\ud800' holds an unpaired surrogate"),
        Hostile("lone surrogate in event_id", "event", _json(good | {"event_id": "e-\udfff"}), "malformed",
                "'e-\\udfff' holds an unpaired surrogate"),
        Hostile("an unknown field", "event", _json(good | {"colour": "red"}), "malformed",
                "colour: Extra inputs are not permitted"),
        *(Hostile(f"a JSON {name} instead of an object", "event", raw, "malformed", f"expected a JSON object, got {name}")
          for name, raw in (("list", b"[]"), ("str", b'"event"'), ("int", b"42"), ("NoneType", b"null"), ("bool", b"true"))),
    ]
    wrong_types: dict[str, list[object]] = {
        "event_id": [7, None, True, [], {}, "", "x" * 65],
        "ts": [1_700_000_000, 1.7e9, "1700000000", None, True, [], "yesterday", "2026-02-30T00:00:00Z",
               "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00"],
        "type": [5, None, "explosion", ["zone_alarm"]],
        "zone": ["3", 3.0, True, [3], 0, -1, 1000],
        "battery_v": ["13.4", True, [13.4], {"v": 13.4}, -1, 61],
    }
    for field, values in wrong_types.items():
        base = zone_alarm if field == "zone" else good
        for value in values:
            cases.append(Hostile(f"{field} = {value!r:.30}", "event", _json(base | {field: value}), "malformed", f"{field}:"))
    cases += [
        Hostile("zone alarm without a zone", "event", _json(_event(ts, type="zone_alarm")), "malformed",
                "zone_alarm needs a zone"),
        Hostile("tamper with a zone", "event", _json(_event(ts, type="tamper", zone=2)), "malformed",
                "tamper takes no zone"),
        *(Hostile(f"{field} missing", "event", _json({k: v for k, v in good.items() if k != field}), "malformed",
                  f"{field}: Field required") for field in ("event_id", "ts", "type")),
        *(Hostile(f"status online = {value!r}", "status", _json({"online": value, "ts": ts}), "malformed", "online:")
          for value in ("yes", 1, None, [])),
        *(Hostile(f"status ts = {value!r}", "status", _json({"online": True, "ts": value}), "malformed", "ts:")
          for value in (12, "garbage", "2026-01-01T00:00:00")),
        Hostile("status with an unknown field", "status", _json({"online": True, "ts": ts, "by": "me"}), "malformed",
                "by: Extra inputs are not permitted"),
    ]
    return cases + time_cases(now)
