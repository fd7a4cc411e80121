"""Each camera's latest snapshot, kept as a file for the asset page.

The ONVIF poller judges every snapshot (collector/onvif/picture.py); the last one it could
judge is kept here so a technician sees what the camera saw beside the verdict. Files, not
the time-series store: one JPEG per camera, replaced at each poll, at
``<storage.data_dir>/snapshots/<asset_id>.jpg``, where the API (perhaps another process)
reads it.

The time a snapshot was taken is its file's modification time, set on the temporary file
before the rename that replaces the old one: picture and time change together, which a
second file holding the time could not promise a reader.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sitewatch.domain.time import UTC, require_utc

log = logging.getLogger(__name__)

FOLDER = "snapshots"  # under storage.data_dir
# A 4K camera's JPEG is 1-2 MB. More is no snapshot, and the asset page loads it on phones.
MAX_SNAPSHOT_BYTES = 5 * 1024 * 1024
_ASSET_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # config.models.Asset.id: no path separators
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class KeptSnapshot:
    jpeg: bytes
    taken_at: datetime  # UTC


def snapshot_folder(data_dir: Path | str) -> Path:
    return Path(data_dir) / FOLDER


def write_snapshot(folder: Path, asset_id: str, jpeg: bytes, *, taken_at: datetime) -> None:
    """Replace ``asset_id``'s kept snapshot with ``jpeg`` taken at ``taken_at``, in one rename.

    Blocking file I/O: from the event loop, go through :class:`SnapshotKeeper`.
    """
    path = _path(folder, asset_id)
    ns = (require_utc(taken_at) - _EPOCH) // timedelta(microseconds=1) * 1000
    folder.mkdir(parents=True, exist_ok=True)
    # The scheduler polls a camera once at a time, so one temporary name per camera will do:
    # a crash leaves at most one stray file per camera, overwritten at its next poll.
    partial = path.with_name(f".{path.name}.part")
    partial.write_bytes(jpeg)
    os.utime(partial, ns=(ns, ns))
    os.replace(partial, path)


def read_snapshot(folder: Path, asset_id: str) -> KeptSnapshot | None:
    """The kept snapshot of ``asset_id``, or None when none was kept yet."""
    try:
        with _path(folder, asset_id).open("rb") as file:
            # One open file gives both: a rename in between cannot pair a picture with another's time.
            taken_at = _instant(os.fstat(file.fileno()).st_mtime_ns)
            return KeptSnapshot(file.read(), taken_at)
    except FileNotFoundError:
        return None


def snapshot_taken_at(folder: Path, asset_id: str) -> datetime | None:
    """When the kept snapshot of ``asset_id`` was taken, or None when none was kept yet."""
    try:
        mtime_ns = _path(folder, asset_id).stat().st_mtime_ns
    except FileNotFoundError:
        return None
    return _instant(mtime_ns)


def _instant(mtime_ns: int) -> datetime:
    return _EPOCH + timedelta(microseconds=mtime_ns // 1000)


def _path(folder: Path, asset_id: str) -> Path:
    if not _ASSET_ID.fullmatch(asset_id):
        raise ValueError(f"{asset_id!r} is not an asset id")
    return folder / f"{asset_id}.jpg"


class SnapshotKeeper:
    """Keeps the latest snapshot of each camera polled by this process.

    Keeping is a courtesy to the page, not part of the device's health: a snapshot too big
    or a failed write leaves the previous one in place and the poll goes on. Either is
    logged once, when it starts for a camera, and its end once too.
    """

    def __init__(self, folder: Path, *, max_bytes: int = MAX_SNAPSHOT_BYTES) -> None:
        self._folder = folder
        self._max_bytes = max_bytes
        self._unkept: set[str] = set()  # cameras whose last snapshot could not be kept

    async def keep(self, asset_id: str, jpeg: bytes, *, taken_at: datetime) -> bool:
        """True when ``jpeg`` is now the kept snapshot of ``asset_id``."""
        if len(jpeg) > self._max_bytes:
            self._not_kept(asset_id, f"{len(jpeg)} bytes, more than the {self._max_bytes} kept")
            return False
        try:
            # In a thread: a disk that stalls (full, network-mounted) must not stall the polls.
            await asyncio.to_thread(write_snapshot, self._folder, asset_id, jpeg, taken_at=taken_at)
        except OSError as exc:
            self._not_kept(asset_id, f"cannot write to {self._folder}: {exc}")
            return False
        if asset_id in self._unkept:
            self._unkept.discard(asset_id)
            log.info("snapshots: %s's snapshot is kept again", asset_id)
        return True

    def _not_kept(self, asset_id: str, why: str) -> None:
        if asset_id not in self._unkept:
            self._unkept.add(asset_id)
            log.warning("snapshots: %s's snapshot not kept (%s); the previous one stays", asset_id, why)
