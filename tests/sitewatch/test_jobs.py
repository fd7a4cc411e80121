"""The collector's Modbus jobs: stations behind a gateway share its connection and budget for
it; the gateway has a job of its own; strings a station reports reach the inventory."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from sitewatch.collector.scheduler import PollJob
from sitewatch.config.load import parse_config
from sitewatch.domain.samples import Quality
from sitewatch.domain.time import UTC
from sitewatch.jobs import ReportedFacts, modbus_jobs
from sitewatch.storage.repository import sync_inventory
from sitewatch.storage.tables import AssetRow, AuditRow
from tests.collector.modbus.servers import encode, encode_string, pymodbustcp_server
from tests.collector.modbus.test_readme_config import MINIMAL_CONTEXT
from tests.serving import FixedClock

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)

CONTEXT = MINIMAL_CONTEXT + """
[[modbus_profiles]]
name = "rtu-x"
inventory_interval_s = 3600.0
registers = [
  { channel = "outlet_kpa", address = 0,  type = "float32", unit = "kPa" },
  { channel = "door_open",  address = 2,  type = "uint16", bit = 1, unit = "state" },
  { channel = "firmware",   address = 10, type = "string", length_registers = 4 },
]
"""


def _config(port: int, *, behind_gateway: int = 0, timeout_s: float = 1.0) -> str:
    text = CONTEXT + f"""
[[assets]]
id = "rs-direct"
site = "north"
name = "Direct"
modbus = {{ host = "127.0.0.1", port = {port}, profile = "rtu-x", timeout_s = {timeout_s} }}
"""
    if behind_gateway:
        text += f"""
[[assets]]
id = "gw"
site = "north"
kind = "modbus_gateway"
name = "DTU"
poll_interval_s = 5.0
modbus_gateway = {{ framing = "tcp", host = "127.0.0.1", port = {port}, timeout_s = 2.0, pause_between_requests_ms = 10 }}
"""
        for unit in range(1, behind_gateway + 1):
            text += f"""
[[assets]]
id = "rs-{unit}"
site = "north"
name = "Behind {unit}"
poll_interval_s = 10.0
modbus = {{ gateway = "gw", device_id = {unit}, profile = "rtu-x", timeout_s = {timeout_s} }}
"""
    return text


def _by_id(jobs: list[PollJob]) -> dict[str, PollJob]:
    return {job.device_id: job for job in jobs}


def test_stations_behind_a_gateway_share_its_connection_and_queue_for_it() -> None:
    config = parse_config(_config(1502, behind_gateway=3, timeout_s=1.0))
    jobs = _by_id(modbus_jobs(config))
    assert set(jobs) == {"rs-direct", "gw", "rs-1", "rs-2", "rs-3"}
    # Two reads a poll (registers, then strings) + one connect, 1 s each, plus the 10 ms
    # pause after each read; three stations queue on one connection.
    assert jobs["rs-1"].timeout_s == pytest.approx(3 * (1.0 * 3 + 0.01 * 2))
    assert jobs["rs-direct"].timeout_s == pytest.approx(1.0 * 3)
    # The gateway's connect may wait for one request of each of its stations.
    assert jobs["gw"].timeout_s == pytest.approx(2.0 + 3 * (1.0 + 0.01))
    assert dict(jobs["gw"].channels) == {"connected": "state", "stations_answering": "count"}
    assert "firmware" not in jobs["rs-1"].channels  # strings go to the inventory


async def test_gateway_job_counts_the_stations_that_answered_on_its_connection() -> None:
    """Stations behind gw reply on gw's connection: the gateway's poll sees them. (The
    direct station at the same address has a connection of its own and is not counted.)"""
    registers = {0: encode("float32", 2.5, byte_order="big", word_order="big")[0],
                 1: encode("float32", 2.5, byte_order="big", word_order="big")[1], 2: 0b10}
    with pymodbustcp_server(holding=registers) as port:  # answers every unit id
        jobs = _by_id(modbus_jobs(parse_config(_config(port, behind_gateway=3))))
        try:
            for station in ("rs-1", "rs-3", "rs-direct"):
                result = await jobs[station].poll(NOW)
                assert {(s.channel, s.value) for s in result.samples} == {("outlet_kpa", 2.5), ("door_open", 1.0)}
            gateway = await jobs["gw"].poll(NOW)
            values = {s.channel: (s.value, s.quality) for s in gateway.samples}
            assert values == {"connected": (1.0, Quality.GOOD), "stations_answering": (2.0, Quality.GOOD)}
        finally:
            for job in jobs.values():
                await job.close()


async def test_a_station_strings_reach_the_inventory_once_and_again_when_they_change(
    db_session_factory: sessionmaker[Session],
) -> None:
    clock = FixedClock(NOW)
    with pymodbustcp_server(holding=dict(enumerate(encode_string("V1.2", 4), start=10))) as port:
        config = parse_config(_config(port))
        with db_session_factory() as session:
            sync_inventory(session, config, actor="test", now=NOW)
            session.commit()
        [job] = modbus_jobs(config, facts=ReportedFacts(db_session_factory, clock))
        try:
            await job.poll(NOW)
            await job.poll(NOW + timedelta(seconds=10))  # strings not due: read once an hour
        finally:
            await job.close()  # the next poll connects to the next server
    try:
        # New firmware, the same address: read again once the hour has passed.
        with pymodbustcp_server(holding=dict(enumerate(encode_string("V1.3", 4), start=10)), port=port):
            await job.poll(NOW + timedelta(minutes=30))
            assert _reported(db_session_factory) == {"firmware": "V1.2"}
            await job.poll(NOW + timedelta(hours=1, seconds=1))
    finally:
        await job.close()
    assert _reported(db_session_factory) == {"firmware": "V1.3"}
    with db_session_factory() as session:
        changes = session.scalars(select(AuditRow).where(AuditRow.entity_id == "rs-direct",
                                                         AuditRow.action == "reported")).all()
        assert [c.detail["new"] for c in changes] == [{"firmware": "V1.2"}, {"firmware": "V1.3"}], \
            "one audited change per new value, not one a poll"


def _reported(sessions: sessionmaker[Session]) -> dict | None:
    with sessions() as session:
        return session.get(AssetRow, "rs-direct").reported
