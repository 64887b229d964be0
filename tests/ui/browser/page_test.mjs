// The operator page in a real browser: Debian's /usr/bin/chromium, headless, driven by
// playwright-core (never a downloaded browser), against the real slicekeeper binary on run-time
// loopback ports. Under a churn (skctl churn) with a watcher connected, it asserts that
//   - the overview's totals equal the gRPC API's (skctl get services -A -o json: ListServices);
//   - `skctl top --once` shows the JSON API's figures;
//   - a service the test deletes leaves the table within 2 s;
//   - a zone the test drains shows zero ready in its bar on the service page;
//   - both plots have data points, and the page logs no console error;
// and saves a screenshot of the page under churn (ARTIFACT_DIR/operator-page.png). Then it
// restarts the server on the same data with bearer tokens and a policy, and asserts, in the same
// browser, that the page asks for a token (the API answers 401), and that a reader of "default"
// only sees default's services on the page (not team-b's), as `skctl top --once --token` does.
//
// usage: node page_test.mjs SLICEKEEPER SKCTL ARTIFACT_DIR
import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [serverBin, skctlBin, artifacts] = process.argv.slice(2);
const started = Date.now();
const tmp = mkdtempSync(join(tmpdir(), "sk-ui-"));
const children = [];
let browser;

function fail(message) {
  throw new Error(message);
}
function check(cond, message) {
  if (!cond) fail(message);
}
function log(message) {
  console.log(`[${((Date.now() - started) / 1000).toFixed(2)}s] ${message}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what, fn, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

// Starts slicekeeper on the test's data directory; returns [process, grpcPort, httpPort].
async function startServer(extraArgs) {
  const portFile = join(tmp, "ports");
  rmSync(portFile, { force: true });
  const server = spawn(serverBin, ["--store=rocksdb", `--data_dir=${join(tmp, "data")}`,
    "--listen=127.0.0.1:0", "--http_listen=127.0.0.1:0", `--port_file=${portFile}`,
    "--log_level=warn", ...extraArgs], { stdio: ["ignore", "inherit", "inherit"] });
  children.push(server);
  await waitFor("the port file", () => existsSync(portFile), 15000);
  return [server, ...readFileSync(portFile, "utf8").trim().split(" ").map(Number)];
}

async function stopServer(server) {
  const exited = new Promise((resolve) => server.on("exit", (code, signal) => resolve(code ?? signal)));
  server.kill("SIGTERM");
  const code = await exited;
  check(code === 0, `slicekeeper exited with ${code} on SIGTERM`);
}

async function main() {
  const [server, grpcPort, httpPort] = await startServer([]);
  const grpc = `--server=127.0.0.1:${grpcPort}`;
  const base = `http://127.0.0.1:${httpPort}`;
  const skctl = (...args) => execFileSync(skctlBin, [grpc, ...args], { encoding: "utf8" });
  const api = async (path) => (await fetch(`${base}/api/ui/v1/${path}`)).json();
  log(`server up: grpc ${grpcPort} http ${httpPort}`);

  // A service of our own, 3 endpoints in each of zone-a and zone-b.
  const endpoints = (readyB) => ["a", "b"].flatMap((z, zi) => [1, 2, 3].map((i) => `
  - op: UPSERT
    service: web
    endpoint:
      addresses: ["10.9.${zi}.${i}"]
      conditions: {ready: ${z === "a" || readyB}}
      zone: zone-${z}
    ports: [{name: http, port: 8080}]`)).join("");
  const applyWeb = (readyB) => {
    const file = join(tmp, "web.yaml");
    writeFileSync(file, `apiVersion: slicekeeper.io/v1\nkind: EndpointChanges\nchanges:${endpoints(readyB)}\n`);
    skctl("apply", "-f", file);
  };
  applyWeb(true);
  // A service in another namespace, for the reader of "default" below.
  const other = join(tmp, "other.yaml");
  writeFileSync(other, `apiVersion: slicekeeper.io/v1\nkind: EndpointChanges\nchanges:
  - op: UPSERT
    namespace: team-b
    service: secret
    endpoint: {addresses: ["10.8.0.1"], conditions: {ready: true}, zone: zone-a}
    ports: [{name: http, port: 8080}]\n`);
  skctl("apply", "-f", other);

  // A watcher (its sends feed the propagation-lag plot) and a churn.
  const watcher = spawn(skctlBin, [grpc, "watch", "slices", "-A", "-o", "json"], { stdio: "ignore" });
  children.push(watcher);

  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${base}/`);
  check(new URL(page.url()).pathname === "/ui/", `/ redirected to ${page.url()}`);
  // Generous: chromium's first start on a loaded 2-core machine (no assertion on speed here).
  await page.waitForSelector("#conn.live", { timeout: 20000 });
  log("page live");
  const pointsAtStart = Number(await page.getAttribute("#churn-plot", "data-points"));
  const churn = spawn(skctlBin, [grpc, "churn", "--services=6", "--endpoints=40",
    "--duration=4s", "--rate=2000", "--zones=3"], { stdio: "ignore" });
  children.push(churn);
  const churnDone = new Promise((resolve) => churn.on("exit", resolve));

  // Under churn: the churn plot fills, then the screenshot for the README.
  // Three seconds of churn: three more samples of three series.
  await page.waitForFunction((before) => {
    const svg = document.querySelector("#churn-plot");
    return Number(svg.getAttribute("data-points")) >= before + 9 &&
      Number(document.querySelector("#ov-changes").textContent) > 0;
  }, pointsAtStart, { timeout: 15000 });
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, "operator-page.png"), fullPage: true });
  log("screenshot saved");
  const code = await churnDone;
  check(code === 0, `skctl churn exited ${code}`);

  // Totals against the gRPC API (ListServices), once the page caught up.
  const listed = JSON.parse(skctl("get", "services", "-A", "-o", "json"));
  const items = listed.items ?? listed;
  const want = { services: items.length, total: 0, ready: 0, serving: 0, terminating: 0 };
  for (const s of items) {
    for (const k of ["total", "ready", "serving", "terminating"]) want[k] += Number(s.endpoints?.[k] ?? 0);
  }
  log(`gRPC: ${JSON.stringify(want)}`);
  const shown = () => page.evaluate(() => Object.fromEntries(
    ["services", "endpoints", "ready", "serving", "terminating"].map((k) =>
      [k, Number(document.getElementById(`ov-${k}`).textContent)])));
  await waitFor("the page's totals to equal the gRPC API's", async () => {
    const s = await shown();
    return s.services === want.services && s.endpoints === want.total && s.ready === want.ready &&
      s.serving === want.serving && s.terminating === want.terminating;
  }, 5000).catch(async (e) => fail(`${e.message}: page shows ${JSON.stringify(await shown())}`));
  log("totals equal the gRPC API's");

  // skctl top --once against the JSON API.
  const overview = await api("overview");
  const top = execFileSync(skctlBin, ["top", "--once", `--http=127.0.0.1:${httpPort}`], { encoding: "utf8" });
  const m = top.match(/services (\d+)\s+slices (\d+)\s+endpoints (\d+)\s+ready (\d+)\s+serving (\d+)\s+terminating (\d+)/);
  check(m, `skctl top --once printed no totals line:\n${top}`);
  check(Number(m[1]) === overview.services && Number(m[2]) === overview.slices &&
    Number(m[3]) === overview.endpoints.total && Number(m[4]) === overview.endpoints.ready &&
    Number(m[5]) === overview.endpoints.serving && Number(m[6]) === overview.endpoints.terminating,
    `skctl top --once:\n${top}\ndiffers from the API: ${JSON.stringify(overview)}`);
  const services = (await api("services")).services;
  for (const s of services) {
    check(top.includes(s.name), `skctl top --once does not list ${s.name}:\n${top}`);
  }
  log("skctl top --once matches the API");

  // A removed service leaves the table within 2 s.
  await page.goto(`${base}/ui/#/services`);
  await page.waitForSelector('tr[data-key="default/churn-5"]', { timeout: 5000 });
  const t0 = Date.now();
  skctl("delete", "service", "churn-5", "-n", "default");
  await page.waitForSelector('tr[data-key="default/churn-5"]', { state: "detached", timeout: 2000 });
  log(`deleted service left the table after ${Date.now() - t0} ms`);

  // A drained zone shows zero ready.
  await page.goto(`${base}/ui/#/service/default/web`);
  await page.waitForSelector('[data-zone="zone-b"][data-ready="3"]', { timeout: 5000 });
  applyWeb(false);
  await page.waitForSelector('[data-zone="zone-b"][data-ready="0"]', { timeout: 5000 });
  await page.waitForSelector('[data-zone="zone-a"][data-ready="3"]', { timeout: 1000 });
  log("drained zone shows zero ready");

  // Both plots have points (the lag plot from the watcher's sends).
  await page.goto(`${base}/ui/#/`);
  await page.waitForFunction(() =>
    Number(document.querySelector("#churn-plot").getAttribute("data-points")) > 0 &&
    Number(document.querySelector("#lag-plot").getAttribute("data-points")) > 0, null, { timeout: 5000 });
  log("plots have points");

  // The subscribers page lists the watcher with its peer.
  await page.goto(`${base}/ui/#/subscribers`);
  await page.waitForFunction(() => [...document.querySelectorAll("#subs-table tbody tr")]
    .some((tr) => tr.children[1].textContent === "slices" && tr.children[0].textContent.includes("127.0.0.1")),
    null, { timeout: 5000 });
  log("subscribers page lists the watcher");

  check(errors.length === 0, `console errors: ${errors.join("\n")}`);
  log("no console errors");

  // The server stops cleanly (under ASan: no error or leak report, which would change the code).
  await page.close();
  watcher.kill("SIGTERM");
  await stopServer(server);
  log("server stopped cleanly");

  // The same data behind tokens and a policy: alice reads "default" only.
  writeFileSync(join(tmp, "tokens.csv"), "tok-alice,alice\n");
  writeFileSync(join(tmp, "policy.yaml"),
    'rules:\n  - role: reader\n    identities: ["alice"]\n    namespaces: ["default"]\n');
  const [secured, , securedHttp] = await startServer([`--token_file=${join(tmp, "tokens.csv")}`,
    `--authz_policy_file=${join(tmp, "policy.yaml")}`]);
  const sbase = `http://127.0.0.1:${securedHttp}`;
  const page2 = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Script errors only: chromium logs the 401 this page is meant to get as a console error.
  page2.on("pageerror", (e) => errors.push(String(e)));
  await page2.goto(`${sbase}/ui/#/services`);
  await page2.waitForSelector("#login:not([hidden])", { timeout: 5000 });
  log("secured: the page asks for a token");
  await page2.fill("#login-token", "tok-alice");
  await page2.click('#login button[type="submit"]');
  await page2.waitForSelector("#conn.live", { timeout: 10000 });
  await page2.waitForSelector('tr[data-key="default/web"]', { timeout: 5000 });
  const keys = await page2.$$eval("#services-table tbody tr", (trs) => trs.map((tr) => tr.dataset.key));
  check(!keys.some((k) => k.startsWith("team-b/")), `alice sees team-b: ${keys}`);
  const want2 = (await (await fetch(`${sbase}/api/ui/v1/services`,
    { headers: { Authorization: "Bearer tok-alice" } })).json()).services.length;
  check(keys.length === want2 && want2 === items.length - 2,
    `alice's table has ${keys.length} rows, her API ${want2}, default had ${items.length - 2}`);
  await page2.goto(`${sbase}/ui/#/`);
  await page2.waitForFunction((n) => Number(document.getElementById("ov-services").textContent) === n,
    want2, { timeout: 5000 });
  const top2 = execFileSync(skctlBin, ["top", "--once", `--http=127.0.0.1:${securedHttp}`,
    "--token=tok-alice"], { encoding: "utf8" });
  check(top2.includes(`services ${want2} `) && !top2.includes("secret"),
    `skctl top --once as alice:\n${top2}`);
  log(`secured: alice sees ${want2} services of default, not team-b's`);
  check(errors.length === 0, `console errors: ${errors.join("\n")}`);
  await browser.close();
  browser = undefined;
  await stopServer(secured);
  log("PASS");
}

let status = 0;
try {
  await main();
} catch (e) {
  console.error(`FAIL: ${e.stack ?? e}`);
  status = 1;
} finally {
  if (browser) await browser.close().catch(() => undefined);
  for (const c of children.reverse()) if (c.exitCode === null) c.kill("SIGTERM");
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(status);
