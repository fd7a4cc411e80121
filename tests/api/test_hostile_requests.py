"""Hostile requests that once answered 500 (or were served unbounded), kept as a corpus: each
case is one input, from issue 15's sweep or from the schemathesis run
(tests/api/test_openapi_fuzz.py), and must now answer what api/bounds.py promises: a
422 saying what is allowed, never a 500. Over a real socket, as a client sends them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sitewatch.api.schemas import RefusalPublic
from tests.api.hostile_world import ASSET, NOW, TOKENS, build_world
from tests.serving import bearer, served


@pytest.fixture
async def world(tmp_path):
    parts, app = build_world(tmp_path)
    async with served(app, token=TOKENS["admin"]) as client:
        yield client
    parts.close()


HUGE_ID = "99999999999999999999999"  # past int64: the database driver failed on it
FOUND_ID = "187510461289107500600131584"  # schemathesis' own


def case(path: str, *, method: str = "GET", query: dict | None = None, body: dict | None = None, words: str = "",
         who: str = "admin") -> tuple:
    return who, method, path, query or {}, body, words


# One input each; ``words``: what the 422 must say (the schema's shape is checked for all).
CORPUS = {
    # issue 15's sweep
    "inspection report of year 1": case("/api/reports/inspections/north/0001-01", words="2000 to 2099"),
    "maintenance report of year 1": case("/api/reports/maintenance/citygas/0001-Q1", words="2000 to 2099"),
    "complaint rate of year 1": case("/api/reports/complaint-rate/0001-01", words="2000 to 2099"),
    "daily log of year 1": case("/api/reviews/north/0001-01-01/generate", method="POST", words="2000 to 2099"),
    "samples from year 1 at +05:00": case("/api/samples", query={"asset_id": ASSET, "start": "0001-01-01T00:00:00+05:00"},
                                          words="2000 to 2099"),
    "ticket id past int64": case(f"/api/tickets/{HUGE_ID}", words="less than or equal to"),
    # the same inputs by other routes and principals
    "ticket id past int64, scoped": case(f"/api/tickets/{HUGE_ID}", who="scoped viewer", words="less than or equal to"),
    "non-ASCII digits as an id, scoped": case("/api/tickets/²", who="scoped viewer", words="integer"),
    "an id of 5,000 digits, scoped": case("/api/tickets/" + "9" * 5000, who="scoped viewer"),  # int(): past 4,300
    "samples until year 9999 at -05:00": case("/api/samples", query={"asset_id": ASSET, "end": "9999-12-31T23:59:59-05:00"},
                                              words="2000 to 2099"),
    "samples over more than 31 days": case("/api/samples", query={"asset_id": ASSET,
                                                                  "start": (NOW - timedelta(days=32)).isoformat(),
                                                                  "end": NOW.isoformat()}, words="at most 31 days"),
    "report of year 9999": case("/api/reports/maintenance/citygas/9999-Q4", words="2000 to 2099"),
    "complaints received since year 1": case("/api/complaints", query={"received_from": "0001-01-01T00:00:00+14:00"},
                                             words="2000 to 2099"),
    "daily log page of year 1": case("/review/north/0001-01-01", words="2000 to 2099"),
    "notifications of a ticket past int64": case(f"/api/tickets/{HUGE_ID}/notifications", words="less than or equal to"),
    # found by schemathesis (tests/api/test_openapi_fuzz.py) before the bounds: 500s ...
    "acknowledging an alert past int64": case(f"/api/alerts/{FOUND_ID}/acknowledge", method="POST", body={}),
    "acknowledging a ticket past int64": case(f"/api/tickets/{FOUND_ID}/acknowledge", method="POST", body={}),
    "finishing an inspection past int64": case(f"/api/inspections/{FOUND_ID}/finish", method="POST", body={}),
    "reviewing a flag past int64": case("/api/inspections/flags/183778968579621858511421440/review", method="POST",
                                        body={"note": "\U00094bb6"}),
    "a pressure test of an inspection past int64": case(
        "/api/inspections/19014152841979210551114334208/pressure-tests", method="POST",
        body={"path": "standby", "operating_kpa": 6684808816.551343, "lock_up_kpa": 6.238220091077543e+307,
              "relief_kpa": 9.920703845887885e+307, "slam_shut_kpa": 2.4494595784140597e-220}),
    "a daily log of 2637": case("/api/reviews/north/2637-03-29/generate", method="POST", words="2000 to 2099"),
    "samples from 2700 at -10:53": case("/api/samples", query={"asset_id": ASSET,
                                                               "start": "2700-04-29T10:12:53.603616-10:53"},
                                        words="2000 to 2099"),
    "a complaint received in 2700": case("/api/complaints", method="POST", words="2000 to 2099", body={
        "complaint_class": "other", "description": "contracts", "received_at": "2700-04-29T10:12:53.603616-10:53",
        "customer_id": "\x8f\U000a936f"}),
    "a commitment in the year 220 at -22:46": case("/api/tickets/1/commitment", method="POST", words="2000 to 2099",
                                                   body={"resolve_by": "0220-03-24T06:56:27-22:46", "reason": "x"}),
    "a month that is no month": case("/api/reports/inspections/north/0", words="YYYY-MM"),
    "a month that is no month, as HTML": case("/api/reports/complaint-rate/0.html", words="YYYY-MM"),
    "a quarter that is no quarter, as PDF": case("/api/reports/maintenance/citygas/0.pdf", words="YYYY-Qn"),
    # ... and 422s whose body was not the documented one (a sentence: now documented, RefusalPublic)
    "a mute of 5e-324 minutes": case("/api/alerts/1/mute", method="POST", body={"minutes": 5e-324, "reason": "0"},
                                     words="a mute lasts"),
    "a complaint of an unknown customer": case("/api/complaints", method="POST", body={
        "complaint_class": "other", "customer_id": "0", "description": "0"}),
    "a commitment not in the future": case("/api/tickets/1/commitment", method="POST",
                                           body={"reason": "0", "resolve_by": "2000-01-01T00:00:00Z"}),
    "a dispatch to nobody": case("/api/tickets/1/transitions", method="POST",
                                 body={"to": "dispatched", "customer_name": None, "assignee": ""}),
    "a severity that is none": case("/api/dashboard", query={"severity": "?+", "desk": ""}, words="severity"),
}


@pytest.mark.parametrize("name", list(CORPUS), ids=list(CORPUS))
async def test_each_hostile_input_is_a_422_that_says_what_is_allowed(world, name):
    who, method, path, query, body, words = CORPUS[name]
    response = await world.request(method, path, params=query, json=body, headers=bearer(TOKENS[who]))
    assert response.status_code == 422, f"{name}: {response.status_code} {response.text[:300]}"
    assert words in response.text, response.text
    if path.startswith("/api/"):
        RefusalPublic.model_validate(response.json())  # what the OpenAPI documents for a 422


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


async def test_the_schema_documents_a_422_as_either_kind_of_refusal(world):
    documented = (await world.get("/openapi.json")).json()["paths"]["/api/alerts/{alert_id}/mute"]["post"]
    assert documented["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/RefusalPublic"}
