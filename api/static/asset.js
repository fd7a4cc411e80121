// The asset page's trend chart: one channel over an hour, day, week or month, from
// /api/assets/{id}/trend, drawn with ECharts (served by Sitewatch from /static/vendor/).
// Mean line, min-max band, limits as lines, alert periods shaded; times in site time.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("chart-config").textContent);
  const element = document.getElementById("chart");
  const message = document.getElementById("chart-message");
  const picker = document.getElementById("trend-channel");
  const buttons = Array.from(document.querySelectorAll("#trend button[data-range]"));
  const text = config.text;
  const LIMIT_COLOURS = { alarm: "#ffcc00", critical: "#ff5f57", setting: "#5ac8fa" };
  const PERIOD_COLOURS = { critical: "rgba(255,95,87,0.18)", major: "rgba(255,149,0,0.16)",
                           warning: "rgba(255,204,0,0.12)", info: "rgba(138,150,163,0.12)" };
  const REFRESH_MS = 60000;
  let state = { channel: config.channel, range: config.range };
  let timer = null;

  // The limits' names and values, in the colours and dashes of their lines.
  function legend(trend) {
    const list = document.getElementById("chart-legend");
    list.replaceChildren(...trend.limits.map((l) => {
      const item = document.createElement("li");
      const swatch = document.createElement("span");
      swatch.className = `swatch ${l.kind}`;
      swatch.style.borderTopColor = LIMIT_COLOURS[l.kind] || "#aaa";
      item.append(swatch, `${l.label} ${number(trend, l.value)}`);
      return item;
    }));
  }

  function say(words) {
    message.textContent = words || "";
    message.hidden = !words;
  }

  if (!window.echarts) {  // the script tag failed: the library file is missing or blocked
    element.hidden = true;
    say(text.unavailable);
    return;
  }
  const chart = window.echarts.init(element, "dark", { renderer: "canvas" });
  window.addEventListener("resize", () => chart.resize());

  // Axis labels: the time of day within an hour, date and time within a day, dates beyond.
  const AXIS_FORMATS = {
    hour: { hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
    day: { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" },
    week: { month: "2-digit", day: "2-digit" },
    month: { month: "2-digit", day: "2-digit" },
  };

  function timeFormat(trend) {
    const axis = new Intl.DateTimeFormat(config.locale,
      Object.assign({ timeZone: trend.time_zone }, AXIS_FORMATS[trend.range] || AXIS_FORMATS.day));
    const full = new Intl.DateTimeFormat(config.locale, { timeZone: trend.time_zone, year: "numeric",
      month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
    return { axis: (ms) => axis.format(new Date(ms)), full: (ms) => full.format(new Date(ms)) };
  }

  function number(trend, value) {
    if (value === null || value === undefined) return "—";
    if (trend.states) return trend.states[value >= 0.5 ? 1 : 0];
    const shown = value.toFixed(trend.digits);
    return trend.unit_text ? `${shown} ${trend.unit_text}` : shown;
  }

  // Points with a null where a bucket or more is missing, so a gap in the data shows as one.
  function withGaps(trend, pick) {
    const out = [];
    const step = trend.bucket_s * 1000;
    let last = null;
    for (const p of trend.points) {
      const at = Date.parse(p.ts);
      if (last !== null && at - last > 1.5 * step) out.push([last + step, null]);
      out.push([at, pick(p)]);
      last = at;
    }
    return out;
  }

  function option(trend) {
    const times = timeFormat(trend);
    const start = Date.parse(trend.start);
    const end = Date.parse(trend.end);
    const byTime = new Map(trend.points.map((p) => [Date.parse(p.ts), p]));
    const periods = trend.alerts.map((a) => [
      { xAxis: Math.max(Date.parse(a.start), start), name: `${a.label} · ${a.severity_label}`,
        itemStyle: { color: PERIOD_COLOURS[a.severity] || PERIOD_COLOURS.info,
                     borderColor: a.channel === trend.channel ? "rgba(255,255,255,0.35)" : "transparent",
                     borderWidth: 1 } },
      { xAxis: a.end ? Math.min(Date.parse(a.end), end) : end },
    ]);
    const lines = trend.limits.map((l) => ({
      yAxis: l.value, name: l.label,
      lineStyle: { color: LIMIT_COLOURS[l.kind] || "#aaa", type: l.kind === "setting" ? "dotted" : "dashed" },
      // Named in the legend below the chart: labels on the lines hid the data under them.
      label: { show: false },
    }));
    const levels = trend.limits.map((l) => l.value);
    const isState = Boolean(trend.states);
    const main = {
      // A few points (an event channel's rare changes) are drawn as dots, or nothing would show.
      name: text.mean, type: "line", showSymbol: trend.points.length < 30, symbolSize: 5, connectNulls: false,
      step: isState ? "end" : false, lineStyle: { width: 1.5 }, z: 3,
      data: withGaps(trend, (p) => (isState ? p.max : p.mean)),
      markLine: { silent: true, symbol: "none", data: lines },
      markArea: { silent: true, label: { show: false }, data: periods },
    };
    const series = [main];
    if (!isState) {  // the band: min, then max - min stacked on it
      series.push({ name: text.min, type: "line", stack: "band", showSymbol: false, lineStyle: { opacity: 0 },
                    data: withGaps(trend, (p) => p.min), connectNulls: false, silent: true, tooltip: { show: false } });
      series.push({ name: text.max, type: "line", stack: "band", showSymbol: false, lineStyle: { opacity: 0 },
                    areaStyle: { opacity: 0.2 }, data: withGaps(trend, (p) => p.max - p.min), connectNulls: false,
                    silent: true, tooltip: { show: false } });
    }
    return {
      backgroundColor: "transparent",
      animation: false,
      grid: { left: 8, right: 28, top: 16, bottom: 8, containLabel: true },
      tooltip: {
        trigger: "axis",
        formatter: (items) => {
          const at = items.length ? items[0].value[0] : null;
          const p = at === null ? null : byTime.get(at);
          if (!p) return at === null ? "" : times.full(at);
          const rows = isState ? [number(trend, p.max)]
            : [`${text.mean} ${number(trend, p.mean)}`, `${text.min} ${number(trend, p.min)}`,
               `${text.max} ${number(trend, p.max)}`];
          return [`${times.full(at)} (${text.local_time})`, `<b>${trend.label}</b>`, ...rows].join("<br>");
        },
      },
      xAxis: { type: "time", min: start, max: end, axisLabel: { formatter: (ms) => times.axis(ms), hideOverlap: true } },
      yAxis: isState
        ? { type: "value", min: 0, max: 1, interval: 1, axisLabel: { formatter: (v) => trend.states[v] || "" } }
        : { type: "value", scale: true, name: trend.unit_text,
            min: (extent) => Math.min(extent.min, ...levels),
            max: (extent) => Math.max(extent.max, ...levels),
            axisLabel: { formatter: (v) => v.toFixed(trend.digits) } },
      series,
    };
  }

  async function load() {
    const query = new URLSearchParams({ channel: state.channel, range: state.range });
    const url = `/api/assets/${encodeURIComponent(config.asset)}/trend?${query}`;
    chart.showLoading({ text: "", color: "#7fb3ff", maskColor: "rgba(17,21,26,0.4)" });
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      const body = await response.json().catch(() => null);
      if (!response.ok) throw new Error(body && body.detail ? String(body.detail) : response.statusText);
      chart.setOption(option(body), { notMerge: true });
      legend(body);
      say(body.points.length ? "" : text.no_data);
    } catch (error) {
      say(`${text.failed} ${error.message}`);
    } finally {
      chart.hideLoading();
    }
  }

  function choose(changes) {
    state = Object.assign({}, state, changes);
    buttons.forEach((b) => b.classList.toggle("here", b.dataset.range === state.range));
    load();
    clearInterval(timer);
    timer = setInterval(load, REFRESH_MS);
  }

  picker.addEventListener("change", () => choose({ channel: picker.value }));
  buttons.forEach((b) => b.addEventListener("click", () => choose({ range: b.dataset.range })));
  choose({});
})();
