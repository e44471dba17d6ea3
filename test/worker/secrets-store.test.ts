// Secrets in Cloudflare's Secrets Store (`[[secrets_store_secrets]]` bindings, whose text comes
// from an async get()) for every setting that is a secret: the collector's COLLECTOR_SECRET, the
// TraceBuffer's MLflow credentials, and an instrumented Worker's MLflow credentials and
// MLFLOW_EDGE_COLLECTOR_SECRET. The bindings are workerd's own (miniflare's Secrets Store), their
// secrets written through its local admin API; MLflow is the real server behind the fault proxy,
// which reports the Authorization header each request carried.
import { env as workerEnv } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { Trace } from "../../core/model/types.js";
import { createCollector } from "../../worker/collector/app.js";
import { destinationFromEnv } from "../../worker/destination.js";
import { collectorExporter } from "../../worker/exporters.js";
import { api, endPause, forwardNow, fromMlflow, proxy, resetProxy, row } from "./fixture/buffer-helpers.js";
import { MemoryStore } from "./memory-store.js";
import { simpleTrace } from "./traces.js";

const SELF = "https://collector.example";

/** Writes a secret into the local Secrets Store behind `binding` (a second write rotates it). */
async function storeSecret(binding: SecretsStoreSecret, value: string): Promise<void> {
  const admin = (binding as unknown as Record<string, () => { create(value: string): Promise<string> }>)["SecretsStoreSecret::admin_api"]!();
  await admin.create(value);
}

/** The Authorization headers of the requests to MLflow's OTLP endpoint (the spans of each trace sent). */
async function authSeen(): Promise<(string | null)[]> {
  const res = await fetch(`${proxy}/__proxy/auth?match=${encodeURIComponent("^/v1/traces")}`);
  return ((await res.json()) as { authorization: (string | null)[] }).authorization;
}

/** Runs `fn` with console.error collected. */
async function withErrorLog<T>(fn: () => Promise<T>): Promise<[T, string]> {
  const log = console.error;
  const lines: string[] = [];
  console.error = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
  try {
    return [await fn(), lines.join("\n")];
  } finally {
    console.error = log;
  }
}

beforeEach(async () => {
  await resetProxy();
  await storeSecret(workerEnv.STORE_COLLECTOR_SECRET, "collector-s3cret-from-store");
  await storeSecret(workerEnv.STORE_MLFLOW_TOKEN, "mlflow-t0ken-from-store");
});

describe("the collector's COLLECTOR_SECRET from the Secrets Store", () => {
  const keys = JSON.stringify([{ key: "pk-page-0001", origins: ["*"] }]);
  const post = async (a: ReturnType<typeof createCollector<Record<string, unknown>>>, headers: Record<string, string>, env: Record<string, unknown>) =>
    a.request(`${SELF}/v1/ingest`, { method: "POST", body: JSON.stringify({ version: 1, traces: [simpleTrace("store")] }), headers: { "content-type": "application/json", ...headers } }, env);

  it("server senders and reads are checked against the secret in the store, and a rotated secret counts from the next request, with no redeploy", async () => {
    const store = new MemoryStore();
    const a = createCollector<Record<string, unknown>>({ store });
    const env = { COLLECTOR_SECRET: workerEnv.STORE_COLLECTOR_SECRET, INGEST_KEYS: keys };
    expect((await post(a, { authorization: "Bearer collector-s3cret-from-store" }, env)).status).toBe(200);
    expect((await post(a, { authorization: "Bearer not-the-secret-at-all" }, env)).status).toBe(401);
    expect((await a.request(`${SELF}/api/traces`, { headers: { authorization: "Bearer collector-s3cret-from-store" } }, env)).status).toBe(200);
    expect((await a.request(`${SELF}/api/traces`, {}, env)).status).toBe(401);
    await storeSecret(workerEnv.STORE_COLLECTOR_SECRET, "rotated-collector-s3cret");
    expect((await post(a, { authorization: "Bearer collector-s3cret-from-store" }, env)).status).toBe(401);
    expect((await post(a, { authorization: "Bearer rotated-collector-s3cret" }, env)).status).toBe(200);
    expect((await a.request(`${SELF}/health`, {}, env)).status).toBe(200);
    expect(store.traces.size).toBe(2);
  });

  it("a secret(env) function may answer with the binding's Promise", async () => {
    const a = createCollector<Record<string, unknown>>({ store: new MemoryStore(), secret: (env) => (env.MY_SECRET as SecretsStoreSecret).get() });
    const env = { MY_SECRET: workerEnv.STORE_COLLECTOR_SECRET };
    expect((await post(a, { authorization: "Bearer collector-s3cret-from-store" }, env)).status).toBe(200);
    expect((await post(a, { authorization: "Bearer not-the-secret-at-all" }, env)).status).toBe(401);
    // Or with the binding itself, read as COLLECTOR_SECRET's is.
    const bindingFn = createCollector<Record<string, unknown>>({ store: new MemoryStore(), secret: (env) => env.MY_SECRET as SecretsStoreSecret });
    expect((await post(bindingFn, { authorization: "Bearer collector-s3cret-from-store" }, env)).status).toBe(200);
    expect((await post(bindingFn, { authorization: "Bearer not-the-secret-at-all" }, env)).status).toBe(401);
    // One that rejects is the misconfiguration 503 as one that throws, its error in the log only.
    const [res, log] = await withErrorLog(() => post(createCollector<Record<string, unknown>>({ store: new MemoryStore(), secret: (env) => (env.MISSING as SecretsStoreSecret).get() }), { authorization: "Bearer x" }, { MISSING: workerEnv.STORE_MISSING_SECRET }));
    expect([res.status, ((await res.json()) as { error: string }).error]).toEqual([503, "the collector is misconfigured: options.secret(env) threw (the error is in the Worker's log)"]);
    expect(log).toContain('Secret "never-created" not found');
  });

  it("a binding to a secret that is not in the store is the misconfiguration 503 naming COLLECTOR_SECRET for server senders and health, the store's error in the log only; pages with keys are still taken", async () => {
    const store = new MemoryStore();
    const a = createCollector<Record<string, unknown>>({ store });
    const env = { COLLECTOR_SECRET: workerEnv.STORE_MISSING_SECRET, INGEST_KEYS: keys };
    const [server, log] = await withErrorLog(() => post(a, { authorization: "Bearer collector-s3cret-from-store" }, env));
    const body = (await server.json()) as { error: string; hint: string };
    expect([server.status, server.headers.get("retry-after"), body.error]).toEqual([503, "60", "the collector is misconfigured: COLLECTOR_SECRET is a binding whose secret could not be read (the error is in the Worker's log)"]);
    expect(body.hint).toContain("COLLECTOR_SECRET");
    expect(log).toMatch(/COLLECTOR_SECRET is a binding \(a Secrets Store secret\?\) whose get\(\) failed \(Secret "never-created" not found\): check the binding's store_id and secret_name/);
    expect((await a.request(`${SELF}/health`, {}, env)).status).toBe(503);
    expect((await post(a, { "x-mlflow-edge-key": "pk-page-0001" }, env)).status).toBe(200);
    expect(store.traces.size).toBe(1);
  });
});

describe("the TraceBuffer's MLflow credentials from the Secrets Store", () => {
  let n = 0;
  const shard = (ns: typeof workerEnv.STORE_TOKEN_BUFFER | typeof workerEnv.MISSING_SECRET_BUFFER) => ns.get(ns.idFromName(`store-${Date.now()}-${n++}`));

  it("MLFLOW_TRACKING_TOKEN bound to a store secret: each trace reaches MLflow with its text as the bearer token, a rotated one from the next forward on", async () => {
    const stub = shard(workerEnv.STORE_TOKEN_BUFFER);
    const first = simpleTrace("store-token");
    await api(stub).put([first]);
    await forwardNow(stub);
    expect(await row(stub, first.info.traceId)).toMatchObject({ forwarding: "forwarded", last_error: null });
    expect((await fromMlflow(first.info.traceId))?.tree).toEqual([["answer", null], ["retrieve", "answer"]]);
    expect(await authSeen()).toEqual(["Bearer mlflow-t0ken-from-store"]);
    await storeSecret(workerEnv.STORE_MLFLOW_TOKEN, "rotated-mlflow-t0ken");
    const second = simpleTrace("store-token-rotated");
    await api(stub).put([second]);
    await forwardNow(stub);
    expect(await row(stub, second.info.traceId)).toMatchObject({ forwarding: "forwarded" });
    expect(await authSeen()).toEqual(["Bearer mlflow-t0ken-from-store", "Bearer rotated-mlflow-t0ken"]);
  });

  it("a password bound to a secret that is not in the store: traces wait, with the reason, and are never dead-lettered (the deployment is wrong, not the trace)", async () => {
    const stub = shard(workerEnv.MISSING_SECRET_BUFFER);
    const t = simpleTrace("store-missing");
    await api(stub).put([t]);
    expect((await api(stub).stats()).configError).toBeNull(); // the binding is fine as configuration: only reading it fails
    for (let run = 0; run < 4; run++) {
      await forwardNow(stub);
      await endPause(stub); // (a deployment failure pauses the shard)
    }
    const r = (await row(stub, t.info.traceId))!;
    expect(r).toMatchObject({ forwarding: "buffered", permanent_failures: 0 });
    expect(String(r.last_error)).toMatch(/^MLFLOW_TRACKING_PASSWORD is a binding \(a Secrets Store secret\?\) whose get\(\) failed \(Secret "never-created" not found\)/);
    expect(await authSeen()).toEqual([]); // nothing was sent without the credential
    expect(await fromMlflow(t.info.traceId)).toBeUndefined();
  });
});

describe("an instrumented Worker's credentials from the Secrets Store", () => {
  const exported = async (exporter: ReturnType<typeof destinationFromEnv>, t: Trace) => {
    await exporter!.export(t);
    await exporter!.flush?.();
  };

  it("straight to MLflow: MLFLOW_TRACKING_TOKEN bound to a store secret is sent as the bearer token, a rotated one from the next trace on", async () => {
    const exporter = destinationFromEnv({ MLFLOW_TRACKING_URI: proxy, MLFLOW_EXPERIMENT_NAME: "mlflow-edge-workerd-tests", MLFLOW_TRACKING_TOKEN: workerEnv.STORE_MLFLOW_TOKEN });
    const first = simpleTrace("direct-store");
    await exported(exporter, first);
    expect((await fromMlflow(first.info.traceId))?.tree).toEqual([["answer", null], ["retrieve", "answer"]]);
    await storeSecret(workerEnv.STORE_MLFLOW_TOKEN, "rotated-mlflow-t0ken");
    await exported(exporter, simpleTrace("direct-store-rotated"));
    expect(await authSeen()).toEqual(["Bearer mlflow-t0ken-from-store", "Bearer rotated-mlflow-t0ken"]);
  });

  it("straight to MLflow with a binding to a secret not in the store: the export fails naming the setting, and sends nothing", async () => {
    const exporter = destinationFromEnv({ MLFLOW_TRACKING_URI: proxy, MLFLOW_EXPERIMENT_ID: "0", MLFLOW_TRACKING_TOKEN: workerEnv.STORE_MISSING_SECRET });
    await expect(exporter!.export(simpleTrace("direct-missing"))).rejects.toThrow(/^MLFLOW_TRACKING_TOKEN is a binding \(a Secrets Store secret\?\) whose get\(\) failed \(Secret "never-created" not found\)/);
    expect(await authSeen()).toEqual([]);
  });

  it("straight to MLflow: a flush right after export waits for the traces still reading their secret", async () => {
    // A store slower to answer than the code that flushes (the real one answers at once here).
    let reads = 0;
    const slow = { get: () => (reads++, new Promise<string>((resolve) => setTimeout(() => resolve("slow-mlflow-t0ken"), 300))) };
    const exporter = destinationFromEnv({ MLFLOW_TRACKING_URI: proxy, MLFLOW_EXPERIMENT_NAME: "mlflow-edge-workerd-tests", MLFLOW_TRACKING_TOKEN: slow })!;
    const traces = [simpleTrace("slow-store-1"), simpleTrace("slow-store-2")];
    const exports = traces.map((t) => exporter.export(t));
    await exporter.flush!();
    expect(await authSeen()).toEqual(["Bearer slow-mlflow-t0ken", "Bearer slow-mlflow-t0ken"]); // sent before flush returned
    expect(reads).toBe(1); // exports under way at once share a read
    for (const t of traces) expect(await fromMlflow(t.info.traceId)).toBeDefined();
    await Promise.all(exports);
  });

  it("a store that does not answer fails the read after 5 s, naming the setting, instead of holding the export", async () => {
    const hung = { get: () => new Promise<string>(() => undefined) };
    const started = Date.now();
    await expect(destinationFromEnv({ MLFLOW_TRACKING_URI: proxy, MLFLOW_EXPERIMENT_ID: "0", MLFLOW_TRACKING_PASSWORD: hung, MLFLOW_TRACKING_USERNAME: "alice" })!.export(simpleTrace("hung-store"))).rejects.toThrow(
      /^MLFLOW_TRACKING_PASSWORD is a binding \(a Secrets Store secret\?\) whose get\(\) failed \(no answer within 5 s\)/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
    expect(await authSeen()).toEqual([]);
  }, 15_000);

  it("to a remote collector: MLFLOW_EDGE_COLLECTOR_SECRET bound to a store secret is the bearer token, which a collector reading the same store takes", async () => {
    // The env wiring: the header destinationFromEnv's exporter sends (to the proxy, standing in for the collector).
    const viaEnv = destinationFromEnv({ MLFLOW_EDGE_COLLECTOR_URL: proxy, MLFLOW_EDGE_COLLECTOR_SECRET: workerEnv.STORE_COLLECTOR_SECRET });
    await Promise.resolve(viaEnv!.export(simpleTrace("to-collector"))).catch(() => undefined); // MLflow has no /v1/ingest: only the header matters here
    const seen = await fetch(`${proxy}/__proxy/auth?match=${encodeURIComponent("^/v1/ingest")}`);
    expect(((await seen.json()) as { authorization: string[] }).authorization[0]).toBe("Bearer collector-s3cret-from-store");
    // End to end: exporter and collector both read the store.
    const store = new MemoryStore();
    const collector = createCollector<Record<string, unknown>>({ store });
    const env = { COLLECTOR_SECRET: workerEnv.STORE_COLLECTOR_SECRET };
    const exporter = collectorExporter({ url: SELF, secret: workerEnv.STORE_COLLECTOR_SECRET, fetch: async (input, init) => collector.request(new Request(input, init), undefined, env) });
    const t = simpleTrace("store-to-store");
    await exporter.export(t);
    expect([...store.traces.keys()]).toEqual([t.info.traceId]);
    // A read that fails is tried again, as a failed request is.
    let reads = 0;
    const flaky = { get: async () => (reads++ === 0 ? Promise.reject(new Error("store busy")) : workerEnv.STORE_COLLECTOR_SECRET.get()) };
    const retried = simpleTrace("store-busy-once");
    await collectorExporter({ url: SELF, secret: flaky, fetch: async (input, init) => collector.request(new Request(input, init), undefined, env) }).export(retried);
    expect([reads, store.traces.has(retried.info.traceId)]).toEqual([2, true]);
    expect(() => collectorExporter({ url: SELF, secret: 5 as never })).toThrow(/"secret" must be text or a Secrets Store binding; got number/);
  });
});
