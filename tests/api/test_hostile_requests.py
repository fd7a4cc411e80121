"""Hostile requests that once answered 500 (or were served unbounded), kept as a corpus: each
case is one input, from issue 15's sweep or from the schemathesis run
(tests/api/test_openapi_fuzz.py), and must now answer what api/bounds.py promises: a
422 saying what is allowed, never a 500. Over a real socket, as a client sends them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.hostile_world import ASSET, NOW, TOKENS, build_world
from tests.serving import bearer, served


@pytest.fixture
async def world(tmp_path):
    parts, app = build_world(tmp_path)
    async with served(app, token=TOKENS["admin"]) as client:
        yield client
    parts.close()


HUGE_ID = "99999999999999999999999"  # past int64: the database driver failed on it

# (token, method, path, query, expected words in the 422): one input each.
CORPUS = {
    # issue 15's sweep
    "inspection report of year 1": ("admin", "GET", "/api/reports/inspections/north/0001-01", {}, "2000 to 2099"),
    "maintenance report of year 1": ("admin", "GET", "/api/reports/maintenance/citygas/0001-Q1", {}, "2000 to 2099"),
    "complaint rate of year 1": ("admin", "GET", "/api/reports/complaint-rate/0001-01", {}, "2000 to 2099"),
    "daily log of year 1": ("admin", "POST", "/api/reviews/north/0001-01-01/generate", {}, "2000 to 2099"),
    "samples from year 1 at +05:00": ("admin", "GET", "/api/samples",
                                      {"asset_id": ASSET, "start": "0001-01-01T00:00:00+05:00"}, "2000 to 2099"),
    "ticket id past int64": ("admin", "GET", f"/api/tickets/{HUGE_ID}", {}, "less than or equal to"),
    # the same inputs by other routes and principals
    "ticket id past int64, scoped": ("scoped viewer", "GET", f"/api/tickets/{HUGE_ID}", {}, "less than or equal to"),
    "non-ASCII digits as an id, scoped": ("scoped viewer", "GET", "/api/tickets/²", {}, "integer"),
    "samples until year 9999 at -05:00": ("admin", "GET", "/api/samples",
                                          {"asset_id": ASSET, "end": "9999-12-31T23:59:59-05:00"}, "2000 to 2099"),
    "samples over more than 31 days": ("admin", "GET", "/api/samples",
                                       {"asset_id": ASSET, "start": (NOW - timedelta(days=32)).isoformat(),
                                        "end": NOW.isoformat()}, "at most 31 days"),
    "report of year 9999": ("admin", "GET", "/api/reports/maintenance/citygas/9999-Q4", {}, "2000 to 2099"),
    "complaints received since year 1": ("admin", "GET", "/api/complaints",
                                         {"received_from": "0001-01-01T00:00:00+14:00"}, "2000 to 2099"),
    "daily log page of year 1": ("admin", "GET", "/review/north/0001-01-01", {}, "2000 to 2099"),
    "notifications of a ticket past int64": ("admin", "GET", f"/api/tickets/{HUGE_ID}/notifications", {},
                                             "less than or equal to"),
}


@pytest.mark.parametrize("case", list(CORPUS), ids=list(CORPUS))
async def test_each_hostile_input_is_a_422_that_says_what_is_allowed(world, case):
    who, method, path, query, words = CORPUS[case]
    response = await world.request(method, path, params=query, headers=bearer(TOKENS[who]))
    assert response.status_code == 422, f"{case}: {response.status_code} {response.text[:300]}"
    assert words in response.text, response.text


async def test_a_commitment_in_year_1_on_the_ticket_page_is_refused(world):
    """The form's wall-clock time in the site's zone (+08:00): year 1 has no UTC."""
    [ticket] = (await world.get("/api/tickets")).json()
    refused = await world.post(f"/tickets/{ticket['id']}/commit", data={"resolve_by": "0001-01-01T00:00",
                                                                        "reason": "parts"})
    assert refused.status_code == 422, refused.text[:300]


async def test_samples_need_a_token_like_every_other_read(world):
    """No anonymous read: a control-room wall logs in as a viewer (README, "Users, roles")."""
    anonymous = await world.get("/api/samples", params={"asset_id": ASSET}, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert (await world.get("/api/samples", params={"asset_id": ASSET},
                            headers=bearer(TOKENS["viewer"]))).status_code == 200


async def test_samples_within_the_bounds_are_served(world):
    """The edges of the bounds are allowed: 31 days exactly, the window's first year (the
    sample at ``end`` itself is not in the range)."""
    month = await world.get("/api/samples", params={"asset_id": ASSET, "start": (NOW - timedelta(days=31)).isoformat(),
                                                    "end": NOW.isoformat()})
    assert month.status_code == 200 and len(month.json()) == 11
    assert month.json()[0] == {"ts": (NOW - timedelta(seconds=55)).isoformat().replace("+00:00", "Z"),
                               "channel": "outlet_kpa", "value": 2.5, "unit": "kPa", "quality": "good"}
    early = await world.get("/api/samples", params={"asset_id": ASSET, "start": "2000-01-01T00:00:00+05:00",
                                                    "end": "2000-01-02T00:00:00+05:00"})
    assert early.status_code == 200 and early.json() == []
