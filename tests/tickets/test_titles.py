"""Alert summaries and ticket titles kept as messages beside their English, and read in the
reader's language: from the database, and over the API per request."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from sitewatch import i18n
from sitewatch.api.app import create_app
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict, load_config
from sitewatch.domain.alerts import Severity
from sitewatch.domain.samples import Sample
from sitewatch.domain.tickets import ServiceType
from sitewatch.domain.time import UTC
from sitewatch.i18n.messages import channel_label, render
from sitewatch.rules.engine import AssetChannels, RulesEngine
from sitewatch.rules.models import ThresholdRule
from sitewatch.storage.tables import AlertRow, TicketRow
from sitewatch.tickets import titles
from sitewatch.tickets.writer import TicketWriter, open_work_ticket
from tests.serving import READER, FixedClock, reader_entry, served

T0 = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "sitewatch.example.toml"
GAS = ThresholdRule(kind="threshold", id="gas", channel="gas_lel_pct", direction="above", level=20, clear_level=10,
                    critical_level=50, severity="warning")


def gas_transitions(values: list[float], start: datetime = T0) -> list:
    engine = RulesEngine(rules=[GAS], assets=[AssetChannels("rs-north-01", "regulator_station",
                                                            {"gas_lel_pct": "%LEL"})], started_at=start)
    samples = [Sample("rs-north-01", "gas_lel_pct", start + timedelta(seconds=i), v, "%LEL")
               for i, v in enumerate(values)]
    return engine.evaluate(engine.batch(samples), now=samples[-1].ts)


def gas_label(locale: str) -> str:
    with i18n.using(locale):
        return channel_label("gas_lel_pct")


def in_chinese(message: dict | None, fallback: str = "") -> str:
    with i18n.using("zh_CN"):
        return render(message, fallback)


def test_the_writer_keeps_each_summary_and_title_as_a_message_and_a_step_up_renames_both(db_session_factory):
    writer = TicketWriter(sessions=db_session_factory, config=load_config(EXAMPLE))
    fired, critical = gas_transitions([25, 55])
    writer.apply([fired])
    with db_session_factory() as session:
        alert, ticket = session.scalars(select(AlertRow)).one(), session.scalars(select(TicketRow)).one()
        assert (alert.summary, ticket.title) == (fired.summary, fired.summary), "the English, as before"
        assert alert.summary_msg == ticket.title_msg == fired.summary_msg.to_json()
        assert in_chinese(ticket.title_msg) == f"rs-north-01：{gas_label('zh_CN')} 25.000 %LEL，高于 20 %LEL"
    writer.apply([critical])
    with db_session_factory() as session:
        alert, ticket = session.scalars(select(AlertRow)).one(), session.scalars(select(TicketRow)).one()
        assert ticket.severity == alert.severity == Severity.CRITICAL.value
        assert ticket.title == alert.summary == "rs-north-01: gas_lel_pct 55.000 %LEL above critical level 50 %LEL"
        assert "高于严重报警值 50 %LEL" in in_chinese(ticket.title_msg) and "高于严重报警值" in in_chinese(alert.summary_msg)


def test_a_typed_title_has_no_message_and_shows_as_typed(db_session_factory):
    with db_session_factory() as session:
        ticket, _ = open_work_ticket(
            session, load_config(EXAMPLE), fingerprint="north/manual/1", site_id="north",
            asset_id=None, title="燃气表箱门锁坏了 / door lock broken", severity=Severity.INFO,
            service_type=ServiceType.D_INTERNAL, source="manual", at=T0, actor="desk")
        session.commit()
        assert ticket.title_msg is None
        assert in_chinese(ticket.title_msg, ticket.title) == "燃气表箱门锁坏了 / door lock broken"


def test_the_field_check_title_reads_as_before_in_english_and_in_chinese():
    flags = [("low_completeness", "battery_v"), ("low_completeness", "door_open"), ("outside_limits", "outlet_kpa"),
             ("low_completeness", "battery_v")]
    title = titles.field_check("North 01", date(2026, 11, 26), flags)
    assert title.text() == ("Field check North 01: abnormal in the 2026-11-26 operation log "
                            "(low completeness: battery_v, door_open; outside limits: outlet_kpa)")
    with i18n.using("zh_CN"):
        battery, door, outlet = (channel_label(c) for c in ("battery_v", "door_open", "outlet_kpa"))
        assert title.render() == (f"现场核查 North 01：2026-11-26 运行日志异常"
                                  f"（数据完整率低：{battery}，{door}；超出限值：{outlet}）")
    assert "同时失联" in in_chinese(titles.site_down("North").to_json())


def test_the_inspection_tickets_titles_read_as_before_in_english_and_in_chinese():
    calibrate = titles.calibration("North 01", "outlet_kpa", "kPa", scada=2.5, field=2.75, difference=-0.25,
                                   tolerance=0.1)
    assert calibrate.text() == ("North 01: SCADA outlet_kpa reads 2.5 kPa, field reading 2.75 kPa "
                                "(difference -0.25, tolerance ±0.1): calibrate SCADA")
    remind = titles.contract_reminder("North", "free-maintenance-end", date(2027, 3, 31), 3)
    assert remind.text() == ("North: free maintenance ends on 2027-03-31 (in 3 months): tell the customer and "
                             "arrange the renewal")
    assert "(in 1 month)" in titles.contract_reminder("North", "contract-end", date(2027, 3, 31), 1).text()
    findings = [titles.pressures_out_of_order([2.0, 2.5, 2.4, 3.5]),
                titles.pressure_off_setting("lock_up_kpa", 2.9, 2.75, 0.05)]
    repair = titles.maker_repair("North 01", "standby", findings, 14)
    assert repair.text() == ("North 01: standby regulator not compliant (pressures must rise operating < lock-up < "
                             "relief < slam-shut, got [2.0, 2.5, 2.4, 3.5]; lock_up_kpa 2.9 kPa, set to 2.75 kPa "
                             "(±5%)): the maker repairs within 14 days")
    with i18n.using("zh_CN"):
        assert calibrate.render() == (f"North 01：SCADA {channel_label('outlet_kpa')} 读数 2.5 kPa，现场读数 2.75 kPa"
                                      f"（差值 -0.25，允差 ±0.1）：请校准 SCADA")
        assert remind.render() == "North：免费维保于 2027-03-31 到期（还有 3 个月）：请通知客户并安排续约"
        assert repair.render() == ("North 01：备用路调压器不合格（各压力须依次升高：运行 < 关闭 < 放散 < 切断，实测 "
                                   "[2.0, 2.5, 2.4, 3.5]；关闭压力 2.9 kPa，设定值 2.75 kPa（±5%））：由厂家在 14 天内维修")


@pytest.fixture
async def api(tmp_path):
    raw = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    raw["storage"] = {"data_dir": str(tmp_path)}
    raw["api"] = {"tokens": [reader_entry()]}
    parts = build_components(config_from_dict(raw))
    parts.clock = FixedClock(T0 + timedelta(minutes=1))
    TicketWriter(sessions=parts.sessions, config=parts.config).apply(gas_transitions([25]))
    with parts.sessions() as session:  # a row from before messages: only its English
        open_work_ticket(session, parts.config, fingerprint="north/old/1", site_id="north", asset_id=None,
                         title="North: an old ticket", severity=Severity.INFO, service_type=ServiceType.D_INTERNAL,
                         source="manual", at=T0, actor="desk")
        session.commit()
    async with served(create_app(parts), token=READER) as client:
        yield client
    parts.close()


async def test_the_api_answers_in_the_language_the_request_asks_for(api):
    def titles_of(response) -> dict[str, str]:
        assert response.status_code == 200, response.text
        return {t["fingerprint"]: t["title"] for t in response.json()}

    gas, old = "rs-north-01/gas/gas_lel_pct", "north/old/1"
    chinese = titles_of(await api.get("/api/tickets", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}))
    english = titles_of(await api.get("/api/tickets", headers={"Accept-Language": "en-GB,en;q=0.9"}))
    assert chinese[gas] == f"rs-north-01：{gas_label('zh_CN')} 25.000 %LEL，高于 20 %LEL"
    assert english[gas] == f"rs-north-01: {gas_label('en')} 25.000 %LEL above 20 %LEL"
    assert chinese[old] == english[old] == "North: an old ticket", "a row without a message shows what it stored"
    by_cookie = titles_of(await api.get("/api/tickets", headers={"Cookie": "sitewatch_lang=en",
                                                                 "Accept-Language": "zh-CN"}))
    assert by_cookie[gas] == english[gas], "the language chosen on the page beats the browser's"

    [alert] = (await api.get("/api/alerts", headers={"Accept-Language": "zh-CN"})).json()
    assert alert["summary"] == chinese[gas] and "summary_msg" not in alert
    detail = (await api.get(f"/api/tickets/{alert['ticket_id']}", headers={"Accept-Language": "zh-CN"})).json()
    assert detail["title"] == chinese[gas] and detail["alerts"][0]["summary"] == chinese[gas]
    assert "title_msg" not in detail


def test_an_alert_written_before_the_message_columns_shows_its_english_summary(db_session_factory):
    with db_session_factory.begin() as session:  # a row from before summary_msg existed: NULL there
        session.execute(text(
            "INSERT INTO alerts (fingerprint, asset_id, rule_id, channel, severity, state, started_at, unit, "
            "summary, ack_comment, mute_reason) VALUES ('a/r/c', 'a', 'r', 'c', 'major', 'resolved', "
            "'2026-01-01 00:00:00', 'kPa', 'a: c 3.000 kPa above 2.9 kPa', '', '')"))
    with db_session_factory() as session:
        old = session.scalars(select(AlertRow)).one()
    assert old.summary_msg is None
    assert in_chinese(old.summary_msg, old.summary) == "a: c 3.000 kPa above 2.9 kPa"
