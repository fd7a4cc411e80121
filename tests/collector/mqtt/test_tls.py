"""The consumer over TLS against a real Mosquitto that asks every client for a certificate:
with the right CA and a client certificate an alarm host's event arrives; a wrong CA, no
client certificate, a broker certificate for another name or a wrong password each end in
an error that says which, while the consumer keeps running and retrying (no hang, no crash)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from pathlib import Path

import pytest

from sitewatch.collector.errors import AuthFailed, CollectorError
from sitewatch.collector.mqtt.config import MqttSettings
from sitewatch.collector.mqtt.consumer import AlarmHostConsumer
from tests.tls_files import CertFiles, Pki

from .conftest import RecordingSink, SteppingClock, running, unique_prefix
from .tls_broker import TlsBroker, tls_broker, tls_pub

HOSTS = {"ah-001": "alarm-north-01"}
EVENT = {"event_id": "e-1", "ts": "2025-03-01T16:00:00+08:00", "type": "zone_alarm", "zone": 3, "battery_v": 12.7}
# A refused handshake is seen at the first attempt: well within paho's 5 s connect timeout.
ERROR_WITHIN_S = 5.0
PASSWORD_ENV = "SITEWATCH_TEST_MQTT_PASSWORD"


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
def collector_cert(pki: Pki) -> CertFiles:
    return pki.issue("collector", "sitewatch-collector")


def tls_settings(broker: TlsBroker, *, ca_file: Path, client: CertFiles | None, **extra: object) -> MqttSettings:
    return MqttSettings.model_validate({
        "host": broker.host, "port": broker.port, "client_id": f"c-{uuid.uuid4().hex[:12]}",
        "topic_prefix": unique_prefix(), "reconnect_min_delay_s": 1, "reconnect_max_delay_s": 2,
        "tls_ca_file": ca_file, "tls_cert_file": client.cert if client else None,
        "tls_key_file": client.key if client else None, **extra,
    })


async def first_error(settings: MqttSettings) -> CollectorError:
    """Run a consumer until its client reports a connection error; it must still be running."""
    consumer = AlarmHostConsumer(settings, hosts=HOSTS, sink=RecordingSink(), clock=SteppingClock())
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(ERROR_WITHIN_S):
            while consumer.client.last_error is None:  # set from paho's thread: nothing to await
                await asyncio.sleep(0.05)
        assert not task.done(), "the consumer must keep retrying, not stop"
        assert not consumer.client.connected and consumer.client.subscribe_count == 0
        return consumer.client.last_error
    finally:
        task.cancel()
        await asyncio.wait((task,))


async def test_an_event_published_over_tls_with_client_certificates_reaches_the_consumer(
        pki: Pki, collector_cert: CertFiles) -> None:
    publisher = pki.issue("alarm-host", "ah-001")
    async with tls_broker(pki) as broker:
        settings = tls_settings(broker, ca_file=pki.ca_file, client=collector_cert)
        sink = RecordingSink()
        consumer = AlarmHostConsumer(settings, hosts=HOSTS, sink=sink, clock=SteppingClock())
        async with running(consumer):
            await tls_pub(broker, pki, publisher, f"{settings.topic_prefix}/ah-001/event", json.dumps(EVENT).encode())
            await sink.wait_for("the zone 3 alarm", lambda: len(sink.samples) >= 2)
    assert {(s.asset_id, s.channel, s.value) for s in sink.samples} == {
        ("alarm-north-01", "zone_03_alarm", 1.0), ("alarm-north-01", "battery_v", 12.7)}
    assert consumer.client.last_error is None


async def test_a_broker_certificate_from_another_ca_is_a_clear_tls_error(
        pki: Pki, collector_cert: CertFiles, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    stranger = Pki(tmp_path / "other", name="other-ca")
    async with tls_broker(pki) as broker:
        with caplog.at_level(logging.WARNING, logger="sitewatch.collector.mqtt.client"):
            error = await first_error(tls_settings(broker, ca_file=stranger.ca_file, client=collector_cert))
    assert isinstance(error, AuthFailed)
    assert "TLS: the broker's certificate is not trusted: self-signed certificate in certificate chain" in str(error)
    assert f"tls_ca_file={stranger.ca_file}" in str(error) and str(error).startswith("mqtts://127.0.0.1:")
    assert [r.getMessage() for r in caplog.records] == [str(error)], "said once, not at every retry"


async def test_without_a_client_certificate_the_broker_refuses_and_the_consumer_says_so(pki: Pki) -> None:
    async with tls_broker(pki) as broker:
        error = await first_error(tls_settings(broker, ca_file=pki.ca_file, client=None))
    assert isinstance(error, AuthFailed)
    assert "TLS: the broker refused our client certificate" in str(error)
    assert "no tls_cert_file configured" in str(error)


async def test_the_broker_name_is_checked_and_tls_server_name_names_it(pki: Pki, collector_cert: CertFiles) -> None:
    async with tls_broker(pki, server_names=("broker.citygas.test",)) as broker:
        error = await first_error(tls_settings(broker, ca_file=pki.ca_file, client=collector_cert))
        assert isinstance(error, AuthFailed)
        assert "not trusted: IP address mismatch, certificate is not valid for '127.0.0.1'" in str(error)
        named = tls_settings(broker, ca_file=pki.ca_file, client=collector_cert, tls_server_name="broker.citygas.test")
        consumer = AlarmHostConsumer(named, hosts=HOSTS, sink=RecordingSink(), clock=SteppingClock())
        async with running(consumer):
            assert consumer.client.connected and consumer.client.last_error is None


async def test_the_password_comes_from_the_environment(
        pki: Pki, collector_cert: CertFiles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    passwords = tmp_path / "passwords"
    made = await asyncio.create_subprocess_exec("mosquitto_passwd", "-b", "-c", str(passwords), "sitewatch",
                                                "s3cret-from-env")
    assert await made.wait() == 0
    async with tls_broker(pki, password_file=passwords) as broker:
        monkeypatch.setenv(PASSWORD_ENV, "s3cret-from-env")
        settings = tls_settings(broker, ca_file=pki.ca_file, client=collector_cert, username="sitewatch",
                                password_env=PASSWORD_ENV)
        assert "s3cret" not in repr(settings)
        consumer = AlarmHostConsumer(settings, hosts=HOSTS, sink=RecordingSink(), clock=SteppingClock())
        async with running(consumer):
            assert consumer.client.connected
        monkeypatch.setenv(PASSWORD_ENV, "wrong")
        error = await first_error(tls_settings(broker, ca_file=pki.ca_file, client=collector_cert,
                                               username="sitewatch", password_env=PASSWORD_ENV))
    assert isinstance(error, AuthFailed) and "broker refused the connection: Not authorized" in str(error)
