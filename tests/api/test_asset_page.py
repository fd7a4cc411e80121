"""The asset page: a regulator station, a camera and an alarm host in zh-CN and English, human
labels instead of channel names, charts served from Sitewatch itself, scope."""

from __future__ import annotations

import html
import logging
import re
from datetime import timedelta

import pytest

import sitewatch.api.pages.assets as asset_pages
from tests.api.asset_fleet import (
    CAMERA,
    CAMERA_FACTS,
    HOST,
    NOW,
    OTHERS,
    SOUTH_TECHNICIAN,
    STATION,
    bearer,
    fleet,
    outlet,
)
from tests.logins import log_in

CHANNEL_NAME = re.compile(r"\b[a-z]+(?:_[a-z0-9]+)+\b")  # outlet_kpa, picture_laplacian_var, zone_03_alarm


@pytest.fixture
async def site(tmp_path, monkeypatch):
    async with fleet(tmp_path, monkeypatch) as f:
        yield f


async def page(site, asset_id: str, language: str) -> str:
    answer = await site.client.get(f"/asset/{asset_id}", headers={"Accept-Language": language})
    assert answer.status_code == 200, answer.text[:500]
    return answer.text


def visible_text(document: str) -> str:
    """What a person reads: no scripts, styles or tags."""
    document = re.sub(r"<(script|style)\b.*?</\1>", " ", document, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", document))


def no_channel_names(document: str) -> None:
    names = CHANNEL_NAME.findall(visible_text(document))
    assert not names, f"raw channel names where people read: {sorted(set(names))}"


def no_other_host(document: str) -> None:
    assert "http://" not in document and "https://" not in document and "//" not in document.replace("://", ""), \
        "the page loads nothing from another host"


@pytest.mark.parametrize(("language", "words"), [
    ("en", ["Outlet pressure", "Door", "Open", "communication error", "Flow", "812.4 Nm³/h", "Gas concentration",
            "1.5 %LEL", "Alarm above", "Set point", "2.50 kPa", "Slam-shut valve", "regulator-v1", "127.0.0.1:15020",
            "Failed polls in a row", "still firing", "Li Wei", "Regulator station", "Warning", "2.62 kPa"]),
    ("zh-CN", ["出口压力", "门", "打开", "通信故障", "流量", "812.4 Nm³/h", "燃气浓度", "1.5 %LEL", "高限报警", "设定压力",
               "2.50 kPa", "切断阀", "regulator-v1", "127.0.0.1:15020", "连续失败次数", "仍在报警", "Li Wei", "调压站",
               "2.62 kPa"]),
])
async def test_a_regulator_station_in_words_and_units(site, language, words):
    document = await page(site, STATION, language)
    text = visible_text(document)
    missing = [w for w in words if w not in text]
    assert not missing, f"{language}: not on the page: {missing}"
    now_value = f"{outlet(NOW - timedelta(seconds=5)):.2f} kPa"
    assert now_value in text, "the live outlet value with its unit"
    assert "12:00" in text, "site time (04:00 UTC is 12:00 in Shanghai)"
    assert 'href="/tickets/1"' in document and 'href="/tickets/2"' in document, "the station's tickets link to theirs"
    no_channel_names(document)
    no_other_host(document)


@pytest.mark.parametrize(("language", "verdict", "words"), [
    ("en", "Sharp", ["Picture sharpness", "790", "Picture brightness (0-255)", "118", "Reachable", "Camera clock offset",
                     "+1.2 s", "Camera", "Video signal"]),
    ("zh-CN", "清晰", ["画面清晰度", "790", "画面亮度（0-255）", "118", "可达", "摄像机时钟偏差", "+1.2 s", "摄像机", "视频信号"]),
])
async def test_a_camera_with_its_picture_verdict_and_what_it_says_it_is(site, language, verdict, words):
    document = await page(site, CAMERA, language)
    text = visible_text(document)
    assert re.search(rf'class="verdict good">{verdict}<', document), "the verdict, one word, in the language"
    missing = [w for w in [*words, *CAMERA_FACTS.values()] if w not in text]
    assert not missing, f"{language}: not on the page: {missing}"
    assert "790.227" not in text and "score" not in text, "a figure people read, not the raw measure"
    no_channel_names(document)
    no_other_host(document)


@pytest.mark.parametrize(("language", "words"), [
    ("en", ["Zone 3 alarm", "Alarm", "Connection", "Online", "Armed", "Mains power", "Power on", "Alarm host",
            "Critical"]),
    ("zh-CN", ["防区 3 报警", "报警", "连接", "在线", "布防", "市电", "有电", "报警主机"]),
])
async def test_an_alarm_host_with_its_zones(site, language, words):
    document = await page(site, HOST, language)
    text = visible_text(document)
    missing = [w for w in words if w not in text]
    assert not missing, f"{language}: not on the page: {missing}"
    assert 'class="chip status-critical"' in document, "a major intrusion alarm pages: the host is critical"
    no_channel_names(document)
    no_other_host(document)


async def test_charts_come_from_sitewatch_itself(site):
    document = await page(site, STATION, "en")
    assert '<script src="/static/vendor/echarts.min.js"></script>' in document
    assert '<script src="/static/asset.js"></script>' in document
    assert '"channel": "outlet_kpa"' in document, "the chart opens on the channel with limits"
    library = await site.client.get("/static/vendor/echarts.min.js")
    assert library.status_code == 200, "run `make api/static/vendor/echarts.min.js` (npm ci --prefix web)"
    assert "javascript" in library.headers["content-type"] and b"echarts" in library.content[:5000]
    script = await site.client.get("/static/asset.js")
    assert script.status_code == 200 and "/api/assets/" in script.text and "http" not in script.text


async def test_without_the_chart_library_the_page_still_shows_everything_else(site, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(asset_pages, "ECHARTS", tmp_path / "missing" / "echarts.min.js")
    with caplog.at_level(logging.WARNING, logger=asset_pages.__name__):
        document = await page(site, STATION, "en")
    text = visible_text(document)
    assert "Charts are unavailable" in text and "Outlet pressure" in text and "Li Wei" in text
    assert "echarts.min.js" not in document and "asset.js" not in document
    assert any("npm ci --prefix web" in r.getMessage() for r in caplog.records), "the log says how to install"


async def test_another_customers_asset_is_not_found(site):
    site.client.headers.update(bearer(SOUTH_TECHNICIAN))
    assert (await site.client.get(f"/asset/{OTHERS}")).status_code == 200
    ours = await site.client.get(f"/asset/{STATION}")
    unknown = await site.client.get("/asset/rs-nowhere")
    assert ours.status_code == unknown.status_code == 404
    assert "North 01" not in ours.text


async def test_a_technician_logs_in_and_opens_the_page_on_a_phone(tmp_path, monkeypatch):
    async with fleet(tmp_path, monkeypatch, users=True) as f:
        del f.client.headers["Authorization"]
        first = await f.client.get(f"/asset/{STATION}", headers={"Accept": "text/html"}, follow_redirects=False)
        assert first.status_code == 303 and first.headers["location"] == f"/login?next=%2Fasset%2F{STATION}"
        await log_in(f.client, "technician")
        document = (await f.client.get(f"/asset/{STATION}", headers={"Accept-Language": "zh-CN,zh;q=0.9"})).text
        assert "出口压力" in document and "Technician" in document
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in document
        assert re.search(r"@media \(max-width: 640px\) \{\s*\.asset-grid \{ grid-template-columns: minmax\(0, 1fr\); \}",
                         document), "one column on a phone"
