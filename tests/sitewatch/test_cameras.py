"""Cameras end to end: simulator -> ONVIF collector (credentials from the vault) -> rules -> tickets."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sitewatch.demo import example_config
from sitewatch.domain.health import HealthState
from sitewatch.domain.time import UTC, ShiftedClock
from sitewatch.simulators.camera.fleet import build
from sitewatch.simulators.camera.spec import FleetConfig, make_camera_specs
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.schema import upgrade_schema
from sitewatch.vault import generate_key
from sitewatch.vault.keys import load_key
from sitewatch.vault.store import Vault
from tests.sitewatch.service import Service, wait_until


@pytest.fixture
async def cameras():
    fleet = build(FleetConfig(cameras=make_camera_specs(2, seed=3)))
    await fleet.start()
    yield fleet
    await fleet.stop()


def camera_config(fleet, tmp_path) -> dict:
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path), "flush_interval_s": 0.2}
    raw["rules_engine"] = {"tick_s": 0.2}
    raw.pop("mqtt")
    raw["assets"] = [
        {"id": spec.camera_id, "site": "north", "kind": "camera", "name": f"Camera {spec.camera_id}",
         "poll_interval_s": 1.0,
         "onvif": {"host": "127.0.0.1", "port": fleet.port_of(spec.camera_id), "credential": spec.camera_id,
                   "timeout_s": 2.0, "events_pull_timeout_s": 0.1, "events_interval_s": 0.3}}
        for spec in fleet.cameras
    ]
    raw["rules"] = [
        {"id": "camera-tamper", "kind": "threshold", "channel": "tamper", "direction": "above", "level": 0.5,
         "severity": "critical"},
        {"id": "picture-black", "kind": "threshold", "channel": "picture_black", "direction": "above",
         "level": 0.5, "severity": "major"},
    ]
    return raw


async def test_tamper_and_a_black_picture_open_tickets_with_vault_credentials(cameras, tmp_path, monkeypatch):
    monkeypatch.setenv("SITEWATCH_VAULT_KEY", generate_key())
    raw = camera_config(cameras, tmp_path)
    engine = make_engine(f"sqlite:///{tmp_path / 'sitewatch.db'}")
    upgrade_schema(engine)
    vault = Vault(session_factory(engine), load_key())
    for spec in cameras.cameras:
        vault.put(spec.camera_id, username=spec.username, password=spec.password, actor="lead", now=datetime.now(UTC))
    engine.dispose()

    async with Service(raw) as service, service.client() as api:
        health = service.parts.health.get("cam-001")
        assert health.state is HealthState.ONLINE
        await cameras.inject("cam-001", "tamper")
        await cameras.inject("cam-002", "video_loss")

        async def tickets():
            found = {(t["asset_id"], t["rule_id"]) for t in (await api.get("/api/tickets")).json()}
            return found if len(found) >= 2 else None

        got = await wait_until(tickets, timeout_s=15)
        assert got == {("cam-001", "camera-tamper"), ("cam-002", "picture-black")}
        asset = (await api.get("/api/assets/cam-001")).json()
        assert asset["details"]["credential"] == "cam-001"
        spec = cameras.spec_of("cam-001")
        assert asset["reported"]["model"] == spec.model and asset["reported"]["serial"] == spec.serial_number, \
            "the camera's own model and serial reach the inventory"
        assert "sitewatch" not in str(asset), "no password in the API"
        snapshot = await api.get("/api/assets/cam-002/snapshot.jpg")  # the black picture, kept for its page
        assert snapshot.status_code == 200 and snapshot.content.startswith(b"\xff\xd8"), snapshot.text[:200]
        events = service.parts.health.get("cam-001/events")
        assert events.polls_ok > service.parts.health.get("cam-001").polls_ok, "events pulled on their own, faster"
        uses = service.parts.vault.describe("cam-001").uses
        assert 1 <= uses <= 2, f"credentials fetched once per change, not per SOAP call ({uses} uses)"


async def test_on_a_shifted_clock_a_camera_in_step_with_it_has_no_clock_offset(tmp_path, monkeypatch):
    """The demo at --site-time 03:00: cameras and service share one clock three hours off
    the wall clock. The collector's side of the comparison (and of the WS-Security token
    date) must be that clock, not the wall clock, or every camera reads hours adrift."""
    clock = ShiftedClock(datetime.now(UTC) - timedelta(hours=3))
    fleet = build(FleetConfig(cameras=make_camera_specs(1, seed=3)), clock=clock)
    await fleet.start()
    try:
        monkeypatch.setenv("SITEWATCH_VAULT_KEY", generate_key())
        raw = camera_config(fleet, tmp_path)
        engine = make_engine(f"sqlite:///{tmp_path / 'sitewatch.db'}")
        upgrade_schema(engine)
        spec = fleet.cameras[0]
        Vault(session_factory(engine), load_key()).put(spec.camera_id, username=spec.username,
                                                       password=spec.password, actor="lead", now=clock.now())
        engine.dispose()
        async with Service(raw, clock=clock) as service:
            await service.parts.health.wait_for(spec.camera_id, lambda h: h.polls_ok >= 2, timeout_s=10)
            latest = service.parts.store.latest(asset_ids=[spec.camera_id])
            [offset] = [s for s in latest if s.channel == "clock_offset_s"] or [None]
    finally:
        await fleet.stop()
    assert offset is not None and abs(offset.value) < 2.0, f"camera clock offset {offset}"
