"""What a daily review says: frozen models, units in names, JSON-serialisable as signed.

Every value in a channel row is in that channel's unit (``unit``; the channel's name also
carries it: outlet_kpa, inlet_mpa). Times are UTC; pages and exports show site time.
A number that cannot exist (no good sample in the window) is None, never NaN.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

FORMAT_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FlagKind(str, enum.Enum):
    OUTSIDE_LIMITS = "outside_limits"  # min below the asset's low limit or max above its high
    LOW_COMPLETENESS = "low_completeness"  # good samples / expected under the threshold
    FIELD_DISAGREES = "field_disagrees"  # SCADA differs from the field reading at its time


class Verdict(str, enum.Enum):
    NORMAL = "normal"
    ABNORMAL = "abnormal"


class ChannelSummary(_Frozen):
    channel: str
    unit: str
    samples_good: int
    samples_expected: int
    completeness_ratio: float  # samples_good / samples_expected
    min: float | None
    max: float | None
    mean: float | None
    last: float | None
    last_at: AwareDatetime | None
    limit_low: float | None  # the asset's own limits for the channel, if any
    limit_high: float | None


class Flag(_Frozen):
    kind: FlagKind
    channel: str
    detail: str  # one line for the manager, with values and units


class FieldComparison(_Frozen):
    """The last field reading of a channel against the SCADA sample nearest its time."""

    channel: str
    unit: str
    field_value: float
    taken_at: AwareDatetime
    scada_value: float | None  # None: SCADA had no good sample near the reading's time
    scada_at: AwareDatetime | None
    tolerance: float  # in the channel's unit
    agrees: bool | None  # None: nothing to compare with


class _WithMessage(_Frozen):
    """An entry whose English text has an ``sitewatch.i18n.messages.Message`` (JSON) beside it, shown in
    the reader's language. Without one (a row stored before messages existed) the key is
    left out of the content rather than written as null: such a day keeps the canonical
    JSON, and so the content hash, its log had before the field existed. Old content loads
    with None."""

    message_field: ClassVar[str]

    @model_serializer(mode="wrap")
    def _no_null_message(self, handler: SerializerFunctionWrapHandler):  # noqa: ANN202
        # No return annotation: one would replace the model's serialization schema (OpenAPI)
        # with a bare object.
        data = handler(self)
        if data.get(self.message_field, False) is None:
            del data[self.message_field]
        return data


class AlertEntry(_WithMessage):
    """An alert firing at some moment of the window; resolved_at only if within it."""

    message_field: ClassVar[str] = "summary_msg"

    id: int
    rule_id: str
    channel: str
    severity: str
    started_at: AwareDatetime
    resolved_at: AwareDatetime | None
    summary: str  # English, as stored in alerts.summary
    summary_msg: dict[str, Any] | None = None  # alerts.summary_msg


class TicketEntry(_WithMessage):
    """A ticket open at some moment of the window; closed_at only if within it."""

    message_field: ClassVar[str] = "title_msg"

    id: int
    title: str  # English, as stored in tickets.title
    severity: str
    source: str
    opened_at: AwareDatetime
    closed_at: AwareDatetime | None
    title_msg: dict[str, Any] | None = None  # tickets.title_msg


class StationReview(_Frozen):
    station_id: str
    name: str
    kind: str
    poll_interval_s: float
    completeness_ratio: float  # over all its channels
    channels: tuple[ChannelSummary, ...]
    field_readings: tuple[FieldComparison, ...]
    alerts: tuple[AlertEntry, ...]
    tickets: tuple[TicketEntry, ...]
    flags: tuple[Flag, ...]
    verdict: Verdict


class SiteReview(_Frozen):
    """One site's regulator station operation log for one day: what the manager signs."""

    format_version: int = FORMAT_VERSION
    site_id: str
    site_name: str
    time_zone: str
    day: dt.date  # site-local date the window ends on
    window_start: AwareDatetime  # UTC, inclusive
    window_end: AwareDatetime  # UTC, exclusive
    completeness_min_ratio: float
    field_tolerance_fraction: float
    stations: tuple[StationReview, ...]

    @property
    def abnormal(self) -> tuple[StationReview, ...]:
        return tuple(s for s in self.stations if s.verdict is Verdict.ABNORMAL)
