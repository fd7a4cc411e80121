"""Killed at the worst moments, real processes on the deployment's database:

- the process that wrote the ticket dies (SIGKILL) before anything was sent: the message
  goes out once when paging runs again (the outbox entry committed with the ticket);
- the paging process dies while the receiver holds its request: after restart the message
  is sent again with the same key, so a receiver that keeps keys has it once — the most a
  network allows, and what X-Sitewatch-Delivery / the SMS template's {id} are for.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from sitewatch.config.load import load_config
from sitewatch.storage.database import make_engine, session_factory
from sitewatch.storage.paging import DeliveryRow
from tests.paging.channels.receivers import HttpReceiver, serving

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "sitewatch.example.toml"
SITEWATCH = str(Path(sys.executable).parent / "sitewatch")

PAGING = """
[paging]
base_url = "https://sitewatch.example"
retry_first_s = 0.5
retry_max_s = 1

[paging.people.wang]
name = "王强"
phone = "13800000003"
channels = ["sms"]

[paging.channels.sms]
kind = "sms"
timeout_s = 1
request = {{ url = "{url}/sms", form = {{ to = "{{phone}}", text = "{{text}}", id = "{{id}}" }} }}

[paging.channels.desk-hook]
kind = "webhook"
url = "{url}/desk"
timeout_s = 1

[paging.desks.operations]
rota = {{ weekly = ["wang"], weekly_from = 2026-01-05 }}
groups = ["desk-hook"]

[paging.desks.dispatch-centre]
rota = {{ weekly = ["wang"], weekly_from = 2026-01-05 }}
groups = ["desk-hook"]

[[paging.routes]]
name = "all"
"""

WRITE_AND_DIE = textwrap.dedent("""
    import os, signal, sys
    from datetime import datetime, timezone
    from sitewatch.config.load import load_config
    from sitewatch.domain.alerts import AlertState, AlertTransition, Severity
    from sitewatch.storage.database import make_engine, session_factory
    from sitewatch.storage.schema import upgrade_schema
    from sitewatch.tickets.writer import TicketWriter

    config = load_config(sys.argv[1])
    engine = make_engine(config.storage.database_url.format(data_dir=config.storage.data_dir.as_posix()))
    upgrade_schema(engine)
    summary = TicketWriter(sessions=session_factory(engine), config=config).apply([AlertTransition(
        fingerprint="rs-north-01/outlet-high/outlet_kpa", asset_id="rs-north-01", rule_id="outlet-high",
        channel="outlet_kpa", state=AlertState.FIRING, at=datetime.now(timezone.utc), severity=Severity.CRITICAL,
        value=3.1, unit="kPa", summary="rs-north-01: outlet_kpa 3.1 kPa above 2.9 kPa for 10 s")])
    assert summary.tickets_opened == 1, summary
    os.kill(os.getpid(), signal.SIGKILL)  # right after the commit: nothing planned, nothing sent
""")


@pytest.fixture
async def receiver():
    async with serving(HttpReceiver()) as running:
        yield running


@pytest.fixture
def deployment(tmp_path, receiver, database_url):
    config = tmp_path / "sitewatch.toml"
    text = (EXAMPLE.read_text().replace('data_dir = "var"', f'data_dir = "{tmp_path / "data"}"')
            .replace('database_url = "sqlite:///{data_dir}/sitewatch.db"', f'database_url = "{database_url}"'))
    config.write_text(text + PAGING.format(url=receiver.url))
    return config


def deliveries(config_file: Path) -> list[DeliveryRow]:
    config = load_config(config_file)
    engine = make_engine(config.storage.database_url.format(data_dir=config.storage.data_dir.as_posix()))
    try:
        with session_factory(engine)() as session:
            return list(session.scalars(select(DeliveryRow).order_by(DeliveryRow.id)).all())
    finally:
        engine.dispose()


async def write_ticket_and_die(config: Path) -> None:
    died = await asyncio.to_thread(subprocess.run, [sys.executable, "-c", WRITE_AND_DIE, str(config)],
                                   capture_output=True, text=True, timeout=60, check=False,
                                   cwd=Path(__file__).resolve().parents[2])
    assert died.returncode == -signal.SIGKILL, died.stderr


def start_paging(config: Path) -> subprocess.Popen:
    return subprocess.Popen([SITEWATCH, "paging", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


async def until(predicate, *, timeout_s: float, what: str) -> None:
    """Wait for a state another process brings about (nothing here to await on)."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await asyncio.sleep(0.1)
    assert predicate(), what


def key_of(request) -> str:
    return request.headers.get("x-sitewatch-delivery") or request.form()["id"]


async def stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    out, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    return out


async def test_the_writer_killed_after_the_ticket_commit_the_message_still_goes_out_once(deployment, receiver):
    await write_ticket_and_die(deployment)
    assert deliveries(deployment) == [], "killed before paging ran: nothing planned yet"

    paging = start_paging(deployment)
    try:
        await until(lambda: (rows := deliveries(deployment)) and all(d.state == "delivered" for d in rows),
                    timeout_s=30, what="paging after the restart delivers what the outbox held")
    finally:
        out = await stop(paging)
    assert "Traceback" not in out, out
    planned = deliveries(deployment)
    assert {d.kind for d in planned} >= {"opened"} and {d.recipient for d in planned} >= {
        "person:wang/sms", "group:desk-hook"}
    keys = Counter(key_of(r) for r in receiver.requests)
    assert keys == Counter(d.key for d in planned), "each planned message arrived exactly once"


async def test_paging_killed_mid_send_resends_with_the_same_key(deployment, receiver):
    await write_ticket_and_die(deployment)
    receiver.hold = asyncio.Event()  # requests wait: the sender is mid-send when it dies
    paging = start_paging(deployment)
    try:
        await until(lambda: len(receiver.requests) >= 2, timeout_s=30, what="both messages reach the receiver")
        paging.kill()
        await asyncio.to_thread(paging.wait, 10)
    finally:
        if paging.poll() is None:
            paging.kill()
    first = Counter(key_of(r) for r in receiver.requests)
    receiver.hold.set()  # their answers go to a dead process
    await receiver.settle()
    receiver.hold = None
    assert all(d.state == "pending" and d.attempts == 1 for d in deliveries(deployment)), "not recorded as sent"

    paging = start_paging(deployment)
    try:
        await until(lambda: all(d.state == "delivered" for d in deliveries(deployment)), timeout_s=40,
                    what="after the lease ends, the restarted process sends again")
    finally:
        out = await stop(paging)
    assert "Traceback" not in out, out
    keys = Counter(key_of(r) for r in receiver.requests)
    assert set(keys) == set(first) == {d.key for d in deliveries(deployment)}, "the same messages, same keys"
    assert set(keys.values()) == {2}, "sent again once each: a receiver keeping keys sees each once"
