"""Two customers in three time zones: City Gas (Shanghai and Berlin sites, the inspections
test configuration) and Harbour Security (New York, west of UTC, where 23:30 local on a
month's last day is already the next month in UTC)."""

from __future__ import annotations

import pytest

from sitewatch.config.load import config_from_dict
from tests.inspections.conftest import raw_config as inspections_raw_config

ZONES = {"north": "Asia/Shanghai", "berlin": "Europe/Berlin", "harbour": "America/New_York"}
ASSET_OF_SITE = {"north": "rs-north-01", "berlin": "rs-berlin-01", "harbour": "ah-harbour-01"}
CUSTOMER_OF_SITE = {"north": "citygas", "berlin": "citygas", "harbour": "harbour"}


def raw_config() -> dict:
    raw = inspections_raw_config()
    raw["assets"] = [a for a in raw["assets"] if a["kind"] != "camera"]  # no vault needed
    raw["customers"].append({"id": "harbour", "name": "Harbour Security Ltd", "phone": "+1 212 000 0000"})
    raw["sites"].append({"id": "harbour", "customer": "harbour", "name": "Harbour warehouse",
                         "time_zone": "America/New_York", "sla_zone": "ring1"})
    raw["assets"].append({"id": "ah-harbour-01", "site": "harbour", "kind": "alarm_host",
                          "name": "Harbour alarm host", "alarm_host": {"host_id": "ah-harbour-01", "zones": 4}})
    return raw


@pytest.fixture(scope="module")
def config():
    return config_from_dict(raw_config())
