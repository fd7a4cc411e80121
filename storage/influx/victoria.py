"""Reads through VictoriaMetrics' own API, which has no InfluxQL: ``/api/v1/export`` for raw
samples, ``/api/v1/query`` and ``/api/v1/query_range`` (MetricsQL) for everything pushed
down. Line protocol fields became metrics ``<measurement>_value``, ``_quality`` and
``_suspect``, tags became labels.

How a window [start, end) is asked for, at millisecond resolution: a rollup ``f(m[w])``
evaluated at time t covers (t - w, t]; at t = end - 1 ms with w = end - start that is
exactly [start, end). Buckets are the same with t = start + (k + 1) w - 1 ms.

Every query passes ``nocache=1``: the rollup cache would keep serving a window's answer
from before a back-fill. VictoriaMetrics must run with ``-dedup.minScrapeInterval=1ms``
(a batch sent twice after an outage then counts once) and ``-search.latencyOffset=1s``
(otherwise the last 30 s are hidden); see README.md.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx

from sitewatch.domain.samples import ChannelStats, Quality, Sample
from sitewatch.storage.influx.client import post, post_json
from sitewatch.storage.influx.lineproto import QUALITY, SUSPECT, VALUE
from sitewatch.storage.influx.times import from_ms, seconds_text
from sitewatch.storage.timeseries import Bucket, TimeSeriesError

_REGEX_SPECIAL = frozenset(r"\.+*?()|[]{}^$-")
_STATS = ("count_over_time", "min_over_time", "max_over_time", "avg_over_time")
_LAST = ("last_over_time", "tlast_over_time")

Labels = tuple[tuple[str, str], ...]  # a series' labels without __name__ and rollup


def _string(text: str) -> str:
    """A MetricsQL string literal (Go syntax)."""
    return json.dumps(text)


def _one_of(values: Iterable[str]) -> str:
    """A regex (VictoriaMetrics anchors label regexes) matching exactly these strings."""
    return _string("|".join("".join("\\" + c if c in _REGEX_SPECIAL else c for c in v) for v in values))


def _rollups(names: Sequence[str]) -> str:
    return "(" + ",".join(_string(n) for n in names) + ")"


@dataclass(frozen=True, slots=True)
class _Part:
    """Good samples of one series (one label set) in one window."""

    count: int
    min: float
    max: float
    mean: float
    last: float = math.nan
    last_ms: int | None = None


def _part(rollup: dict[str, float]) -> _Part:
    tlast = rollup.get("tlast_over_time")
    return _Part(count=round(rollup["count_over_time"]), min=rollup["min_over_time"], max=rollup["max_over_time"],
                 mean=rollup["avg_over_time"], last=rollup.get("last_over_time", math.nan),
                 last_ms=None if tlast is None else round(tlast * 1000))


def _merge(parts: list[_Part]) -> _Part:
    """Series of one (asset, channel) whose unit or site label changed within the window."""
    if len(parts) == 1:
        return parts[0]
    count = sum(p.count for p in parts)
    last = max(parts, key=lambda p: -1 if p.last_ms is None else p.last_ms)
    return _Part(count=count, min=min(p.min for p in parts), max=max(p.max for p in parts),
                 mean=sum(p.mean * p.count for p in parts) / count, last=last.last, last_ms=last.last_ms)


class VictoriaReader:
    def __init__(self, http: httpx.Client, *, measurement: str, workers: int = 4) -> None:
        self._http = http
        self._value, self._quality, self._suspect = (f"{measurement}_{f}" for f in (VALUE, QUALITY, SUSPECT))
        self._any = f'__name__=~"{self._value}|{self._quality}|{self._suspect}"'  # names are [A-Za-z0-9_]
        # The queries of one call run side by side: the server answers each on its own core.
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="victoria-read")

    def query(self, *, asset_id: str, start_ms: int, end_ms: int, channel: str | None,
              limit: int | None) -> list[Sample]:
        match = _selector(self._any, f"asset={_string(asset_id)}",
                          *([f"channel={_string(channel)}"] if channel is not None else []))
        # One export of the three metrics; a sample is its quality point joined with the value
        # or suspect point of the same series and time. Export's end is inclusive.
        fields: dict[Labels, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
        for line in self._export(match, start_ms, end_ms - 1):
            labels, name = _labels(line["metric"])
            fields[labels][name].update(zip(line["timestamps"], line["values"]))
        samples = []
        for labels, by_name in fields.items():
            tags = dict(labels)
            values, suspects = by_name.get(self._value, {}), by_name.get(self._suspect, {})
            for ms, quality in by_name.get(self._quality, {}).items():
                if start_ms <= ms < end_ms:
                    value = values.get(ms, suspects.get(ms, math.nan))
                    samples.append(Sample(asset_id, tags.get("channel", ""), from_ms(ms), value, tags.get("unit", ""),
                                          Quality(round(quality))))
        samples.sort(key=lambda s: (s.ts, s.channel))
        return samples[:limit]

    def latest(self, *, asset_ids: Sequence[str] | None, since_ms: int, at_ms: int) -> list[Sample]:
        selector = _selector(self._any, *_assets(asset_ids))
        series: dict[Labels, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
        for labels, name, rollup in self._instant(
                f"aggr_over_time({_rollups(_LAST)}, {selector}[{at_ms - since_ms + 1}ms]) keep_metric_names", at_ms):
            series[labels][name] |= rollup
        newest: dict[tuple[str, str], Sample] = {}
        for labels, by_name in series.items():
            if self._quality not in by_name:
                continue
            quality = by_name[self._quality]
            at = quality["tlast_over_time"]
            # The value is the value or suspect point of the quality point's own time, if any.
            value = next((by_name[n]["last_over_time"] for n in (self._value, self._suspect)
                          if n in by_name and by_name[n]["tlast_over_time"] == at), math.nan)
            tags = dict(labels)
            sample = Sample(tags["asset"], tags.get("channel", ""), from_ms(round(at * 1000)), value,
                            tags.get("unit", ""), Quality(round(quality["last_over_time"])))
            key = (sample.asset_id, sample.channel)
            if key not in newest or sample.ts > newest[key].ts:  # a unit or site changed: the newer one
                newest[key] = sample
        return [newest[key] for key in sorted(newest)]

    def aggregate(self, *, start_ms: int, end_ms: int, asset_ids: Sequence[str] | None) -> list[ChannelStats]:
        if end_ms <= start_ms:
            return []
        window, assets = f"[{end_ms - start_ms}ms]", _assets(asset_ids)
        good = self._pool.submit(self._instant, f"aggr_over_time({_rollups(_STATS + _LAST)}, "
                                                f"{_selector(_named(self._value), *assets)}{window})", end_ms - 1)
        # Every series with a sample of any quality, and when its newest one was (for the unit).
        seen = self._instant(f"tlast_over_time({_selector(_named(self._quality), *assets)}{window})", end_ms - 1)
        rollups: dict[Labels, dict[str, float]] = defaultdict(dict)
        for labels, _name, rollup in good.result():
            rollups[labels] |= rollup
        parts: dict[tuple[str, str], list[_Part]] = defaultdict(list)
        for labels, rollup in rollups.items():
            tags = dict(labels)
            parts[(tags["asset"], tags.get("channel", ""))].append(_part(rollup))
        units: dict[tuple[str, str], tuple[float, str]] = {}
        for labels, _name, rollup in seen:
            tags = dict(labels)
            key, newest = (tags["asset"], tags.get("channel", "")), (rollup[""], tags.get("unit", ""))
            units[key] = max(units.get(key, newest), newest)
        out = []
        for key in sorted(units):
            p = _merge(parts[key]) if key in parts else _Part(0, math.nan, math.nan, math.nan)
            out.append(ChannelStats(asset_id=key[0], channel=key[1], unit=units[key][1], count=p.count, min=p.min,
                                    max=p.max, mean=p.mean, last=p.last,
                                    last_ts=None if p.last_ms is None else from_ms(p.last_ms)))
        return out

    def buckets(self, *, asset_id: str, channel: str, start_ms: int, end_ms: int, width_ms: int) -> list[Bucket]:
        selector = _selector(_named(self._value), f"asset={_string(asset_id)}", f"channel={_string(channel)}")
        full, tail_ms = divmod(end_ms - start_ms, width_ms)
        tail_start = start_ms + full * width_ms
        by_start: dict[int, list[_Part]] = defaultdict(list)
        tail = None
        if tail_ms:  # the last bucket is cut short by the end: a window of its own
            tail = self._pool.submit(self._instant, f"aggr_over_time({_rollups(_STATS)}, {selector}[{tail_ms}ms])",
                                     end_ms - 1)
        if full:
            # Evaluated at the last ms of each bucket, the window [w] is exactly that bucket.
            query = f"aggr_over_time({_rollups(_STATS)}, {selector}[{width_ms}ms])"
            series: dict[tuple[Labels, int], dict[str, float]] = defaultdict(dict)
            for labels, name, at_ms, value in self._range(query, start_ms + width_ms - 1, start_ms + full * width_ms - 1,
                                                          width_ms):
                series[(labels, at_ms + 1 - width_ms)][name] = value
            for (_, bucket), rollup in series.items():
                by_start[bucket].append(_part(rollup))
        if tail is not None:
            rollups: dict[Labels, dict[str, float]] = defaultdict(dict)
            for labels, _name, rollup in tail.result():
                rollups[labels] |= rollup
            by_start[tail_start] += [_part(r) for r in rollups.values()]
        out = []
        for bucket in sorted(by_start):
            p = _merge(by_start[bucket])
            if p.count:
                out.append(Bucket(start=from_ms(bucket), count=p.count, min=p.min, max=p.max, mean=p.mean))
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._http.close()

    def _instant(self, query: str, at_ms: int) -> list[tuple[Labels, str, dict[str, float]]]:
        """(labels, metric name, {rollup: value}) per series; rollup "" for a plain rollup."""
        out = []
        for metric, (_t, value) in ((r["metric"], r["value"]) for r in self._data(
                "/api/v1/query", {"query": query, "time": seconds_text(at_ms), "nocache": "1"})):
            labels, name = _labels(metric)
            out.append((labels, name, {metric.get("rollup", ""): float(value)}))
        return out

    def _range(self, query: str, first_ms: int, last_ms: int, step_ms: int) -> Iterator[tuple[Labels, str, int, float]]:
        """(labels, rollup, evaluation time in ms, value) per point."""
        for result in self._data("/api/v1/query_range", {"query": query, "start": seconds_text(first_ms),
                                                         "end": seconds_text(last_ms), "step": f"{step_ms}ms",
                                                         "nocache": "1"}):
            labels, _name = _labels(result["metric"])
            rollup = result["metric"].get("rollup", "")
            for t, value in result["values"]:
                yield labels, rollup, round(float(t) * 1000), float(value)

    def _data(self, path: str, form: dict[str, str]) -> list[dict[str, Any]]:
        body = post_json(self._http, path, form)
        if body.get("status") != "success":
            raise TimeSeriesError(f"VictoriaMetrics {path}: {body.get('error', body)}")
        return body["data"]["result"]

    def _export(self, match: str, first_ms: int, last_ms: int) -> list[dict[str, Any]]:
        response = post(self._http, "/api/v1/export", {"match[]": match, "start": seconds_text(first_ms),
                                                       "end": seconds_text(last_ms)})
        try:
            return [json.loads(line) for line in response.text.splitlines() if line]
        except ValueError as exc:
            raise TimeSeriesError(f"VictoriaMetrics /api/v1/export: not JSON lines: {exc}") from exc


def _named(name: str) -> str:
    return f"__name__={_string(name)}"


def _assets(asset_ids: Sequence[str] | None) -> list[str]:
    return [] if asset_ids is None else [f"asset=~{_one_of(asset_ids)}"]


def _selector(*matchers: str) -> str:
    return "{" + ",".join(matchers) + "}"


def _labels(metric: dict[str, str]) -> tuple[Labels, str]:
    """A series' identity without its name and rollup label, and its name."""
    return tuple(sorted((k, v) for k, v in metric.items() if k not in ("__name__", "rollup"))), metric.get("__name__", "")
