"""Certificate and key files are checked when the configuration loads: a missing file, one
that holds no certificate, a key that is not the certificate's, a key other users can read,
or half a pair each stop start-up naming the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.config.load import ConfigError, parse_config
from tests.config.test_load import example_with
from tests.tls_files import CertFiles, Pki

MQTT = '[mqtt]\nhost = "127.0.0.1"'
API = '[api]\nhost = "127.0.0.1"'


@pytest.fixture
def made(tmp_path: Path) -> tuple[Pki, CertFiles]:
    """A CA and a client certificate it issued."""
    pki = Pki(tmp_path / "pki")
    return pki, pki.issue("collector", "sitewatch-collector")


def mqtt_tls(**keys: object) -> str:
    return example_with(MQTT, MQTT + "".join(f'\n{key} = "{value}"' for key, value in keys.items()))


def refused(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return str(caught.value)


def test_good_files_load(made: tuple[Pki, CertFiles]) -> None:
    pki, pair = made
    mqtt = parse_config(mqtt_tls(tls_ca_file=pki.ca_file, tls_cert_file=pair.cert, tls_key_file=pair.key)).mqtt
    assert mqtt is not None and (mqtt.tls_ca_file, mqtt.tls_key_file) == (pki.ca_file, pair.key)


def test_a_missing_or_empty_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    assert f"key mqtt.tls_ca_file: Value error, {missing}: no such file" in refused(mqtt_tls(tls_ca_file=missing))
    assert f"{tmp_path}: a directory, not a file" in refused(mqtt_tls(tls_ca_file=tmp_path))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    assert f"{garbage}: no PEM certificate to trust in it" in refused(mqtt_tls(tls_ca_file=garbage))


def test_a_key_that_is_not_the_certificates_is_refused(made: tuple[Pki, CertFiles]) -> None:
    pki, pair = made
    other = pki.issue("other", "someone-else")
    message = refused(mqtt_tls(tls_ca_file=pki.ca_file, tls_cert_file=pair.cert, tls_key_file=other.key))
    assert f"{pair.cert} with {other.key}: not a PEM certificate and its own key (KEY_VALUES_MISMATCH)" in message


def test_a_key_other_users_can_read_is_refused(made: tuple[Pki, CertFiles]) -> None:
    pki, pair = made
    pair.key.chmod(0o644)
    message = refused(mqtt_tls(tls_ca_file=pki.ca_file, tls_cert_file=pair.cert, tls_key_file=pair.key))
    assert f"key mqtt.tls_key_file: Value error, {pair.key}: a private key readable by other users (mode 0644)" in message
    pair.key.chmod(0o640)  # the service's group may read it
    parse_config(mqtt_tls(tls_ca_file=pki.ca_file, tls_cert_file=pair.cert, tls_key_file=pair.key))


def test_half_a_pair_or_a_certificate_without_a_ca_is_refused(made: tuple[Pki, CertFiles]) -> None:
    pki, pair = made
    assert "tls_cert_file and tls_key_file go together" in refused(mqtt_tls(tls_ca_file=pki.ca_file,
                                                                           tls_cert_file=pair.cert))
    assert "set tls_ca_file too" in refused(mqtt_tls(tls_cert_file=pair.cert, tls_key_file=pair.key))


def test_the_api_certificate_and_key_are_checked_as_a_pair(made: tuple[Pki, CertFiles]) -> None:
    pki, pair = made
    api = pki.issue("api", "127.0.0.1")

    def api_tls(cert: Path, key: Path) -> str:
        return example_with(API, API + f'\ntls_cert_file = "{cert}"\ntls_key_file = "{key}"')

    assert parse_config(api_tls(api.cert, api.key)).api.tls_cert_file == api.cert
    assert "not a PEM certificate and its own key (KEY_VALUES_MISMATCH)" in refused(api_tls(api.cert, pair.key))
    assert "tls_cert_file and tls_key_file go together" in refused(example_with(API, API + f'\ntls_cert_file = "{api.cert}"'))
