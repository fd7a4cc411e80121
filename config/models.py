"""The configuration model. Frozen, snake_case, units in names; cross-references checked."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from sitewatch.collector.modbus.config import ModbusEndpoint, ModbusGateway, ModbusProfile
from sitewatch.collector.mqtt.config import MqttSettings
from sitewatch.collector.onvif.config import OnvifEndpoint
from sitewatch.config.storage import StorageSettings
from sitewatch.config.tls import PrivateKeyFile, ReadableFile, check_optional_server_pair
from sitewatch.config.types import LocalTime, TimeZoneName
from sitewatch.inspections.plans import PLAN_KINDS
from sitewatch.paging.config import PagingSettings
from sitewatch.rules.models import Rule
from sitewatch.tickets.maintenance import MaintenanceWindow

AssetKind = Literal[
    "regulator_station", "regulator_cabinet", "regulator_box",  # Modbus RTUs
    "camera", "encoder", "nvr",  # ONVIF
    "alarm_host",  # MQTT
    "modbus_gateway",  # a gateway, converter or serial line several Modbus stations are reached through
]
# Which connection each kind of asset is reached through.
CONNECTION_OF_KIND = {
    "regulator_station": "modbus", "regulator_cabinet": "modbus", "regulator_box": "modbus",
    "camera": "onvif", "encoder": "onvif", "nvr": "onvif",
    "alarm_host": "alarm_host",
    "modbus_gateway": "modbus_gateway",
}


class Frozen(BaseModel):
    # allow_inf_nan: no setting means NaN or an infinity (found by tests/config/test_load_fuzz.py)
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Customer(Frozen):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    name: str
    phone: str | None = None


class PlantItem(Frozen):
    """Field plant inspected on a plan but not polled (DOMAIN.md "Inspections"): a buried
    valve well, a valve, a cathodic-protection test point."""

    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Literal["valve_well", "valve", "cathodic_protection"]
    name: str = ""
    dn_mm: int | None = Field(default=None, gt=0, le=2000)  # valves: DN65 and up yearly, smaller every 3 years
    low_lying: bool = False  # valve wells: inspected again after every rain

    @model_validator(mode="after")
    def _fits_kind(self) -> PlantItem:
        if self.kind == "valve" and self.dn_mm is None:
            raise ValueError(f"valve {self.id!r} needs dn_mm (its nominal size decides how often it is inspected)")
        if self.kind != "valve" and self.dn_mm is not None:
            raise ValueError(f"{self.kind} {self.id!r}: dn_mm is for valves")
        if self.kind != "valve_well" and self.low_lying:
            raise ValueError(f"{self.kind} {self.id!r}: low_lying is for valve wells")
        return self


class Site(Frozen):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    customer: str
    name: str
    address: str = ""
    time_zone: TimeZoneName = "Asia/Shanghai"
    sla_zone: str
    # The maintenance contract (DOMAIN.md: free-maintenance end reminded 3 months before,
    # contract end 1 month before), in the site's calendar.
    free_maintenance_until: dt.date | None = None
    contract_until: dt.date | None = None
    # Who does the site's inspections: plan kind (inspections/plans.py) or "default" -> name.
    technicians: dict[str, str] = Field(default_factory=dict)
    plant: tuple[PlantItem, ...] = ()


class ChannelLimits(Frozen):
    """An asset's own limits for one channel, in the channel's unit; clear levels give hysteresis."""

    high: float | None = None
    high_clear: float | None = None
    low: float | None = None
    low_clear: float | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ChannelLimits:
        if self.high is not None and self.high_clear is not None and self.high_clear > self.high:
            raise ValueError("high_clear must not be above high")
        if self.low is not None and self.low_clear is not None and self.low_clear < self.low:
            raise ValueError("low_clear must not be below low")
        if self.high is not None and self.low is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class AlarmHostLink(Frozen):
    """An alarm host publishing over MQTT under this id (topics: collector/mqtt/README.md)."""

    host_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    zones: int = Field(default=8, ge=1, le=999)
    # "arrival": the host's clock is known to be wrong, so every message is stamped with the
    # time it reaches us instead of the time it claims (collector/mqtt/README.md).
    timestamps: Literal["device", "arrival"] = "device"


class RegulatorSettings(Frozen):
    """The running regulator path's pressures (DOMAIN.md: operating < lock-up < relief < cut-off).

    Threshold rules may be written relative to one of these (``relative_to``), so one rule
    serves stations set to different pressures.
    """

    set_point_kpa: float = Field(gt=0)
    lock_up_kpa: float = Field(gt=0)
    relief_kpa: float = Field(gt=0)
    slam_shut_kpa: float = Field(gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> RegulatorSettings:
        order = (self.set_point_kpa, self.lock_up_kpa, self.relief_kpa, self.slam_shut_kpa)
        if not order[0] < order[1] < order[2] < order[3]:
            raise ValueError(f"pressures must rise: set_point_kpa < lock_up_kpa < relief_kpa < slam_shut_kpa, got {order}")
        return self


class Asset(Frozen):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    site: str
    kind: AssetKind = "regulator_station"
    name: str
    poll_interval_s: float = Field(default=5.0, ge=0.05, le=3600)
    # Exactly one connection, the one its kind needs (CONNECTION_OF_KIND).
    modbus: ModbusEndpoint | None = None
    onvif: OnvifEndpoint | None = None
    alarm_host: AlarmHostLink | None = None
    modbus_gateway: ModbusGateway | None = None
    limits: dict[str, ChannelLimits] = Field(default_factory=dict)
    regulator: RegulatorSettings | None = None
    # The asset this one is reached through (a camera behind an encoder, a station's devices
    # behind its RTU): while that one is offline, this one's alerts are recorded, not paged.
    depends_on: str | None = None
    # Regulators: when it went into service and where it was made decide its overhaul by
    # the maker (DOMAIN.md: imported after 8 years running, domestic after 5).
    installed_on: dt.date | None = None
    regulator_origin: Literal["domestic", "imported"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _behind_its_gateway(cls, data: object) -> object:
        # A station behind a gateway depends on it: a dead gateway is one root cause (one
        # ticket), its stations' silence is recorded under it (tickets/holds.py).
        if isinstance(data, dict) and isinstance(data.get("modbus"), dict) and data.get("depends_on") is None:
            gateway = data["modbus"].get("gateway")
            if gateway is not None:
                data = {**data, "depends_on": gateway}
        return data

    @model_validator(mode="after")
    def _origin_for_regulators(self) -> Asset:
        if self.regulator_origin is not None and CONNECTION_OF_KIND[self.kind] != "modbus":
            raise ValueError(f"asset {self.id!r}: regulator_origin is for regulator stations, cabinets and boxes")
        return self

    @model_validator(mode="after")
    def _one_connection(self) -> Asset:
        given = [name for name in ("modbus", "onvif", "alarm_host", "modbus_gateway") if getattr(self, name) is not None]
        needed = CONNECTION_OF_KIND[self.kind]
        if given != [needed]:
            raise ValueError(f"a {self.kind} needs exactly one connection, [{needed}]; got {given or 'none'}")
        return self


class SlaZone(Frozen):
    """Arrival deadline for one zone (DOMAIN.md: ring roads, counties, contract)."""

    hours: float = Field(gt=0)
    basis: Literal["calendar", "working_hours"] = "calendar"
    calendar: str | None = None  # required for working_hours
    label: str = ""


class WorkingCalendar(Frozen):
    workdays: tuple[int, ...] = (1, 2, 3, 4, 5)  # ISO weekdays, Monday = 1
    start: LocalTime = dt.time(8, 30)
    end: LocalTime = dt.time(17, 30)
    holidays: tuple[dt.date, ...] = ()
    extra_workdays: tuple[dt.date, ...] = ()  # weekend days worked in lieu of a holiday

    @model_validator(mode="after")
    def _sane(self) -> WorkingCalendar:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if not set(self.workdays) <= set(range(1, 8)):
            raise ValueError("workdays are ISO weekdays 1..7")
        return self


class Sla(Frozen):
    zones: dict[str, SlaZone]
    calendars: dict[str, WorkingCalendar] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _calendars_exist(self) -> Sla:
        for name, zone in self.zones.items():
            if zone.basis == "working_hours":
                if zone.calendar is None:
                    raise ValueError(f"zone {name!r}: working_hours needs a calendar")
                if zone.calendar not in self.calendars:
                    raise ValueError(f"zone {name!r}: unknown calendar {zone.calendar!r}")
        return self


class DutySettings(Frozen):
    """Who watches (DOMAIN.md, rule book 12 art. 5): the operations desk in office hours, the
    dispatch centre at noon, at night, at weekends and on holidays."""

    calendar: str | None = None  # a [sla.calendars] entry; None: the dispatch centre always
    noon_start: LocalTime = dt.time(12, 0)
    noon_end: LocalTime = dt.time(13, 30)
    office_desk: str = "operations"
    off_hours_desk: str = "dispatch-centre"


class ClusterSettings(Frozen):
    """How the fleet's work is cut for several worker processes (sitewatch/shards.py). Each
    shard is held by one worker at a time through a lease in the database; a worker that dies
    loses its shards to the others within two lease periods."""

    # 1: one worker does everything (as one process always has). More shards than workers
    # lets the work spread evenly and move in small pieces when a worker joins or dies.
    shards: int = Field(default=1, ge=1, le=1024)
    # Renewed every third of it: a dead worker's shards wait at most this long, plus one
    # look by the others (a third), to be taken over.
    lease_ttl_s: float = Field(default=15.0, ge=3, le=600)


class CollectorSettings(Frozen):
    offline_after_failures: int = Field(default=3, ge=1)
    backoff_max_s: float = Field(default=60.0, gt=0)
    jitter_fraction: float = Field(default=0.1, ge=0, le=0.5)
    # A device timestamp older than this, or further ahead than the lead, is refused: a
    # future time would pin the live value and open tickets whose arrive-by never passes.
    # Capped at ten years so the window stays a representable datetime range.
    max_timestamp_age_s: float = Field(default=604800.0, gt=0, le=315_576_000)
    max_timestamp_lead_s: float = Field(default=300.0, gt=0, le=315_576_000)


class ApiToken(Frozen):
    """An integration's bearer token, kept as its SHA-256 so the file holds no secret; it acts
    with ``role`` (auth/roles.py) on ``customers`` (empty: every customer)."""

    name: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    role: Literal["viewer", "dispatcher", "technician", "manager", "admin"] = "admin"
    customers: tuple[str, ...] = ()


class ApiSettings(Frozen):
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    tokens: tuple[ApiToken, ...] = ()
    # Session cookies only over HTTPS. Browsers treat http://127.0.0.1 and localhost as
    # secure, so this holds for the demo too; false only behind a plain-HTTP proxy.
    secure_cookies: bool = True
    # HTTPS served by the API itself: the certificate (PEM, intermediates after it) and its
    # key. Or plain HTTP on loopback behind a reverse proxy (deploy/TLS.md).
    tls_cert_file: ReadableFile | None = None
    tls_key_file: PrivateKeyFile | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> ApiSettings:
        check_optional_server_pair("api", self.tls_cert_file, self.tls_key_file)
        return self


class VaultSettings(Frozen):
    """Where the device-credential vault's key comes from: this file (mode 0600), or the
    SITEWATCH_VAULT_KEY environment variable when no file is named."""

    key_file: Path | None = None


class RulesSettings(Frozen):
    tick_s: float = Field(default=1.0, gt=0)
    # An alert changing state this many times within flap_window_s becomes one flapping
    # alert until it has been quiet for a window (None: no flapping detection).
    flap_transitions: int | None = Field(default=None, ge=2)
    flap_window_s: float = Field(default=600.0, gt=0)
    # When at least this many of a site's assets go silent together (no-data rules), and at
    # least site_down_fraction of them, it is the site (network, power) that is down: one
    # site ticket, and the assets' no-data alerts are recorded without tickets of their own.
    site_down_min_assets: int | None = Field(default=None, ge=2)
    site_down_fraction: float = Field(default=0.8, gt=0, le=1)
    # An asset back online must stay back this long before the alerts it held (its own, its
    # dependants') are announced: their own data resolves most of them first.
    release_grace_s: float = Field(default=60.0, ge=0)


class FaultGroup(Frozen):
    """Alerts that are symptoms of one fault on one asset (DOMAIN.md: one ticket per fault)."""

    label: str = ""
    # Groups whose open ticket on the same asset also takes this group's alerts: a
    # slam-shut trip and the outlet bleeding down after over-pressure are the regulator's
    # fault, not a second one.
    follows: tuple[str, ...] = ()


class CorrelationSettings(Frozen):
    """Which alerts share a ticket (tickets/correlation.py)."""

    # A new alert joins its group's open ticket on the asset while one of the ticket's
    # alerts still fires, or the last one began less than this long ago; later, it opens
    # a ticket of its own.
    window_s: float = Field(default=1800.0, gt=0)
    faults: dict[str, FaultGroup] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _follows_known(self) -> CorrelationSettings:
        for name, group in self.faults.items():
            unknown = sorted(set(group.follows) - set(self.faults))
            if unknown:
                raise ValueError(f"fault {name!r}: follows unknown fault group(s) {unknown}")
        return self


class FieldCheckSettings(Frozen):
    """When a technician's field reading and SCADA disagree (DOMAIN.md: "these three field
    readings are compared with SCADA to judge whether SCADA is right"). One place for the
    inspection that records the reading and the daily review that flags it."""

    # The channel's own absolute tolerance, in the channel's unit; other channels: a share of
    # the field value.
    tolerance_by_channel: dict[str, float] = Field(
        default_factory=lambda: {"inlet_mpa": 0.01, "outlet_kpa": 0.1, "gas_lel_pct": 2.0})
    tolerance_fraction: float = Field(default=0.05, gt=0, lt=1)
    match_window_s: float = Field(default=60.0, gt=0)  # the SCADA sample this close is "the same moment"

    def tolerance(self, channel: str, field_value: float) -> float:
        if channel in self.tolerance_by_channel:
            return self.tolerance_by_channel[channel]
        return abs(field_value) * self.tolerance_fraction


class ReviewSettings(Frozen):
    """The daily regulator station review (DOMAIN.md "The daily 08:30 review", §12 art. 6)."""

    at: LocalTime = dt.time(8, 30)  # site-local: the log covers the 24 h (23/25 on DST days) before it
    completeness_min_ratio: float = Field(default=0.95, gt=0, le=1)  # good / expected samples
    # The font embedded in every PDF (logs, reports): a TrueType font (.ttf/.ttc) with Chinese
    # glyphs, or any TrueType font if PDFs are read in English only. None: one found on the
    # machine (i18n/fonts.py; Debian fonts-wqy-microhei), else Chinese PDFs answer 503.
    pdf_font_file: Path | None = None


class Config(Frozen):
    customers: tuple[Customer, ...]
    sites: tuple[Site, ...]
    assets: tuple[Asset, ...] = ()
    modbus_profiles: tuple[ModbusProfile, ...] = ()
    rules: tuple[Rule, ...] = ()
    sla: Sla
    collector: CollectorSettings = CollectorSettings()
    cluster: ClusterSettings = ClusterSettings()
    storage: StorageSettings = StorageSettings()
    api: ApiSettings = ApiSettings()
    rules_engine: RulesSettings = RulesSettings()
    vault: VaultSettings = VaultSettings()
    mqtt: MqttSettings | None = None  # the broker alarm hosts publish to
    duty: DutySettings = DutySettings()
    maintenance_windows: tuple[MaintenanceWindow, ...] = ()
    review: ReviewSettings = ReviewSettings()
    field_check: FieldCheckSettings = FieldCheckSettings()
    correlation: CorrelationSettings = CorrelationSettings()
    paging: PagingSettings | None = None  # messages to people: channels, rotas, routes
    _indexes: dict[str, tuple] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _references(self) -> Config:
        if self.duty.calendar is not None and self.duty.calendar not in self.sla.calendars:
            raise ValueError(f"duty: unknown calendar {self.duty.calendar!r}")
        _unique("maintenance_windows", [w.id for w in self.maintenance_windows])
        for window in self.maintenance_windows:
            unknown = set(window.assets) - {a.id for a in self.assets} | set(window.sites) - {s.id for s in self.sites}
            if unknown:
                raise ValueError(f"maintenance window {window.id!r}: unknown asset(s)/site(s) {sorted(unknown)}")
        _unique("customers", [c.id for c in self.customers])
        _unique("sites", [s.id for s in self.sites])
        _unique("assets", [a.id for a in self.assets])
        _unique("modbus_profiles", [p.name for p in self.modbus_profiles])
        _unique("rules", [r.id for r in self.rules])
        rule_ids = {r.id for r in self.rules}
        for rule in self.rules:
            unknown = sorted(set(getattr(rule, "restart_on", ())) - rule_ids)
            if unknown:
                raise ValueError(f"rule {rule.id!r}: restart_on names unknown rule(s) {unknown}")
            if rule.fault is not None and rule.fault not in self.correlation.faults:
                raise ValueError(f"rule {rule.id!r}: unknown fault group {rule.fault!r} "
                                 f"(declare it under [correlation.faults])")
        customers = {c.id for c in self.customers}
        for site in self.sites:
            if site.customer not in customers:
                raise ValueError(f"site {site.id!r}: unknown customer {site.customer!r}")
            if site.sla_zone not in self.sla.zones:
                raise ValueError(f"site {site.id!r}: unknown sla_zone {site.sla_zone!r}")
        sites = {s.id for s in self.sites}
        plant_ids = [p.id for s in self.sites for p in s.plant]
        _unique("plant", plant_ids)
        clash = sorted(set(plant_ids) & {a.id for a in self.assets})
        if clash:
            raise ValueError(f"plant id(s) also used by assets: {', '.join(clash)}")
        for site in self.sites:
            unknown_plans = set(site.technicians) - {"default", *PLAN_KINDS}
            if unknown_plans:
                raise ValueError(f"site {site.id!r}: technicians for unknown plan(s) {sorted(unknown_plans)}")
        if self.paging is not None:
            for route in self.paging.routes:
                unknown = sorted(set(route.customers) - customers | set(route.sites) - sites)
                if unknown:
                    raise ValueError(f"paging route {route.name!r}: unknown customer(s)/site(s) {unknown}")
        profiles = {p.name: p for p in self.modbus_profiles}
        asset_ids = {a.id for a in self.assets}
        for asset in self.assets:
            if asset.depends_on is not None and (asset.depends_on not in asset_ids or asset.depends_on == asset.id):
                raise ValueError(f"asset {asset.id!r}: depends_on {asset.depends_on!r} is not another configured asset")
            if asset.site not in sites:
                raise ValueError(f"asset {asset.id!r}: unknown site {asset.site!r}")
            if asset.alarm_host is not None and self.mqtt is None:
                raise ValueError(f"asset {asset.id!r}: an alarm host needs the [mqtt] broker settings")
            if asset.modbus is None:
                continue
            gateway = asset.modbus.gateway
            if gateway is not None:
                if gateway not in asset_ids or self.asset(gateway).kind != "modbus_gateway":
                    raise ValueError(f"asset {asset.id!r}: gateway {gateway!r} is not a configured modbus_gateway asset")
                if asset.depends_on != gateway:
                    raise ValueError(f"asset {asset.id!r}: a station behind gateway {gateway!r} depends on it, "
                                     f"not on {asset.depends_on!r}")
            if asset.modbus.profile not in profiles:
                raise ValueError(f"asset {asset.id!r}: unknown modbus profile {asset.modbus.profile!r}")
            channels = set(profiles[asset.modbus.profile].channels)
            for channel in asset.limits:
                if channel not in channels:
                    raise ValueError(f"asset {asset.id!r}: limits for unknown channel {channel!r}")
        return self

    # Lookups used all over; the tuples above stay the source of truth.
    def site(self, site_id: str) -> Site:
        return self._lookup("sites", "id", site_id)

    def customer(self, customer_id: str) -> Customer:
        return self._lookup("customers", "id", customer_id)

    def asset(self, asset_id: str) -> Asset:
        return self._lookup("assets", "id", asset_id)

    def profile(self, name: str) -> ModbusProfile:
        return self._lookup("modbus_profiles", "name", name)

    def behind(self, gateway_id: str) -> list[Asset]:
        """The stations reached through the modbus_gateway asset ``gateway_id``, by device id."""
        stations = [a for a in self.assets if a.modbus is not None and a.modbus.gateway == gateway_id]
        return sorted(stations, key=lambda a: (a.modbus.device_id if a.modbus else 0, a.id))

    def _lookup(self, field: str, key: str, value: str):
        # The writer, the rules wiring and every dashboard value look things up by id: index
        # each tuple once. The index remembers its tuple, so a model_copy(update=...) that
        # replaced the tuple gets a fresh index instead of a stale one.
        items = getattr(self, field)
        cached = self._indexes.get(field)
        if cached is None or cached[0] is not items:
            cached = (items, {getattr(item, key): item for item in items})
            self._indexes[field] = cached
        try:
            return cached[1][value]
        except KeyError:
            raise KeyError(f"no {field.rstrip('s').replace('_', ' ')} {value!r} in the configuration") from None


def _unique(what: str, ids: list[str]) -> None:
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate {what} id(s): {', '.join(dupes)}")
