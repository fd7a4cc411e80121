"""The review benchmark runs (small) and its own checks pass, so it cannot drift unnoticed."""

from __future__ import annotations

from bench.bench_review import main


def test_the_benchmark_runs_and_checks_itself_on_a_small_fleet(capsys):
    main(["--stations", "20"])  # raises SystemExit with the reason if any check fails
    out = capsys.readouterr().out
    assert "20 stations" in out and "equal numpy" in out and "regenerating gave identical hashes" in out
