"""schemathesis over the app's own OpenAPI, against a real server: every operation, as every
role's bearer token and as a viewer scoped to one customer, with inputs the schema allows
(positive) and, for the admin, inputs it forbids (negative). Each must answer below 500,
and what the schema documents (a 200, a 422) must match the schema.

Each operation runs twice per principal: once with every value generated (ids that exist
nowhere, mostly: 404s, and the bounds of api/bounds.py), once with the world's own site,
customer, asset and ticket in the path, so that days, months, queries and bodies reach
the code behind them. Derandomised and with no example database: the same inputs every
run, no example database. The counts are printed (pytest -s shows them).

Run against the code before api/bounds.py, it failed on 22 operations: 5 answered 500 (ids
past int64 in POST paths), 17 answered a 422 the schema did not document (a sentence where
FastAPI's list of errors was promised; now documented as api/schemas.RefusalPublic) or
crashed on years far out. Each input it found is a case in tests/api/test_hostile_requests.py."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from sitewatch.storage.tables import TicketRow
from tests.api.hostile_world import ASSET, CUSTOMER, SITE, TOKENS, build_world
from tests.serving import bearer, served

# Examples per operation, pass and principal: more for the admin, who reaches every route's
# body. A PDF takes ~0.45 s to render and says what its .html and JSON twins say: fewer.
EXAMPLES = {"admin": 12} | dict.fromkeys(("viewer", "dispatcher", "technician", "manager", "scoped viewer"), 4)
PDF_EXAMPLES = 2
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.mark.timeout(300)  # ~100 s alone on this 2-core machine
async def test_every_operation_as_every_role_answers_below_500_and_as_documented(tmp_path):
    parts, app = build_world(tmp_path)
    with parts.sessions() as session:
        ticket_id = session.query(TicketRow.id).scalar()
    known = {"site_id": SITE, "customer_id": CUSTOMER, "asset_id": ASSET, "ticket_id": ticket_id}
    async with served(app) as client:
        tried, failures = await asyncio.to_thread(fuzz, app.openapi(), str(client.base_url), known)
    parts.close()
    for (label, who), count in sorted(tried.items()):
        print(f"{count:4d}  {who:14s} {label}")
    print(f"{sum(tried.values())} requests, {len(tried)} operation x principal pairs, {len(failures)} failures")
    assert not failures, "\n\n".join(failures)


def fuzz(openapi: dict, base_url: str, known: dict) -> tuple[Counter, list[str]]:
    schema = schemathesis.openapi.from_dict(openapi)
    tried: Counter = Counter()
    failures: list[str] = []
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            path = {k: v for k, v in known.items() if k in operation.path_parameters}
            query = {k: v for k, v in known.items() if k in operation.query}
            passes = [({}, {})] + ([(path, query)] if path or query else [])
            for who, examples in EXAMPLES.items():
                examples = PDF_EXAMPLES if operation.path.endswith(".pdf") else examples
                modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if who == "admin" else [])
                for (fixed_path, fixed_query), mode in itertools.product(passes, modes):
                    strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed_path, query=fixed_query)
                    try:
                        _run(strategy, session, base_url, who, examples, tried, operation.label)
                    except Unsatisfiable:  # negative: an operation without parameters has no invalid input
                        assert mode is GenerationMode.NEGATIVE, operation.label
                    except (FailureGroup, Exception) as exc:  # noqa: BLE001 (each failing operation is reported)
                        failures.append(f"{operation.label} as {who} ({mode.value}, {sorted(fixed_path | fixed_query)}): "
                                        f"{exc}")
    return tried, failures


def _run(strategy, session: requests.Session, base_url: str, who: str, examples: int,
         tried: Counter, label: str) -> None:
    headers = bearer(TOKENS[who])

    @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), print_blob=False)
    @given(case=strategy)
    def run(case) -> None:
        tried[label, who] += 1
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()
