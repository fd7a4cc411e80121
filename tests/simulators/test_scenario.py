"""The fault-script player: order, timing, records, refusals and cancellation."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from sitewatch.domain.time import UTC, SystemClock
from sitewatch.simulators.common.errors import InvalidFaultParams, UnknownFault
from sitewatch.simulators.common.faults import ActiveFault
from sitewatch.simulators.regulator.fleet import build
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs
from sitewatch.simulators.scenario import Applied, Script, Step, play


class RecordingTarget:
    """A fleet stand-in: remembers every call with the loop time it came at."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, dict, float]] = []
        self.in_force: set[tuple[str, str]] = set()

    async def inject(self, device_id: str, fault: str, /, **params: float) -> ActiveFault:
        self.calls.append(("inject", device_id, fault, params, asyncio.get_running_loop().time()))
        self.in_force.add((device_id, fault))
        return ActiveFault(fault, datetime.now(UTC), params)

    async def clear(self, device_id: str, fault: str | None = None) -> tuple[str, ...]:
        self.calls.append(("clear", device_id, fault or "", {}, asyncio.get_running_loop().time()))
        self.in_force.discard((device_id, fault))
        return (fault,) if fault else ()


def test_steps_are_checked_when_built():
    with pytest.raises(ValueError, match="end_s must be after start_s"):
        Step("r", "rs-001", "door_open", 2.0, 1.0)
    with pytest.raises(ValueError, match="start_s"):
        Step("r", "rs-001", "door_open", -1.0)
    with pytest.raises(ValueError, match="overlap"):
        Script((Step("r", "rs-001", "door_open", 0, 2), Step("r", "rs-001", "door_open", 1, 3)))
    with pytest.raises(ValueError, match="overlap"):  # a fault left in force overlaps any later one
        Script((Step("r", "rs-001", "door_open", 0), Step("r", "rs-001", "door_open", 1, 3)))
    with pytest.raises(ValueError, match="duplicate step label"):
        Script((Step("r", "rs-001", "door_open", 0, 1, label="x"), Step("r", "rs-002", "gas_leak", 0, 1, label="x")))
    # back to back is fine, and the default labels tell the two apart
    script = Script((Step("r", "rs-001", "door_open", 0, 1), Step("r", "rs-001", "door_open", 1, 2)))
    assert [s.label for s in script.steps] == ["rs-001/door_open@0", "rs-001/door_open@1"]
    assert script.duration_s == 2
    step = Step("r", "rs-001", "gas_leak", 0, 1, params={"rate_pct_s": 5.0})
    with pytest.raises(TypeError):
        step.params["rate_pct_s"] = 1.0  # frozen all the way down


async def test_plays_in_offset_order_and_records_what_it_did():
    target = RecordingTarget()
    script = Script((
        Step("t", "a", "door_open", 0.10, 0.30),
        Step("t", "b", "gas_leak", 0.0, 0.20, params={"rate_pct_s": 5.0}),
        Step("t", "a", "door_open", 0.30, None, label="again"),  # same offset as the clear above
    ))
    seen: list[Applied] = []
    before = datetime.now(UTC)
    t0 = asyncio.get_running_loop().time()
    applied = await play(script, {"t": target}, on_applied=seen.append)

    assert [(c[0], c[1], c[2]) for c in target.calls] == [
        ("inject", "b", "gas_leak"),
        ("inject", "a", "door_open"),
        ("clear", "b", "gas_leak"),
        ("clear", "a", "door_open"),  # a clear comes before an inject at the same offset
        ("inject", "a", "door_open"),
    ]
    assert target.calls[0][3] == {"rate_pct_s": 5.0}
    offsets = [c[4] - t0 for c in target.calls]
    for got, want in zip(offsets, [0.0, 0.10, 0.20, 0.30, 0.30]):
        assert want - 0.001 <= got <= want + 0.05, f"action at +{got:.3f} s, scripted +{want} s"

    assert [a.step for a in applied] == list(script.steps)
    first, second, third = applied
    assert before <= second.started_at < first.started_at < second.ended_at < first.ended_at
    assert third.ended_at is None and third.started_at >= first.ended_at
    assert len(seen) == 5 and seen[0].step.label == "b/gas_leak@0" and seen[0].ended_at is None


async def test_an_unknown_target_fault_or_param_is_refused_before_anything_is_injected():
    fleet = build(FleetConfig(stations=make_station_specs(1)))
    target = RecordingTarget()
    bad_fault = Script((Step("t", "x", "door_open", 0, 1), Step("r", "rs-001", "door_opened", 0.1, 1)))
    with pytest.raises(UnknownFault):
        await play(bad_fault, {"t": target, "r": fleet})
    bad_param = Script((Step("r", "rs-001", "gas_leak", 0, 1, params={"rate": 1.0}),))
    with pytest.raises(InvalidFaultParams):
        await play(bad_param, {"r": fleet})
    with pytest.raises(KeyError, match="no target 'cameras'"):
        await play(Script((Step("cameras", "cam-001", "tamper", 0, 1),)), {"t": target})
    assert target.calls == []


async def test_cancelling_clears_what_it_injected_and_leaves_no_task():
    target = RecordingTarget()
    script = Script((
        Step("t", "a", "door_open", 0.0, 30.0),
        Step("t", "b", "mains_loss", 0.0, None),
        Step("t", "c", "gas_leak", 20.0, 25.0),
    ))
    seen: list[Applied] = []
    task = asyncio.create_task(play(script, {"t": target}, on_applied=seen.append))
    while len(seen) < 2:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert target.in_force == set(), "a cancelled play ends the faults it started"
    assert [c[0] for c in target.calls] == ["inject", "inject", "clear", "clear"]
    # no_leaked_tasks (tests/conftest.py) checks that nothing else is left running


async def test_against_a_real_fleet_the_fault_is_in_force_between_the_recorded_times():
    fleet = build(FleetConfig(stations=make_station_specs(2, seed=3)))
    async with fleet:
        script = Script((
            Step("regulators", "rs-001", "door_open", 0.0, 0.2),
            Step("regulators", "rs-002", "comm_loss", 0.05, 0.25),
        ))
        during: dict[str, tuple[int, tuple[str, ...]]] = {}

        def watch(record: Applied) -> None:
            if record.ended_at is None and record.step.device_id == "rs-001":
                during["door"] = (fleet.reading("rs-001").door_open, ())
            if record.ended_at is None and record.step.device_id == "rs-002":
                during["comm"] = (0, tuple(f.name for f in fleet.active_faults("rs-002")))

        door, comm = await play(script, {"regulators": fleet}, clock=SystemClock(), on_applied=watch)
        assert during == {"door": (1, ()), "comm": (0, ("comm_loss",))}
        assert fleet.active_faults("rs-001") == () and fleet.active_faults("rs-002") == ()
        assert fleet.reading("rs-001").door_open == 0
        assert door.started_at < door.ended_at and comm.started_at < comm.ended_at
        assert (door.ended_at - door.started_at).total_seconds() == pytest.approx(0.2, abs=0.05)
        # the station listens again on its old port after comm_loss ended
        reader, writer = await asyncio.open_connection("127.0.0.1", fleet.port_of("rs-002"))
        writer.close()
        await writer.wait_closed()
