"""Rule declarations, as written in the deployment's TOML file."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.alerts import Severity


class _Rule(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    channel: str
    severity: Severity = Severity.MAJOR
    asset_kinds: tuple[str, ...] = ()  # empty: every asset that has the channel
    # While an alert of this rule fires, its asset counts as offline: the asset's other new
    # alerts, and those of assets that depend on it, are recorded but page nobody.
    offline: bool = False


class ThresholdRule(_Rule):
    """Fires when the value stays beyond ``level`` for ``for_s``; clears only past ``clear_level``.

    An asset's own ``limits`` for the channel take precedence over ``level``/``clear_level``,
    so one rule serves stations with different set points.
    """

    kind: Literal["threshold"]
    direction: Literal["above", "below"]
    level: float | None = None
    clear_level: float | None = None  # hysteresis; defaults to ``level``
    for_s: float = Field(default=0.0, ge=0)
    # Still firing and not acknowledged by the control room after this long: raise the
    # alert (and its ticket) to ``escalate_to`` — e.g. an intrusion alarm nobody answered.
    escalate_after_s: float | None = Field(default=None, gt=0)
    escalate_to: Severity = Severity.CRITICAL

    @model_validator(mode="after")
    def _clear_on_the_right_side(self) -> "ThresholdRule":
        if self.level is not None and self.clear_level is not None:
            if self.direction == "above" and self.clear_level > self.level:
                raise ValueError("clear_level must not be above level for an 'above' rule")
            if self.direction == "below" and self.clear_level < self.level:
                raise ValueError("clear_level must not be below level for a 'below' rule")
        return self


class NoDataRule(_Rule):
    """Fires when a channel has had no good sample for ``after_s``."""

    kind: Literal["no_data"]
    after_s: float = Field(gt=0)


Rule = Annotated[Union[ThresholdRule, NoDataRule], Field(discriminator="kind")]
