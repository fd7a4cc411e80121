"""Collector errors are complete log lines: device, what happened, where."""

from __future__ import annotations

from sitewatch.collector.errors import CollectorError, DecodeError, DeviceBusy, DeviceRejected


def test_rejection_names_the_code_and_its_meaning() -> None:
    error = DeviceRejected(device_id="rs-north-01", code=2, where="10.0.0.5:502 unit 1, holding registers 0-17")
    assert error.code == 2
    assert str(error) == "rs-north-01: exception 2 (illegal data address) [10.0.0.5:502 unit 1, holding registers 0-17]"


def test_unknown_exception_code_is_still_named() -> None:
    assert "exception 99 (unknown exception code)" in str(DeviceRejected(device_id="d", code=99))


def test_every_error_is_a_collector_error_with_its_context() -> None:
    for error in (
        DecodeError(device_id="d", message="expected 2 registers, got 1", where="holding 4-5"),
        DeviceBusy(device_id="d", message="exception 6 (server device busy)"),
    ):
        assert isinstance(error, CollectorError)
        assert error.device_id == "d" and error.message in str(error)
    assert str(DeviceBusy(device_id="d", message="busy")) == "d: busy"
