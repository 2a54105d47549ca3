// The headline numbers (overview report) and the ecommerce totals, each with its change
// against the comparison period.

import { clear, fmt, h } from "./dom.js";

export const METRICS = [
  { col: "visitors", label: "Visitors", format: fmt.int },
  { col: "sessions", label: "Sessions", format: fmt.int },
  { col: "pageviews", label: "Pageviews", format: fmt.int },
  { col: "views_per_session", label: "Views per session", format: fmt.dec },
  { col: "bounce_rate", label: "Bounce rate", format: fmt.pct, lowerIsBetter: true },
  { col: "avg_session_duration_s", label: "Avg. session", format: fmt.duration },
];

const dateFormat = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short",
  year: "numeric", timeZone: "UTC" });

export function day(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

export function period(from, to) {
  return from === to ? dateFormat.format(day(from)) : dateFormat.formatRange(day(from), day(to));
}

/** ▲/▼ and the percent change; "higher is better" unless the metric says otherwise. */
export function changeBadge(current, previous, lowerIsBetter = false) {
  if (previous === undefined) return null;
  const cur = Number(current) || 0;
  const prev = previous === null ? 0 : Number(previous);
  if (prev === 0) {
    return h("span", { class: "change flat", title: "nothing in the comparison period" },
      cur ? "new" : "—");
  }
  const ratio = (cur - prev) / prev;
  if (ratio === 0) return h("span", { class: "change flat", "aria-label": "no change" }, "0%");
  const up = ratio > 0;
  const good = up !== lowerIsBetter;
  return h("span", { class: `change ${up ? "up" : "down"} ${good ? "good" : "bad"}`,
    "aria-label": `${up ? "up" : "down"} ${fmt.change(ratio)} against the comparison` },
  `${up ? "▲" : "▼"} ${fmt.change(ratio)}`);
}

function card(metric, current, previous) {
  return h("div", { class: "metric", "data-metric": metric.col },
    h("span", { class: "metric-label" }, metric.label),
    h("span", { class: "metric-value" }, metric.format(current?.[metric.col])),
    changeBadge(current?.[metric.col], previous ? previous[metric.col] : undefined,
      metric.lowerIsBetter));
}

export function renderOverview(body, periodLine, doc) {
  const current = doc.rows.find((r) => r.period === "current") || {};
  const previous = doc.rows.find((r) => r.period === "previous");
  clear(body).append(...METRICS.map((m) => card(m, current, previous)));
  const text = [period(doc.from, doc.to)];
  if (doc.compare) text.push(`compared with ${period(doc.compare.from, doc.compare.to)}`);
  text.push(doc.timezone);
  periodLine.textContent = text.join(" · ");
}

/** Ecommerce: shown only when either period has a transaction. Returns whether it shows. */
export function renderEcommerce(body, doc) {
  const current = doc.rows.find((r) => r.period === "current");
  const previous = doc.rows.find((r) => r.period === "previous");
  if (!current || !(current.transactions || previous?.transactions)) return false;
  const money = (v) => fmt.money(v, current.currency || doc.currency);
  const metrics = [
    { col: "transactions", label: "Transactions", format: fmt.int },
    { col: "revenue", label: "Revenue", format: money },
    { col: "average_order_value", label: "Avg. order", format: money },
  ];
  clear(body).append(...metrics.map((m) => card(m, current, previous)));
  if (current.other_currency_transactions) {
    body.append(h("p", { class: "muted small note" },
      `${fmt.int(current.other_currency_transactions)} transaction(s) in other currencies ` +
      "are counted, not added to the revenue."));
  }
  return true;
}
