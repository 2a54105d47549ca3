// The realtime card: the last 30 minutes from the rollups, read every 5 seconds while the tab
// is visible (not at all while it is hidden), a per-minute bar sparkline and the top pages,
// sources and countries right now.

import { request } from "./api.js";
import { clear, countryName, flag, fmt, h, svg } from "./dom.js";
import { failed } from "./tables.js";

export const REFRESH_MS = 5000;
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });

function sparkline(series) {
  const w = 300;
  const hgt = 48;
  const gap = 2;
  const bw = w / series.length - gap;
  const max = Math.max(1, ...series.map((m) => m.pageviews));
  const chart = svg("svg", { viewBox: `0 0 ${w} ${hgt}`, class: "spark", role: "img",
    preserveAspectRatio: "none",
    "aria-label": `Pageviews per minute, the last ${series.length} minutes` });
  series.forEach((m, i) => {
    const bh = m.pageviews ? Math.max(2, (m.pageviews / max) * (hgt - 2)) : 1;
    const rect = svg("rect", { x: i * (bw + gap), y: hgt - bh, width: bw, height: bh,
      class: m.pageviews ? "on" : "off", "data-minute": m.minute, "data-pageviews": m.pageviews });
    const title = svg("title", {});
    const at = new Date(`${m.minute}:00Z`);
    title.textContent = `${timeFormat.format(at)}: ${fmt.int(m.pageviews)} pageviews, ` +
      `${fmt.int(m.visitors)} visitors`;
    rect.append(title);
    chart.append(rect);
  });
  return chart;
}

function top(title, entries, country = false) {
  const max = Math.max(1, ...entries.map((e) => e.count));
  return h("div", { class: "rt-top", "data-top": title.toLowerCase() },
    h("h3", {}, title),
    entries.length
      ? h("ol", {}, entries.slice(0, 5).map((e) => {
        const bar = h("span", { class: "bar", "aria-hidden": "true" });
        bar.style.width = `${(e.count / max) * 100}%`;
        const label = country ? [h("span", { class: "flag", "aria-hidden": "true" }, flag(e.key)), " ",
          countryName(e.key)] : [e.key];
        return h("li", {}, bar, h("span", { class: "key", title: e.key }, ...label),
          h("span", { class: "num" }, fmt.int(e.count)));
      }))
      : h("p", { class: "muted small" }, "nothing yet"));
}

export function renderRealtime(body, doc) {
  body.removeAttribute("aria-busy");
  clear(body).append(
    h("div", { class: "rt-numbers" },
      h("div", { class: "metric", "data-metric": "visitors_5m" },
        h("span", { class: "metric-value big" }, fmt.int(doc.visitors_5m)),
        h("span", { class: "metric-label" }, "visitors in the last 5 minutes")),
      h("div", { class: "metric", "data-metric": "visitors_30m" },
        h("span", { class: "metric-value" }, fmt.int(doc.visitors_30m)),
        h("span", { class: "metric-label" }, "in 30 minutes")),
      h("div", { class: "metric", "data-metric": "pageviews_30m" },
        h("span", { class: "metric-value" }, fmt.int(doc.pageviews_30m)),
        h("span", { class: "metric-label" }, "pageviews"))),
    sparkline(doc.series || []),
    h("div", { class: "rt-tops" },
      top("Pages", doc.pages || []), top("Sources", doc.sources || []),
      top("Countries", doc.countries || [], true)));
}

/** Polls the realtime answer of ``pid()`` into ``body``; returns a stop function. */
export function startRealtime(body, pid) {
  let timer = null;
  let controller = null;
  let stopped = false;
  let inFlight = false;

  async function tick() {
    timer = null;
    if (stopped || inFlight || document.visibilityState !== "visible") return;
    inFlight = true;
    controller = new AbortController();
    const property = pid();
    try {
      const doc = await request(`/v1/properties/${encodeURIComponent(property)}/realtime`,
        { signal: controller.signal });
      if (!stopped && property === pid()) renderRealtime(body, doc);
    } catch (err) {
      if (err.name === "AbortError") return; // stopped: no next tick
      if (!stopped) failed(body, err);
    } finally {
      inFlight = false;
    }
    if (!stopped && document.visibilityState === "visible") timer = setTimeout(tick, REFRESH_MS);
  }

  function onVisibility() {
    if (document.visibilityState === "visible" && !timer) tick();
    else if (document.visibilityState !== "visible" && timer) {
      clearTimeout(timer);
      timer = null;
    }
  }

  document.addEventListener("visibilitychange", onVisibility);
  if (!body.childElementCount) body.append(h("p", { class: "muted loading" }, "Loading…"));
  tick();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    if (controller) controller.abort();
    document.removeEventListener("visibilitychange", onVisibility);
  };
}
