// DOM and formatting helpers. Every string from the API (titles, paths, referrers, event and
// agent names, property names) reaches the page through textContent / createTextNode here:
// nothing in this page ever assigns HTML.

/** An element: h("td", {class: "num", "aria-label": "x"}, child, "text", ...). Strings become
 *  text nodes; attributes are set with setAttribute (never "style": the CSP forbids it). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

const SVG = "http://www.w3.org/2000/svg";
export function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) el.setAttribute(name, String(value));
  return el;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

const locale = undefined; // the browser's
const integer = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
const decimal = new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
const percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 1 });
const change = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 });

export const fmt = {
  int: (v) => (v === null || v === undefined ? "—" : integer.format(v)),
  dec: (v) => (v === null || v === undefined ? "—" : decimal.format(v)),
  pct: (v) => (v === null || v === undefined ? "—" : percent.format(v)),
  change: (v) => change.format(Math.abs(v)),
  money(v, currency) {
    if (v === null || v === undefined) return "—";
    try {
      return new Intl.NumberFormat(locale, { style: "currency", currency }).format(v);
    } catch {
      return `${decimal.format(v)} ${currency}`;
    }
  },
  /** Seconds as m:ss (h:mm:ss from an hour). */
  duration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    const total = Math.round(seconds);
    const s = total % 60;
    const m = Math.floor(total / 60) % 60;
    const hours = Math.floor(total / 3600);
    const ss = String(s).padStart(2, "0");
    return hours ? `${hours}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
  },
};

let regionNames = null;
/** The country's name in the browser's language, or the code itself. */
export function countryName(code) {
  if (!/^[A-Z]{2}$/.test(code || "")) return code || "(not set)";
  try {
    regionNames = regionNames || new Intl.DisplayNames(locale, { type: "region" });
    return regionNames.of(code) || code;
  } catch {
    return code;
  }
}

/** The flag emoji of an ISO 3166 alpha-2 code: two regional indicator symbols. */
export function flag(code) {
  if (!/^[A-Z]{2}$/.test(code || "")) return "🌐";
  return String.fromCodePoint(...[...code].map((c) => 0x1f1e6 + c.charCodeAt(0) - 65));
}

/** Tabs (role=tab buttons in a role=tablist) that move with the arrow keys, Home and End. */
export function tablist(list, selected, onSelect) {
  const tabs = [...list.querySelectorAll("[role=tab]")];
  for (const tab of tabs) {
    const on = tab.dataset.value === selected;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  if (list.dataset.wired) return;
  list.dataset.wired = "1";
  list.addEventListener("click", (e) => {
    const tab = e.target.closest("[role=tab]");
    if (tab) onSelect(tab.dataset.value);
  });
  list.addEventListener("keydown", (e) => {
    const all = [...list.querySelectorAll("[role=tab]")];
    const at = all.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1,
      Home: 0, End: all.length - 1 }[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const next = all[(to + all.length) % all.length];
    next.focus();
    onSelect(next.dataset.value);
  });
}
