"""Technicians on site: start and finish an inspection (alerts meanwhile page nobody)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import ComponentsDep, SessionDep, WriterDep
from api.schemas import FinishIn, InspectionIn, InspectionPublic
from inspections.visits import finish_inspection, list_inspections, start_inspection

router = APIRouter(prefix="/api", tags=["inspections"])


@router.get("/inspections", response_model=list[InspectionPublic])
def inspections(session: SessionDep, in_progress: bool = False, site_id: str | None = None):
    return list_inspections(session, in_progress=in_progress, site_id=site_id)


@router.post("/inspections", response_model=InspectionPublic, status_code=201)
def start(body: InspectionIn, actor: WriterDep, parts: ComponentsDep, session: SessionDep):
    row = start_inspection(
        session, parts.config, site_id=body.site_id, asset_id=body.asset_id, kind=body.kind,
        in_charge=body.in_charge, people=body.people, actor=actor, at=parts.clock.now(), note=body.note,
    )
    session.commit()
    return row


@router.post("/inspections/{inspection_id}/finish", response_model=InspectionPublic)
def finish(inspection_id: int, body: FinishIn, actor: WriterDep, parts: ComponentsDep, session: SessionDep):
    row = finish_inspection(session, inspection_id, actor=actor, at=parts.clock.now(), note=body.note)
    session.commit()
    return row
