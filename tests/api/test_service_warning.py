"""The store's on-disk buffer past its warning level is shown to the control room (above
everything, in the reader's language) and makes /healthz degraded; drained below, both clear."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sitewatch.domain.samples import Sample
from sitewatch.storage.spool import SampleSpool
from sitewatch.store_writer import StoreWriter
from tests.api.control_room_world import NOW, logged_in, world

BANNER = '<p id="cr-service" role="alert" data-check-ms="15000"'


@pytest.fixture
async def fleet(tmp_path):
    async with world(tmp_path) as w:
        yield w


async def test_a_buffer_past_its_warning_level_shows_in_the_control_room_and_on_healthz(fleet, tmp_path):
    spool = SampleSpool(tmp_path / "small-buffer.sqlite3", max_samples=1_000, warn_fraction=0.8)
    writer = StoreWriter(fleet.parts.store, spool)
    fleet.parts.service.watch_buffer("store", writer.buffer_state)
    spool.append([Sample("rs-north-01", "outlet_kpa", NOW + timedelta(seconds=i), 2.5, "kPa") for i in range(1_234)],
                 at=NOW)  # 234 more than it holds: the oldest are dropped
    try:
        async with logged_in(fleet.app, "viewer") as client:
            health = (await client.get("/healthz")).json()
            assert health["status"] == "degraded"
            assert health["buffers"]["store"] == {"samples": 1_000, "max_samples": 1_000, "warn_at": 800, "warning": True,
                                                  "spooled": 1_234, "replayed": 0, "dropped": 234}
            zh = (await client.get("/", headers={"Accept-Language": "zh-CN"})).text
            assert f"{BANNER}>数据正在等待写入时序数据库：磁盘缓冲区中已积压 1,000 条，占容量的 100 %。" in zh
            assert "（已丢弃 234 条）" in zh
            await client.post("/language", data={"locale": "en", "next": "/"})
            en = (await client.get("/")).text
            assert (f"{BANNER}>Samples are waiting for the time-series store: 1,000 in the on-disk buffer, 100 % of its "
                    "room. When it is full the oldest are dropped (234 so far).</p>") in en

            first, last = spool.oldest(201)[0][0], spool.oldest(201)[-1][0]
            spool.remove(first, last)  # the store took 201 of them: 799 left, below 800
            assert (await client.get("/healthz")).json()["status"] == "ok"
            assert f"{BANNER} hidden></p>" in (await client.get("/")).text
    finally:
        spool.close()
