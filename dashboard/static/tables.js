// The ranked tables: sources, pages, countries, devices, events, goals and the excluded
// traffic. Each row's bar is its share of the largest row; a row of a filterable report is a
// button that adds DIMENSION:equals:VALUE to the whole page's filters.

import { clear, countryName, flag, fmt, h, tablist } from "./dom.js";

const visitors = ["visitors", "Visitors", fmt.int];
const sessions = ["sessions", "Sessions", fmt.int];
const pageviews = ["pageviews", "Views", fmt.int];
const bounce = ["bounce_rate", "Bounce", fmt.pct];
const acquisition = [visitors, sessions, bounce];
const tech = [visitors, sessions];

function tab(value, label, key, dim, cols, extra = {}) {
  return { value, label, report: value, key, dim, cols, ...extra };
}

/** Panel name → its tabs (report, key column, filter dimension, columns shown). */
export const TABLES = {
  sources: [
    tab("sources", "Sources", "source", "source", acquisition),
    tab("mediums", "Mediums", "medium", "medium", acquisition),
    tab("campaigns", "Campaigns", "campaign", "campaign", acquisition),
    tab("referrers", "Referrers", "referrer", "referrer", acquisition),
  ],
  pages: [
    tab("pages", "Pages", "page_path", "page_path", [pageviews, visitors]),
    tab("entry_pages", "Entry pages", "page_path", "entry_page", [sessions, visitors, bounce]),
    // no exit-page dimension in the API: an exit page filters to the hits on that page
    tab("exit_pages", "Exit pages", "page_path", "page_path", [sessions, visitors]),
  ],
  countries: [tab("countries", "Countries", "country", "country", [visitors, pageviews],
    { country: true })],
  devices: [
    tab("devices", "Devices", "device", "device", tech),
    tab("browsers", "Browsers", "browser", "browser", tech),
    tab("os", "OS", "os", "os", tech),
  ],
  events: [tab("events", "Events", "event", "event_name", [["events", "Events", fmt.int], visitors])],
  goals: [tab("goals", "Goals", "goal", null, [["completions", "Completions", fmt.int],
    ["conversion_rate", "Conversion", fmt.pct]], { hideEmpty: true })],
  excluded: [tab("excluded", "By reason", "reason", null, [["hits", "Hits", fmt.int]]),
    tab("bot_agents", "Bot agents", "agent", null, [["hits", "Hits", fmt.int]])],
};

/** The tab of ``panel`` the view shows. */
export function currentTab(panel, view) {
  const tabs = TABLES[panel];
  return tabs.find((t) => t.value === view.tabs[panel]) || tabs[0];
}

/** Builds a table panel's head once: the tab strip (if any) and the CSV button. */
export function setupTable(section, panel, onCsv) {
  const head = section.querySelector(".panel-head");
  const tabs = TABLES[panel];
  const title = head.querySelector("h2").textContent;
  if (tabs.length > 1 && panel !== "excluded") {
    const list = h("div", { class: "tabs", role: "tablist", "aria-label": `${title} by` },
      tabs.map((t) => h("button", { type: "button", role: "tab", "data-value": t.value }, t.label)));
    head.append(list);
  }
  head.append(h("button", { type: "button", class: "csv", "aria-label": `Download ${title} as CSV`,
    onclick: () => onCsv(panel) }, "CSV"));
}

/** Marks the view's tab selected; ``onTab(panel, value)`` when another one is chosen. */
export function markTabs(section, panel, view, onTab) {
  const list = section.querySelector("[role=tablist]");
  if (list) tablist(list, currentTab(panel, view).value, (v) => onTab(panel, v));
}

export function loading(body) {
  body.setAttribute("aria-busy", "true");
  if (!body.childElementCount) body.append(h("p", { class: "muted loading" }, "Loading…"));
  else body.classList.add("stale");
}

export function failed(body, err) {
  body.removeAttribute("aria-busy");
  body.classList.remove("stale");
  clear(body).append(h("div", { class: "error", role: "alert" },
    h("strong", {}, err.title || "Something went wrong"),
    err.detail ? h("span", { class: "detail" }, err.detail) : null));
}

/** The filters a row's key stands for: one DIMENSION=value; a Universal Analytics event (the
 *  events report writes "category / action"; GA4 names hold no "/") is two. */
export function filtersFor(t, text) {
  const cut = text.indexOf(" / ");
  if (t.dim === "event_name" && cut > 0) {
    return [["event_category", text.slice(0, cut)], ["event_action", text.slice(cut + 3)]];
  }
  return [[t.dim, text]];
}

function keyCell(t, value, onFilter) {
  const text = value === null || value === undefined || value === "" ? "(not set)" : String(value);
  const label = t.country
    ? [h("span", { class: "flag", "aria-hidden": "true" }, flag(text)), " ", countryName(text)]
    : [text];
  if (!t.dim) return h("span", { class: "key", title: text }, ...label);
  return h("button", { type: "button", class: "key", title: `Filter: ${t.dim} is ${text}`,
    "data-dim": t.dim, "data-value": text, onclick: () => onFilter(filtersFor(t, text)) }, ...label);
}

/** One table of rows for tab ``t``: bars proportional to the first column shown. */
export function table(t, rows, onFilter, caption) {
  const [barCol] = t.cols[0];
  const max = Math.max(1, ...rows.map((r) => Number(r[barCol]) || 0));
  const tbody = h("tbody", {}, rows.map((row) => {
    const bar = h("span", { class: "bar", "aria-hidden": "true" });
    bar.style.width = `${((Number(row[barCol]) || 0) / max) * 100}%`; // CSSOM: allowed by the CSP
    return h("tr", { "data-key": row[t.key] ?? "" },
      h("th", { scope: "row", class: "keycell" }, bar, keyCell(t, row[t.key], onFilter)),
      t.cols.map(([col, , format]) => h("td", { class: "num", "data-col": col }, format(row[col]))));
  }));
  return h("table", { class: "ranked", "data-report": t.report },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t.label),
      t.cols.map(([, label]) => h("th", { scope: "col", class: "num" }, label)))),
    tbody);
}

export function rendered(body, ...children) {
  body.removeAttribute("aria-busy");
  body.classList.remove("stale");
  clear(body).append(...children.filter((c) => c !== null && c !== undefined));
}

export function empty(text = "No data for these dates.") {
  return h("p", { class: "muted empty" }, text);
}
