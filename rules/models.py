"""Rule declarations, as written in the deployment's TOML file.

Every rule kind is a frozen pydantic model discriminated by ``kind``. Values are in the
channel's own unit (kPa for outlet_kpa, %LEL for gas_lel_pct ...); durations in seconds.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sitewatch.domain.alerts import Severity

# The regulator pressures a rule may be written relative to (config.models.RegulatorSettings).
Setting = Literal["set_point_kpa", "lock_up_kpa", "relief_kpa", "slam_shut_kpa"]
# Why an alert may page nobody (tickets/holds.py).
HoldKind = Literal["maintenance", "inspection", "offline", "site-down"]
ALL_HOLDS: tuple[HoldKind, ...] = ("maintenance", "inspection", "offline", "site-down")


class _Base(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    severity: Severity = Severity.MAJOR
    asset_kinds: tuple[str, ...] = ()  # empty: every asset that has the channel(s)
    # While an alert of this rule fires, its asset counts as offline: the asset's other new
    # alerts, and those of assets that depend on it, are recorded but page nobody.
    offline: bool = False
    # The fault this rule's alerts are symptoms of (a [correlation.faults] group: pressure
    # control, gas, power ...): alerts of one asset in one group share one ticket. None: a
    # ticket of its own per fingerprint.
    fault: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    # What may hold this rule's alerts back from paging (tickets/holds.py). A gas alarm
    # says ["maintenance"]: only an explicit maintenance window silences it, never an
    # inspection in progress or an outage just ended.
    held_by: tuple[HoldKind, ...] = ALL_HOLDS


class _Rule(_Base):
    """A rule on one channel (a pattern such as "zone_*_alarm" gives one alert per match)."""

    channel: str


class ThresholdRule(_Rule):
    """Fires when the value stays beyond ``level`` for ``for_s``; clears only past ``clear_level``.

    An asset's own ``limits`` for the channel take precedence over ``level``/``clear_level``,
    so one rule serves stations with different set points. With ``relative_to`` the levels
    are offsets (in the channel's unit, normally kPa) added to that regulator pressure of
    each asset instead; assets without regulator settings are skipped, and ``limits`` do not
    apply (the setting is the asset's own level).

    ``critical_level`` (beyond ``level``, same offset rule): while firing, a value beyond it
    raises the alert once to CRITICAL (one more FIRING transition, e.g. gas 20 %LEL warning
    -> 50 %LEL critical). It does not step down until the alert resolves.
    """

    kind: Literal["threshold"]
    direction: Literal["above", "below"]
    level: float | None = None
    clear_level: float | None = None  # hysteresis; defaults to ``level``
    critical_level: float | None = None
    relative_to: Setting | None = None
    for_s: float = Field(default=0.0, ge=0)
    # Still firing and not acknowledged by the control room after this long: raise the
    # alert (and its ticket) to ``escalate_to`` — e.g. an intrusion alarm nobody answered.
    escalate_after_s: float | None = Field(default=None, gt=0)
    escalate_to: Severity = Severity.CRITICAL

    @model_validator(mode="after")
    def _levels_on_the_right_side(self) -> "ThresholdRule":
        above = self.direction == "above"
        if self.level is not None and self.clear_level is not None:
            if above and self.clear_level > self.level:
                raise ValueError("clear_level must not be above level for an 'above' rule")
            if not above and self.clear_level < self.level:
                raise ValueError("clear_level must not be below level for a 'below' rule")
        if self.relative_to is not None and self.level is None:
            raise ValueError("relative_to needs a level (an offset from the setting)")
        if self.critical_level is not None:
            if Severity(self.severity) is Severity.CRITICAL:
                raise ValueError("critical_level on a rule that is already critical: nothing to step up to")
            if self.level is not None:
                if above and self.critical_level <= self.level:
                    raise ValueError("critical_level must be above level for an 'above' rule")
                if not above and self.critical_level >= self.level:
                    raise ValueError("critical_level must be below level for a 'below' rule")
        return self


class NoDataRule(_Rule):
    """Fires when a channel has had no good sample for ``after_s``."""

    kind: Literal["no_data"]
    after_s: float = Field(gt=0)


class RateOfChangeRule(_Rule):
    """Fires when the channel rises (or falls) faster than ``per_min`` units per minute.

    The rate is measured over a sliding window, not between consecutive samples: it is the
    change from the newest earlier sample at least ``window_s`` old to the current one,
    divided by the time between them. Sample noise (±0.02 kPa on an outlet) then counts
    once per window instead of once per poll: at ``window_s`` = 5 s it weighs at most
    0.04 kPa / 5 s = 0.5 kPa/min, whatever the poll interval. A step smaller than
    ``per_min`` × ``window_s`` / 60 (a regulator settling back by 0.7 kPa) never fires. The
    engine keeps up to 16 earlier samples per channel, at least ``window_s`` / 14 apart.

    Detection delay: the time the signal needs to change by ``per_min`` × span / 60, where
    span is ``window_s`` or one poll interval, whichever is longer (plus ``for_s``). A pipe
    burst (2.5 -> 0.5 kPa, time constant 1 s) at 12 kPa/min over 5 s fires within 1.7 s at a
    1 s poll and within 6 s at a 5 s poll. A window shorter than the poll interval makes
    the span the poll interval: 20 kPa/min over 3 s misses a third of bursts at a 5 s poll.
    Clears when the rate is back below ``clear_per_min`` (default ``per_min`` / 2).
    The earlier samples are not part of the engine's snapshot: after a restart the rate is
    judged again once ``window_s`` of samples have arrived.
    """

    kind: Literal["rate_of_change"]
    direction: Literal["rising", "falling"]
    per_min: float = Field(gt=0, description="channel unit per minute")
    clear_per_min: float | None = Field(default=None, ge=0, description="channel unit per minute")
    window_s: float = Field(default=5.0, gt=0)
    for_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _clear_below_the_rate(self) -> "RateOfChangeRule":
        if self.clear_per_min is not None and self.clear_per_min > self.per_min:
            raise ValueError("clear_per_min must not exceed per_min")
        return self

    @property
    def clear_rate(self) -> float:
        return self.per_min / 2 if self.clear_per_min is None else self.clear_per_min


class FlatlineRule(_Rule):
    """A stuck sensor: fires when the value has stayed within ±``tolerance`` (channel unit)
    of the first value of the stretch for ``for_s``; the first sample outside clears it and
    starts a new stretch. Judged at samples only: no samples at all is a no-data fault."""

    kind: Literal["flatline"]
    tolerance: float = Field(ge=0)
    for_s: float = Field(gt=0)


class StateRule(_Rule):
    """A state channel (slam-shut closed, relief open, door open ...): fires while the value
    is one of ``alarm_values`` for ``for_s``. ``labels`` name values for the summary:
    ``{"1" = "tripped", "0" = "open"}`` gives "slam_shut_closed: tripped"."""

    kind: Literal["state"]
    alarm_values: tuple[float, ...] = Field(min_length=1)
    for_s: float = Field(default=0.0, ge=0)
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("labels")
    @classmethod
    def _labels_name_numbers(cls, labels: dict[str, str]) -> dict[str, str]:
        for key in labels:
            try:
                float(key)
            except ValueError:
                raise ValueError(f"labels key {key!r} is not a number (write the state's value, e.g. \"1\")") from None
        return labels

    def named(self, value: float) -> str | None:
        """The label of a state value, None when ``labels`` does not name it."""
        for key, text in self.labels.items():
            if float(key) == value:
                return text
        return None


class Condition(BaseModel):
    """One comparison of a composite rule: ``channel op value`` (``value`` an offset from the
    asset's ``relative_to`` setting when that is given)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    channel: str = Field(pattern=r"^[A-Za-z0-9_]+$")  # an exact channel name, no pattern
    op: Literal[">", ">=", "<", "<="]
    value: float
    relative_to: Setting | None = None


class CompositeRule(_Base):
    """Several channels of one asset judged together: ``all`` or ``any`` of ``conditions``
    true for ``for_s``. E.g. outlet low AND flow high = a downstream burst.

    Judged once per batch on the latest good value of each channel (a condition whose
    channel has had no value yet is false), at the time of the newest of those samples; a
    pending alert also fires when ``for_s`` passes with no new sample. The alert's channel
    is the first condition's. Assets lacking one of the channels are skipped.
    """

    kind: Literal["composite"]
    mode: Literal["all", "any"]
    conditions: tuple[Condition, ...] = Field(min_length=1)
    for_s: float = Field(default=0.0, ge=0)

    @property
    def channel(self) -> str:
        return self.conditions[0].channel


class NightCreepRule(_Base):
    """The regulator does not lock up at low flow: the outlet creeps up instead of holding.

    A low-flow period begins when the flow (``flow_channel``) is below ``low_flow`` (flow
    unit, e.g. Nm3/h) and ends when it is not. During it the engine tracks the outlet's
    lowest value (the baseline); the rule fires when outlet − that minimum ≥ ``rise``
    (outlet unit, kPa) for ``for_s``, and clears when the rise is below ``rise`` / 2 or
    the flow rises. Judged per batch: the batch's latest flow first, then its outlet
    samples in time order.

    Only a creep from a settled outlet counts, so the baseline starts again (a pending
    night creep returns to normal; a firing one clears on its own judgement later):

    - while an alert of a rule in ``restart_on`` is pending or firing on the asset, and
      when it ends (a failed regulator climbing; a slam-shut trip bleeding the outlet to 0,
      whose return to 2.5 kPa is no creep; no data). Those rules are judged before night
      creep in every batch, whatever their order in the file. Never name one that a real
      creep itself raises before ``for_s`` (the outlet above lock-up at low flow): the
      creep would inhibit itself;
    - while technicians are at work at the asset (a maintenance window or an inspection:
      ``at_work`` of ``RulesEngine.evaluate``), operating valves;
    - when outlet samples resume after a gap longer than ``gap_s`` (a comm loss, the
      service down): nobody saw what the outlet did meanwhile.

    After each of these the outlet is not tracked for ``settle_s`` (repressurising after a
    slam-shut reset takes tens of seconds). Engine start is no restart: the station did
    nothing because the service started; a restore keeps the baseline and measures the gap
    from the last sample before the restart.
    """

    kind: Literal["night_creep"]
    outlet_channel: str = "outlet_kpa"
    flow_channel: str = "flow_nm3h"
    low_flow: float = Field(gt=0)
    rise: float = Field(gt=0)
    for_s: float = Field(default=0.0, ge=0)
    restart_on: tuple[str, ...] = ()  # rule ids (not night_creep rules)
    gap_s: float = Field(default=60.0, gt=0)
    settle_s: float = Field(default=60.0, ge=0)

    @model_validator(mode="after")
    def _not_restarted_by_itself(self) -> "NightCreepRule":
        if self.id in self.restart_on:
            raise ValueError("restart_on names the rule itself: it would never fire")
        return self

    @property
    def channel(self) -> str:
        return self.outlet_channel


class BaselineRule(_Rule):
    """Statistical: for channels without fixed limits, learn what is normal per site-local
    hour of day (0-23, daylight saving respected) and fire on what is not.

    Per fingerprint and hour the engine keeps a running mean and variance of the samples
    judged ordinary — not those of a pending or firing alert, so a lasting anomaly is
    never learnt as normal (exact up to ``max_samples``, then exponentially
    weighted with weight 1 / ``max_samples``, so it follows the seasons). It fires when
    |value − mean| > ``sigma`` × std and > ``min_deviation`` (channel unit: a floor, so a
    near-constant channel does not alarm on noise) for ``for_s``, but only once that hour
    has ``min_samples`` samples. Clears when the deviation is back within both bounds.
    The learnt statistics are part of the engine's snapshot.
    """

    kind: Literal["baseline"]
    sigma: float = Field(default=4.0, gt=0)
    min_deviation: float = Field(ge=0)
    min_samples: int = Field(default=1000, ge=2)
    max_samples: int = Field(default=20_000, ge=2)
    for_s: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _enough(self) -> "BaselineRule":
        if self.max_samples < self.min_samples:
            raise ValueError("max_samples must not be below min_samples")
        if not math.isfinite(self.sigma):
            raise ValueError("sigma must be finite")
        return self


Rule = Annotated[
    Union[ThresholdRule, NoDataRule, RateOfChangeRule, FlatlineRule, StateRule, CompositeRule, NightCreepRule,
          BaselineRule],
    Field(discriminator="kind"),
]
