"""Where samples and records are kept: the time-series store, its on-disk buffer for outages,
retention and rollups, and the relational database (``[storage]`` in the TOML)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class InfluxSettings(_Frozen):
    """An InfluxDB-protocol server (``timeseries = "influx"``): InfluxDB 1.8+/2.x/3.x or
    VictoriaMetrics. Writes go through influxdb-client's v2 write API (``write_api = "v2"``)
    or, for InfluxDB 1.x before 1.8, through its v1 ``/write`` (``"v1"``); reads through
    InfluxQL at ``/query`` (``reader = "influxql"``) or VictoriaMetrics' own query API
    (``"victoriametrics"``), which has no InfluxQL."""

    url: str = Field(pattern=r"^https?://")
    write_api: Literal["v2", "v1"] = "v2"
    reader: Literal["influxql", "victoriametrics"] = "influxql"
    org: str = ""  # InfluxDB 2.x/3.x; ignored by VictoriaMetrics and 1.x
    bucket: str = "sitewatch"  # v2 writes: the bucket; InfluxDB 1.8+ maps it to "database/rp"
    database: str = "sitewatch"  # v1 writes and InfluxQL reads
    measurement: str = Field(default="samples", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # A vault entry (``sitewatch vault set NAME``) holding the token (password: the token;
    # for InfluxDB 1.x, username and password). None: the server asks for none.
    credential: str | None = None
    batch_size: int = Field(default=5_000, ge=1, le=100_000)
    timeout_s: float = Field(default=10.0, gt=0)
    gzip: bool = True
    # A private CA for https:// servers (None: the system's).
    ca_file: Path | None = None


class BufferSettings(_Frozen):
    """Store-and-forward: samples the store cannot take wait on disk, replayed in order."""

    path: str = "buffer.sqlite3"  # relative to data_dir
    max_samples: int = Field(default=10_000_000, ge=1_000)
    # The fraction of max_samples at which the control room is warned.
    warn_fraction: float = Field(default=0.8, gt=0, le=1)


class RetentionSettings(_Frozen):
    """How long samples are kept. Raw samples at least 62 days: the seed's "anything lost or
    changed within two months can be restored" (DOMAIN.md)."""

    raw_days: int = Field(default=62, ge=62)
    minute_days: int = Field(default=400, ge=1)  # 1-minute rollups
    hour_days: int = Field(default=3_650, ge=1)  # 1-hour rollups

    @model_validator(mode="after")
    def _longer_for_coarser(self) -> RetentionSettings:
        if not self.raw_days <= self.minute_days <= self.hour_days:
            raise ValueError("retention must not shrink with coarser data: raw_days <= minute_days <= hour_days")
        return self


class StorageSettings(_Frozen):
    data_dir: Path = Path("var")
    timeseries: Literal["duckdb", "influx"] = "duckdb"
    timeseries_path: str = "samples.duckdb"  # relative to data_dir (duckdb)
    influx: InfluxSettings | None = None  # required when timeseries = "influx"
    buffer: BufferSettings = BufferSettings()
    retention: RetentionSettings = RetentionSettings()
    database_url: str = "sqlite:///{data_dir}/sitewatch.db"
    flush_interval_s: float = Field(default=1.0, gt=0)

    @model_validator(mode="after")
    def _influx_when_chosen(self) -> StorageSettings:
        if self.timeseries == "influx" and self.influx is None:
            raise ValueError('timeseries = "influx" needs a [storage.influx] table with its url')
        return self
