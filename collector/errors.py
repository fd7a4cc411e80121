"""Typed errors every protocol's client raises, so the scheduler never inspects library types.

Each protocol's ``client.py`` translates its library's exceptions into these at the boundary.
An error says which device (``device_id``: the configured asset id, not a Modbus unit id),
what went wrong (``message``) and where (``where``: endpoint and address range), so that
``str(error)`` is a complete log line. ``TimestampOutOfRange`` is what
``sitewatch.collector.timestamps.TimestampWindow`` raises for a device time it refuses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

# Modbus exception codes (Modbus Application Protocol V1.1b3, section 7).
MODBUS_EXCEPTION_MEANINGS: dict[int, str] = {
    1: "illegal function",
    2: "illegal data address",
    3: "illegal data value",
    4: "server device failure",
    5: "acknowledge",
    6: "server device busy",
    8: "memory parity error",
    10: "gateway path unavailable",
    11: "gateway target device failed to respond",
}


def modbus_exception_meaning(code: int) -> str:
    return MODBUS_EXCEPTION_MEANINGS.get(code, "unknown exception code")


class CollectorError(Exception):
    """A device could not be read, or not completely."""

    def __init__(self, *, device_id: str, message: str, where: str = "") -> None:
        super().__init__(message)
        self.device_id = device_id
        self.message = message
        self.where = where

    def __str__(self) -> str:
        where = f" [{self.where}]" if self.where else ""
        return f"{self.device_id}: {self.message}{where}"


class DeviceUnreachable(CollectorError):
    """No connection: refused, reset, or lost while waiting for a reply."""


class TlsFailed(DeviceUnreachable):
    """Connected, but no TLS session: the device's certificate is not trusted or is for another
    name, or the handshake failed. Its message says which (what the certificate is for, what
    verification said)."""


class DeviceTimeout(CollectorError):
    """Connected (or connecting), but no complete reply within the endpoint's timeout."""


class DeviceBusy(CollectorError):
    """The device asked to be retried later (Modbus exception 6); the scheduler backs off."""


class DeviceRejected(CollectorError):
    """The device answered the request with a Modbus exception response."""

    def __init__(self, *, device_id: str, code: int, where: str = "") -> None:
        super().__init__(
            device_id=device_id,
            message=f"exception {code} ({modbus_exception_meaning(code)})",
            where=where,
        )
        self.code = code


class DecodeError(CollectorError):
    """A reply arrived but cannot be used: wrong register count, truncated or malformed frame."""


class AuthFailed(CollectorError):
    """The device refused our credentials (ONVIF and other authenticated protocols)."""


class TimestampOutOfRange(DecodeError):
    """A device stamped a message too far from when it reached us: its clock is not to be trusted.

    A time ahead of ours would pin the live value and open tickets whose arrive-by never
    passes; one long past lands outside every window the rules and the daily log look at.
    """

    def __init__(self, *, device_id: str, ts: datetime, received_at: datetime, limit: str, where: str = "") -> None:
        gap = ts - received_at
        relation = f"{gap} ahead of" if gap > timedelta(0) else f"{-gap} before"
        super().__init__(
            device_id=device_id,
            message=f"timestamp {ts.isoformat()} is {relation} its arrival at {received_at.isoformat()} ({limit})",
            where=where,
        )
        self.ts = ts
        self.received_at = received_at

