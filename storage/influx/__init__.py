"""The InfluxDB-protocol time-series backend (``timeseries = "influx"``): InfluxDB 1.x/2.x/3.x
and VictoriaMetrics. See README.md for what was tested, and how to run the servers."""

from sitewatch.storage.influx.client import RetryPolicy, WriteRejected
from sitewatch.storage.influx.store import InfluxStore, connect

__all__ = ["InfluxStore", "RetryPolicy", "WriteRejected", "connect"]
