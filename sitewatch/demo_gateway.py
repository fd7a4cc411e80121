"""The demo's Modbus gateway: one simulated DTU carrying RTU frames over TCP on the north
site, regulator stations behind it at device ids 1..N, beside the stations with ports of
their own (collector/modbus/README.md, "Gateways"; simulators/regulator/README.md).

The live fault schedule (demo.py's SCHEDULE) takes it down once for a few minutes: one
gateway ticket, its stations' no-data alerts held under it (tickets/holds.py) and shown
offline on its page. Its stations have a week of past like the others (their samples come
from their models, keyed by station id); the gateway itself has none: the rules engine
counts its silence from its own start, and its first poll comes within one poll interval,
well before the gateway-offline rule's after_s.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sitewatch import i18n
from sitewatch.config.models import Config
from sitewatch.simulators.regulator.spec import GatewaySpec, StationSpec, make_gateway_station_specs

log = logging.getLogger(__name__)

GATEWAY_ID = "gw-01"  # the simulator's own name for its first gateway
GATEWAY_NAME = "North DTU"
GATEWAY_SITE = "north"
GATEWAY_POLL_S = 5.0  # at most; as often as its stations when they are polled faster
GATEWAY_TIMEOUT_S = 2.0
STATION_TIMEOUT_S = 1.0  # a silent station costs this on every poll, for all behind the DTU
PAUSE_MS = 20.0  # what a real DTU needs between requests; the simulator needs none


def gateway_station_specs(count: int, *, seed: int) -> tuple[StationSpec, ...]:
    """``count`` stations behind the demo's gateway (none for 0), seeds ``seed``, ``seed`` + 1 ..."""
    return make_gateway_station_specs(count, gateway_id=GATEWAY_ID, seed=seed) if count else ()


def gateway_specs(stations: Sequence[StationSpec]) -> tuple[GatewaySpec, ...]:
    """The simulated gateways the stations answer behind, in the order they are first named."""
    return tuple(GatewaySpec(gateway_id=g) for g in dict.fromkeys(s.gateway for s in stations if s.gateway))


def add_gateway(raw: dict, stations: Sequence[StationSpec], *, station_port: Callable[[str], int],
                poll_interval_s: float) -> None:
    """The gateway asset and the stations of ``stations`` behind it (if any), after the
    assets already in ``raw`` (call it before the cameras and alarm hosts are added: the
    history's stories pick stations in configuration order, and those of the stations with
    ports of their own stay as they were). The stations get the limits and regulator
    settings of the first of the others. A station behind the gateway answers on the
    gateway's port, as ``station_port`` (the simulator's ``port_of``) reports it."""
    behind = [s for s in stations if s.gateway == GATEWAY_ID]
    if not behind:
        return
    port = station_port(behind[0].station_id)
    like = next(a for a in raw["assets"] if a["kind"] == "regulator_station")
    raw["assets"].append({
        "id": GATEWAY_ID, "site": GATEWAY_SITE, "kind": "modbus_gateway", "name": GATEWAY_NAME,
        "poll_interval_s": gateway_poll_s(raw["rules"], station_poll_s=poll_interval_s),
        "modbus_gateway": {"framing": "rtu_over_tcp", "host": "127.0.0.1", "port": port,
                           "timeout_s": GATEWAY_TIMEOUT_S, "pause_between_requests_ms": PAUSE_MS},
    })
    for spec in behind:
        raw["assets"].append({
            "id": spec.station_id, "site": GATEWAY_SITE, "kind": "regulator_station",
            "name": f"{GATEWAY_NAME} station {spec.device_id}", "poll_interval_s": poll_interval_s,
            "modbus": {"gateway": GATEWAY_ID, "device_id": spec.device_id, "profile": like["modbus"]["profile"],
                       "timeout_s": STATION_TIMEOUT_S},
            "limits": like["limits"], "regulator": like["regulator"],
        })


def gateway_poll_s(rules: Sequence[dict], *, station_poll_s: float) -> float:
    """How often the gateway is polled. Its stations are held under it only if its
    gateway-offline rule fires before their no-data: its after_s plus its poll interval
    below theirs minus their poll interval (collector/modbus/README.md, "Gateways"; an
    open connection answers the gateway's poll until a station's request finds it dead).
    Half the room there is, at most GATEWAY_POLL_S."""
    after_s = {r["id"]: r.get("after_s") for r in rules}
    room_s = after_s["no-data"] - station_poll_s - after_s["gateway-offline"]
    if room_s <= 0:
        log.warning("stations polled every %g s go silent too late for their gateway's rule to speak for them: a "
                    "dead gateway may open a ticket for each of its stations", station_poll_s)
        return min(station_poll_s, GATEWAY_POLL_S)
    return min(station_poll_s, GATEWAY_POLL_S, room_s / 2)


def gateway_outage(schedule: Sequence[tuple[int, str, str, bool]]) -> tuple[int, int] | None:
    """(starts at, lasts) in seconds of the schedule's first comm loss of the gateway."""
    down = next((at for at, asset, fault, inject in schedule
                 if asset == GATEWAY_ID and fault == "comm_loss" and inject), None)
    if down is None:
        return None
    up = next(at for at, asset, fault, inject in schedule
              if asset == GATEWAY_ID and fault == "comm_loss" and not inject and at > down)
    return down, up - down


def gateway_page_line(config: Config, base_url: str) -> list[str]:
    """The banner's line for the gateway's page (none without a gateway)."""
    behind = config.behind(GATEWAY_ID)
    if not behind:
        return []
    page = f"{base_url}/asset/{GATEWAY_ID}"
    return ["  " + i18n.gettext("gateway:    %(url)s (stations behind it: %(count)s)", url=page, count=len(behind))]


def gateway_schedule_line(config: Config, schedule: Sequence[tuple[int, str, str, bool]]) -> list[str]:
    """The banner's line for the gateway's scheduled outage (none without either)."""
    outage = gateway_outage(schedule)
    if not config.behind(GATEWAY_ID) or outage is None:
        return []
    return ["  " + i18n.gettext("scheduled: gateway %(gateway)s down at +%(at)s s for %(minutes)s min (one ticket, "
                                "its stations shown offline under it)", gateway=GATEWAY_ID, at=outage[0],
                                minutes=round(outage[1] / 60))]
