// Straight to MLflow from real workerd with the default destination (MLFLOW_TRACKING_URI, no
// TRACE_BUFFER), through a proxy that delays or fails MLflow's answers, as a reviewer did with
// `wrangler dev`. One isolate serves many invocations, and a send cut off with its invocation
// never settles: before, the exporter's 4 send slots, shared by the isolate, were kept by such
// sends for timeoutMs + retry budget (90 s), and every later trace waited for them until its own
// invocation ended, silently; and a 503 outage or an unreachable host outlasted the invocation's
// export deadline, so the lost traces were never reported. Fixture: workerd-instrument/direct.ts.
import http from "node:http";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { startFixtureWorker, type FixtureWorker } from "../e2e/fixture-worker.js";
import { mlflowUri, newExperiment, searchViaRest } from "./readback.js";

const PROXY_PORT = 8861;
const UNREACHABLE = "http://127.0.0.1:8869"; // nothing listens there
const TOKEN = "sekrit-token-8861";

/** How the proxy answers calls whose path matches `match`: after `delayMs`, with `status` (else MLflow's answer). */
let mode: { match: RegExp; delayMs: number; status?: number } = { match: /$^/, delayMs: 0 };
const held = new Set<http.ServerResponse>();
/** Each call the proxy got (method and path), for a failure's message. */
const calls: string[] = [];
let proxy: http.Server;

beforeAll(async () => {
  const target = new URL(mlflowUri());
  proxy = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    calls.push(`${req.method} ${(req.url ?? "").split("?")[0]}`);
    req.on("end", async () => {
      const { match, delayMs, status } = mode;
      const hit = match.test(req.url ?? "");
      if (hit && delayMs > 0) {
        held.add(res);
        await new Promise((r) => setTimeout(r, delayMs));
        held.delete(res);
        if (res.destroyed) return;
      }
      if (hit && status) {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error_code: "TEMPORARILY_UNAVAILABLE", message: `injected ${status}` }));
        return;
      }
      const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      up.on("error", (e) => {
        res.writeHead(502);
        res.end(String(e));
      });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(PROXY_PORT, "127.0.0.1", resolve));
});

afterAll(async () => {
  for (const res of held) res.destroy();
  proxy.closeAllConnections();
  await new Promise((r) => proxy.close(r));
});

let worker: FixtureWorker | undefined;
afterEach(async () => {
  await worker?.dispose();
  worker = undefined;
  mode = { match: /$^/, delayMs: 0 };
  for (const res of held) res.destroy();
});

async function start(trackingUri: string, experimentId: string, exportDeadlineMs: number, port: number) {
  const bindings = { MLFLOW_TRACKING_URI: trackingUri, MLFLOW_EXPERIMENT_ID: experimentId, MLFLOW_TRACKING_TOKEN: TOKEN, EXPORT_DEADLINE_MS: String(exportDeadlineMs) };
  worker = await startFixtureWorker({ name: "worker-direct", entrypoint: "direct.ts", bindings, port });
}

const get = async (path: string) => expect(await (await worker!.fetch(`http://worker${path}`)).text()).toBe("ok");
const logs = async () => (await (await worker!.fetch("http://worker/logs")).json()) as string[];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Polls until `read` is at least `want` (or the time is up), then gives what it read last. */
async function reach(read: () => Promise<number>, want: number, ms: number): Promise<number> {
  const end = Date.now() + ms;
  let n = await read();
  while (n < want && Date.now() < end) {
    await sleep(250);
    n = await read();
  }
  return n;
}

it("two bursts of concurrent requests while MLflow answers slowly: every trace of both is delivered", async () => {
  const experiment = await newExperiment("worker-direct-burst");
  // A send's deadline 13 s: 40 traces at 2 s on 16 slots take 6 s (4 slots, as before: 20 s).
  await start(`http://127.0.0.1:${PROXY_PORT}`, experiment, 18_000, 8862);
  mode = { match: /^\/(v1|api)\//, delayMs: 1_000 }; // each call to MLflow answers after 1 s: a trace takes 2 s
  const delivered = () => searchViaRest(experiment, "").then((ids) => ids.length);
  const N = 40;
  await Promise.all(Array.from({ length: N }, (_, i) => get(`/w/first-${i}`)));
  const first = await reach(delivered, N, 30_000);
  await sleep(1_000);
  const callsBefore = calls.length;
  await Promise.all(Array.from({ length: N }, (_, i) => get(`/w/second-${i}`)));
  const second = (await reach(delivered, first + N, 30_000)) - first;
  const secondCalls: Record<string, number> = {};
  for (const call of calls.slice(callsBefore)) secondCalls[call] = (secondCalls[call] ?? 0) + 1;
  // Before: the first burst delivered 28 (4 slots, 2 s a trace, a 15 s deadline) and the sends cut off with
  // their invocations kept every slot for 90 s: the second burst delivered none, and nothing was said.
  // What the Worker said is part of the comparison, so a shortfall shows whether traces were reported lost or were late.
  const said = (await logs()).filter((l) => l.includes("[mlflow-edge]"));
  expect({ first, second, said }, `calls to MLflow from the second burst on: ${JSON.stringify(secondCalls)}`).toEqual({ first: N, second: N, said: [] });
}, 90_000);

it("after MLflow stalled the sends of a few requests past their deadline, the next requests are delivered at once, and the stalled ones are reported", async () => {
  const experiment = await newExperiment("worker-direct-stall");
  await start(`http://127.0.0.1:${PROXY_PORT}`, experiment, 4_000, 8863);
  mode = { match: /^\/v1\/traces/, delayMs: 60_000 }; // MLflow stalls
  await Promise.all([1, 2, 3, 4].map((i) => get(`/w/stalled-${i}`)));
  await sleep(5_000); // past those invocations' export deadline
  mode = { match: /$^/, delayMs: 0 }; // MLflow answers again
  for (let i = 1; i <= 3; i++) {
    await get(`/w/later-${i}`);
    await sleep(500);
  }
  // Before: none of them for 90 s (the stalled sends kept all 4 slots).
  expect(await reach(() => searchViaRest(experiment, "").then((ids) => ids.length), 3, 10_000)).toBe(3);
  const said = (await logs()).filter((l) => l.includes("[mlflow-edge]"));
  expect(said).toEqual([expect.stringMatching(/^\[mlflow-edge\] a trace could not be exported .*POST http:\/\/127\.0\.0\.1:8861\/v1\/traces.*no answer in the \d+ ms left before the send's deadline/)]);
}, 60_000);

it.each([
  ["MLflow answers 503 to everything", () => `http://127.0.0.1:${PROXY_PORT}`, /POST http:\/\/127\.0\.0\.1:8861\/v1\/traces answered 503 .*injected 503/],
  ["the tracking URI names a host where nothing listens", () => UNREACHABLE, /POST http:\/\/127\.0\.0\.1:8869\/v1\/traces/],
])("a trace lost because %s is reported within the invocation, with the error and no secret", async (_, uri, error) => {
  mode = { match: /^\/(v1|api)\//, delayMs: 0, status: 503 };
  await start(uri(), "0", 4_000, 8864);
  await get("/w/lost");
  // Before: retried for the 60 s budget, cut off with the invocation after 4 s, and never said.
  const said = await (async () => {
    for (let i = 0; i < 40; i++) {
      const lines = (await logs()).filter((l) => l.includes("[mlflow-edge]"));
      if (lines.length) return lines;
      await sleep(250);
    }
    return [];
  })();
  expect(said).toEqual([expect.stringMatching(/^\[mlflow-edge\] a trace could not be exported/)]);
  expect(said[0]).toMatch(error);
  expect(said.join("\n")).not.toContain(TOKEN);
}, 60_000);
