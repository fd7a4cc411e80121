"""Reads through InfluxQL at ``POST /query``: InfluxDB 1.x, 2.x's v1 API (with a DBRP
mapping of the bucket to ``database``) and 3.x. Everything is pushed down: the server
aggregates, Python only joins the few rows that come back. Times are epoch milliseconds.

The statements of one call go in one request (``;``-separated).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from sitewatch.domain.samples import ChannelStats, Quality, Sample
from sitewatch.storage.influx.client import post_json
from sitewatch.storage.influx.lineproto import QUALITY, SUSPECT, VALUE
from sitewatch.storage.influx.times import from_ms
from sitewatch.storage.timeseries import Bucket, TimeSeriesError

_REGEX_SPECIAL = frozenset(r"\.+*?()|[]{}^$-/")
_STATS = f'count("{VALUE}") AS n, min("{VALUE}") AS lo, max("{VALUE}") AS hi, mean("{VALUE}") AS mean'

Row = dict[str, Any]  # one point: its columns and its series' tags


def _string(text: str) -> str:
    """An InfluxQL string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _one_of(values: Iterable[str]) -> str:
    """An anchored regex literal matching exactly these strings."""
    alternatives = ("".join("\\" + c if c in _REGEX_SPECIAL else c for c in v) for v in values)
    return "/^(?:" + "|".join(alternatives) + ")$/"


def _number(value: float | None) -> float:
    return math.nan if value is None else float(value)


def _newest_per_series(rows: Iterable[Row]) -> dict[tuple[str, str], Row]:
    """(asset, channel) -> its newest row; several rows when the unit tag changed."""
    newest: dict[tuple[str, str], Row] = {}
    for row in rows:
        key = (row["asset"], row.get("channel", ""))
        if key not in newest or row["time"] > newest[key]["time"]:
            newest[key] = row
    return newest


def _sample(row: Row) -> Sample:
    value = row.get(VALUE)
    if value is None:
        value = row.get(SUSPECT)
    return Sample(asset_id=row["asset"], channel=row.get("channel", ""), ts=from_ms(row["time"]),
                  value=_number(value), unit=row.get("unit", ""), quality=Quality(row[QUALITY]))


class InfluxQLReader:
    def __init__(self, http: httpx.Client, *, database: str, measurement: str) -> None:
        self._http = http
        self._database = database
        self._from = f'FROM "{measurement}"'  # InfluxSettings' pattern allows no quote in it

    def query(self, *, asset_id: str, start_ms: int, end_ms: int, channel: str | None,
              limit: int | None) -> list[Sample]:
        if limit == 0:
            return []
        where = f'"asset" = {_string(asset_id)} AND time >= {start_ms}ms AND time < {end_ms}ms'
        if channel is not None:
            where += f' AND "channel" = {_string(channel)}'
        # LIMIT applies per series: the first n of each channel, merged, hold the first n overall.
        statement = f'SELECT "{QUALITY}", "{VALUE}", "{SUSPECT}" {self._from} WHERE {where} GROUP BY "channel", "unit"'
        (rows,) = self._run([statement + (f" LIMIT {limit}" if limit is not None else "")])
        rows.sort(key=lambda r: (r["time"], r.get("channel", "")))
        return [_sample(r | {"asset": asset_id}) for r in rows[:limit]]

    def latest(self, *, asset_ids: Sequence[str] | None, since_ms: int, at_ms: int) -> list[Sample]:
        # last() as the only selector brings the other fields of its point with it.
        statement = (f'SELECT last("{QUALITY}") AS "{QUALITY}", "{VALUE}", "{SUSPECT}" {self._from} '
                     f"WHERE time >= {since_ms}ms AND time <= {at_ms}ms{self._assets(asset_ids)} "
                     'GROUP BY "asset", "channel", "unit"')
        (rows,) = self._run([statement])
        newest = _newest_per_series(rows)
        return [_sample(newest[key]) for key in sorted(newest)]

    def aggregate(self, *, start_ms: int, end_ms: int, asset_ids: Sequence[str] | None) -> list[ChannelStats]:
        where = f"WHERE time >= {start_ms}ms AND time < {end_ms}ms{self._assets(asset_ids)}"
        stats, lasts, seen = self._run([
            f'SELECT {_STATS} {self._from} {where} GROUP BY "asset", "channel"',
            # A selector alone keeps its point's time: the last good sample's.
            f'SELECT last("{VALUE}") AS last {self._from} {where} GROUP BY "asset", "channel"',
            # Every series with a sample of any quality, and the unit of its newest one.
            f'SELECT last("{QUALITY}") {self._from} {where} GROUP BY "asset", "channel", "unit"',
        ])
        stats_of = {(r["asset"], r.get("channel", "")): r for r in stats}
        last_of = {(r["asset"], r.get("channel", "")): r for r in lasts}
        out = []
        for key, newest in sorted(_newest_per_series(seen).items()):
            row, last = stats_of.get(key, {}), last_of.get(key)
            out.append(ChannelStats(
                asset_id=key[0], channel=key[1], unit=newest.get("unit", ""), count=row.get("n") or 0,
                min=_number(row.get("lo")), max=_number(row.get("hi")), mean=_number(row.get("mean")),
                last=_number(last["last"]) if last else math.nan,
                last_ts=from_ms(last["time"]) if last else None,
            ))
        return out

    def buckets(self, *, asset_id: str, channel: str, start_ms: int, end_ms: int, width_ms: int) -> list[Bucket]:
        # GROUP BY time(w, offset) cuts at epoch + offset + k w: offset = start mod w cuts at start.
        statement = (f'SELECT {_STATS} {self._from} WHERE "asset" = {_string(asset_id)} '
                     f'AND "channel" = {_string(channel)} AND time >= {start_ms}ms AND time < {end_ms}ms '
                     f"GROUP BY time({width_ms}ms, {start_ms % width_ms}ms) fill(none)")
        (rows,) = self._run([statement])
        rows.sort(key=lambda r: r["time"])
        return [Bucket(start=from_ms(r["time"]), count=r["n"], min=r["lo"], max=r["hi"], mean=r["mean"])
                for r in rows if r["n"]]

    def close(self) -> None:
        self._http.close()

    def _assets(self, asset_ids: Sequence[str] | None) -> str:
        return "" if asset_ids is None else f' AND "asset" =~ {_one_of(asset_ids)}'

    def _run(self, statements: list[str]) -> list[list[Row]]:
        """Each statement's rows, in statement order."""
        body = post_json(self._http, "/query", {"db": self._database, "q": ";\n".join(statements), "epoch": "ms"})
        if "error" in body:
            raise TimeSeriesError(f"InfluxQL: {body['error']}")
        out: list[list[Row]] = []
        for result in sorted(body.get("results", []), key=lambda r: r.get("statement_id", 0)):
            if "error" in result:
                raise TimeSeriesError(f"InfluxQL: {result['error']}")
            series = result.get("series", [])
            if result.get("partial") or any(s.get("partial") for s in series):
                # The server's max-row-limit cut the answer: never pass part of one off as whole.
                raise TimeSeriesError("InfluxQL: the server returned a partial result (its max-row-limit)")
            out.append([dict(zip(s["columns"], values)) | s.get("tags", {}) for s in series for values in s["values"]])
        if len(out) != len(statements):
            raise TimeSeriesError(f"InfluxQL: {len(statements)} statements but {len(out)} results")
        return out
