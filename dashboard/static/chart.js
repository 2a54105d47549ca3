// The time series (uPlot, vendored): the chosen metric per day (per hour for today and
// yesterday), the comparison period overlaid point for point (its first day under the
// current first day). Dates are the property's local days; they are plotted as UTC so the
// axis shows them as they are.

import { clear, fmt, h } from "./dom.js";

let plot = null;
let observer = null;

function seconds(text) {
  const [date, time = "00:00"] = text.split(/[ T]/);
  const [y, m, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  return Date.UTC(y, m - 1, d, hh, mm) / 1000;
}

function css(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export function destroyChart() {
  if (observer) observer.disconnect();
  if (plot) plot.destroy();
  plot = observer = null;
}

/** Draws ``metric`` of ``rows`` (daily or hourly report rows) and of ``compareRows``. */
export function renderChart(body, { rows, compareRows, metric, hourly, label }) {
  destroyChart();
  clear(body);
  if (typeof window.uPlot !== "function") {
    body.append(h("div", { class: "error", role: "alert" }, h("strong", {}, "The chart library did not load")));
    return;
  }
  const keyCol = hourly ? "hour" : "day";
  const xs = rows.map((r) => seconds(r[keyCol]));
  const ys = rows.map((r) => r[metric] ?? 0);
  const data = [xs, ys];
  const long = new Intl.DateTimeFormat(undefined, hourly
    ? { weekday: "short", hour: "2-digit", minute: "2-digit", timeZone: "UTC" }
    : { weekday: "short", month: "short", day: "numeric", timeZone: "UTC" });
  const series = [{ label: hourly ? "Hour" : "Day",
    value: (_u, v) => (v === null || v === undefined ? "" : long.format(new Date(v * 1000))) }, {
    label, stroke: css("--accent", "#2563eb"), fill: css("--accent-soft", "rgba(37,99,235,.12)"),
    width: 2, points: { show: rows.length <= 40 }, value: (_u, v) => fmt.int(v),
  }];
  if (compareRows) {
    data.push(rows.map((_r, i) => compareRows[i]?.[metric] ?? null));
    series.push({ label: "Comparison", stroke: css("--compare", "#9ca3af"), width: 1.5,
      dash: [6, 4], points: { show: false }, value: (_u, v) => fmt.int(v) });
  }
  const total = ys.reduce((a, b) => a + b, 0);
  const holder = h("div", { class: "plot", role: "img",
    "aria-label": `${label} ${hourly ? "per hour" : "per day"}: ${fmt.int(total)} in all` });
  body.append(holder);
  const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
  const hourFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", timeZone: "UTC" });
  const step = hourly ? 3600 : 86400;
  const xAxis = {
    incrs: hourly ? [3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600] : [1, 2, 7, 14, 28].map((n) => n * 86400),
    values: (_u, ticks) => ticks.map((t) => (hourly ? hourFormat : dayFormat).format(new Date(t * 1000))),
  };
  const axis = { stroke: css("--muted", "#6b7280"), grid: { stroke: css("--grid", "#e5e7eb"), width: 1 },
    ticks: { stroke: css("--grid", "#e5e7eb"), width: 1 } };
  const width = () => Math.max(280, body.clientWidth || 600);
  const height = () => (window.matchMedia("(max-width: 700px)").matches ? 200 : 260);
  plot = new window.uPlot({
    width: width(), height: height(), series,
    tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { x: { time: true, range: (_u, min, max) => (min === max ? [min - step / 2, max + step / 2] : [min, max]) }, y: { range: (_u, _min, max) => [0, Math.max(4, max * 1.1)] } },
    axes: [{ ...axis, ...xAxis }, { ...axis, values: (_u, ticks) => ticks.map((t) => fmt.int(t)) }],
    cursor: { drag: { x: false, y: false } },
    legend: { live: true },
  }, data, holder);
  observer = new ResizeObserver(() => plot && plot.setSize({ width: width(), height: height() }));
  observer.observe(body);
}
