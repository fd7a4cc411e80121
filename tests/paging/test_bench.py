"""The paging benchmark runs (small) on both databases and its own checks pass, so it cannot
drift unnoticed from the planner, the sender or the channels."""

from __future__ import annotations

import os

import pytest

from bench.bench_paging import main

# The server CI starts (as tests/conftest.py reads it): the bench makes and drops its own databases there.
POSTGRES_SERVER_URL = os.environ.get("SITEWATCH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


@pytest.mark.parametrize("database", ["sqlite", POSTGRES_SERVER_URL])
def test_the_benchmark_delivers_every_message_once_and_folds_the_storm(capsys, database):
    main(["--tickets", "20", "--storm-stations", "20", "--database", database])  # SystemExit(1) if a check fails
    out = capsys.readouterr().out
    assert "FAILED" not in out, out
    assert "all 40 deliveries delivered; the receiver got each key exactly once" in out, out
    assert "-> 20 pages, 40 deliveries" in out, f"two recipients per ticket: {out}"
    storm = next(line for line in out.splitlines() if line.startswith("storm:"))
    assert "group:hook 3 messages" in storm and "person:wang/sms 3 messages" in storm, \
        f"a dark site is the first fault, the site's ticket and one summary per recipient: {storm}"
