"""Shard assignment (sitewatch/shards.py): the same in every process and Python run, even
across shards, minimal movement when a shard is added, and a gateway's stations in the
gateway's shard."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.demo import example_config
from sitewatch.shards import (
    assets_in,
    assignment,
    lease_name,
    shard_key,
    shard_of,
    shard_of_key,
)

IDS = [f"rs-{n:05d}" for n in range(5000)]

# Pinned: a change here reassigns every fleet's shards (and strands their rules state).
GOLDEN = {("rs-00001", 8): 1, ("cam-0042", 8): 2, ("gw-east", 8): 0, ("a", 8): 6}


def test_the_assignment_is_pinned():
    assert {key: shard_of_key(*key) for key in GOLDEN} == GOLDEN


def test_the_assignment_is_the_same_in_other_python_runs_whatever_their_hash_seed():
    """Python's hash() of a str changes with PYTHONHASHSEED; ours must not."""
    program = ("import json, sys; from sitewatch.shards import shard_of_key; "
               f"print(json.dumps([shard_of_key(i, 8) for i in {IDS[:500]!r}]))")
    here = [shard_of_key(i, 8) for i in IDS[:500]]
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONHASHSEED": seed}, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == here, f"PYTHONHASHSEED={seed} gave another assignment"


def test_5000_ids_spread_evenly_over_8_shards():
    """625 each on average; a fair random assignment stays within ±3 σ (±70, binomial),
    so max/min ≤ 1.25. Measured: 595..671, max/min 1.13."""
    counts = Counter(shard_of_key(i, 8) for i in IDS)
    assert sorted(counts) == list(range(8)), f"shards left empty: {set(range(8)) - set(counts)}"
    assert max(counts.values()) / min(counts.values()) <= 1.25, f"uneven shards: {sorted(counts.values())}"


def test_adding_a_shard_moves_only_what_lands_in_the_new_one():
    before = {i: shard_of_key(i, 8) for i in IDS}
    after = {i: shard_of_key(i, 9) for i in IDS}
    moved = [i for i in IDS if before[i] != after[i]]
    assert {after[i] for i in moved} == {8}, "an asset moved between two shards that were there before"
    # 1/9 of 5000 = 556 expected
    assert 456 <= len(moved) <= 656, f"{len(moved)} of 5000 moved to the 9th shard"


def _fleet(stations_per_gateway: int = 6, gateways: int = 5, direct: int = 40) -> Config:
    raw = example_config()
    profile = raw["modbus_profiles"][0]["name"]
    assets = []
    for g in range(gateways):
        gateway = f"gw-{g}"
        assets.append({"id": gateway, "site": "north", "kind": "modbus_gateway", "name": f"Converter {g}",
                       "modbus_gateway": {"framing": "rtu_over_tcp", "host": "127.0.0.1", "port": 5020 + g}})
        assets += [{"id": f"rs-{g}-{n}", "site": "north", "name": f"Station {g}.{n}",
                    "modbus": {"gateway": gateway, "device_id": n, "profile": profile}}
                   for n in range(1, stations_per_gateway + 1)]
    assets += [{"id": f"rs-direct-{n}", "site": "north", "name": f"Station {n}",
                "modbus": {"host": "127.0.0.1", "port": 6000 + n, "profile": profile}} for n in range(direct)]
    raw["assets"] = [a for a in raw["assets"] if a["kind"] == "alarm_host"] + assets
    return config_from_dict(raw)


def test_a_gateways_stations_are_in_the_gateways_shard():
    config = _fleet()
    by_id = assignment(config.assets, 8)
    behind = [a for a in config.assets if a.modbus is not None and a.modbus.gateway is not None]
    assert len(behind) == 30
    wrong = {a.id: (by_id[a.id], by_id[a.modbus.gateway]) for a in behind if by_id[a.id] != by_id[a.modbus.gateway]}
    assert not wrong, f"stations in another shard than their gateway (station, gateway): {wrong}"
    assert shard_key(config.asset("rs-direct-3")) == "modbus://127.0.0.1:6003"
    assert shard_key(config.asset("ah-north-01")) == "ah-north-01"
    assert len({by_id[f"gw-{g}"] for g in range(5)}) > 1, "every gateway in one shard: the key is not the gateway"


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_the_shards_partition_the_fleet(shards):
    config = _fleet()
    held = [asset.id for shard in range(shards) for asset in assets_in(config, shard, shards)]
    assert sorted(held) == sorted(a.id for a in config.assets), "an asset in no shard or in two"
    assert all(shard_of(a, shards) == s for s in range(shards) for a in assets_in(config, s, shards))


def test_stations_at_one_address_are_in_one_shard():
    """Two unit ids behind one address (a DTU): one connection, so one worker."""
    raw = example_config()
    profile = raw["modbus_profiles"][0]["name"]
    raw["assets"] = [{"id": f"rs-{n}", "site": "north", "name": f"Station {n}",
                      "modbus": {"host": "10.0.0.9", "port": 502, "device_id": n, "profile": profile}}
                     for n in range(1, 40)]
    assert len(set(assignment(config_from_dict(raw).assets, 8).values())) == 1


def test_bad_shard_numbers_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        shard_of_key("rs-1", 0)
    with pytest.raises(ValueError, match="not one of"):
        assets_in(_fleet(), 8, 8)


def test_a_shards_lease_names_the_count_of_shards():
    assert lease_name(3, 8) == "shard-3-of-8" != lease_name(3, 9)
