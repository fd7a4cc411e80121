"""A configuration with two sites in two time zones, field plant, technicians and contract
dates (the `store` fixture, a real DuckDB store for SCADA samples, is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config


def raw_config() -> dict:
    raw = example_config()
    north = raw["sites"][0]
    north |= {
        "technicians": {"default": "Wang Wu", "security_monthly": "Zhao Liu"},
        "free_maintenance_until": "2027-03-31",
        "contract_until": "2027-12-31",
        "plant": [
            {"id": "well-n-1", "kind": "valve_well", "name": "Well by the creek", "low_lying": True},
            {"id": "well-n-2", "kind": "valve_well", "name": "Well on the hill"},
            {"id": "valve-n-1", "kind": "valve", "dn_mm": 100},
            {"id": "cp-n-1", "kind": "cathodic_protection", "name": "CP test point 1"},
        ],
    }
    raw["sites"].append({"id": "berlin", "customer": north["customer"], "name": "Berlin depot",
                         "time_zone": "Europe/Berlin", "sla_zone": "ring2", "technicians": {"default": "Anna"}})
    station = raw["assets"][0]
    station |= {"installed_on": "2020-02-29", "regulator_origin": "imported"}
    raw["assets"].append(station | {"id": "rs-berlin-01", "site": "berlin", "name": "Berlin 01 regulator station",
                                    "installed_on": "2021-06-01", "regulator_origin": "domestic"})
    raw["assets"].append({"id": "cam-north-01", "site": "north", "kind": "camera", "name": "Gate camera",
                          "onvif": {"host": "127.0.0.1", "port": 8080, "credential": "cam-north-01"}})
    return raw


@pytest.fixture(scope="module")
def config():
    return config_from_dict(raw_config())
