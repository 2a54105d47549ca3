// The API client: the bearer credential from sessionStorage (never a cookie), problem
// documents (RFC 9457) turned into errors a panel can show, and a 401 turned into the login
// form. Credentials arrive in the URL fragment (#token= / #share=), are moved into
// sessionStorage and the fragment is removed, so they are not left in the history or the
// address bar.

const KEY = "lambdalytics.credential";

export class ApiError extends Error {
  constructor(status, title, detail) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail || "";
  }
}

/** Moves #token= / #share= into sessionStorage; returns the stored credential or null. */
export function takeCredential() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  for (const kind of ["token", "share"]) {
    const value = fragment.get(kind);
    if (value) {
      sessionStorage.setItem(KEY, JSON.stringify({ kind, value }));
      history.replaceState(history.state, "", location.pathname + location.search);
      break;
    }
  }
  return credential();
}

export function credential() {
  try {
    const c = JSON.parse(sessionStorage.getItem(KEY) || "null");
    return c && typeof c.value === "string" ? c : null;
  } catch {
    return null;
  }
}

export function saveToken(value) {
  sessionStorage.setItem(KEY, JSON.stringify({ kind: "token", value }));
}

export function forget() {
  sessionStorage.removeItem(KEY);
}

let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

async function problemOf(resp) {
  let title = resp.statusText || `HTTP ${resp.status}`;
  let detail = "";
  try {
    const body = await resp.json();
    if (body && typeof body.title === "string") title = body.title;
    if (body && typeof body.detail === "string") detail = body.detail;
  } catch {
    // not a problem document: the status line is all there is
  }
  return new ApiError(resp.status, title, detail);
}

export async function request(path, { method = "GET", body, signal, raw = false } = {}) {
  const c = credential();
  const headers = { Accept: raw ? "text/csv" : "application/json" };
  if (c) headers.Authorization = `Bearer ${c.value}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let resp;
  try {
    resp = await fetch(path, { method, headers, signal, credentials: "omit", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, "The dashboard cannot be reached", String(err.message || err));
  }
  if (!resp.ok) {
    const err = await problemOf(resp);
    if (resp.status === 401) onUnauthorized(err);
    throw err;
  }
  return raw ? resp : resp.json();
}

/** A report's query string, from the view state. */
export function reportQuery(view, extra = {}) {
  const q = new URLSearchParams();
  if (view.range === "custom") {
    q.set("from", view.from);
    q.set("to", view.to);
  } else {
    q.set("range", view.range);
  }
  q.set("compare", view.compare);
  for (const f of view.filters) q.append("filter", f);
  for (const [k, v] of Object.entries(extra)) {
    if (v === null) q.delete(k);
    else q.set(k, v);
  }
  return q;
}

export function reportPath(pid, name, query) {
  return `/v1/properties/${encodeURIComponent(pid)}/reports/${encodeURIComponent(name)}?${query}`;
}

/** Fetches the report as CSV with the bearer header and hands it to the browser as a file. */
export async function downloadCsv(pid, name, view) {
  const filters = name === "excluded" || name === "bot_agents" ? [] : view.filters;
  const query = reportQuery({ ...view, filters }, { format: "csv", limit: "1000" });
  const resp = await request(reportPath(pid, name, query), { raw: true });
  const blob = await resp.blob();
  const disposition = resp.headers.get("content-disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = match ? match[1] : `${pid}-${name}.csv`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}
