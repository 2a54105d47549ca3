// The view state lives in the query string (?property=&range=&from=&to=&compare=&filter=…
// plus the chosen chart metric and table tabs), so a URL reproduces a view and the browser's
// back and forward buttons move between views.

export const RANGES = ["today", "yesterday", "7d", "30d", "month", "last_month", "custom"];
export const COMPARES = ["previous", "year", "none"];
export const METRICS = ["visitors", "pageviews", "sessions"];
const DATE = /^\d{4}-\d{2}-\d{2}$/;
// table panels whose tab is part of the view: the query parameter is the panel's name
export const TAB_PARAMS = ["sources", "pages", "devices"];

export function readView(search = location.search) {
  const q = new URLSearchParams(search);
  const from = q.get("from") || "";
  const to = q.get("to") || "";
  let range = q.get("range") || (from && to ? "custom" : "30d");
  if (!RANGES.includes(range)) range = "30d";
  if (range === "custom" && !(DATE.test(from) && DATE.test(to))) range = "30d";
  const compare = COMPARES.includes(q.get("compare")) ? q.get("compare") : "previous";
  const metric = METRICS.includes(q.get("metric")) ? q.get("metric") : "visitors";
  const tabs = {};
  for (const name of TAB_PARAMS) if (q.get(name)) tabs[name] = q.get(name);
  return {
    property: q.get("property") || "",
    range,
    from: range === "custom" ? from : "",
    to: range === "custom" ? to : "",
    compare,
    filters: q.getAll("filter").filter((f) => f.split(":").length >= 3),
    metric,
    tabs,
  };
}

export function viewSearch(view) {
  const q = new URLSearchParams();
  if (view.property) q.set("property", view.property);
  q.set("range", view.range);
  if (view.range === "custom") {
    q.set("from", view.from);
    q.set("to", view.to);
  }
  q.set("compare", view.compare);
  for (const f of view.filters) q.append("filter", f);
  if (view.metric !== "visitors") q.set("metric", view.metric);
  for (const [name, tab] of Object.entries(view.tabs)) q.set(name, tab);
  return `?${q}`;
}

/** A filter as the API writes it: DIMENSION:OPERATOR:VALUE (the value may hold colons). */
export function filterParam(dimension, value) {
  return `${dimension}:equals:${value}`;
}

export function parseFilter(text) {
  const [dimension, op, ...rest] = text.split(":");
  return { dimension, op, value: rest.join(":") };
}
