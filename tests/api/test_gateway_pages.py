"""The asset pages of Modbus gateways and the stations behind them, rendered by the app in
English and zh-CN: the gateway lists its stations with their connection from the health
registry and says how it is reached; a station names its gateway; a gateway that is down
answers for its stations.

The world is the example config plus two gateways and the stations behind them, and a
health registry filled by the test as the collector's scheduler would (no collector runs).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from sitewatch.api.app import create_app
from sitewatch.collector.errors import DeviceTimeout
from sitewatch.components import Components, build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
from sitewatch.domain.time import UTC
from sitewatch.storage.repository import record_reported_facts, sync_inventory
from sitewatch.tickets.writer import TicketWriter
from tests.api.test_asset_page import no_channel_names, no_other_host, visible_text
from tests.serving import FixedClock, bearer, served, token_entry

NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
GATEWAY, LINE = "gw-north", "gw-yard"  # a DTU carrying RTU frames over TCP; an RS-485 line
GATEWAY_NAME = "North DTU"
STATIONS = [f"rb-north-{n:02d}" for n in range(1, 9)]  # device ids 1..8 behind GATEWAY
FOREIGN = "rb-south-09"  # another customer's station behind the same gateway (device id 9)
CITY, EVERYONE = "city-token", "everyone-token"  # a technician of the north's customer; one of all
LINE_SILENT = "line-silent"  # an offline rule: the gateway answers, the line behind it is dead
FIRMWARE = {"firmware": "RB-2.14", "serial": "SN0042", "bootloader": "1.03"}


def world_config(data_dir: Path) -> dict:
    raw = example_config()
    raw["storage"] = {"data_dir": str(data_dir)}
    raw["api"] = {"tokens": [token_entry(CITY, name="city-tech", role="technician", customers=["citygas"]),
                             token_entry(EVERYONE, name="tech", role="technician")]}
    raw["customers"].append({"id": "southgas", "name": "South Gas Co."})
    raw["sites"].append({"id": "south", "customer": "southgas", "name": "South district",
                         "time_zone": "Asia/Shanghai", "sla_zone": "ring2"})
    raw["assets"] += [
        {"id": GATEWAY, "site": "north", "kind": "modbus_gateway", "name": GATEWAY_NAME, "poll_interval_s": 5.0,
         "modbus_gateway": {"framing": "rtu_over_tcp", "host": "10.20.1.5", "port": 4001,
                            "pause_between_requests_ms": 40}},
        {"id": LINE, "site": "north", "kind": "modbus_gateway", "name": "Yard RS-485 line",
         "modbus_gateway": {"framing": "rtu", "serial": {"device": "/dev/ttyUSB0", "baudrate": 19200, "parity": "E"}}},
        *({"id": station, "site": "north", "kind": "regulator_box", "name": f"North box {n}",
           "modbus": {"gateway": GATEWAY, "device_id": n, "profile": "regulator-v1"}}
          for n, station in enumerate(STATIONS, start=1)),
        {"id": FOREIGN, "site": "south", "kind": "regulator_box", "name": "South box 9",
         "modbus": {"gateway": GATEWAY, "device_id": 9, "profile": "regulator-v1"}},
    ]
    raw["rules"].append({"id": LINE_SILENT, "kind": "threshold", "channel": "stations_answering", "direction": "below",
                         "level": 0.5, "severity": "major", "offline": True, "asset_kinds": ["modbus_gateway"]})
    return raw


# What the registry says of each station while the gateway is up, and the words for it.
EXPECTED = {
    "online": ({"en": "answering", "zh-CN": "应答正常"}, STATIONS[:4]),
    "degraded": ({"en": "failing", "zh-CN": "采集失败"}, STATIONS[4:5]),
    "offline": ({"en": "not answering", "zh-CN": "无应答"}, STATIONS[5:6]),
    "unknown": ({"en": "not polled yet", "zh-CN": "尚未采集"}, STATIONS[6:7]),
    # not registered: polled by another process
    "elsewhere": ({"en": "not polled by this server process", "zh-CN": "本服务进程不采集"}, STATIONS[7:8]),
}
THROUGH = {"en": f"not answering through gateway {GATEWAY_NAME}, which is down",
           "zh-CN": f"无应答：所经通讯网关 {GATEWAY_NAME} 故障"}


def fail(parts: Components, device_id: str, times: int) -> None:
    for i in range(times):
        parts.health.record_failure(device_id, at=NOW - timedelta(seconds=times - i),
                                    error=DeviceTimeout(device_id=device_id, message="no reply"))


def fill_health(parts: Components) -> None:
    parts.health.register(GATEWAY)
    parts.health.record_success(GATEWAY, at=NOW - timedelta(seconds=3))
    for station in [*STATIONS[:7], FOREIGN]:
        parts.health.register(station)
    for station in [*STATIONS[:6], FOREIGN]:
        parts.health.record_success(station, at=NOW - timedelta(seconds=60))
    fail(parts, STATIONS[4], 1)
    fail(parts, STATIONS[5], parts.config.collector.offline_after_failures)


@dataclass
class World:
    parts: Components
    client: httpx.AsyncClient

    async def page(self, asset_id: str, language: str) -> str:
        answer = await self.client.get(f"/asset/{asset_id}", headers={"Accept-Language": language})
        assert answer.status_code == 200, f"{asset_id} ({language}): {answer.status_code} {answer.text[:300]}"
        return answer.text


@pytest.fixture
async def world(tmp_path) -> AsyncIterator[World]:
    parts = build_components(config_from_dict(world_config(tmp_path)), clock=FixedClock(NOW))
    try:
        with parts.sessions() as session:
            sync_inventory(session, parts.config, actor="test", now=NOW - timedelta(days=1))
            record_reported_facts(session, STATIONS[2], FIRMWARE, actor="collector", now=NOW - timedelta(hours=1))
            session.commit()
        fill_health(parts)
        async with served(create_app(parts)) as client:
            client.headers.update(bearer(CITY))
            yield World(parts, client)
    finally:
        parts.close()


def station_rows(document: str) -> dict[str, list[str]]:
    """The gateway page's table of stations: id -> the text of each cell, and last the
    connection cell's class (its colour)."""
    out = {}
    for station, row in re.findall(r'<tr data-station="([^"]+)">(.*?)</tr>', document, flags=re.DOTALL):
        cells = re.findall(r'<td\b(?: class="([^"]*)")?>(.*?)</td>', row, flags=re.DOTALL)
        out[station] = [visible_text(text).strip() for _css, text in cells] + [cells[-1][0]]
    return out


@pytest.mark.parametrize(("language", "words"), [
    ("en", ["Modbus gateway", "RTU frames over TCP (serial server or DTU)", "10.20.1.5:4001",
            "Pause between requests", "40 ms", "Stations behind this gateway", "Modbus device id", "Connection"]),
    ("zh-CN", ["Modbus 通讯网关", "TCP 透传 RTU（串口服务器或 DTU）", "10.20.1.5:4001", "请求间隔", "40 ms",
               "经此网关接入的站点", "Modbus 设备号", "连接"]),
])
async def test_the_gateway_lists_its_eight_stations_with_their_connection(world, language, words):
    document = await world.page(GATEWAY, language)
    text = visible_text(document)
    missing = [w for w in words if w not in text]
    assert not missing, f"{language}: not on the gateway's page: {missing}"
    rows = station_rows(document)
    assert list(rows) == STATIONS, f"the 8 stations of the customer, by device id; listed: {list(rows)}"
    for n, station in enumerate(STATIONS, start=1):
        name, asset_id, device_id, _connection, _css = rows[station]
        assert (name, asset_id, device_id) == (f"North box {n}", station, str(n)), rows[station]
        assert f'<a href="/asset/{station}">North box {n}</a>' in document, f"{station} links to its page"
    for state, (said, stations) in EXPECTED.items():
        for station in stations:
            assert rows[station][3] == said[language], \
                f"{station} ({state}): shown as {rows[station][3]!r}, expected {said[language]!r}"
    colours = {station: cells[4] for station, cells in rows.items()}
    assert colours == dict.fromkeys(STATIONS[:4], "status-ok") | {
        STATIONS[4]: "status-warning", STATIONS[5]: "status-offline", STATIONS[6]: "muted", STATIONS[7]: "muted"}
    assert 'class="chip status-ok"' in document, "the gateway itself answers"
    no_channel_names(document)
    no_other_host(document)


async def test_another_customers_station_behind_the_gateway_is_listed_only_to_who_sees_it(world):
    assert FOREIGN not in station_rows(await world.page(GATEWAY, "en")), "the city's technician sees 8"
    world.client.headers.update(bearer(EVERYONE))
    rows = station_rows(await world.page(GATEWAY, "en"))
    assert list(rows) == [*STATIONS, FOREIGN] and rows[FOREIGN][3] == "answering"


@pytest.mark.parametrize(("language", "words"), [
    ("en", ["Regulator box", "Reached through", GATEWAY_NAME, "Modbus device id", "regulator-v1",
            "Firmware", "RB-2.14", "Serial number", "SN0042", "bootloader", "1.03", "Connection", "answering"]),
    ("zh-CN", ["调压箱", "经由设备", GATEWAY_NAME, "Modbus 设备号", "regulator-v1", "固件版本", "RB-2.14", "序列号",
               "SN0042", "bootloader", "1.03", "连接", "应答正常"]),
])
async def test_a_station_names_the_gateway_it_is_reached_through(world, language, words):
    document = await world.page(STATIONS[2], language)
    text = visible_text(document)
    missing = [w for w in words if w not in text]
    assert not missing, f"{language}: not on the station's page: {missing}"
    device_id = {"en": "Modbus device id", "zh-CN": "Modbus 设备号"}[language]
    assert f'<dd><a href="/asset/{GATEWAY}">{GATEWAY_NAME}</a></dd><dt>{device_id}</dt><dd>3</dd>' in document, \
        "the gateway, linked, and its device id behind it"
    assert "None" not in text and "10.20.1.5" not in text, "no address of its own: the gateway's page has it"
    assert THROUGH[language] not in text and 'class="chip status-ok"' in document
    no_other_host(document)


@pytest.mark.parametrize("language", ["en", "zh-CN"])
async def test_a_gateway_that_cannot_be_connected_answers_for_its_stations(world, language):
    fail(world.parts, GATEWAY, world.parts.config.collector.offline_after_failures)
    rows = station_rows(await world.page(GATEWAY, language))
    wrong = {s: cells[3] for s, cells in rows.items() if cells[3] != THROUGH[language]}
    assert not wrong, f"stations shown as their own fault while their gateway is down: {wrong}"
    station = await world.page(STATIONS[0], language)  # its own last poll answered
    assert THROUGH[language] in visible_text(station)
    assert 'class="chip status-offline"' in station, "unreachable, through its gateway"
    assert 'class="chip status-offline"' in await world.page(GATEWAY, language)


async def test_a_gateway_whose_line_is_silent_answers_for_its_stations_too(world):
    """Connected, but an offline rule fires on it (none of its stations answers): the
    stations' silence is the gateway's, as the alert holds say (tickets/holds.py)."""
    silent = AlertTransition(f"{GATEWAY}/{LINE_SILENT}/stations_answering", GATEWAY, LINE_SILENT,
                             "stations_answering", AlertState.FIRING, NOW - timedelta(minutes=2), Severity.MAJOR,
                             0.0, "count", f"{GATEWAY}: no station answers")
    TicketWriter(sessions=world.parts.sessions, config=world.parts.config).apply([silent])
    rows = station_rows(await world.page(GATEWAY, "en"))
    assert {cells[3] for cells in rows.values()} == {THROUGH["en"]}, rows
    assert THROUGH["en"] in visible_text(await world.page(STATIONS[0], "en"))


@pytest.mark.parametrize(("language", "words"), [
    ("en", ["RTU on a serial line (RS-485)", "/dev/ttyUSB0, 19200 baud, 8E1", "0 ms",
            "No stations are configured behind this gateway.", "Not polled by this server process."]),
    ("zh-CN", ["串口 RTU（RS-485 总线）", "/dev/ttyUSB0，波特率 19200，8E1", "0 ms", "此网关下未配置站点。",
               "本服务进程不采集此设备。"]),
])
async def test_a_serial_line_says_its_settings(world, language, words):
    document = await world.page(LINE, language)
    text = visible_text(document)
    missing = [w for w in words if w not in text]
    assert not missing, f"{language}: not on the line's page: {missing}"
