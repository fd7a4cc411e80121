"""Configuration errors name the key and its line; the shipped example is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from sitewatch.config.load import ConfigError, config_from_dict, load_config, parse_config

EXAMPLE = Path(__file__).parents[2] / "config" / "sitewatch.example.toml"


def example_with(old: str, new: str) -> str:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text, f"the example no longer contains {old!r}"
    return text.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if fragment in line)


def test_the_example_config_is_valid():
    config = load_config(EXAMPLE)
    assert [(a.id, a.kind) for a in config.assets] == [("rs-north-01", "regulator_station"), ("ah-north-01", "alarm_host")]
    assert config.mqtt is not None and config.mqtt.port == 1883
    assert config.sla.zones["ring1"].hours == 2.0


def test_a_bad_value_names_its_key_and_line():
    text = example_with('time_zone = "Asia/Shanghai"', 'time_zone = "Asia/Shangai"')
    with pytest.raises(ConfigError) as caught:
        parse_config(text, source="site.toml")
    message = str(caught.value)
    assert f"line {line_of(text, 'Asia/Shangai')}, key sites[0].time_zone" in message
    assert "unknown time zone 'Asia/Shangai'" in message and message.startswith("site.toml")


def test_a_bad_key_inside_an_inline_table_and_an_unknown_key():
    text = example_with("device_id = 1, profile", "device_id = 999, profile")
    text = text.replace("offline_after_failures = 3", "offline_after_failure = 3", 1)
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    message = str(caught.value)
    assert f"line {line_of(text, 'device_id = 999')}, key assets[0].modbus.device_id" in message
    assert f"line {line_of(text, 'offline_after_failure =')}, key collector.offline_after_failure: Extra inputs" in message


def test_a_rule_variant_error_points_into_the_rules_table():
    text = example_with("clear_level = 2.7    # kPa", "clear_level = 3.7    # kPa")
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    header = line_of(text, "[[rules]]")  # the first rule's table
    assert f"line {header}, key rules[0].threshold" in str(caught.value)
    assert "clear_level must not be above level" in str(caught.value)


def test_broken_references_and_toml_are_refused_with_the_reason():
    with pytest.raises(ConfigError, match="unknown sla_zone 'ring9'"):
        parse_config(example_with('sla_zone = "ring2"', 'sla_zone = "ring9"'))
    with pytest.raises(ConfigError, match="not valid TOML.*line"):
        parse_config("[storage\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config("/nonexistent/sitewatch.toml")


def test_a_rule_naming_an_unknown_fault_group_or_restart_rule_is_refused():
    from sitewatch.demo import example_config

    raw = example_config()
    raw["rules"][0]["fault"] = "pressure-contrl"
    with pytest.raises(ConfigError, match="unknown fault group 'pressure-contrl'"):
        config_from_dict(raw)
    raw = example_config()
    creep = next(r for r in raw["rules"] if r["kind"] == "night_creep")
    creep["restart_on"] = [*creep["restart_on"], "outlet-hihg"]
    with pytest.raises(ConfigError, match="restart_on names unknown rule"):
        config_from_dict(raw)
