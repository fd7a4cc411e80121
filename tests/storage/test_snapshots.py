"""Keeping snapshots on disk: the 5 MB bound, the taken-at time kept with the file, no
path outside the folder, a write failure that leaves the previous snapshot."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from sitewatch.domain.time import UTC
from sitewatch.storage.snapshots import (
    MAX_SNAPSHOT_BYTES,
    KeptSnapshot,
    SnapshotKeeper,
    read_snapshot,
    snapshot_folder,
    snapshot_taken_at,
    write_snapshot,
)

AT = datetime(2026, 12, 7, 2, 0, 0, 123456, tzinfo=UTC)


async def test_five_megabytes_are_kept_and_one_byte_more_is_not(tmp_path) -> None:
    folder = snapshot_folder(tmp_path)
    keeper = SnapshotKeeper(folder)
    largest = b"\xff" * MAX_SNAPSHOT_BYTES
    assert await keeper.keep("cam-1", largest, taken_at=AT) is True
    assert await keeper.keep("cam-1", largest + b"\xff", taken_at=AT + timedelta(minutes=1)) is False
    kept = read_snapshot(folder, "cam-1")
    assert kept is not None and kept.jpeg == largest and kept.taken_at == AT


def test_taken_at_is_read_back_to_the_microsecond(tmp_path) -> None:
    folder = snapshot_folder(tmp_path)
    assert snapshot_taken_at(folder, "cam-1") is None
    write_snapshot(folder, "cam-1", b"jpeg", taken_at=AT)
    assert snapshot_taken_at(folder, "cam-1") == AT


@pytest.mark.parametrize("asset_id", ["../cam-1", "a/b", ".hidden", ""])
def test_no_file_name_but_an_asset_id(tmp_path, asset_id) -> None:
    with pytest.raises(ValueError):
        write_snapshot(tmp_path, asset_id, b"jpeg", taken_at=AT)
    with pytest.raises(ValueError):
        read_snapshot(tmp_path, asset_id)


async def test_a_failed_write_keeps_the_previous_one_and_the_poll_goes_on(tmp_path) -> None:
    folder = snapshot_folder(tmp_path)
    keeper = SnapshotKeeper(folder)
    assert await keeper.keep("cam-1", b"first", taken_at=AT)
    # The temporary file cannot be written (a directory stands in its place; a read-only
    # folder would not stop root, whom tests may run as).
    (folder / ".cam-1.jpg.part").mkdir()
    kept = await keeper.keep("cam-1", b"second", taken_at=AT + timedelta(minutes=1))
    assert kept is False
    assert read_snapshot(folder, "cam-1") == KeptSnapshot(b"first", AT)
