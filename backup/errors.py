"""Why a backup or a restore did not happen; each message says what to do about it."""

from __future__ import annotations


class BackupError(Exception):
    """The backup or restore failed; nothing was left half-made in its place."""


class BackupRefused(BackupError):
    """Refused before anything was written: it would overwrite data, or mix kinds of store."""


class ServiceRunning(BackupRefused):
    """A restore while some process (the service) still holds the stores it would replace."""


class TargetNotEmpty(BackupRefused):
    """A restore onto stores that hold data, without ``--force``."""


class BackupCorrupt(BackupError):
    """The backup is not what its manifest says: a file missing, changed or damaged."""


class ToolMissing(BackupError):
    """An external program the backup needs (pg_dump, pg_restore) is not on PATH."""
