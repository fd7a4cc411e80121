"""Rollups on an InfluxDB-protocol server: computed by the server, written back as series.

Rows are written through the store's writer as ``<measurement>_1m`` and ``<measurement>_1h``
with the raw series' tags and fields ``n``, ``lo``, ``hi``, ``total`` (count, min, max and
sum of good samples: mean = total / n). Neither server can be asked for INTO everywhere
(InfluxDB 2.x/3.x have no ``SELECT ... INTO``; VictoriaMetrics none at all), so the server
aggregates, Sitewatch writes:
- InfluxQL: ``GROUP BY time(1m), *`` per hour of minutes; hours folded from those minutes.
- VictoriaMetrics: ``aggr_over_time`` in range queries, minutes and hours each from raw
  samples, and only the rows whose count differs from the stored row's (or that have
  none): late samples only ever add, so those are all a recomputation changes, and the
  chore's rounds (the last two hours again every 5 minutes) fetch and write a few
  minutes instead of two hours.

Recomputing must replace a row, and the servers differ there:
- InfluxDB: a point with the same series and time *is* replaced; rows are at the minute's
  (hour's) start.
- VictoriaMetrics keeps one of two samples with the same time, but not reliably the newer
  (1.79.5: the later write won until a merge, then the earlier one). So a row is written
  at its start + ``n`` ms (n = its count, < 60,000 a minute): late samples only raise n, so
  the fuller row is the later one, and readers take the last point of each minute
  (``last_over_time``). A sample replaced by another at the same time (the count stays) is
  not noticed.

Where each level's rollup reaches (its covered span, ``storage/timeseries.py``) is a small
series of its own, ``<measurement>_rollup`` (fields ``from_ms``, ``to_ms``, tag ``level``),
written at the time of the write and read back as its last point, at most once a minute (a
process keeps what it read or wrote). One process rolls up (the maintenance chore).

Retention is the server's: ``expire`` deletes nothing (see storage/README.md).

Cost (bench/bench_rollups.py --server, 5 s polls, 14 channels, 2 cores shared with the
server and other work):
- VictoriaMetrics 1.79.5, 500 stations: an hour rolled up for the first time 12-24 s (427k
  rows written, about half the time in Python: JSON, rows, lines); a round over 3 h never
  rolled up 52 s; the chore's steady round (3 h again, 5 minutes new) 6.9 s, 14k rows.
- InfluxDB 1.6.7, 100 stations: an hour 8.7-8.9 s, a round over 3 h 15-26 s, nearly all of
  it the server's GROUP BY, and every round costs that (every row is rewritten): about
  5 % of a core at 100 stations, a quarter at 500 (not measured there).
DuckDB, for scale: 0.5-1.4 s an hour at 500 stations, a chore round 1.3-2.5 s.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from sitewatch.config.storage import InfluxSettings
from sitewatch.domain.time import Clock
from sitewatch.storage.influx.client import post
from sitewatch.storage.influx.lineproto import VALUE, series_key
from sitewatch.storage.influx.times import from_ms, seconds_text, to_ms
from sitewatch.storage.timeseries import Bucket, TimeSeriesError

Labels = tuple[tuple[str, str], ...]  # a raw series' tags, sorted


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    step_ms: int
    suffix: str


MINUTE = Level("minute", 60_000, "_1m")
HOUR = Level("hour", 3_600_000, "_1h")
_CHUNK_MS = HOUR.step_ms  # minutes are asked for an hour at a time: bounded answers
SPANS_FRESH_S = 60.0  # a chart may read raw samples for up to a minute after a round: right, slower


@dataclass(frozen=True, slots=True)
class Row:
    """One series' good samples in one minute (hour)."""

    labels: Labels
    start_ms: int
    n: int
    lo: float
    hi: float
    total: float


class Writer(Protocol):
    def write(self, lines: str) -> None: ...


class Reader(Protocol):
    def buckets(self, *, asset_id: str, channel: str, start_ms: int, end_ms: int,
                width_ms: int) -> list[Bucket]: ...


class Server(Protocol):
    """What differs between servers: how minutes are computed and rows and spans read."""

    versioned: bool  # rows written at start + n ms (VictoriaMetrics), not at start

    def minutes(self, lo_ms: int, hi_ms: int) -> list[Row]:
        """Minute rows to write for [lo_ms, hi_ms) (whole minutes, at most an hour)."""
        ...

    def hours(self, lo_ms: int, hi_ms: int, minutes: list[Row]) -> list[Row]:
        """Hour rows to write for [lo_ms, hi_ms) (whole hours), given the minute rows just
        computed for a period holding them."""
        ...

    def rows(self, level: Level, *, asset_id: str, channel: str, lo_ms: int, hi_ms: int) -> list[Row]: ...

    def spans(self, now_ms: int) -> dict[str, tuple[int, int]]: ...


class InfluxRollups:
    def __init__(self, *, server: Server, writer: Writer, raw: Reader, measurement: str, clock: Clock) -> None:
        self._server = server
        self._writer = writer
        self._raw = raw
        self._measurement = measurement
        self._clock = clock
        self._spans: dict[str, tuple[int, int]] = {}
        self._spans_read_at: float | None = None  # clock.monotonic() of the last read or write
        self._keys: dict[tuple[str, Labels], str] = {}  # (level suffix, labels) -> series key

    def roll_up(self, start_ms: int, end_ms: int) -> int:
        minute_lo, minute_hi = _ceil(start_ms, MINUTE), _floor(end_ms, MINUTE)
        if minute_lo >= minute_hi:
            return 0
        minutes: list[Row] = []
        for lo in range(minute_lo, minute_hi, _CHUNK_MS):
            minutes += self._server.minutes(lo, min(lo + _CHUNK_MS, minute_hi))
        hour_lo, hour_hi = _ceil(start_ms, HOUR), _floor(end_ms, HOUR)
        hours = self._server.hours(hour_lo, hour_hi, minutes) if hour_lo < hour_hi else []
        lines = [self._line(MINUTE, row) for row in minutes] + [self._line(HOUR, row) for row in hours]
        for i in range(0, len(lines), 5_000):
            self._writer.write("".join(lines[i:i + 5_000]))
        covered = [(MINUTE, minute_lo, minute_hi)] + ([(HOUR, hour_lo, hour_hi)] if hour_lo < hour_hi else [])
        self._extend(covered)
        return len(lines)

    def watermark_ms(self) -> int | None:
        span = self._known().get(MINUTE.name)
        return None if span is None else span[1]

    def buckets(self, *, asset_id: str, channel: str, start_ms: int, end_ms: int, width_ms: int) -> list[Bucket]:
        """As TimeSeriesStore.buckets: the rollup inside its covered span, raw samples around."""
        level = next((x for x in (HOUR, MINUTE) if width_ms % x.step_ms == 0 and start_ms % x.step_ms == 0), None)
        span = None if level is None else self._known().get(level.name)
        roll_from = roll_to = start_ms
        if level is not None and span is not None:
            roll_from, roll_to = max(start_ms, span[0]), min(span[1], _floor(end_ms, level))
        series = {"asset_id": asset_id, "channel": channel}
        if level is None or roll_from >= roll_to:
            return self._raw.buckets(**series, start_ms=start_ms, end_ms=end_ms, width_ms=width_ms)
        parts: dict[int, list[Bucket]] = defaultdict(list)
        for row in self._server.rows(level, **series, lo_ms=roll_from, hi_ms=roll_to):
            at = start_ms + (row.start_ms - start_ms) // width_ms * width_ms
            parts[at].append(Bucket(start=from_ms(at), count=row.n, min=row.lo, max=row.hi, mean=row.total / row.n))
        if start_ms < roll_from:  # before the rollup: raw buckets on the same grid
            for b in self._raw.buckets(**series, start_ms=start_ms, end_ms=roll_from, width_ms=width_ms):
                parts[to_ms(b.start)].append(b)
        if roll_to < end_ms:  # after it: the rest of a bucket it cuts through, then whole ones
            cut = start_ms + (roll_to - start_ms) // width_ms * width_ms
            whole_from = roll_to
            if cut < roll_to:
                whole_from = min(cut + width_ms, end_ms)
                for b in self._raw.buckets(**series, start_ms=roll_to, end_ms=whole_from, width_ms=whole_from - roll_to):
                    parts[cut].append(b)
            if whole_from < end_ms:
                for b in self._raw.buckets(**series, start_ms=whole_from, end_ms=end_ms, width_ms=width_ms):
                    parts[to_ms(b.start)].append(b)
        return [_merge(at, parts[at]) for at in sorted(parts)]

    def _line(self, level: Level, row: Row) -> str:
        at = row.start_ms + (min(row.n, level.step_ms - 1) if self._server.versioned else 0)
        key = self._keys.get((level.suffix, row.labels))
        if key is None:
            key = self._keys[(level.suffix, row.labels)] = series_key(self._measurement + level.suffix, row.labels)
        return f"{key}n={float(row.n)!r},lo={row.lo!r},hi={row.hi!r},total={row.total!r} {at}\n"

    def _known(self) -> dict[str, tuple[int, int]]:
        """The covered spans, read again after SPANS_FRESH_S: a process that only reads (an
        API process) follows the chore of another."""
        now = self._clock.monotonic()
        if self._spans_read_at is None or now - self._spans_read_at > SPANS_FRESH_S:
            self._spans = self._server.spans(to_ms(self._clock.now()))
            self._spans_read_at = now
        return self._spans

    def _extend(self, covered: Sequence[tuple[Level, int, int]]) -> None:
        """Each level's span grows by what was just rolled up when the two touch; a detached
        period leaves it (charts keep reading raw samples there)."""
        spans = dict(self._known())
        for level, lo, hi in covered:
            old = spans.get(level.name)
            if old is None:
                spans[level.name] = (lo, hi)
            elif lo <= old[1] and hi >= old[0]:
                spans[level.name] = (min(lo, old[0]), max(hi, old[1]))
        now = to_ms(self._clock.now())
        self._writer.write("".join(
            f"{series_key(self._measurement + '_rollup', [('level', name)])}from_ms={lo},to_ms={hi} {now}\n"
            for name, (lo, hi) in spans.items()))
        self._spans, self._spans_read_at = spans, self._clock.monotonic()


def _floor(ms: int, level: Level) -> int:
    return ms // level.step_ms * level.step_ms


def _ceil(ms: int, level: Level) -> int:
    return -(-ms // level.step_ms) * level.step_ms


def _hours(minutes: list[Row], lo_ms: int, hi_ms: int) -> list[Row]:
    """The whole hours in [lo_ms, hi_ms) folded from minutes just computed (all of theirs)."""
    folded: dict[tuple[Labels, int], list[Row]] = defaultdict(list)
    for row in minutes:
        hour = _floor(row.start_ms, HOUR)
        if lo_ms <= hour < hi_ms:
            folded[(row.labels, hour)].append(row)
    return [Row(labels, hour, sum(r.n for r in rows), min(r.lo for r in rows), max(r.hi for r in rows),
                math.fsum(r.total for r in rows)) for (labels, hour), rows in folded.items()]


def _merge(at: int, parts: list[Bucket]) -> Bucket:
    count = sum(p.count for p in parts)
    return Bucket(start=from_ms(at), count=count, min=min(p.min for p in parts), max=max(p.max for p in parts),
                  mean=math.fsum(p.mean * p.count for p in parts) / count)


def _labels(tags: dict[str, Any]) -> Labels:
    """A series' tags (VictoriaMetrics: labels but its name), sorted, empty ones left out."""
    return tuple(sorted((k, str(v)) for k, v in tags.items() if k != "__name__" and v not in (None, "")))


TORN_TRIES = 3


class InfluxQLServer:
    """InfluxDB 1.x/2.x/3.x through InfluxQL at ``/query``."""

    versioned = False

    def __init__(self, http: httpx.Client, *, database: str, measurement: str) -> None:
        self._http = http
        self._database = database
        self._measurement = measurement

    def minutes(self, lo_ms: int, hi_ms: int) -> list[Row]:
        # InfluxDB 1.6 answering while points of the same minutes arrive can count a point
        # that min/max/sum did not see yet (seen: n = 1, lo = null): such an answer is asked
        # again, and after TORN_TRIES refused, never stored as a rollup.
        for _ in range(TORN_TRIES):
            (series,) = self._run(
                f'SELECT count("{VALUE}") AS n, min("{VALUE}") AS lo, max("{VALUE}") AS hi, sum("{VALUE}") AS total '
                f'FROM "{self._measurement}" WHERE time >= {lo_ms}ms AND time < {hi_ms}ms GROUP BY time(1m), *'
                f' fill(none)')
            rows = [Row(_labels(tags), r["time"], r["n"], r["lo"], r["hi"], r["total"]) for tags, r in series if r["n"]]
            if all(None not in (r.lo, r.hi, r.total) for r in rows):
                return rows
        raise TimeSeriesError(f"InfluxQL rollups: {TORN_TRIES} answers in a row counted values they did not aggregate")

    def hours(self, lo_ms: int, hi_ms: int, minutes: list[Row]) -> list[Row]:
        return _hours(minutes, lo_ms, hi_ms)

    def rows(self, level: Level, *, asset_id: str, channel: str, lo_ms: int, hi_ms: int) -> list[Row]:
        (series,) = self._run(
            f'SELECT "n", "lo", "hi", "total" FROM "{self._measurement}{level.suffix}" WHERE "asset" = {_quoted(asset_id)}'
            f' AND "channel" = {_quoted(channel)} AND time >= {lo_ms}ms AND time < {hi_ms}ms')
        return [Row((), r["time"], round(r["n"]), r["lo"], r["hi"], r["total"]) for _tags, r in series]

    def spans(self, now_ms: int) -> dict[str, tuple[int, int]]:
        (series,) = self._run(f'SELECT last("from_ms") AS f, last("to_ms") AS t FROM "{self._measurement}_rollup" '
                              'GROUP BY "level"')
        return {tags["level"]: (round(r["f"]), round(r["t"])) for tags, r in series}

    def _run(self, *statements: str) -> list[list[tuple[dict[str, str], dict[str, Any]]]]:
        """Each statement's (tags, row) pairs."""
        body = post(self._http, "/query", {"db": self._database, "q": ";\n".join(statements), "epoch": "ms"}).json()
        results = sorted(body.get("results", []), key=lambda r: r.get("statement_id", 0))
        out = []
        for result in results:
            if "error" in result or result.get("partial"):
                raise TimeSeriesError(f"InfluxQL rollups: {result.get('error', 'a partial result')}")
            out.append([(s.get("tags", {}), dict(zip(s["columns"], v))) for s in result.get("series", [])
                        for v in s["values"]])
        if "error" in body or len(out) != len(statements):
            raise TimeSeriesError(f"InfluxQL rollups: {body.get('error', body)}")
        return out


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


class VictoriaServer:
    """VictoriaMetrics through MetricsQL: fields are metrics ``<measurement>_1m_n`` and so on."""

    versioned = True
    _STATS = '("count_over_time","min_over_time","max_over_time","sum_over_time")'

    def __init__(self, http: httpx.Client, *, measurement: str) -> None:
        self._http = http
        self._measurement = measurement

    def minutes(self, lo_ms: int, hi_ms: int) -> list[Row]:
        return self._changed(MINUTE, lo_ms, hi_ms)

    def hours(self, lo_ms: int, hi_ms: int, minutes: list[Row]) -> list[Row]:
        # Minutes that did not change were not fetched: hours come from raw samples as well.
        return [row for lo in range(lo_ms, hi_ms, _CHUNK_MS * 24) for row in
                self._changed(HOUR, lo, min(lo + _CHUNK_MS * 24, hi_ms))]

    def _changed(self, level: Level, lo_ms: int, hi_ms: int) -> list[Row]:
        """The level's rows in [lo_ms, hi_ms) whose count of good samples differs from the
        stored row's, or that have none: late samples only ever add, so these are all that
        a recomputation changes, and in the chore's rounds (the last two hours again every
        5 minutes) they are the newest few minutes: the server compares, Sitewatch gets
        and writes only those. At the last ms of a row, a window of its length is exactly
        it (victoria.py), and holds every stored version of it (at its start + n ms)."""
        window = f"[{level.step_ms}ms]"
        count = f'count_over_time({{__name__="{self._measurement}_{VALUE}"}}{window})'
        stored = f'last_over_time({{__name__="{self._measurement}{level.suffix}_n"}}{window})'
        query = (f'aggr_over_time({self._STATS}, {{__name__="{self._measurement}_{VALUE}"}}{window}) '
                 f"and ignoring(rollup) (({count} != {stored}) or ({count} unless {stored}))")
        rollups: dict[tuple[Labels, int], dict[str, float]] = defaultdict(dict)
        for metric, points in self._range(query, lo_ms + level.step_ms - 1, hi_ms - 1, level.step_ms):
            labels, rollup = _labels({k: v for k, v in metric.items() if k != "rollup"}), metric["rollup"]
            for at_ms, value in points:
                rollups[(labels, at_ms + 1 - level.step_ms)][rollup] = value
        return [Row(labels, start, round(r["count_over_time"]), r["min_over_time"], r["max_over_time"],
                    r["sum_over_time"]) for (labels, start), r in rollups.items() if r.get("count_over_time")]

    def rows(self, level: Level, *, asset_id: str, channel: str, lo_ms: int, hi_ms: int) -> list[Row]:
        # At a row's end, (end - step, end] holds every version of it: the last is the fullest.
        name = f"{self._measurement}{level.suffix}"
        selector = f'{{__name__=~"{name}_(n|lo|hi|total)",asset={json.dumps(asset_id)},channel={json.dumps(channel)}}}'
        fields: dict[tuple[Labels, int], dict[str, float]] = defaultdict(dict)
        for metric, points in self._range(f"last_over_time({selector}[{level.step_ms}ms]) keep_metric_names",
                                          lo_ms + level.step_ms, hi_ms, level.step_ms):
            labels, field = _labels(metric), metric["__name__"].removeprefix(name + "_")
            for at_ms, value in points:
                fields[(labels, at_ms - level.step_ms)][field] = value
        return [Row((), start, round(f["n"]), f["lo"], f["hi"], f["total"])
                for (_labels_, start), f in fields.items() if len(f) == 4 and f["n"]]

    def spans(self, now_ms: int) -> dict[str, tuple[int, int]]:
        # Asked a day ahead: at "now" the server hides what came in within its
        # -search.latencyOffset, such as the span a roll_up wrote a moment ago.
        name = f"{self._measurement}_rollup"
        body = post(self._http, "/api/v1/query", {
            "query": f'last_over_time({{__name__=~"{name}_(from_ms|to_ms)"}}[3650d]) keep_metric_names',
            "time": seconds_text(now_ms + 86_400_000), "nocache": "1"}).json()
        found: dict[str, dict[str, float]] = defaultdict(dict)
        for result in _data(body):
            found[result["metric"]["level"]][result["metric"]["__name__"]] = float(result["value"][1])
        return {level: (round(f[f"{name}_from_ms"]), round(f[f"{name}_to_ms"])) for level, f in found.items()
                if len(f) == 2}

    def _range(self, query: str, first_ms: int, last_ms: int,
               step_ms: int) -> Iterator[tuple[dict[str, str], list[tuple[int, float]]]]:
        """Each series' labels and its (evaluation time in ms, value) points."""
        if last_ms < first_ms:
            return
        body = post(self._http, "/api/v1/query_range", {"query": query, "start": seconds_text(first_ms),
                                                         "end": seconds_text(last_ms), "step": f"{step_ms}ms",
                                                         "nocache": "1"}).json()
        for result in _data(body):
            yield result["metric"], [(round(float(t) * 1000), float(value)) for t, value in result["values"]]


def _data(body: dict[str, Any]) -> list[dict[str, Any]]:
    if body.get("status") != "success":
        raise TimeSeriesError(f"VictoriaMetrics rollups: {body.get('error', body)}")
    return body["data"]["result"]


def rollup_server(settings: InfluxSettings, http: httpx.Client) -> Server:
    """The server's side of rollups, by the reader it is read through."""
    if settings.reader == "influxql":
        return InfluxQLServer(http, database=settings.database, measurement=settings.measurement)
    return VictoriaServer(http, measurement=settings.measurement)
