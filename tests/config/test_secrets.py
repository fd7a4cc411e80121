"""No secret in the configuration file: a password written into it is refused with the way to
move it (and, in a file other users can read, the advice to change it); secrets come from the
environment; a file other users can write is refused whatever it holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sitewatch.config.load import ConfigError, load_config, parse_config
from sitewatch.config.secrets import plain_secrets
from tests.config.test_load import EXAMPLE, example_with, line_of

MQTT = '[mqtt]\nhost = "127.0.0.1"'
PASSWORD_ENV = "SITEWATCH_TEST_MQTT_PASSWORD"


def written(tmp_path: Path, text: str, mode: int) -> Path:
    path = tmp_path / "sitewatch.toml"
    path.write_text(text, encoding="utf-8")
    os.chmod(path, mode)
    return path


def test_a_password_in_the_file_is_refused_with_its_line_and_where_it_goes() -> None:
    text = example_with(MQTT, MQTT + '\nusername = "sitewatch"\npassword = "hunter2"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="site.toml")
    message = str(caught.value)
    assert message.startswith("site.toml: a secret in the configuration file is refused")
    assert f'line {line_of(text, "hunter2")}, key mqtt.password: set password_env = "SITEWATCH_MQTT_PASSWORD"' in message
    assert "hunter2" not in message
    assert "disclosed" not in message  # not read from a file: nobody else read it


def test_a_database_password_in_the_url_is_refused_pointing_at_pgpassword() -> None:
    text = example_with('database_url = "sqlite:///{data_dir}/sitewatch.db"',
                        'database_url = "postgresql://sitewatch:hunter2@db:5432/sitewatch"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert f"line {line_of(text, 'hunter2')}, key storage.database_url: remove it from the URL" in message
    assert "PGPASSWORD" in message and "~/.pgpass" in message and "hunter2" not in message
    # Without the password it loads: libpq finds it at connect time.
    parse_config(example_with('database_url = "sqlite:///{data_dir}/sitewatch.db"',
                              'database_url = "postgresql://sitewatch@db:5432/sitewatch"'))


def test_a_password_in_any_other_url_is_refused_pointing_at_the_vault() -> None:
    text = example_with("[collector]", '[storage.influx]\nurl = "https://admin:hunter2@tsdb:8086"\n\n[collector]')
    with pytest.raises(ConfigError, match=r"key storage.influx.url: keep it in the vault \(`sitewatch vault set NAME`\)"):
        parse_config(text)


def test_the_mqtt_password_comes_from_the_named_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    text = example_with(MQTT, MQTT + f'\nusername = "sitewatch"\npassword_env = "{PASSWORD_ENV}"')
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    assert (f"line {line_of(text, 'password_env = ')}, key mqtt.password_env: Value error, environment variable "
            f"{PASSWORD_ENV} is not set, or empty") in str(caught.value)
    monkeypatch.setenv(PASSWORD_ENV, "s3cret")
    mqtt = parse_config(text).mqtt
    assert mqtt is not None and mqtt.password is not None and mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(mqtt)
    with pytest.raises(ConfigError, match="password_env needs a username"):
        parse_config(example_with(MQTT, MQTT + f'\npassword_env = "{PASSWORD_ENV}"'))


def test_a_file_other_users_can_write_is_refused(tmp_path: Path) -> None:
    path = written(tmp_path, EXAMPLE.read_text(encoding="utf-8"), 0o646)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path}: writable by other users (mode 0646): anyone on this machine could point "
                                 f"the service at their own broker, database or devices; chmod o-w {path}")
    path.chmod(0o644)  # readable by all: nothing secret is left in it to read
    assert load_config(path).mqtt is not None


def test_a_secret_in_a_file_other_users_can_read_is_called_disclosed(tmp_path: Path) -> None:
    text = example_with(MQTT, MQTT + '\nusername = "sitewatch"\npassword = "hunter2"')
    readable = written(tmp_path, text, 0o644)
    with pytest.raises(ConfigError, match="readable by other users: treat these as disclosed and change them"):
        load_config(readable)
    readable.chmod(0o600)
    with pytest.raises(ConfigError) as caught:
        load_config(readable)
    assert "key mqtt.password: set password_env" in str(caught.value) and "disclosed" not in str(caught.value)


def test_a_template_naming_the_vaults_secret_is_not_a_secret() -> None:
    request = {"headers": {"Authorization": "Bearer {password}"}, "json": {"account": "{username}", "pwd": "{password}"}}
    assert plain_secrets({"paging": {"channels": {"sms": {"request": request}}}}) == []
    request["headers"]["Authorization"] = "Bearer 0123456789abcdef"
    assert [loc for loc, _ in plain_secrets({"paging": {"channels": {"sms": {"request": request}}}})] == [
        ("paging", "channels", "sms", "request", "headers", "Authorization")]
