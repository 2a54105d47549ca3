// The dashboard page: sign-in, the view state (query string) and the panels. Each panel loads
// its own report and shows its own loading and error state, so one failing report never
// blanks the page. See docs/dashboard.md, "The web page".

import { credential, downloadCsv, forget, reportPath, reportQuery, request, saveToken,
  takeCredential, whenUnauthorized } from "./api.js";
import { destroyChart, renderChart } from "./chart.js";
import { clear, h, tablist } from "./dom.js";
import { renderEcommerce, renderOverview } from "./overview.js";
import { startRealtime } from "./realtime.js";
import { setupShares } from "./shares.js";
import { filterParam, parseFilter, readView, viewSearch } from "./state.js";
import { currentTab, empty, failed, loading, markTabs, rendered, setupTable, table,
  TABLES } from "./tables.js";

const $ = (id) => document.getElementById(id);
const TABLE_PANELS = ["sources", "pages", "countries", "devices", "events", "goals", "excluded"];
const METRIC_LABELS = { visitors: "Visitors", pageviews: "Pageviews", sessions: "Sessions" };

let me = null;
let view = readView();
let generation = 0;
let stopRealtime = null;
let realtimeFor = null;
let wired = false;

// --- signing in and out -------------------------------------------------------------------

function showLogin(message) {
  if (stopRealtime) stopRealtime();
  stopRealtime = realtimeFor = null;
  destroyChart();
  me = null;
  $("app").hidden = true;
  $("login").hidden = false;
  const msg = $("login-message");
  msg.textContent = message || "";
  msg.hidden = !message;
  document.title = "Lambdalytics";
  $("login-token").value = "";
  $("login-token").focus();
}

function refused(err) {
  const c = credential();
  forget();
  const why = err.detail || err.title;
  showLogin(c && c.kind === "share" ? `This share link was refused: ${why}.`
    : `The token was refused: ${why}. Sign in again.`);
}

async function boot() {
  whenUnauthorized(refused);
  if (!takeCredential()) {
    showLogin("");
    return;
  }
  try {
    me = await request("/v1/me");
  } catch (err) {
    if (err.status !== 401) showLogin(err.message);
    return;
  }
  showApp();
}

// --- the view -------------------------------------------------------------------------------

function navigate(changes) {
  view = { ...view, ...changes };
  history.pushState(null, "", viewSearch(view));
  render();
}

function setTab(panel, value) {
  navigate({ tabs: { ...view.tabs, [panel]: value } });
}

function addFilter(pairs) {
  const added = pairs.map(([dimension, value]) => filterParam(dimension, value))
    .filter((f) => !view.filters.includes(f));
  if (added.length) navigate({ filters: [...view.filters, ...added] });
}

function wire() {
  if (wired) return;
  wired = true;
  window.addEventListener("popstate", () => {
    view = readView();
    if (me) render();
  });
  $("property").addEventListener("change", (e) => navigate({ property: e.target.value, filters: [] }));
  $("range").addEventListener("change", (e) => {
    if (e.target.value === "custom") {
      $("custom-range").hidden = false;
      $("from").focus();
    } else {
      navigate({ range: e.target.value, from: "", to: "" });
    }
  });
  $("custom-range").addEventListener("submit", (e) => {
    e.preventDefault();
    const from = $("from").value;
    const to = $("to").value;
    if (from && to) navigate({ range: "custom", from: from <= to ? from : to, to: from <= to ? to : from });
  });
  $("compare").addEventListener("change", (e) => navigate({ compare: e.target.value }));
  $("filters-clear").addEventListener("click", () => navigate({ filters: [] }));
  $("logout").addEventListener("click", () => {
    forget();
    showLogin(me && me.role === "share" ? "You left the shared view." : "You are logged out.");
  });
  for (const panel of TABLE_PANELS) {
    setupTable($(`panel-${panel}`), panel, async (name) => {
      try {
        await downloadCsv(view.property, currentTab(name, view).report, view);
        status("");
      } catch (err) {
        status(`CSV: ${err.message}`);
      }
    });
  }
}

function status(text) {
  $("status").textContent = text;
}

function showApp() {
  wire();
  const props = me.properties;
  if (!props.some((p) => p.property_id === view.property)) {
    view = { ...view, property: props.length ? props[0].property_id : "" };
    history.replaceState(null, "", viewSearch(view));
  }
  const picker = clear($("property"));
  for (const p of props) picker.append(h("option", { value: p.property_id }, p.name || p.property_id));
  $("property-label").hidden = props.length <= 1;
  const share = me.role === "share";
  $("share-badge").hidden = !share;
  $("share-badge").textContent = share ? `Shared view${me.share?.label ? `: ${me.share.label}` : ""}` : "";
  $("logout").textContent = share ? "Leave" : "Log out";
  if (share) $("share-open").hidden = true;
  else setupShares(() => view.property);
  $("login").hidden = true;
  $("app").hidden = false;
  render();
}

function syncControls() {
  const prop = me.properties.find((p) => p.property_id === view.property);
  $("property").value = view.property;
  $("property-name").textContent = prop ? prop.name || prop.property_id : "";
  document.title = `${prop ? prop.name || prop.property_id : ""} · Lambdalytics`;
  $("range").value = view.range;
  $("custom-range").hidden = view.range !== "custom";
  if (view.range === "custom") {
    $("from").value = view.from;
    $("to").value = view.to;
  }
  $("compare").value = view.compare;
  const chips = clear($("filter-chips"));
  for (const f of view.filters) {
    const { dimension, op, value } = parseFilter(f);
    chips.append(h("li", {}, h("button", { type: "button", class: "chip", "data-filter": f,
      "aria-label": `Remove filter ${dimension} ${op} ${value}`,
      onclick: () => navigate({ filters: view.filters.filter((x) => x !== f) }) },
    h("span", { class: "chip-dim" }, dimension), " ", op === "equals" ? "is" : op, " ",
    h("span", { class: "chip-value" }, value), h("span", { class: "chip-x", "aria-hidden": "true" }, " ✕"))));
  }
  $("filters").hidden = !view.filters.length;
  tablist(document.querySelector("#panel-chart [role=tablist]"), view.metric,
    (metric) => navigate({ metric }));
  for (const panel of TABLE_PANELS) markTabs($(`panel-${panel}`), panel, view, setTab);
}

// --- the panels -------------------------------------------------------------------------------

function render() {
  const gen = ++generation;
  const pid = view.property;
  const current = () => gen === generation;
  // data-ready="overview" once the overview's numbers and the chart are drawn for this view
  // (the benchmark and the browser tests wait for it)
  delete document.body.dataset.ready;
  syncControls();
  const get = (name, v = view, extra = {}) => request(reportPath(pid, name, reportQuery(v, extra)));
  const into = (body, work) => {
    loading(body);
    return work().catch((err) => {
      if (current() && err.status !== 401) {
        failed(body, err);
        body.closest("section").hidden = false; // goals and ecommerce show their error too
      }
      return null;
    });
  };

  const overviewBody = $("panel-overview").querySelector(".panel-body");
  const overview = into(overviewBody, async () => {
    const doc = await get("overview");
    if (!current()) return doc;
    overviewBody.removeAttribute("aria-busy");
    overviewBody.classList.remove("stale");
    renderOverview(overviewBody, $("period"), doc);
    if (view.range !== "custom") {
      $("from").value = doc.from;
      $("to").value = doc.to;
    }
    $("footer").textContent = `${doc.engine} · ${doc.cached ? "cached" : `${doc.elapsed_s.toFixed(2)} s`}` +
      ` · data version ${doc.data_version}`;
    return doc;
  });

  const chartBody = $("panel-chart").querySelector(".panel-body");
  const chart = into(chartBody, async () => {
    const hourly = view.range === "today" || view.range === "yesterday";
    const report = hourly ? "hourly" : "daily";
    const [doc, over] = await Promise.all([get(report), overview]);
    let compareRows = null;
    if (over && over.compare) {
      const then = { ...view, range: "custom", from: over.compare.from, to: over.compare.to };
      compareRows = (await get(report, then, { compare: "none" })).rows;
    }
    if (!current()) return;
    chartBody.removeAttribute("aria-busy");
    chartBody.classList.remove("stale");
    renderChart(chartBody, { rows: doc.rows, compareRows, metric: view.metric, hourly,
      label: METRIC_LABELS[view.metric] });
    return true;
  });

  // the tables are asked for once the overview and the chart are drawn: on a busy engine the
  // numbers at the top come first instead of queueing behind a dozen tables
  const headline = Promise.all([overview, chart]);
  headline.then(([doc, drawn]) => {
    if (current() && doc && drawn) document.body.dataset.ready = "overview";
  });
  for (const panel of TABLE_PANELS) {
    const section = $(`panel-${panel}`);
    const body = section.querySelector(".panel-body");
    const caption = section.querySelector("h2").textContent;
    into(body, async () => {
      await headline;
      if (!current()) return;
      if (panel === "excluded") {
        // excluded traffic has no hit dimensions: the API takes no filters for it
        const unfiltered = { ...view, filters: [] };
        const [reasons, agents] = await Promise.all(TABLES.excluded.map((t) => get(t.report, unfiltered)));
        if (!current()) return;
        rendered(body, view.filters.length ? h("p", { class: "muted small" }, "Not filtered: excluded " +
          "requests have no pages or visitors.") : null, ...TABLES.excluded.flatMap((t, i) => {
          const rows = [reasons, agents][i].rows;
          const csv = i === 0 ? null : h("button", { type: "button", class: "csv",
            "aria-label": `Download ${t.label} as CSV`, onclick: () => downloadCsv(view.property, t.report,
              unfiltered).catch((err) => status(`CSV: ${err.message}`)) }, "CSV");
          return [h("h3", { class: "subhead" }, t.label, csv), rows.length ? table(t, rows, addFilter, `${caption}: ${t.label}`)
            : empty("Nothing excluded in these dates.")];
        }));
        return;
      }
      const t = currentTab(panel, view);
      const doc = await get(t.report, view, { limit: "10" });
      if (!current()) return;
      if (t.hideEmpty) section.hidden = !doc.rows.length;
      rendered(body, doc.rows.length ? table(t, doc.rows, addFilter, `${caption}: ${t.label}`) : empty());
    });
  }

  const ecommerce = $("panel-ecommerce");
  const ecommerceBody = ecommerce.querySelector(".panel-body");
  into(ecommerceBody, async () => {
    await headline;
    if (!current()) return;
    const doc = await get("ecommerce");
    if (!current()) return;
    ecommerceBody.removeAttribute("aria-busy");
    ecommerceBody.classList.remove("stale");
    ecommerce.hidden = !renderEcommerce(ecommerceBody, doc);
  });

  if (realtimeFor !== pid) {
    if (stopRealtime) stopRealtime();
    realtimeFor = pid;
    const body = clear($("panel-realtime").querySelector(".panel-body"));
    stopRealtime = startRealtime(body, () => view.property);
  }
}

$("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const token = $("login-token").value.trim();
  if (!token) return;
  saveToken(token);
  boot();
});
boot();
