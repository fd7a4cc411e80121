"""Which shard an asset falls in: a function of the configuration alone, the same in every
process, on every machine and in every Python run (issue 14, "Shards with leases").

The key is the asset's id, except for Modbus stations: one behind a gateway has the gateway's
id, one polled directly its address. The stations on one serial line, or at one address, are
polled through one connection with one lock (collector/modbus/), and a dead gateway holds its
stations' alerts (tickets/holds.py), so they must be worked by the same process.

The key is hashed with BLAKE2b (never Python's ``hash()``, salted per process for str) and
placed with Lamping and Veach's jump consistent hash ("A Fast, Minimal Memory, Consistent
Hash Algorithm", 2014): shards are even to within sampling noise, and going from N to N+1
shards moves only the ~1/(N+1) of the assets that land in the new one, so a fleet grown by
a shard does not reshuffle every other shard's rules state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sitewatch.config.models import Asset, Config

# The 64-bit linear congruential step of the jump hash paper.
_LCG = 2862933555777941757
_MASK64 = (1 << 64) - 1


def shard_key(asset: Asset) -> str:
    """What decides the asset's shard: its gateway's id if it is reached through one; the
    address of a station polled directly (stations sharing an address share one connection
    too, and an RTU often takes only one); else its id."""
    if asset.modbus is not None:
        if asset.modbus.gateway is not None:
            return asset.modbus.gateway
        return f"modbus://{asset.modbus.host}:{asset.modbus.port}"
    return asset.id


def shard_of_key(key: str, shards: int) -> int:
    """The shard, 0 to ``shards`` - 1, of a key."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    h = int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")
    bucket, jump = -1, 0
    while jump < shards:
        bucket = jump
        h = (h * _LCG + 1) & _MASK64
        jump = int((bucket + 1) * ((1 << 31) / ((h >> 33) + 1)))
    return bucket


def shard_of(asset: Asset, shards: int) -> int:
    return shard_of_key(shard_key(asset), shards)


def assignment(assets: Iterable[Asset], shards: int) -> dict[str, int]:
    """Every asset's shard, by asset id."""
    return {asset.id: shard_of(asset, shards) for asset in assets}


def assets_in(config: Config, shard: int, shards: int) -> tuple[Asset, ...]:
    """The assets a holder of ``shard`` works on, in configuration order."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is not one of 0..{shards - 1}")
    return tuple(asset for asset in config.assets if shard_of(asset, shards) == shard)


def lease_name(shard: int, shards: int) -> str:
    """The lease (storage/leases.py) that guards a shard. The count is part of the name: a
    fleet changed to another count of shards must not take a lease meant for the old cut."""
    return f"shard-{shard}-of-{shards}"
