"""POST /api/admin/backup: the service copies its embedded time series for an admin, under
its own data_dir, and audits it; a manager may not; a store on a server answers 409. (A
viewer's 403 and a customer-scoped admin's 404 are in the route walks of test_viewer and
test_scope.)"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from sitewatch.api.app import create_app
from sitewatch.components import build_components
from sitewatch.config.load import config_from_dict
from sitewatch.demo import example_config
from sitewatch.storage.tables import AuditRow
from tests.backup.conftest import SAMPLES
from tests.serving import bearer, served, token_entry

ADMIN, MANAGER = "ops-admin-token", "lead-manager-token"


async def test_the_service_copies_its_time_series_for_an_admin_and_audits_it(tmp_path):
    raw = example_config()
    raw["storage"] = {"data_dir": str(tmp_path)}
    raw["api"] = {"tokens": [token_entry(ADMIN, name="ops"), token_entry(MANAGER, name="lead", role="manager")]}
    parts = build_components(config_from_dict(raw))
    try:
        parts.store.write(SAMPLES)
        async with served(create_app(parts), token=ADMIN) as client:
            answer = await client.post("/api/admin/backup")
            assert answer.status_code == 200, answer.text
            refused = await client.post("/api/admin/backup", headers=bearer(MANAGER))
        assert refused.status_code == 403, "backing up is an admin's, not a manager's"
        body = answer.json()
        folder = Path(body["folder"])
        assert folder.parent == (tmp_path / "backups").resolve(), "the copy stays in the service's data_dir"
        assert body["tables"]["samples"] == len(SAMPLES) and (folder / "samples.parquet").is_file()
        with parts.sessions() as session:
            audited = session.scalars(select(AuditRow).where(AuditRow.entity == "backup")).all()
        assert [(a.actor, a.entity_id, a.action) for a in audited] == [("ops", folder.name, "timeseries_copied")]
        assert audited[0].detail == {"tables": body["tables"]}

        async with served(create_app(replace(parts, store=object())), token=ADMIN) as client:
            not_embedded = await client.post("/api/admin/backup")
        assert not_embedded.status_code == 409 and "server's tools" in not_embedded.json()["detail"]
    finally:
        parts.close()
