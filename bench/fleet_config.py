"""The fleet benchmark's deployment: a fresh PostgreSQL database, the vault key and camera
credential, and the TOML file the worker processes read (bench/bench_fleet.py).

The configuration is the shipped example (profile, rules, SLA zones, correlation) with the
simulated devices as its assets and the production stores: records in PostgreSQL, samples
on VictoriaMetrics, alarm hosts on the machine's Mosquitto under a topic prefix and client
id of this run alone, so nothing collides with tests using the same broker.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from sitewatch.demo import example_config
from sitewatch.vault import generate_key

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432"
CAMERA_CREDENTIAL = "bench-cameras"  # every simulated camera answers admin / sitewatch (CameraSpec)
CAMERA_USER, CAMERA_PASSWORD = "admin", "sitewatch"
STATION_INTERVAL_S = 10.0
CAMERA_INTERVAL_S = 60.0
ASSETS_PER_SITE = 100  # sites of a city district's size; each has its own SLA countdowns


@dataclass(frozen=True)
class Device:
    """One simulated device as the configuration names it, and where its simulator serves it."""

    asset_id: str
    port: int  # 0 for alarm hosts (they publish to the broker)
    sim_id: str  # its id inside its simulator process (rs-0001, cam-0001, ah-0001)
    control: str  # its simulator's control URL


class Database:
    """``CREATE DATABASE`` on the machine's PostgreSQL (trust auth); ``drop`` removes it even
    while a killed worker's connections linger."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.url = f"{POSTGRES_URL}/{name}"

    def _admin(self, statement: sql.Composable) -> None:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as con:
            con.execute(statement)

    def create(self) -> None:
        self._admin(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(self.name)))


def write_key_file(path: Path) -> Path:
    """A fresh vault key, readable by its owner only (the vault refuses others)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(generate_key() + "\n")
    return path


def put_camera_credential(config_path: Path) -> None:
    """As the after-sales lead would: ``sitewatch vault set`` with the password on stdin."""
    subprocess.run(
        [sys.executable, "-m", "sitewatch.cli", "vault", "--config", str(config_path), "set", CAMERA_CREDENTIAL,
         "--username", CAMERA_USER, "--password-stdin"],
        input=CAMERA_PASSWORD, text=True, check=True, capture_output=True, cwd=Path(__file__).parent.parent,
    )


def fleet_config(*, run_id: str, data_dir: Path, database_url: str, vm_url: str, key_file: Path,
                 stations: Sequence[Device], cameras: Sequence[Device], hosts: Sequence[Device],
                 shards: int) -> dict:
    """The deployment's configuration as a dict, ready for ``to_toml``."""
    raw = example_config()
    station_template = raw["assets"][0]
    raw["storage"] |= {
        "data_dir": str(data_dir),
        "timeseries": "influx",
        "database_url": database_url,
        "influx": {"url": vm_url, "write_api": "v2", "reader": "victoriametrics", "measurement": "samples",
                   "gzip": False},  # loopback: gzip would only cost CPU
    }
    raw["mqtt"] |= {"client_id": f"bench-fleet-{run_id}", "topic_prefix": f"bench-fleet/{run_id}"}
    raw["vault"] = {"key_file": str(key_file)}
    raw["cluster"] = {"shards": shards}
    site = raw["sites"][0]
    count = len(stations) + len(cameras) + len(hosts)
    raw["sites"] = [site | {"id": f"site-{n:03d}", "name": f"District {n:03d}"}
                    for n in range(1, -(-count // ASSETS_PER_SITE) + 1)]
    assets: list[dict] = []

    def site_of() -> str:
        return raw["sites"][len(assets) // ASSETS_PER_SITE]["id"]

    for d in stations:
        assets.append({
            "id": d.asset_id, "site": site_of(), "kind": "regulator_station", "name": d.asset_id,
            "poll_interval_s": STATION_INTERVAL_S,
            "modbus": {"host": "127.0.0.1", "port": d.port, "device_id": 1, "profile": "regulator-v1",
                       "timeout_s": 2.0},
            "limits": station_template["limits"], "regulator": station_template["regulator"],
        })
    for d in cameras:
        assets.append({
            "id": d.asset_id, "site": site_of(), "kind": "camera", "name": d.asset_id,
            "poll_interval_s": CAMERA_INTERVAL_S,
            "onvif": {"host": "127.0.0.1", "port": d.port, "credential": CAMERA_CREDENTIAL},
        })
    for d in hosts:
        assets.append({
            "id": d.asset_id, "site": site_of(), "kind": "alarm_host", "name": d.asset_id,
            "alarm_host": {"host_id": d.sim_id, "zones": 8},
        })
    raw["assets"] = assets
    return raw


# --- TOML ------------------------------------------------------------------------------
# No TOML writer is installed; the configuration needs only this much of the language:
# every top-level key as `key = value`, tables inline, arrays of tables one element a line.


def to_toml(raw: dict) -> str:
    lines = []
    for key, value in raw.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            lines.append(f"{_key(key)} = [")
            lines += [f"  {_value(item)}," for item in value]
            lines.append("]")
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {type(value).__name__}")
