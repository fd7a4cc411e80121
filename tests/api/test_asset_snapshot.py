"""The camera's kept snapshot: GET /api/assets/{asset_id}/snapshot.jpg and its place on the
asset page beside the verdict, for people logged in, within their customer scope."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import numpy as np
import pytest

from sitewatch.simulators.camera.frames import encode_jpeg
from sitewatch.storage.snapshots import SnapshotKeeper, snapshot_folder
from tests.api.asset_fleet import (
    CAMERA,
    NOW,
    SOUTH_TECHNICIAN,
    STATION,
    Fleet,
    bearer,
    fleet,
)
from tests.logins import add_role_users, log_in

URL = f"/api/assets/{CAMERA}/snapshot.jpg"
TAKEN_AT = NOW - timedelta(seconds=10)  # 11:59:50 in Shanghai


@pytest.fixture
async def site(tmp_path, monkeypatch) -> AsyncIterator[Fleet]:
    async with fleet(tmp_path, monkeypatch, users=True) as f:
        add_role_users(f.parts.sessions, customers=["southgas"], prefix="south-")
        yield f


@pytest.fixture
async def technician(site) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=site.client.base_url, timeout=10) as client:
        await log_in(client, "technician")
        yield client


@pytest.fixture
async def south_technician(site) -> AsyncIterator[httpx.AsyncClient]:
    """A technician of another customer: the camera is not theirs."""
    async with httpx.AsyncClient(base_url=site.client.base_url, timeout=10) as client:
        await log_in(client, "south-technician")
        yield client


def picture() -> bytes:
    rng = np.random.default_rng(7)
    return encode_jpeg(rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8))


async def keep(site: Fleet, jpeg: bytes) -> None:
    assert await SnapshotKeeper(snapshot_folder(site.parts.config.storage.data_dir)).keep(
        CAMERA, jpeg, taken_at=TAKEN_AT)


async def test_404_until_a_snapshot_is_kept_then_the_jpeg(site, technician) -> None:
    before = await technician.get(URL)
    jpeg = picture()
    await keep(site, jpeg)
    after = await technician.get(URL)
    assert before.status_code == 404 and "no snapshot" in before.text
    assert after.status_code == 200 and after.headers["content-type"] == "image/jpeg"
    assert after.content == jpeg
    assert after.headers["cache-control"] == "no-store", "the next poll's picture comes at the same URL"
    assert after.headers["last-modified"] == "Tue, 10 Mar 2026 03:59:50 GMT"


async def test_another_customers_camera_is_404_even_with_a_snapshot_kept(site, south_technician) -> None:
    await keep(site, picture())
    by_session = await south_technician.get(URL)
    by_token = await site.client.get(URL, headers=bearer(SOUTH_TECHNICIAN))
    mine = await site.client.get(URL)  # the unscoped technician's token: the URL is right
    assert (by_session.status_code, by_token.status_code, mine.status_code) == (404, 404, 200)
    assert by_session.content != mine.content and by_token.content != mine.content


async def test_no_snapshot_of_an_unknown_asset_or_one_without_a_camera(site, technician) -> None:
    assert (await technician.get("/api/assets/nothing-here/snapshot.jpg")).status_code == 404
    assert (await technician.get(f"/api/assets/{STATION}/snapshot.jpg")).status_code == 404


@pytest.mark.parametrize(("language", "none_yet", "taken"), [
    ("en", "No camera picture kept yet", "Picture taken 2026-03-10 11:59:50, site time"),
    ("zh-CN", "尚未保存摄像机画面", "抓图时间 2026-03-10 11:59:50（站点时间）"),
])
async def test_the_asset_page_shows_it_beside_the_verdict_in_site_time(site, technician, language, none_yet,
                                                                       taken) -> None:
    headers = {"Accept-Language": language}
    before = (await technician.get(f"/asset/{CAMERA}", headers=headers)).text
    await keep(site, picture())
    after = (await technician.get(f"/asset/{CAMERA}", headers=headers)).text
    assert f'src="{URL}"' not in before
    assert none_yet in before and none_yet not in after
    block = after[after.index('class="verdict'):]
    assert re.match(rf'class="verdict good">[^<]+</span>.*?<img src="{re.escape(URL)}"', block, flags=re.DOTALL), \
        "the picture right after its verdict"
    assert taken in after
