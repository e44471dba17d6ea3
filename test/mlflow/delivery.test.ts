// Delivery semantics against the real server: idempotence, outages (through a fault-injecting
// proxy on 127.0.0.1), retry timing, permanent errors, timeouts, headers, experiments by name and
// the init({ trackingUri }) / MLFLOW_* environment path.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import type { Trace } from "../../core/index.js";
import { FaultProxy } from "./fault-proxy.js";
import { getJson, mlflowUri, newExperiment, normalizeLocal, postJson, readViaRest, searchViaRest } from "./readback.js";

/** A finished 3-span trace made with mlflow-edge (kept in memory, not sent). */
async function makeTrace(tag: string): Promise<Trace> {
  const memory = new mlflow.InMemoryExporter();
  mlflow.init({ exporter: memory, silent: true });
  const tool = mlflow.trace(function lookup(q: string) { return `${q}!`; }, { spanType: mlflow.SpanType.TOOL });
  await mlflow.trace(async function agent(question: string) {
    mlflow.updateCurrentTrace({ tags: { case: tag } });
    return [tool(question), tool(question.toUpperCase())];
  }, { spanType: mlflow.SpanType.AGENT })("hi");
  await mlflow.flushTraces();
  return memory.traces[0]!;
}

async function traceIdsIn(experimentId: string): Promise<string[]> {
  return searchViaRest(experimentId, "");
}

async function expectStoredOnce(experimentId: string, trace: Trace): Promise<void> {
  expect(await traceIdsIn(experimentId)).toEqual([trace.info.traceId]);
  const rest = await readViaRest(trace.info.traceId);
  expect(rest.spans.map((s) => s.name)).toEqual(normalizeLocal(trace).map((s) => s.name));
  expect(rest.info.tags.case).toBe(trace.info.tags.case);
}

const fast = { initialDelayMs: 50, maxDelayMs: 500 };
let proxy: FaultProxy;

beforeEach(async () => {
  proxy = new FaultProxy(mlflowUri());
  await proxy.start();
});
afterEach(async () => {
  await proxy.stop();
  mlflow.init({ silent: true });
});

describe("idempotence", () => {
  it("sending the same trace twice leaves one trace with its spans, once each", async () => {
    const experimentId = await newExperiment("idem");
    const trace = await makeTrace("twice");
    const exporter = new mlflow.MlflowExporter({ trackingUri: mlflowUri(), experimentId });
    await exporter.deliver(trace);
    await exporter.deliver(trace);
    await Promise.all([exporter.export(trace), exporter.export(trace)]);
    await expectStoredOnce(experimentId, trace);
    expect((await readViaRest(trace.info.traceId)).spans).toHaveLength(3);
  });
});

describe("outages and retries", () => {
  it("server down during a send, then up: the trace arrives once", async () => {
    const experimentId = await newExperiment("down");
    const trace = await makeTrace("down-then-up");
    const port = proxy.port;
    await proxy.stop(); // connections to the port are now refused
    const exporter = new mlflow.MlflowExporter({ trackingUri: `http://127.0.0.1:${port}`, experimentId, retry: { ...fast, maxAttempts: 30 } });
    const delivery = exporter.deliver(trace);
    await new Promise((r) => setTimeout(r, 800));
    expect(await traceIdsIn(experimentId)).toEqual([]);
    await proxy.start(port);
    await expect(delivery).resolves.toMatchObject({ traceId: trace.info.traceId, spansLocation: "TRACKING_STORE" });
    await expectStoredOnce(experimentId, trace);
  });

  it("500 twice then 200 (on both calls): one trace, and each call was retried", async () => {
    const experimentId = await newExperiment("flaky");
    const trace = await makeTrace("500-twice");
    proxy.inject(/^\/v1\/traces/, { status: 500 }, 2);
    proxy.inject(/^\/api\/3\.0\/mlflow\/traces$/, { status: 503 }, 2);
    const exporter = new mlflow.MlflowExporter({ trackingUri: proxy.url, experimentId, retry: fast });
    await exporter.deliver(trace);
    expect(proxy.count(/^\/v1\/traces/)).toBe(3);
    expect(proxy.count(/^\/api\/3\.0\/mlflow\/traces$/)).toBe(3);
    await expectStoredOnce(experimentId, trace);
  });

  it("waits what Retry-After says on 429", async () => {
    const experimentId = await newExperiment("429");
    const trace = await makeTrace("429");
    proxy.inject(/^\/v1\/traces/, { status: 429, headers: { "Retry-After": "1" } });
    const exporter = new mlflow.MlflowExporter({ trackingUri: proxy.url, experimentId, retry: { ...fast, maxDelayMs: 5000 } });
    const started = Date.now();
    await exporter.deliver(trace);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    await expectStoredOnce(experimentId, trace);
  });

  it("a stalled request times out and is retried", async () => {
    const experimentId = await newExperiment("stall");
    const trace = await makeTrace("stall");
    proxy.inject(/^\/api\/3\.0\/mlflow\/traces$/, "stall");
    // Long enough that a busy MLflow answers the retry in time; the stall still ends by it.
    const exporter = new mlflow.MlflowExporter({ trackingUri: proxy.url, experimentId, timeoutMs: 2_000, retry: fast });
    await exporter.deliver(trace);
    expect(proxy.count(/^\/api\/3\.0\/mlflow\/traces$/)).toBe(2);
    await expectStoredOnce(experimentId, trace);
  });

  it("gives up after the retry budget with a network error naming the URL and the attempts", async () => {
    const trace = await makeTrace("never");
    const port = proxy.port;
    await proxy.stop();
    const exporter = new mlflow.MlflowExporter({ trackingUri: `http://127.0.0.1:${port}`, experimentId: "0", retry: { ...fast, maxAttempts: 3 } });
    const error = await exporter.deliver(trace).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(mlflow.MlflowNetworkError);
    expect((error as Error).message).toMatch(new RegExp(`^MLflow POST http://127\\.0\\.0\\.1:${port}/v1/traces failed: .*\\(after 3 attempts\\)$`));
  });
});

describe("permanent failures and hostile answers", () => {
  it("a 4xx from MLflow fails at once with the server's message (unknown experiment)", async () => {
    const trace = await makeTrace("no-experiment");
    const exporter = new mlflow.MlflowExporter({ trackingUri: proxy.url, experimentId: "987654321", retry: fast });
    const error = await exporter.deliver(trace).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(mlflow.MlflowHttpError);
    const http = error as mlflow.MlflowHttpError;
    expect(http.status).toBeGreaterThanOrEqual(400);
    expect(http.status).toBeLessThan(500);
    expect(http.retryable).toBe(false);
    expect(http.serverMessage).toMatch(/987654321/);
    expect(http.message).toContain(http.serverMessage);
    expect(proxy.seen.length).toBe(1); // no retries
  });

  it("a 200 whose body is not MLflow's gives a clear MlflowResponseError, not a crash", async () => {
    const experimentId = await newExperiment("garbage");
    const trace = await makeTrace("garbage");
    proxy.inject(/^\/api\/3\.0\/mlflow\/traces$/, { status: 200, body: "<html>captive portal</html>" });
    const exporter = new mlflow.MlflowExporter({ trackingUri: proxy.url, experimentId, retry: fast });
    const error = await exporter.deliver(trace).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(mlflow.MlflowResponseError);
    expect((error as Error).message).toMatch(/unusable answer: not JSON; body: <html>captive portal/);
    proxy.inject(/^\/api\/3\.0\/mlflow\/traces$/, { status: 200, body: '{"trace": {}}' });
    await expect(exporter.deliver(trace)).rejects.toThrow(/no trace\.trace_info\.trace_id/);
    await exporter.deliver(trace); // and a clean retry of the same trace still lands once
    await expectStoredOnce(experimentId, trace);
  });
});

describe("configuration", () => {
  it("sends custom headers and the bearer token on every request", async () => {
    const experimentId = await newExperiment("headers");
    const trace = await makeTrace("headers");
    const exporter = new mlflow.MlflowExporter({ trackingUri: proxy.url, experimentId, token: "s3cret", headers: { "X-Edge-Tenant": "acme" } });
    await exporter.deliver(trace);
    expect(proxy.seen.length).toBeGreaterThanOrEqual(2);
    for (const r of proxy.seen) expect(r.headers).toMatchObject({ authorization: "Bearer s3cret", "x-edge-tenant": "acme" });
    expect(proxy.seen.find((r) => r.path === "/v1/traces")!.headers).toMatchObject({ "x-mlflow-experiment-id": experimentId, "content-type": "application/json" });
  });

  it("logs to an experiment by name, creating it once if missing", async () => {
    const name = `by-name-${Date.now()}`;
    const exporter = new mlflow.MlflowExporter({ trackingUri: mlflowUri(), experimentName: name });
    const [a, b] = [await makeTrace("n1"), await makeTrace("n2")];
    await Promise.all([exporter.deliver(a), exporter.deliver(b)]);
    const found = (await getJson(`/api/2.0/mlflow/experiments/get-by-name?experiment_name=${name}`)) as { experiment: { experiment_id: string } };
    const id = found.experiment.experiment_id;
    expect(await traceIdsIn(id)).toEqual([a.info.traceId, b.info.traceId].sort());
    // A second exporter finds the existing experiment rather than failing to create it.
    const again = new mlflow.MlflowExporter({ trackingUri: mlflowUri(), experimentName: name });
    expect(await again.resolveExperimentId()).toBe(id);
  });

  it("an experiment name MLflow has deleted is refused with a message that says so, and nothing goes into it", async () => {
    const name = `deleted-${Date.now()}`;
    const id = ((await postJson("/api/2.0/mlflow/experiments/create", { name })) as { experiment_id: string }).experiment_id;
    await postJson("/api/2.0/mlflow/experiments/delete", { experiment_id: id });
    const exporter = new mlflow.MlflowExporter({ trackingUri: mlflowUri(), experimentName: name });
    const trace = await makeTrace("into-deleted");
    await expect(exporter.deliver(trace)).rejects.toThrow(`MLflow experiment "${name}" (id ${id}) is deleted: restore it, or trace to another experiment name.`);
    expect(await traceIdsIn(id)).toEqual([]); // before: the spans went in, then the trace info was refused
  });

  it("init({ trackingUri, experimentId }) sends traces straight to MLflow", async () => {
    const experimentId = await newExperiment("init");
    mlflow.init({ trackingUri: mlflowUri(), experimentId, silent: true });
    await mlflow.trace(async function handler(n: number) { return n * 2; })(21);
    await mlflow.flushTraces();
    const ids = await traceIdsIn(experimentId);
    expect(ids).toEqual([mlflow.getLastActiveTraceId()]);
    expect((await readViaRest(ids[0]!)).spans[0]).toMatchObject({ name: "handler", inputs: { n: 21 }, outputs: 42 });
  });

  it("falls back to MLFLOW_TRACKING_URI and MLFLOW_EXPERIMENT_ID from the environment", async () => {
    const experimentId = await newExperiment("env");
    const saved = { uri: process.env.MLFLOW_TRACKING_URI, id: process.env.MLFLOW_EXPERIMENT_ID };
    process.env.MLFLOW_TRACKING_URI = mlflowUri();
    process.env.MLFLOW_EXPERIMENT_ID = experimentId;
    try {
      mlflow.init({ silent: true });
      mlflow.trace(function fromEnv() { return "ok"; })();
      await mlflow.flushTraces();
    } finally {
      if (saved.uri === undefined) delete process.env.MLFLOW_TRACKING_URI;
      else process.env.MLFLOW_TRACKING_URI = saved.uri;
      if (saved.id === undefined) delete process.env.MLFLOW_EXPERIMENT_ID;
      else process.env.MLFLOW_EXPERIMENT_ID = saved.id;
    }
    const ids = await traceIdsIn(experimentId);
    expect(ids).toHaveLength(1);
    expect((await readViaRest(ids[0]!)).info.tags["mlflow.traceName"]).toBe("fromEnv");
  });

  it("rejects bad MLflow options in init() naming the field", () => {
    expect(() => mlflow.init({ trackingUri: "127.0.0.1:5000" })).toThrow(/"trackingUri" must be an http\(s\) URL/);
    expect(() => mlflow.init({ trackingUri: mlflowUri() })).toThrow(/"experimentId" .* is required with trackingUri/);
    expect(() => mlflow.init({ trackingUri: mlflowUri(), experimentId: "0", timeoutMs: -1 })).toThrow(/"timeoutMs" must be a number of milliseconds above 0/);
    expect(() => mlflow.init({ trackingUri: mlflowUri(), experimentId: "0", headers: { a: 1 as unknown as string } })).toThrow(/"headers"/);
    expect(() => new mlflow.MlflowExporter({ trackingUri: mlflowUri() })).toThrow(/experimentId or experimentName/);
  });
});
