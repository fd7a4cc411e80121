"""The config blocks inspections read: the README's sample loads; bad plant, unknown plans
and misplaced regulator facts are refused with a clear message."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from sitewatch.config.load import ConfigError, config_from_dict, parse_config
from sitewatch.inspections.due import targets
from tests.inspections.conftest import raw_config

ROOT = Path(__file__).parents[2]


def readme_sample() -> str:
    text = (ROOT / "inspections" / "README.md").read_text(encoding="utf-8")
    return re.search(r"```toml\n(.*?)```", text, re.S).group(1)


def test_the_readme_sample_config_loads():
    example = (ROOT / "config" / "sitewatch.example.toml").read_text(encoding="utf-8")
    config = parse_config(example + "\n" + readme_sample(), source="readme")
    east = config.site("east")
    assert (east.free_maintenance_until, east.contract_until) == (date(2027, 3, 31), date(2027, 12, 31))
    assert east.technicians["security_monthly"] == "Zhao Liu"
    assert [(t.target_id, t.kind) for t in targets(config, site_id="east")] == [
        ("rs-east-01", "regulator_station"), ("well-e-1", "valve_well"), ("valve-e-1", "valve"),
        ("cp-e-1", "cathodic_protection")]
    assert config.asset("rs-east-01").installed_on == date(2020, 2, 29)


@pytest.mark.parametrize(("change", "message"), [
    (lambda raw: raw["sites"][0]["plant"].append({"id": "v-x", "kind": "valve"}), "needs dn_mm"),
    (lambda raw: raw["sites"][0]["plant"].append({"id": "w-x", "kind": "cathodic_protection", "low_lying": True}),
     "low_lying is for valve wells"),
    (lambda raw: raw["sites"][1].update(plant=[{"id": "well-n-1", "kind": "valve_well"}]), "duplicate plant"),
    (lambda raw: raw["sites"][1].update(plant=[{"id": "rs-north-01", "kind": "valve_well"}]), "also used by assets"),
    (lambda raw: raw["sites"][0]["technicians"].update(walkabout="X"), "technicians for unknown plan"),
    (lambda raw: raw["assets"][1].update(regulator_origin="imported"), "regulator_origin is for regulator"),
    (lambda raw: raw["sites"][0].update(contract_until="2027-02-30"), "contract_until"),
])
def test_bad_inspection_config_is_refused(change, message):
    raw = raw_config()
    change(raw)
    with pytest.raises((ConfigError, ValueError), match=message):
        config_from_dict(raw)
