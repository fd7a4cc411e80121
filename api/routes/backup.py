"""The running service's copy of its embedded time series, for ``sitewatch backup``.

While the service runs, no other process can open its DuckDB file, not even read-only; so
the backup command asks the service, which copies every table from one snapshot while it
goes on writing (backup/timeseries.py). The copy is written under the service's own
``data_dir/backups/``, never to a path the caller names, and the command moves it from there
on the same machine.

An admin's permission, and every customer: a backup holds all customers' data, so a
principal scoped to some of them is answered 404, as for anything else outside its scope.
Each copy is audited.
"""

from __future__ import annotations

import shutil

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel

from sitewatch.api.deps import ComponentsDep, ScopeDep, SessionDep, may
from sitewatch.auth.roles import Permission
from sitewatch.backup.timeseries import Exportable, engine_version, staging_folder
from sitewatch.storage.repository import audit
from sitewatch.storage.timeseries import TimeSeriesError

router = APIRouter(prefix="/api/admin", tags=["admin"])


class TimeSeriesCopy(BaseModel):
    folder: str  # absolute, on the service's machine
    tables: dict[str, int]  # rows per table, all as of one snapshot
    duckdb: str  # the version that wrote it


@router.post("/backup", response_model=TimeSeriesCopy)
def copy_timeseries(actor: may(Permission.BACKUP_MAKE), parts: ComponentsDep, session: SessionDep,
                    scope: ScopeDep) -> TimeSeriesCopy:
    """Copy the embedded time series (every table, one snapshot) under data_dir/backups/.
    409 when the time series is on a server: its own tools back it up."""
    if not scope.everything:
        raise HTTPException(status.HTTP_404_NOT_FOUND,
                            detail="a backup holds every customer's data; this principal sees only some customers")
    if not isinstance(parts.store, Exportable):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail="the time series is not embedded in this process: back it up with its server's tools")
    now = parts.clock.now()
    folder = staging_folder(parts.config.storage.data_dir, now)
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        tables = parts.store.export(folder)
    except TimeSeriesError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=str(exc)) from None
    try:
        audit(session, at=now, actor=actor.name, entity="backup", entity_id=folder.name,
              action="timeseries_copied", detail={"tables": tables})
        session.commit()
    except BaseException:  # a copy nobody can account for is not handed out
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return TimeSeriesCopy(folder=str(folder), tables=tables, duckdb=engine_version())
