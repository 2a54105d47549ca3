/*
 * Lambdalytics tracker, served by the collector as /lt.js: GA4's wire format (gtag's
 * /g/collect, v=2) without Google's script. Hand-written ES2017, no build step, no
 * dependencies. The collector serves it without full-line comments, blank lines and
 * indentation (collector/tracker.py), so no template literals or line continuations here;
 * tests/collector/test_tracker.py holds what it serves under 2 KB gzipped.
 *
 *   <script async src="https://collector.example/lt.js" data-id="G-XXXXXXXXXX"></script>
 *
 * data-id           the property's measurement id (required)
 * data-endpoint     where hits go (default: the origin this script was loaded from)
 * data-gtag         also define gtag('event', name, params), unless the page has a gtag
 * data-respect-dnt  send nothing when the browser sends Do Not Track or Global Privacy Control
 * data-cookieless   store nothing on the device and send no client id: for a property whose
 *                   `cookieless` setting has the collector derive a daily visitor id
 *
 * Calls made before the script has run are queued by this snippet, placed before the tag:
 *
 *   <script>window.lambdalytics = window.lambdalytics || function () {
 *     (lambdalytics.q = lambdalytics.q || []).push(arguments) }</script>
 *
 *   lambdalytics('event', 'signup', {plan: 'pro', seats: 3})  strings → ep.plan, numbers → epn.seats
 *   lambdalytics('pageview')                                  a page view of the current URL
 *   lambdalytics('config', {send_page_view: false})           no automatic page views (load, SPA)
 *
 * Automatic: a page view on load and on each history change to a new URL (the hash aside),
 * outbound link clicks (event `click`), visible time as `_et` (on `user_engagement` when the
 * page is hidden, and on each page view after the first). The client id is in localStorage
 * (`lt_cid`, GA-shaped `<random>.<unix seconds>`), the session beside it (`lt_s`: a new one
 * after 30 minutes idle; engaged after 10 s visible or a second page view).
 *
 * Sending: each event is a POST to /g/collect?v=2&tid=… whose body is its one line
 * (text/plain, keepalive, no credentials). On 429, 503 or a network error it is tried again
 * after a full-jitter exponential backoff (1 s base, 30 s cap, at least Retry-After where the
 * response lets us read it), 6 tries at most; a retried event keeps its _p/_s, from which the
 * collector derives the hit id, so a retry of a hit that did land is dropped downstream. At
 * most 50 events wait; at pagehide whatever waits goes with navigator.sendBeacon. Nothing
 * throws into the page.
 */
(() => {
// f, made never to throw into the page: this whole script, its handlers, its API
const safe = f => (...a) => { try { return f(...a); } catch (e) { } };
safe((w, d, n, L) => {
  const on = (t, e, f, c) => t.addEventListener(e, safe(f), c);
  const stub = w.lambdalytics;
  // loaded twice
  if (stub && stub.lt) return;
  const s = d.currentScript;
  const o = (s && s.dataset) || {};
  let call = () => {};
  const api = (...a) => call(...a);
  api.lt = 1;
  w.lambdalytics = api;
  if (!o.id || ('respectDnt' in o && (n.globalPrivacyControl || n.doNotTrack == '1'))) return;

  const U = (o.endpoint || new URL(s.src).origin).replace(/\/+$/, '') + '/g/collect?v=2&tid=' + o.id;
  const now = Date.now;
  const sec = () => Math.floor(now() / 1e3);
  const rnd = () => Math.random() * 2 ** 31 | 0;
  // where localStorage is unavailable, the ids last this page load
  let S = {};
  const K = 'cookieless' in o;
  try { if (!K) S = localStorage; } catch (e) { }
  const url = () => L.href.split('#')[0];

  // the client (_fv=1 on its first event), the page load (_p), the hit sequence (_s)
  let cid = S.lt_cid;
  let fv = !K && !cid;
  if (fv) S.lt_cid = cid = rnd() + '.' + sec();
  const P = rnd();
  let seq = 0;
  // automatic page views (config send_page_view), the last page view's URL, the referrer
  let auto = 1;
  let last;
  let ref = d.referrer;
  let pvs = 0;

  // visible time: acc since it was last sent, tot on this page load
  let vis = d.hidden ? 0 : now();
  let acc = 0;
  let tot = 0;
  const tick = () => { if (vis) { const t = now(); acc += t - vis; tot += t - vis; vis = t; } };
  const takeEt = () => { tick(); const e = acc; acc = 0; return e; };

  // the queue ([body line, tries]), a send waiting on a microtask (M: before a link's
  // navigation starts), the backoff timer (B). One event a request: the collector derives the
  // hit id from _p, _s and the event's line in the body, so a retry must be line 1 again
  let Q = [];
  let M = 0;
  let B = 0;
  // after pagehide (unless into the back-forward cache) a keepalive request the browser gives
  // up on as the page goes is not retried: it most likely landed
  let gone = 0;
  const soon = () => { if (!M && !B) { M = 1; Promise.resolve().then(pump); } };
  const retry = (e, ra) => {
    if (gone || ++e[1] > 5) return;
    Q = [e].concat(Q).slice(-50);
    clearTimeout(B);
    B = setTimeout(pump, Math.max(Math.random() * Math.min(3e4, 500 * 2 ** e[1]), ra * 1e3 || 0));
  };
  const pump = safe(() => {
    M = B = 0;
    for (const e of Q.splice(0)) {
      fetch(U, { method: 'POST', body: e[0], keepalive: true, credentials: 'omit', mode: 'cors' })
        .then(r => {
          const c = r.status;
          if (c == 429 || c == 503) retry(e, r.headers.get('retry-after'));
        }, () => retry(e));
    }
  });

  // one event: the protocol's fields, then its params; the session in lt_s:
  // id.count.last activity (seconds).engaged.page views
  const send = safe((en, p, et) => {
    const t = sec();
    let x = (S.lt_s || '').split('.').map(Number);
    const ss = !(t - x[2] < 1800);
    if (ss) x = [t, (x[1] || 0) + 1, t, 0, 0];
    x[4] += en == 'page_view';
    tick();
    if (x[4] > 1 || tot >= 1e4) x[3] = 1;
    x[2] = t;
    S.lt_s = x.join('.');
    const f = {
      en, _p: P, _s: ++seq, cid, sid: x[0], sct: x[1], seg: x[3], _ss: ss && 1, _fv: fv && 1,
      _et: et, dl: L.href, dr: ref, dt: d.title, ul: n.language.toLowerCase(),
      sr: screen.width + 'x' + screen.height
    };
    fv = false;
    for (const k in p) {
      const v = p[k];
      const y = typeof v;
      if (y == 'number') { if (isFinite(v)) f['epn.' + k] = v; }
      else if (y == 'string' || y == 'boolean') f['ep.' + k] = v + '';
    }
    const e = encodeURIComponent;
    Q = Q.concat([[Object.keys(f).filter(k => f[k] || f[k] === 0).map(k => e(k) + '=' + e(f[k])).join('&'), 0]]).slice(-50);
    soon();
  });

  // a single-page app's previous page is the next one's referrer
  const pageview = p => {
    if (pvs++) ref = last;
    last = url();
    send('page_view', p, pvs > 1 && takeEt());
  };
  const hide = () => {
    tick();
    vis = 0;
    acc && send('user_engagement', 0, takeEt());
  };
  const nav = () => auto && url() != last && pageview();

  const C = {
    event: (name, p) => send(name + '', p),
    pageview,
    config: c => { if (c && 'send_page_view' in c) auto = c.send_page_view; }
  };
  call = safe((c, ...a) => C[c] && C[c](...a));
  if ('gtag' in o && !w.gtag) w.gtag = (c, ...a) => c == 'event' && call(c, ...a);

  // the calls queued before load: configuration, then the page view, then the rest
  const q = (stub && stub.q) || [];
  for (const a of q) if (a[0] == 'config') call(...a);
  if (auto) pageview();
  for (const a of q) if (a[0] != 'config') call(...a);

  // single-page apps: a history change to a new URL is a page view
  const h = w.history;
  for (const m of ['pushState', 'replaceState']) {
    const orig = h[m];
    h[m] = function (...a) {
      try { return orig.apply(this, a); } finally { nav(); }
    };
  }
  on(w, 'popstate', nav);

  // outbound links: sent at once with keepalive (or in the beacon at pagehide)
  on(d, 'click', e => {
    const a = e.target.closest('a[href]');
    if (a && a.host && a.host != L.host) send('click', { link_url: a.href, link_domain: a.hostname, outbound: 'true' });
  }, true);

  // visible time; what still waits goes in a beacon when the page goes away
  on(d, 'visibilitychange', () => { if (d.hidden) hide(); else if (!vis) vis = now(); });
  on(w, 'pagehide', e => {
    gone = !e.persisted;
    hide();
    Q = Q.filter(e => !n.sendBeacon(U, e[0]));
  });
})(window, document, navigator, location);
})();
