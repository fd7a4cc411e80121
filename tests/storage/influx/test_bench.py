"""The InfluxDB-protocol benchmark runs (small) and its own checks pass, so it cannot drift."""

from __future__ import annotations

from bench.bench_influx import main


def test_the_benchmark_runs_and_checks_itself_at_a_small_scale(capsys):
    main(["--points", "12000", "--rounds", "1", "--stations", "10", "--interval-s", "60"])  # SystemExit if wrong
    out = capsys.readouterr().out
    assert "ratio product / bare" in out and "InfluxStore.aggregate of the day: 80 series" in out
    assert "80 series equal numpy" in out and "the 2 injected ones" in out
