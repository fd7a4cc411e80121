"""Night creep with the example rules against the simulated station: it fires on a creep and
on nothing else — not on a failed regulator's climb, the return from a slam-shut trip or a
comm loss, nor on technicians' work — by night (03:00 at the site) and by day (12:30)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

import pytest

from sitewatch.components import asset_channels
from sitewatch.config.load import load_config
from sitewatch.domain.alerts import AlertState
from sitewatch.domain.samples import Sample
from sitewatch.domain.time import UTC
from sitewatch.rules.engine import AssetChannels, RulesEngine
from sitewatch.rules.models import NightCreepRule
from sitewatch.simulators.regulator.model import reading_at
from tests.rules import simulated
from tests.rules.test_example_rules import EXAMPLE

NIGHT = datetime(2026, 12, 3, 19, 0, tzinfo=UTC)  # 03:00 in Asia/Shanghai: the night's low flow
DAY = datetime(2026, 12, 3, 4, 30, tzinfo=UTC)  # 12:30 there: flow well above 200 Nm3/h
POLL_S = 5.0
ASSET = "rs-north-01"
REFILL_S = 60.0  # a slam-shut reset repressurises the outlet over tens of seconds (the model: at once)


@pytest.fixture(scope="module")
def example() -> tuple[tuple, AssetChannels]:
    config = load_config(EXAMPLE)
    return config.rules, next(a for a in asset_channels(config) if a.asset_id == ASSET)


@dataclass(frozen=True)
class Scene:
    """A stretch of the station's life polled every POLL_S, with times in seconds from start."""

    start: datetime
    seconds: float
    faults: tuple[tuple[str, float, float | None], ...] = ()  # (fault, from, cleared at or None)
    silent: tuple[float, float] | None = None  # no samples (comm loss); the engine still ticks
    work: tuple[float, float] | None = None  # technicians at work at the station
    lock_up_test: tuple[float, float] | None = None  # outlet valve shut: no flow, outlet up to lock-up
    restart: tuple[float, float] | None = None  # (at, down for): snapshot, a new engine restores it

    def poll(self, at_s: float) -> list[Sample]:
        at = self.start + timedelta(seconds=at_s)
        faults = [simulated.fault(name, self.start + timedelta(seconds=a)) for name, a, b in self.faults
                  if a <= at_s and (b is None or at_s < b)]
        values = asdict(reading_at(simulated.spec(ASSET, seed=3), at, boot_at=self.start - timedelta(days=1),
                                 faults=faults))
        reset = max((b for name, _, b in self.faults if name == "slam_shut_trip" and b is not None and b <= at_s),
                    default=None)
        if reset is not None:
            values["outlet_kpa"] *= min(1.0, (at_s - reset) / REFILL_S)
        if self.lock_up_test and self.lock_up_test[0] <= at_s < self.lock_up_test[1]:
            values["flow_nm3h"] = 0.0  # the model has no such test: the stream is edited to look like one
            values["outlet_kpa"] += min(0.2, 0.02 * (at_s - self.lock_up_test[0]))  # 2.5 -> ~2.7, below 2.75
        return [Sample(ASSET, c, at, float(values[c]), unit) for c, unit in simulated.UNITS.items()]


def play(example, scene: Scene, *, rules=None) -> list:
    """Every transition of the scene, one poll per batch (the runtime's tick)."""
    config_rules, station = example
    engine = RulesEngine(rules=rules or config_rules, assets=[station], started_at=scene.start)
    out = []
    t = 0.0
    while t <= scene.seconds:
        if scene.restart and scene.restart[0] <= t:
            restart_s, down_s = scene.restart
            payload = engine.snapshot()
            t = restart_s + down_s
            engine = RulesEngine(rules=rules or config_rules, assets=[station],
                                 started_at=scene.start + timedelta(seconds=t))
            assert engine.restore(payload) > 0
            scene = replace(scene, restart=None)
        silent = scene.silent and scene.silent[0] <= t < scene.silent[1]
        at_work = {ASSET} if scene.work and scene.work[0] <= t < scene.work[1] else set()
        batch = engine.batch([] if silent else scene.poll(t))
        out += engine.evaluate(batch, now=scene.start + timedelta(seconds=t), at_work=at_work)
        t += POLL_S
    return out


def fired(out: list) -> list[str]:
    return sorted(t.rule_id for t in out if t.state is AlertState.FIRING)


@pytest.mark.parametrize("start", [NIGHT, DAY], ids=["night", "day"])
def test_a_failed_regulator_raises_its_pressure_alerts_never_night_creep(example, start):
    out = play(example, Scene(start, 900, faults=(("regulator_failure", 60, 400),)))
    assert {"outlet-high", "relief-venting"} <= set(fired(out))
    assert "night-creep" not in fired(out), "the climb and the return to set point are no creep"


@pytest.mark.parametrize("start", [NIGHT, DAY], ids=["night", "day"])
def test_a_slam_shut_trip_and_its_return_raise_no_night_creep(example, start):
    out = play(example, Scene(start, 900, faults=(("slam_shut_trip", 60, 300),)))
    assert {"slam-shut-tripped", "outlet-low"} <= set(fired(out))
    assert "night-creep" not in fired(out), "the outlet bled to ~0 while tripped: its minimum is no baseline"


def test_without_restart_on_the_return_from_a_trip_is_taken_for_a_creep(example):
    """What the restarts are for: the same scene, night creep judged as it used to be."""
    rules, _ = example
    bare = [r.model_copy(update={"restart_on": (), "settle_s": 0.0}) if isinstance(r, NightCreepRule) else r
            for r in rules]
    out = play(example, Scene(NIGHT, 900, faults=(("slam_shut_trip", 60, 300),)), rules=bare)
    [creep] = [t for t in out if t.rule_id == "night-creep" and t.state is AlertState.FIRING]
    assert "crept up 2." in creep.summary


@pytest.mark.parametrize("start", [NIGHT, DAY], ids=["night", "day"])
def test_a_comm_loss_and_the_return_raise_only_no_data(example, start):
    out = play(example, Scene(start, 900, silent=(60, 360)))
    assert fired(out) == ["no-data"]


def test_a_trip_reset_while_the_station_was_silent_raises_no_night_creep(example):
    # silent from 20 s into the trip (outlet ~0), reset (and refilled) during the outage
    out = play(example, Scene(NIGHT, 900, faults=(("slam_shut_trip", 60, 200),), silent=(80, 400)))
    assert "no-data" in fired(out) and "night-creep" not in fired(out)


@pytest.mark.parametrize("start", [NIGHT, DAY], ids=["night", "day"])
def test_a_lock_up_test_during_work_at_the_station_raises_no_night_creep(example, start):
    scene = Scene(start, 900, work=(60, 400), lock_up_test=(120, 300))
    assert play(example, scene) == []
    unseen = play(example, Scene(start, 900, lock_up_test=(120, 300)))
    assert "night-creep" in fired(unseen), "the same test with nobody known to be at work looks like a creep"


def sustained_crossing(scene: Scene, *, from_s: float, fire_s: float, rise: float) -> float:
    """The first poll from which outlet − its minimum since ``from_s`` stays ≥ ``rise`` up to
    ``fire_s``: noise (±0.02 kPa) makes the rise dither across the limit for a while."""
    lowest, crossing = float("inf"), None
    t = from_s
    while t <= fire_s:
        outlet = next(s.value for s in scene.poll(t) if s.channel == "outlet_kpa")
        lowest = min(lowest, outlet)
        crossing = (crossing if crossing is not None else t) if outlet - lowest >= rise else None
        t += POLL_S
    assert crossing is not None
    return crossing


@pytest.mark.parametrize(("scene", "baseline_from_s"), [
    (Scene(NIGHT, 600, faults=(("night_creep", 60, None),)), 0.0),
    # creeping since before work at the station ended: at work last at 65 s, so the
    # baseline starts with the first poll more than settle_s (60 s) later
    (Scene(NIGHT, 600, faults=(("night_creep", 60, None),), work=(0, 70)), 130.0),
], ids=["healthy-start", "after-work"])
def test_a_real_night_creep_fires_within_for_s_and_a_poll_of_crossing_the_rise(example, scene, baseline_from_s):
    out = play(example, scene)
    [creep] = [t for t in out if t.rule_id == "night-creep"]
    fire_s = (creep.at - scene.start).total_seconds()
    crossing = sustained_crossing(scene, from_s=baseline_from_s, fire_s=fire_s, rise=0.1)
    assert 60.0 <= fire_s - crossing <= 60.0 + POLL_S
    assert creep.state is AlertState.FIRING and "regulator not locking up" in creep.summary


def test_by_day_the_night_creep_fault_raises_nothing(example):
    assert play(example, Scene(DAY, 900, faults=(("night_creep", 60, None),))) == []


@pytest.mark.parametrize(("scene", "expect_creep"), [
    # restarted while tripped (outlet ~0), back 10 s later, reset afterwards
    (Scene(NIGHT, 900, faults=(("slam_shut_trip", 60, 300),), restart=(120, 10)), False),
    # restarted during the settle after the reset (outlet-low resolved at 350 s, refilling till 360 s)
    (Scene(NIGHT, 900, faults=(("slam_shut_trip", 60, 300),), restart=(355, 0)), False),
    # restarted during the settle after work at the station (with a lock-up test)
    (Scene(NIGHT, 900, work=(60, 400), lock_up_test=(120, 300), restart=(420, 10)), False),
    # restarted while a real creep is pending: it fires as if there had been no restart
    (Scene(NIGHT, 600, faults=(("night_creep", 60, None),), restart=(140, 10)), True),
], ids=["tripped", "settling-after-reset", "settling-after-work", "creep-pending"])
def test_a_restart_mid_stretch_keeps_the_behaviour(example, scene, expect_creep):
    out = play(example, scene)
    assert ("night-creep" in fired(out)) is expect_creep
    if expect_creep:
        whole = play(example, replace(scene, restart=None))
        assert [t.at for t in out if t.rule_id == "night-creep"] == [t.at for t in whole if t.rule_id == "night-creep"]
