"""Sites, assets (with health and live values) and samples in a time range, within the
principal's customer scope (an asset or site outside it: 404, by api/scope.guard).

Samples need a token like every other read: nothing is read anonymously (api/deps.py), and a
control-room wall logs in as a viewer. A request reads at most 31 days and 100,000 rows
(api/bounds.py), and they are read and encoded in a worker thread, not on the event loop."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import TypeAdapter
from starlette.concurrency import run_in_threadpool

from sitewatch.api.bounds import MAX_SAMPLES_SPAN, YEARS, Instant
from sitewatch.api.context import ApiContext
from sitewatch.api.deps import ComponentsDep, PrincipalDep, ScopeDep, SessionDep
from sitewatch.api.routes.trends import visible_asset
from sitewatch.api.schemas import AssetPublic, SamplePublic, SitePublic
from sitewatch.api.views import asset_view, live_values
from sitewatch.storage import repository
from sitewatch.storage.snapshots import read_snapshot, snapshot_folder

router = APIRouter(prefix="/api", tags=["inventory"])


@router.get("/sites", response_model=list[SitePublic])
def sites(session: SessionDep, scope: ScopeDep):
    return repository.list_sites(session, site_ids=scope.site_ids)


@router.get("/assets", response_model=list[AssetPublic])
def assets(parts: ComponentsDep, session: SessionDep, scope: ScopeDep, site_id: str | None = None):
    rows = repository.list_assets(session, site_id=site_id, site_ids=scope.site_ids)
    values = live_values(parts, [r.id for r in rows], now=parts.clock.now())
    return [asset_view(parts, row, values.get(row.id, [])) for row in rows]


@router.get("/assets/{asset_id}", response_model=AssetPublic)
def asset(asset_id: str, parts: ComponentsDep, session: SessionDep):
    row = repository.get_asset(session, asset_id)
    if row is None:
        raise HTTPException(404, detail=f"no asset {asset_id!r}")
    values = live_values(parts, [asset_id], now=parts.clock.now())
    return asset_view(parts, row, values.get(asset_id, []))


@router.get("/assets/{asset_id}/snapshot.jpg", response_class=Response,
            responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no such asset, or no snapshot kept yet"}})
def asset_snapshot(asset_id: str, parts: ComponentsDep, principal: PrincipalDep) -> Response:
    """The camera's latest snapshot the collector kept (storage/snapshots.py), taken at its Last-Modified."""
    visible_asset(parts, principal, asset_id)  # a configured asset in scope: only then a file name
    kept = read_snapshot(snapshot_folder(parts.config.storage.data_dir), asset_id)
    if kept is None:
        raise HTTPException(404, detail=f"no snapshot of {asset_id!r} kept yet")
    # no-store: the same URL shows the next poll's picture, and a shared cache must keep no customer's.
    headers = {"Cache-Control": "no-store", "Last-Modified": format_datetime(kept.taken_at, usegmt=True)}
    return Response(kept.jpeg, media_type="image/jpeg", headers=headers)


@router.get("/samples", response_model=list[SamplePublic])
async def samples(
    parts: ComponentsDep,
    asset_id: str,
    channel: str | None = None,
    start: Annotated[Instant | None, Query(description=f"ISO 8601 with offset, in {YEARS}; default: 1 h before end")] = None,
    end: Annotated[Instant | None, Query(description=f"ISO 8601 with offset, in {YEARS}; default: now")] = None,
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    """An asset's samples with start <= ts < end, oldest first: a range of at most 31 days
    and ``limit`` rows (longer views: the trend's buckets, /api/assets/{asset_id}/trend)."""
    end = end or parts.clock.now()
    start = start or end - timedelta(hours=1)
    if start >= end:
        raise HTTPException(422, detail="start must be before end")
    if end - start > MAX_SAMPLES_SPAN:
        raise HTTPException(422, detail=f"a range of at most {MAX_SAMPLES_SPAN.days} days; "
                                        "longer: /api/assets/{asset_id}/trend")
    # Reading and encoding up to 100,000 rows takes a while: in a worker thread, not on the loop.
    body = await run_in_threadpool(_samples_json, parts, asset_id=asset_id, start=start, end=end, channel=channel,
                                   limit=limit)
    return Response(body, media_type="application/json")


_SAMPLES = TypeAdapter(list[SamplePublic])


def _samples_json(parts: ApiContext, *, asset_id: str, start: datetime, end: datetime, channel: str | None,
                  limit: int) -> bytes:
    rows = parts.store.query(asset_id=asset_id, start=start, end=end, channel=channel, limit=limit)
    return _SAMPLES.dump_json([
        SamplePublic(ts=s.ts, channel=s.channel, value=s.value if s.value == s.value else None,
                     unit=s.unit, quality=s.quality.name.lower())
        for s in rows
    ])
