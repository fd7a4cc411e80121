"""A running Sitewatch for the browser tests: the whole service (pipeline and API) watching
simulated regulator stations and a camera on real sockets, with the simulators' control
APIs to inject faults, served on 127.0.0.1 at a free port.

It runs in a thread with an event loop of its own, as a separate process would: its
connections, pipeline and server tasks are not the tests' tasks (tests/conftest.py's
no_leaked_tasks watches the tests' loop), and a browser holding a live-update stream open
does not keep anything of the tests' loop busy.

Two customers, so that scoping can be tried: City Gas (sites centre and north, the camera)
and Harbour Gas (site harbour). Users: one per role (tests/logins.py) and a manager who
sees City Gas only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from sitewatch.auth.users import add_user
from sitewatch.components import Components
from sitewatch.demo import demo_raw_config
from sitewatch.simulators.camera.control import ControlServer as CameraControl
from sitewatch.simulators.camera.fleet import build as build_cameras
from sitewatch.simulators.camera.spec import FleetConfig as CameraFleetConfig
from sitewatch.simulators.camera.spec import make_camera_specs
from sitewatch.simulators.regulator.control import ControlServer as StationControl
from sitewatch.simulators.regulator.fleet import build as build_stations
from sitewatch.simulators.regulator.spec import FleetConfig, make_station_specs
from sitewatch.vault import generate_key
from tests.logins import add_role_users, password_of
from tests.sitewatch.service import Service

OWN, OTHER = "citygas", "harbourgas"
TIME_ZONE = "Asia/Shanghai"
# (id, customer, name, address, SLA zone)
SITES = (
    ("centre", OWN, "Centre district", "Inside the 1st ring road", "ring1"),
    ("north", OWN, "North district", "North 2nd ring road", "ring2"),
    ("harbour", OTHER, "Harbour district", "Harbour road", "county"),
)
# Station → site. What each is for in the tests:
ALARM_STATION = "rs-001"  # the control-room test injects its regulator failure here
WORK_STATION = "rs-002"  # its door ticket is the one the technician works
OPEN_STATION = "rs-003"  # its door stays open: a firing (acknowledged) alert and an open ticket on every page
OTHER_STATION = "rs-004"  # Harbour Gas's open door ticket
OTHER_ROUND = "rs-005"  # Harbour Gas's inspection
STATIONS = {ALARM_STATION: "centre", WORK_STATION: "centre", OPEN_STATION: "north", OTHER_STATION: "harbour",
            OTHER_ROUND: "harbour"}
CAMERA_SITE = "north"
SCOPED_USER = "citygas.manager"  # a manager who sees City Gas only
SWITCHER = "polyglot"  # a viewer whose language the language-switch test changes (it sticks to the user)
LOCKED_OUT = "locked"  # a viewer whose logins the rate-limit test fails on purpose
POLL_S = 0.5
# The rules' own durations are judged in tests/rules and tests/sitewatch; here they only
# delay what the browser waits for, so the two rules the tests trip wait half a second.
SHORT_RULES = {"door-open": 0.5, "outlet-high": 1.0}


@dataclass(frozen=True)
class Running:
    """What a test needs to reach the instance."""

    url: str
    stations_control: str  # the regulator simulators' control API (inject / clear faults)
    cameras_control: str
    token: str  # an admin integration token, for setting the scene over the API
    parts: Components
    raw: dict  # the configuration it runs, unvalidated (the data the pages show)
    camera_id: str


def raw_config(station_ports: dict[str, int], camera_ports: dict[str, int], *, data_dir: Path,
               token: str) -> dict:
    """The demo's configuration (the shipped example's profile, rules and SLA zones) with
    the sites, customers and simulated assets above."""
    raw = demo_raw_config(station_ports, data_dir=data_dir, host="127.0.0.1", port=0, poll_interval_s=POLL_S,
                          token_sha256=hashlib.sha256(token.encode()).hexdigest())
    raw["customers"].append({"id": OTHER, "name": "Harbour Gas Co.", "phone": "+86 10 0000 0001"})
    raw["sites"] = [{"id": i, "customer": c, "name": n, "address": a, "sla_zone": z, "time_zone": TIME_ZONE}
                    for i, c, n, a, z in SITES]
    for asset in raw["assets"]:
        asset["site"] = STATIONS[asset["id"]]
    raw["storage"] |= {"flush_interval_s": 0.2}
    raw["rules_engine"] = {"tick_s": 0.2}
    raw["collector"] = {"jitter_fraction": 0.0}
    for rule in raw["rules"]:
        if rule["id"] in SHORT_RULES:
            rule["for_s"] = SHORT_RULES[rule["id"]]
    raw["vault"] = {"key_file": str(_key_file(data_dir))}
    for camera_id, port in camera_ports.items():
        raw["assets"].append({
            "id": camera_id, "site": CAMERA_SITE, "kind": "camera", "name": f"Camera {camera_id[4:]}",
            "poll_interval_s": 2.0,
            "onvif": {"host": "127.0.0.1", "port": port, "credential": camera_id, "timeout_s": 3.0,
                      "events_interval_s": 1.0},
        })
    return raw


def add_users(parts: Components) -> None:
    add_role_users(parts.sessions)
    with parts.sessions() as session:
        for username, role, customers in ((SCOPED_USER, "manager", [OWN]), (SWITCHER, "viewer", []),
                                          (LOCKED_OUT, "viewer", [])):
            add_user(session, username, password_of(username), role=role, at=parts.clock.now(), actor="test",
                     customers=customers, display_name=username.title())
        session.commit()


def _key_file(data_dir: Path) -> Path:
    """The vault's key, readable by its owner only (the vault refuses others)."""
    path = data_dir / "vault.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(generate_key() + "\n")
    return path


class Instance:
    """Start with :meth:`start` (returns once every device is online and the API answers),
    end with :meth:`stop`."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._token = secrets.token_urlsafe(24)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="sitewatch-under-test", daemon=True)
        self.running: Running | None = None

    def start(self, *, timeout_s: float = 60) -> Running:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise AssertionError(f"the instance did not start within {timeout_s} s")
        if self._failure is not None:
            self._thread.join()
            raise AssertionError(f"the instance did not start: {self._failure!r}") from self._failure
        assert self.running is not None
        return self.running

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)
        assert not self._thread.is_alive(), "the instance did not stop within 30 s"
        if self._failure is not None:
            raise AssertionError(f"the instance failed while running: {self._failure!r}") from self._failure

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 (handed to the tests' thread, which raises it)
            self._failure = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with contextlib.AsyncExitStack() as stack:
            stations = build_stations(FleetConfig(stations=make_station_specs(len(STATIONS), seed=2026)))
            cameras = build_cameras(CameraFleetConfig(cameras=make_camera_specs(1, seed=2026)))
            controls = (StationControl(stations), CameraControl(cameras))
            for part in (stations, cameras, *controls):
                await part.start()
                stack.push_async_callback(part.stop)
            raw = raw_config({s.station_id: stations.port_of(s.station_id) for s in stations.stations},
                             {c.camera_id: cameras.port_of(c.camera_id) for c in cameras.cameras},
                             data_dir=self._data_dir, token=self._token)
            service = Service(raw)
            assert service.parts.vault is not None
            for spec in cameras.cameras:  # as the after-sales lead would with `sitewatch vault set`
                service.parts.vault.put(spec.camera_id, username=spec.username, password=spec.password,
                                        actor="test", now=service.parts.clock.now())
            add_users(service.parts)
            await stack.enter_async_context(service)
            self.running = Running(url=service.url, stations_control=controls[0].url,
                                   cameras_control=controls[1].url, token=self._token, parts=service.parts, raw=raw,
                                   camera_id=cameras.cameras[0].camera_id)
            self._ready.set()
            await self._stop.wait()
