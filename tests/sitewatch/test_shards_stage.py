"""Sharded workers (sitewatch/stages/shards.py): two worker pipelines on one PostgreSQL database
share the fleet's shards through leases, hand shards over when a worker joins or leaves, and
each held shard polls only its own assets and judges them under its own state key.

The stations are addresses nobody listens on: every poll fails at once, which is all the
sharing needs (a job per asset, health records per device). Time is real: leases of 3 s,
looked at every second.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import select

from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.config.models import Config
from sitewatch.demo import example_config
from sitewatch.pipeline import Pipeline
from sitewatch.shards import assets_in, lease_name
from sitewatch.stages.collect import CollectStage
from sitewatch.stages.roles import COLLECTOR, RULES
from sitewatch.storage import device_health
from sitewatch.storage.leases import holders
from sitewatch.storage.tables import RulesStateRow
from sitewatch.vault import generate_key
from tests.servers import free_port
from tests.sitewatch.service import wait_until

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

SHARDS, TTL_S = 4, 3.0


def fleet_config(tmp_path, database_url: str, *, tag: str, cameras: int = 0) -> Config:
    raw = example_config()
    profile = raw["modbus_profiles"][0]["name"]
    dead = free_port()  # nobody listens: a poll fails at once
    stations = [{"id": f"rs-{n:03d}", "site": "north", "name": f"Station {n}", "poll_interval_s": 0.5,
                 # One address each (a station's address decides its shard), all on loopback.
                 "modbus": {"host": f"127.0.0.{n + 2}", "port": dead, "profile": profile, "timeout_s": 0.2}}
                for n in range(24)]
    camera_assets = [{"id": f"cam-{n:03d}", "site": "north", "kind": "camera", "name": f"Camera {n}",
                      "poll_interval_s": 60,
                      "onvif": {"host": f"127.0.1.{n + 2}", "port": dead, "credential": f"cam-{n:03d}",
                                "timeout_s": 0.2}}
                     for n in range(cameras)]
    hosts = [a for a in raw["assets"] if a["kind"] == "alarm_host"]
    raw["assets"] = hosts + stations + camera_assets
    raw["rules"] = [r for r in raw["rules"] if r.get("asset") is None and r.get("assets") is None]
    raw["maintenance_windows"] = []
    raw["storage"] = {"data_dir": str(tmp_path / tag), "database_url": database_url, "flush_interval_s": 0.2}
    raw["rules_engine"] = {"tick_s": 0.2}
    raw["cluster"] = {"shards": SHARDS, "lease_ttl_s": TTL_S}
    raw["mqtt"] = raw["mqtt"] | {"client_id": f"t{tag}", "topic_prefix": f"test/{tag}"}
    return config_from_dict(raw)


@asynccontextmanager
async def worker(config: Config) -> AsyncIterator[Pipeline]:
    parts = build_components(config)
    pipeline = Pipeline(parts, roles={COLLECTOR, RULES})
    task = asyncio.create_task(pipeline.run())
    try:
        yield pipeline
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        parts.close()


def held(pipeline: Pipeline) -> list[int]:
    assert pipeline.shards is not None
    return pipeline.shards.held()


async def test_two_workers_share_the_shards_and_one_takes_all_when_the_other_leaves(database_url, tmp_path):
    tag = secrets.token_hex(3)
    config = fleet_config(tmp_path, database_url, tag=tag)
    async with worker(config) as a:
        await wait_until(lambda: held(a) == list(range(SHARDS)), what="the lone worker holds every shard",
                         every_s=0.05, timeout_s=5)
        async with worker(config) as b:
            # A hands its surplus over at its next look (every TTL/3), B claims it at its own.
            await wait_until(lambda: len(held(a)) == len(held(b)) == SHARDS // 2, what="two shards each",
                             every_s=0.05, timeout_s=4 * TTL_S)
            assert sorted(held(a) + held(b)) == list(range(SHARDS)), "a shard held twice or by nobody"
            for pipeline in (a, b):
                assert pipeline.shards is not None and pipeline.rules is not None
                mine = {shard: {asset.id for asset in assets_in(config, shard, SHARDS)} for shard in held(pipeline)}
                polled = {job.device_id for stage in pipeline.shards.collect_stages() for job in stage.jobs}
                assert polled == {a for ids in mine.values() for a in ids if a.startswith("rs-")}, \
                    "a worker polls what its shards do not hold"
                assert polled, "a worker with nothing to poll: the test shows nothing"
                assert {j.state_key for j in pipeline.rules.judges()} == \
                    {f"engine:{lease_name(shard, SHARDS)}" for shard in mine}
                # Health records only of the devices it polls: the handed-over ones were forgotten.
                assert {h.device_id for h in pipeline.parts.health.all()} <= polled
            handed = set(range(SHARDS)) - set(held(a))
        # B left cleanly: released at once, so A takes its shards at its next look.
        await wait_until(lambda: held(a) == list(range(SHARDS)), what="the remaining worker holds every shard again",
                         every_s=0.05, timeout_s=2 * TTL_S)
        with a.parts.sessions() as session:
            keys = set(session.scalars(select(RulesStateRow.key)).all())
        assert {f"engine:{lease_name(shard, SHARDS)}" for shard in handed} <= keys, \
            "a shard's rules state was not saved when it was handed over"
        # Every station's health is in the database, whichever worker polled it: what API processes show.
        with a.parts.sessions() as session:
            saved = {record.device_id for record in device_health.load(session)}
        assert saved >= {asset.id for asset in config.assets if asset.id.startswith("rs-")}


async def test_the_cameras_of_every_held_shard_wait_for_one_headroom(database_url, tmp_path, monkeypatch):
    # Headroom measures the event loop's lag and sizes the camera polls it lets run: one per
    # loop. One per shard would let each shard's cameras take slots from the same loop.
    monkeypatch.setenv("SITEWATCH_VAULT_KEY", generate_key())  # camera credentials live in the vault
    config = fleet_config(tmp_path, database_url, tag=secrets.token_hex(3), cameras=16)
    async with worker(config) as lone:
        await wait_until(lambda: held(lone) == list(range(SHARDS)), what="the lone worker holds every shard",
                         every_s=0.05, timeout_s=5)
        assert lone.shards is not None
        cameras = {stage: [job for job in stage.jobs if job.admission is not None]
                   for stage in lone.shards.collect_stages()}
    assert sum(1 for jobs in cameras.values() if jobs) > 1, "the cameras fell in one shard: the test shows nothing"
    assert sum(len(jobs) for jobs in cameras.values()) == 16, "a camera job that would not wait for room"
    assert len({id(job.admission) for jobs in cameras.values() for job in jobs}) == 1, "a Headroom per shard"


async def test_leases_are_renewed_while_the_shared_thread_pool_is_swamped(database_url, tmp_path):
    # asyncio's shared pool once queued the renewals behind thousands of cameras' first-poll
    # writes: the leases ran out, another worker took the shards and both polled them.
    config = fleet_config(tmp_path, database_url, tag=secrets.token_hex(3))
    async with worker(config) as lone:
        await wait_until(lambda: held(lone) == list(range(SHARDS)), what="the lone worker holds every shard",
                         every_s=0.05, timeout_s=5)
        swamp = [asyncio.create_task(asyncio.to_thread(time.sleep, 0.5)) for _ in range(80)]  # > 2 lease periods
        try:
            names = {lease_name(shard, SHARDS) for shard in range(SHARDS)}
            while not all(task.done() for task in swamp):
                with lone.parts.sessions() as session:
                    running = {lease.name: lease.holder for lease in holders(session, lone.parts.clock.now())}
                assert {name: running.get(name) for name in names} == dict.fromkeys(names, lone.shards.holder), \
                    "a shard's lease ran out while the worker still held it"
                await asyncio.sleep(0.25)
        finally:
            await asyncio.gather(*swamp)


def test_a_shard_has_its_own_mqtt_session_on_its_own_hosts_topics(database_url, tmp_path):
    config = fleet_config(tmp_path, database_url, tag="mq")
    parts = build_components(config)
    try:
        host = next(a for a in config.assets if a.alarm_host is not None)
        shard = next(s for s in range(SHARDS) if host in assets_in(config, s, SHARDS))
        stage = CollectStage(parts, Pipeline(parts, roles={COLLECTOR, RULES}).bus,
                             assets={a.id for a in assets_in(config, shard, SHARDS)}, shard=(shard, SHARDS))
        consumer = stage.alarm_hosts
        assert consumer is not None
        assert consumer.client.client_id == f"tmq-{shard}of{SHARDS}", "the shard's client id is not stable"
        assert consumer.client.topics == (f"test/mq/{host.alarm_host.host_id}/+",)
        other = next(s for s in range(SHARDS) if s != shard)
        assert CollectStage(parts, Pipeline(parts, roles={COLLECTOR, RULES}).bus,
                            assets={a.id for a in assets_in(config, other, SHARDS)},
                            shard=(other, SHARDS)).alarm_hosts is None, "a shard without hosts subscribes"
    finally:
        parts.close()
