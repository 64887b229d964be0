// The operator page: overview, churn and lag plots, services table, service page, subscribers.
// Data: the JSON API under /api/ui/v1/ (docs/ui.md), kept live by its Server-Sent Events stream.
// Bounded memory: at most 900 samples (15 minutes), 200 events per service page; rows are one per
// service.

interface Counts { total: number; ready: number; serving: number; terminating: number; }
interface Row {
  namespace: string; name: string; endpoints: Counts; slices: number; zones: number;
  fill: number; mod_revision: number; last_change: number | null;
}
interface Sample {
  t: number; writes: number; added: number; removed: number; flips: number;
  lag_p50_ms: number | null; lag_p99_ms: number | null;
}
interface Overview {
  revision: number; services: number; slices: number; endpoints: Counts;
  // Null for a reader limited to some namespaces (`namespaces`): cluster-wide figures.
  writes_per_second: number | null;
  changes_per_second: { added: number; removed: number; flips: number } | null;
  subscribers: { watch: number; xds: number; pages: number } | null;
  history: { commits: number; bytes: number; floor_revision: number } | null;
  storage: { backend: string; healthy: boolean; message: string } | null;
  namespaces: string[] | null;
}
interface SvcEvent {
  time: number | null; revision: number; namespace: string; name: string; deleted: boolean;
  added: number; removed: number; flips: number; ready: number; total: number;
}

const MAX_SAMPLES = 900;
const MAX_EVENTS = 200;
const $ = (id: string) => document.getElementById(id) as HTMLElement;

const rows = new Map<string, Row>();
let samples: Sample[] = [];
let route: string[] = [];
let sortKey = "namespace";
let sortAsc = true;
let serviceEvents: SvcEvent[] = [];

// The bearer token of a server with --token_file, kept for this tab only. Sent on every API
// call; the live stream is read with fetch for that reason (EventSource cannot send headers).
const TOKEN_KEY = "slicekeeper-token";
function authHeaders(): Record<string, string> {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? { Authorization: `Bearer ${t}` } : {};
}

// Shows the token form (the API answered 401).
function askToken(message: string): void {
  $("login").hidden = false;
  $("login-error").textContent = message;
}

class HttpError extends Error {
  constructor(message: string, readonly status: number) { super(message); }
}

async function api<T>(path: string): Promise<T> {
  const r = await fetch(`/api/ui/v1/${path}`, { cache: "no-store", headers: authHeaders() });
  const body = await r.json();
  if (r.status === 401) askToken(body.error ?? "unauthorized");
  if (!r.ok) throw new HttpError(body.error ?? r.statusText, r.status);
  return body as T;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);
}

function pct(n: number, d: number): string {
  return d === 0 ? "–" : `${Math.round((100 * n) / d)}`;
}

function ago(t: number | null): string {
  if (t === null) return "before start";
  const s = Math.max(0, Date.now() / 1000 - t);
  return s < 60 ? `${Math.round(s)}s ago` : s < 3600 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

// Coalesces repaints into one per animation frame.
function throttled(fn: () => void): () => void {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; fn(); });
  };
}

// --- overview and plots ---

function renderOverview(o: Overview): void {
  $("ov-services").textContent = `${o.services}`;
  $("ov-slices").textContent = `${o.slices}`;
  $("ov-endpoints").textContent = `${o.endpoints.total}`;
  $("ov-ready").textContent = `${o.endpoints.ready}`;
  $("ov-serving").textContent = `${o.endpoints.serving}`;
  $("ov-terminating").textContent = `${o.endpoints.terminating}`;
  $("ov-revision").textContent = `${o.revision}`;
  const c = o.changes_per_second;
  $("ov-writes").textContent = o.writes_per_second === null ? "–" : `${o.writes_per_second}`;
  $("ov-changes").textContent = c === null ? "–" : `${c.added + c.removed + c.flips}`;
  $("ov-subs").textContent = o.subscribers === null ? "–" : `${o.subscribers.watch} · ${o.subscribers.xds}`;
  $("ov-history").textContent = o.history === null ? "–" : `${o.history.commits} (${Math.round(o.history.bytes / 1024)} KiB)`;
  const st = $("ov-storage");
  st.textContent = o.storage === null ? "–" : `${o.storage.backend} ${o.storage.healthy ? "ok" : "UNHEALTHY"}`;
  st.title = o.storage?.message ?? "";
  $("conn").title = o.namespaces === null ? "" : `namespaces: ${o.namespaces.join(", ")}`;
}

function plot(svg: Element, series: { cls: string; color: string; values: (number | null)[] }[]): void {
  const W = 600, H = 160, pad = 14;
  let max = 1;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  // The x axis spans the samples there are (at least a minute), up to 15 minutes.
  const n = Math.max(...series.map((s) => s.values.length), 1);
  const span = Math.max(n, 60);
  const x = (i: number) => ((i + span - n) * W) / (span - 1);
  const y = (v: number) => H - pad - ((H - 2 * pad) * v) / max;
  let points = 0;
  let out = `<text x="2" y="10">${Math.round(max)}</text><text x="2" y="${H - 2}">0 · last ${span >= 120 ? `${Math.round(span / 60)} min` : `${span} s`}</text>`;
  for (const s of series) {
    const pts: string[] = [];
    s.values.forEach((v, i) => {
      if (v === null) return;
      pts.push(`${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    });
    points += pts.length;
    out += `<polyline class="${s.cls}" stroke="${s.color}" points="${pts.join(" ")}"/>`;
  }
  svg.innerHTML = out;
  svg.setAttribute("data-points", `${points}`);
}

const renderPlots = throttled(() => {
  plot($("churn-plot"), [
    { cls: "added", color: "#2563eb", values: samples.map((s) => s.added) },
    { cls: "removed", color: "#dc2626", values: samples.map((s) => s.removed) },
    { cls: "flips", color: "#f59e0b", values: samples.map((s) => s.flips) },
  ]);
  plot($("lag-plot"), [
    { cls: "p50", color: "#2563eb", values: samples.map((s) => s.lag_p50_ms) },
    { cls: "p99", color: "#dc2626", values: samples.map((s) => s.lag_p99_ms) },
  ]);
});

// --- services table ---

function sortValue(r: Row): string | number {
  switch (sortKey) {
    case "name": return r.name;
    case "endpoints": return r.endpoints.total;
    case "ready": return r.endpoints.total === 0 ? -1 : r.endpoints.ready / r.endpoints.total;
    case "zones": return r.zones;
    case "slices": return r.slices;
    case "fill": return r.fill;
    case "last": return r.last_change ?? 0;
    default: return `${r.namespace}/${r.name}`;
  }
}

const renderTable = throttled(() => {
  const list = [...rows.values()].sort((a, b) => {
    const va = sortValue(a), vb = sortValue(b);
    const c = va < vb ? -1 : va > vb ? 1 : 0;
    return sortAsc ? c : -c;
  });
  const html = list.map((r) => {
    const key = `${r.namespace}/${r.name}`;
    const low = r.endpoints.total > 0 && r.endpoints.ready < r.endpoints.total / 2;
    return `<tr data-key="${esc(key)}"${low ? ' class="low"' : ""}><td>${esc(r.namespace)}</td>` +
      `<td><a href="#/service/${encodeURIComponent(r.namespace)}/${encodeURIComponent(r.name)}">${esc(r.name)}</a></td>` +
      `<td>${r.endpoints.total}</td><td>${pct(r.endpoints.ready, r.endpoints.total)}</td>` +
      `<td>${r.zones}</td><td>${r.slices}</td><td>${Math.round(100 * r.fill)}</td><td>${ago(r.last_change)}</td></tr>`;
  });
  document.querySelector("#services-table tbody")!.innerHTML = html.join("");
  document.querySelectorAll("#services-table th").forEach((th) => {
    th.classList.toggle("asc", th.getAttribute("data-sort") === sortKey && sortAsc);
    th.classList.toggle("desc", th.getAttribute("data-sort") === sortKey && !sortAsc);
  });
});

function filterQuery(): string {
  const ns = ($("f-namespace") as HTMLInputElement).value.trim();
  const sel = ($("f-selector") as HTMLInputElement).value.trim();
  return `namespace=${encodeURIComponent(ns)}&selector=${encodeURIComponent(sel)}`;
}

let fetchingTable = false;
let tableStale = false;
async function loadTable(): Promise<void> {
  if (fetchingTable) { tableStale = true; return; }
  fetchingTable = true;
  try {
    const r = await api<{ services: Row[] }>(`services?${filterQuery()}`);
    rows.clear();
    for (const row of r.services) rows.set(`${row.namespace}/${row.name}`, row);
    $("f-error").textContent = "";
    renderTable();
  } catch (e) {
    $("f-error").textContent = (e as Error).message;
  } finally {
    fetchingTable = false;
    if (tableStale) { tableStale = false; void loadTable(); }
  }
}

function applyRows(changed: Row[], deleted: string[]): void {
  const ns = ($("f-namespace") as HTMLInputElement).value.trim();
  const sel = ($("f-selector") as HTMLInputElement).value.trim();
  if (sel !== "") {
    // The selector is on service labels, which rows do not carry: let the server filter.
    void loadTable();
    return;
  }
  for (const key of deleted) rows.delete(key);
  for (const r of changed) {
    if (ns === "" || r.namespace === ns) rows.set(`${r.namespace}/${r.name}`, r);
  }
  renderTable();
}

// --- service page ---

interface Detail {
  service: Row; labels: Record<string, string>;
  zones: { zone: string; endpoints: Counts }[];
  slices: { name: string; address_type: string; managed: boolean; endpoints: number; ready: number; fill: number; resource_version: number }[];
  events: SvcEvent[];
}

function eventLine(e: SvcEvent): string {
  const t = e.time === null ? "" : new Date(e.time * 1000).toISOString().slice(11, 23);
  const what = e.deleted ? "deleted" : `+${e.added} −${e.removed} ~${e.flips} → ${e.ready}/${e.total} ready`;
  return `<li>${t} rev ${e.revision} ${what}</li>`;
}

function renderEvents(): void {
  $("svc-events").innerHTML = serviceEvents.slice().reverse().map(eventLine).join("");
}

let detailBusy = false;
async function loadService(ns: string, name: string): Promise<void> {
  if (detailBusy) return;
  detailBusy = true;
  try {
    const d = await api<Detail>(`services/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
    $("svc-title").textContent = `${ns}/${name}`;
    $("svc-labels").innerHTML = Object.entries(d.labels).map(([k, v]) => `<code>${esc(k)}=${esc(v)}</code>`).join("");
    $("svc-zones").innerHTML = d.zones.map((z) => {
      const c = z.endpoints, t = Math.max(c.total, 1);
      const servingOnly = Math.max(0, c.serving - c.ready);
      return `<div class="zone" data-zone="${esc(z.zone)}" data-ready="${c.ready}" data-total="${c.total}">` +
        `<span>${esc(z.zone || "(no zone)")}</span><div class="bar">` +
        `<i class="r" style="width:${(100 * c.ready) / t}%"></i><i class="s" style="width:${(100 * servingOnly) / t}%"></i>` +
        `<i class="t" style="width:${(100 * c.terminating) / t}%"></i></div>` +
        `<span>${c.ready}/${c.total} ready, ${c.terminating} term.</span></div>`;
    }).join("");
    document.querySelector("#svc-slices tbody")!.innerHTML = d.slices.map((s) =>
      `<tr><td>${esc(s.name)}${s.managed ? "" : " (foreign)"}</td><td>${esc(s.address_type)}</td><td>${s.endpoints}</td>` +
      `<td>${s.ready}</td><td><span class="fill"><i style="width:${Math.min(100, 100 * s.fill)}%"></i></span>${Math.round(100 * s.fill)}%</td>` +
      `<td>${s.resource_version}</td></tr>`).join("");
    if (serviceEvents.length === 0) serviceEvents = d.events.slice(-MAX_EVENTS);
    renderEvents();
  } catch (e) {
    $("svc-title").textContent = `${ns}/${name}: ${(e as Error).message}`;
    $("svc-zones").innerHTML = "";
  } finally {
    detailBusy = false;
  }
}

// --- subscribers ---

let subsAt = 0;
async function loadSubscribers(): Promise<void> {
  subsAt = Date.now();
  const r = await api<{ total: number; subscribers: { peer: string; view: string; namespace: string; services: number; lag_seconds: number; events_sent: number; coalesced: number; resets: number }[] }>("subscribers");
  $("subs-total").textContent = `${r.total} subscribers (most lagging first)`;
  document.querySelector("#subs-table tbody")!.innerHTML = r.subscribers.map((s) =>
    `<tr${s.lag_seconds > 1 ? ' class="slow"' : ""}><td>${esc(s.peer || "–")}</td><td>${esc(s.view)}</td>` +
    `<td>${esc(s.namespace || "*")}</td><td>${s.services || "all"}</td><td>${s.lag_seconds.toFixed(3)}s</td>` +
    `<td>${s.events_sent}</td><td>${s.coalesced}</td><td>${s.resets}</td></tr>`).join("");
}

// --- routing and the live stream ---

function show(): void {
  route = location.hash.replace(/^#\/?/, "").split("/").filter((p) => p !== "").map(decodeURIComponent);
  const page = route[0] ?? "";
  $("overview").hidden = page !== "";
  $("services").hidden = page !== "services" && page !== "";
  $("service").hidden = page !== "service";
  $("subscribers").hidden = page !== "subscribers";
  serviceEvents = [];
  if (page === "service" && route.length === 3) void loadService(route[1], route[2]);
  if (page === "subscribers") void loadSubscribers().catch(() => undefined);
}

// One Server-Sent Events message: its event name and data.
type SseHandler = (event: string, data: string) => void;

// Reads the live stream with fetch (so that the token goes in a header), parsing its events;
// reconnects 2 s after it ends. Holds one partial message at most.
async function stream(onOpen: () => void, onEvent: SseHandler): Promise<void> {
  const conn = $("conn");
  for (;;) {
    try {
      const r = await fetch("/api/ui/v1/events", { cache: "no-store", headers: authHeaders() });
      if (r.status === 401) { askToken("unauthorized"); return; }
      if (!r.ok || r.body === null) throw new Error(r.statusText);
      conn.textContent = "live"; conn.classList.add("live");
      onOpen();
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        let end: number;
        while ((end = buf.indexOf("\n\n")) >= 0) {
          let event = "message", data = "";
          for (const line of buf.slice(0, end).split("\n")) {
            if (line.startsWith("event: ")) event = line.slice(7);
            else if (line.startsWith("data: ")) data += line.slice(6);
          }
          buf = buf.slice(end + 2);
          if (data !== "") onEvent(event, data);
        }
      }
    } catch { /* reconnect below */ }
    conn.textContent = "reconnecting…"; conn.classList.remove("live");
    await new Promise((done) => setTimeout(done, 2000));
  }
}

function onEvent(event: string, data: string): void {
  const d = JSON.parse(data);
  switch (event) {
    case "overview": renderOverview(d as Overview); break;
    case "resync": void loadTable(); break;
    case "services": {
      const s = d as { rows: Row[]; deleted: string[] };
      applyRows(s.rows, s.deleted);
      if (route[0] === "service" && route.length === 3) {
        const key = `${route[1]}/${route[2]}`;
        if (s.deleted.includes(key) || s.rows.some((r) => `${r.namespace}/${r.name}` === key)) {
          void loadService(route[1], route[2]);
        }
      }
      break;
    }
    case "events": {
      if (route[0] !== "service" || route.length !== 3) return;
      for (const e of (d as { events: SvcEvent[] }).events) {
        if (e.namespace === route[1] && e.name === route[2]) serviceEvents.push(e);
      }
      if (serviceEvents.length > MAX_EVENTS) serviceEvents = serviceEvents.slice(-MAX_EVENTS);
      renderEvents();
      break;
    }
    case "sample": {
      const m = d as { sample: Sample | null; overview: Overview };
      if (m.sample !== null) {
        samples.push(m.sample);
        if (samples.length > MAX_SAMPLES) samples = samples.slice(-MAX_SAMPLES);
        renderPlots();
      }
      renderOverview(m.overview);
      if (route[0] === "subscribers" && Date.now() - subsAt > 2000) void loadSubscribers().catch(() => undefined);
      break;
    }
  }
}

async function main(): Promise<void> {
  document.querySelectorAll("#services-table th[data-sort]").forEach((th) => {
    th.addEventListener("click", () => {
      const k = th.getAttribute("data-sort")!;
      sortAsc = k === sortKey ? !sortAsc : true;
      sortKey = k;
      renderTable();
    });
  });
  let debounce = 0;
  for (const id of ["f-namespace", "f-selector"]) {
    $(id).addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = window.setTimeout(() => void loadTable(), 250);
    });
  }
  $("login").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, ($("login-token") as HTMLInputElement).value.trim());
    location.reload();
  });
  window.addEventListener("hashchange", show);
  show();
  try {
    renderOverview(await api<Overview>("overview"));
  } catch {
    return;  // 401: the token form is shown
  }
  // Cluster-wide figures: a reader limited to some namespaces gets 403 and no plots.
  try {
    samples = (await api<{ samples: Sample[] }>("series")).samples.slice(-MAX_SAMPLES);
    renderPlots();
  } catch (e) {
    if (e instanceof HttpError && e.status === 403) $("overview").classList.add("scoped");
  }
  void stream(() => void loadTable(), onEvent);
}

void main();
