"""Read models shared by the JSON routes and the pages: assets with health and live values."""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta

from sitewatch.api.context import ApiContext
from sitewatch.api.schemas import AssetPublic, HealthPublic, ValuePublic
from sitewatch.domain.samples import Quality, Sample

# A device not heard from for this many poll intervals has its values shown as stale.
STALE_AFTER_INTERVALS = 3


def live_values(parts: ApiContext, asset_ids: list[str], *, now: datetime) -> dict[str, list[ValuePublic]]:
    latest = parts.store.latest(asset_ids=asset_ids)
    by_asset: dict[str, list[ValuePublic]] = defaultdict(list)
    for sample in latest:
        by_asset[sample.asset_id].append(_value(parts, sample, now))
    for asset_id, values in by_asset.items():
        order = _channel_order(parts, asset_id)
        values.sort(key=lambda v: (order.get(v.channel, len(order)), v.channel))
    return by_asset


def _channel_order(parts: ApiContext, asset_id: str) -> dict[str, int]:
    """The profile's register order: the station's own layout, pressures first."""
    try:
        asset = parts.config.asset(asset_id)
    except KeyError:
        return {}
    if asset.modbus is None:
        return {}
    return {reg.channel: i for i, reg in enumerate(parts.config.profile(asset.modbus.profile).registers)}


def _value(parts: ApiContext, sample: Sample, now: datetime) -> ValuePublic:
    quality = sample.quality
    if quality is Quality.GOOD and _device_silent(parts, sample.asset_id, now):
        quality = Quality.STALE
    value = None if math.isnan(sample.value) else sample.value
    return ValuePublic(channel=sample.channel, value=value, unit=sample.unit, quality=quality.name.lower(), ts=sample.ts)


def _device_silent(parts: ApiContext, asset_id: str, now: datetime) -> bool:
    """Stale means we have not heard from the device for a while — not that a value is old:
    event channels (tamper, motion) legitimately keep one value for days. Pushing devices
    (alarm hosts) have no poll to miss; their silence is the no-data rule's business."""
    try:
        interval = parts.config.asset(asset_id).poll_interval_s
        health = parts.health.get(asset_id)
    except KeyError:
        return False
    heard = health.last_success
    return heard is None or now - heard > timedelta(seconds=STALE_AFTER_INTERVALS * interval)


def asset_view(parts: ApiContext, row, values: list[ValuePublic]) -> AssetPublic:  # noqa: ANN001 (ORM row)
    health = None
    try:
        health = HealthPublic.model_validate(parts.health.get(row.id))
    except KeyError:
        pass  # an asset in the inventory that this process does not poll
    out = AssetPublic.model_validate(row)
    return out.model_copy(update={"health": health, "values": values})
