// The Hono collector inside workerd: strict validation (hostile payloads by the dozen), auth with
// ingest keys and the server secret, CORS, rate limits, idempotency, OTLP JSON, the query API.
// Storage here is a small in-memory TraceStore (our own seam); collector-buffer.test.ts runs the
// same app over the real TraceBuffer Durable Objects.
import { beforeEach, describe, expect, it } from "vitest";
import { toOtlpExportRequest } from "../../core/serialize/otlp.js";
import type { Trace } from "../../core/model/types.js";
import { createCollector, type CollectorOptions } from "../../worker/collector/app.js";
import type { StoredTrace } from "../../worker/store.js";
import { MemoryStore } from "./memory-store.js";
import { joinedTrace, simpleTrace } from "./traces.js";

const SELF = "https://collector.example";
let store: MemoryStore;
let clock = 0;
const app = (extra: Partial<CollectorOptions> = {}) =>
  createCollector({
    store,
    ingestKeys: [
      { key: "pk-app-0001", origins: ["https://app.example"] },
      { key: "pk-self-001", origins: ["self"] },
      { key: "pk-anywhere", origins: ["*"] },
    ],
    secret: "s3cret-server-token",
    now: () => clock,
    ...extra,
  });

const batch = (...traces: unknown[]) => JSON.stringify({ version: 1, traces });
function post(a: ReturnType<typeof app>, path: string, body: string, headers: Record<string, string> = {}) {
  return a.request(`${SELF}${path}`, {
    method: "POST",
    body,
    headers: { "content-type": "application/json", "x-mlflow-edge-key": "pk-app-0001", origin: "https://app.example", ...headers },
  });
}
const errorOf = async (res: Response) => (await res.json()) as { error: string; path: string; hint: string };

beforeEach(() => {
  store = new MemoryStore();
  clock = 1_000_000;
});

describe("POST /v1/ingest: valid batches", () => {
  it("stores every trace of a valid batch and says what happened", async () => {
    const a = app();
    const [t1, t2] = [simpleTrace("one"), simpleTrace("two")];
    const res = await post(a, "/v1/ingest", batch(t1, t2));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ accepted: 2, stored: 2, merged: 0, duplicates: 0 });
    expect(store.traces.get(t1.info.traceId)?.data.spans.map((s) => s.name)).toEqual(["answer", "retrieve"]);
  });

  it("is idempotent: the same batch again stores nothing new", async () => {
    const a = app();
    const t = simpleTrace("again");
    await post(a, "/v1/ingest", batch(t));
    expect(await (await post(a, "/v1/ingest", batch(t))).json()).toMatchObject({ stored: 0, duplicates: 1 });
    expect(store.traces.size).toBe(1);
  });

  it("takes the Worker part whose root points at a span outside the batch (a split trace)", async () => {
    const a = app();
    const { browser, worker } = joinedTrace();
    expect((await post(a, "/v1/ingest", batch(worker))).status).toBe(200);
    expect((await post(a, "/v1/ingest", batch(browser))).status).toBe(200);
  });

  it("masks secrets again on the server: the client is not trusted", async () => {
    const a = app();
    const t = simpleTrace("secret");
    t.data.spans[0]!.attributes.api_key = "sk-live-0123456789abcdefghij";
    t.data.spans[0]!.inputs = { question: "hi", headers: { Authorization: "Bearer abc.def.ghi" } };
    await post(a, "/v1/ingest", batch(t));
    const stored = JSON.stringify(store.traces.get(t.info.traceId));
    expect(stored).not.toContain("sk-live-0123456789abcdefghij");
    expect(stored).not.toContain("abc.def.ghi");
    expect(stored).toContain("[REDACTED]");
  });

  it("drops what ties a page's trace to a run, a model or a storage place on the MLflow server; a server sender with the secret keeps them", async () => {
    const a = app();
    const claims = (t: Trace) => {
      t.info.tags = { ...t.info.tags, "mlflow.user": "admin@victim.example", "mlflow.artifactLocation": "s3://elsewhere", team: "search" };
      t.info.traceMetadata = { ...t.info.traceMetadata, "mlflow.sourceRun": "0123456789abcdef0123456789abcdef", "mlflow.modelId": "m-1", "mlflow.trace.spansLocation": "x", "mlflow.trace.user": "alice", "mlflow.trace.session": "s-1" };
      return t;
    };
    const page = claims(simpleTrace("from a page"));
    await post(a, "/v1/ingest", batch(page));
    const stored = store.traces.get(page.info.traceId)!.info;
    expect(Object.keys(stored.tags).filter((k) => k === "team" || k.startsWith("mlflow.user") || k.startsWith("mlflow.artifact"))).toEqual(["team"]);
    expect(stored.traceMetadata).toMatchObject({ "mlflow.trace.user": "alice", "mlflow.trace.session": "s-1" });
    for (const key of ["mlflow.sourceRun", "mlflow.modelId", "mlflow.trace.spansLocation"]) expect(stored.traceMetadata[key]).toBeUndefined();
    // MLflow's other server-side keys: the authenticated user, the gateway, evaluation runs, linked
    // prompts, archives, a scorer's mark, the flag that stops MLflow updating the trace's totals.
    const more = ["mlflow.auth.userId", "mlflow.auth.username", "mlflow.gateway.endpointId", "mlflow.gateway.requestType", "mlflow.gateway.caller", "mlflow.gateway.linkedTraceId",
      "mlflow.eval.requestId", "mlflow.linkedPrompts", "mlflow.trace.archiveLocation", "mlflow.trace.archivalFailure", "mlflow.trace.sourceScorer", "mlflow.trace.infoFinalized"];
    const planted = simpleTrace("more claims");
    for (const key of more) (planted.info.tags[key] = "x"), (planted.info.traceMetadata[key] = "x"), (planted.data.spans[0]!.attributes[`mlflow.traceTag.${key}`] = "x");
    await post(a, "/v1/ingest", batch(planted));
    const kept = store.traces.get(planted.info.traceId)!;
    expect([...Object.keys(kept.info.tags), ...Object.keys(kept.info.traceMetadata), ...Object.keys(kept.data.spans[0]!.attributes)].filter((k) => more.some((m) => k.endsWith(m)))).toEqual([]);
    // In any case: a store on MySQL or SQL Server may compare keys without regard to case.
    const shouted = simpleTrace("claims in capitals");
    Object.assign(shouted.info.tags, { "MLFLOW.SOURCERUN": "x", "mlflow.User": "ceo", Team: "search" });
    Object.assign(shouted.info.traceMetadata, { "Mlflow.ModelId": "m-1", "mlflow.sourceRun ": "x", "mlflow.\u017fourceRun": "x", "mlflo\u0301w.user": "x" });
    Object.assign(shouted.data.spans[0]!.attributes, { "mlflow.traceTag.MLFLOW.SOURCERUN": "x", "mlflow.traceTag.Team": "search" });
    await post(a, "/v1/ingest", batch(shouted));
    const calm = store.traces.get(shouted.info.traceId)!;
    expect(Object.keys(calm.info.tags).filter((k) => !k.startsWith("mlflow.trace"))).toEqual(["Team"]);
    expect(Object.keys(calm.info.traceMetadata).filter((k) => /source|model|user/i.test(k))).toEqual([]);
    expect(Object.keys(calm.data.spans[0]!.attributes).filter((k) => k.startsWith("mlflow.traceTag."))).toEqual(["mlflow.traceTag.Team"]);
    const server = claims(simpleTrace("from a server"));
    await a.request(`${SELF}/v1/ingest`, { method: "POST", body: batch(server), headers: { "content-type": "application/json", authorization: "Bearer s3cret-server-token" } });
    expect(store.traces.get(server.info.traceId)!.info.traceMetadata["mlflow.sourceRun"]).toBe("0123456789abcdef0123456789abcdef");
  });

  it("keeps the typed fields and MLflow's reserved attributes in agreement, and drops unknown fields", async () => {
    const a = app();
    const t = simpleTrace("consistent") as Trace & { extra?: unknown };
    const span = t.data.spans[0]! as unknown as Record<string, unknown>;
    span.attributes = { ...(span.attributes as object), "mlflow.spanInputs": { forged: true } };
    span.evil = "<script>";
    (t as { extra?: unknown }).extra = { huge: true };
    await post(a, "/v1/ingest", batch(t));
    const stored = store.traces.get(t.info.traceId)!;
    expect(stored.data.spans[0]!.attributes["mlflow.spanInputs"]).toEqual(t.data.spans[0]!.inputs);
    expect(JSON.stringify(stored)).not.toContain("<script>");
    expect("extra" in stored).toBe(false);
  });
});

describe("POST /v1/ingest: hostile and malformed input gets a 4xx that says what and where, and nothing is stored", () => {
  const good = () => simpleTrace("x");
  type Case = [name: string, body: () => string, status: number, path: string | RegExp, headers?: Record<string, string>];
  const mutate = (fn: (t: Record<string, any>) => void) => () => {
    const t = JSON.parse(JSON.stringify(good()));
    fn(t);
    return batch(t);
  };
  const cases: Case[] = [
    ["not JSON", () => "{nope", 400, ""],
    ["JSON but an array", () => "[]", 400, ""],
    ["JSON null", () => "null", 400, ""],
    ["unknown version", () => JSON.stringify({ version: 2, traces: [good()] }), 400, "version"],
    ["version missing", () => JSON.stringify({ traces: [good()] }), 400, "version"],
    ["traces not an array", () => JSON.stringify({ version: 1, traces: {} }), 400, "traces"],
    ["no traces", () => batch(), 400, "traces"],
    ["trace is a string", () => batch("trace"), 400, "traces[0]"],
    ["info missing", mutate((t) => delete t.info), 400, "traces[0].info"],
    ["bad trace id", mutate((t) => (t.info.traceId = "tr-XYZ")), 400, "traces[0].info.traceId"],
    ["trace id without prefix", mutate((t) => (t.info.traceId = "0".repeat(32))), 400, "traces[0].info.traceId"],
    ["unknown state", mutate((t) => (t.info.state = "MAYBE")), 400, "traces[0].info.state"],
    ["requestTime a string", mutate((t) => (t.info.requestTime = "yesterday")), 400, "traces[0].info.requestTime"],
    ["requestTime negative", mutate((t) => (t.info.requestTime = -5)), 400, "traces[0].info.requestTime"],
    ["tag value not a string", mutate((t) => (t.info.tags.n = 5)), 400, "traces[0].info.tags.n"],
    ["odd tag key", mutate((t) => (t.info.tags["a b"] = 5)), 400, 'traces[0].info.tags["a b"]'],
    ["too many tags", mutate((t) => { for (let i = 0; i < 201; i++) t.info.tags[`k${i}`] = "v"; }), 400, "traces[0].info.tags"],
    ["metadata not an object", mutate((t) => (t.info.traceMetadata = ["x"])), 400, "traces[0].info.traceMetadata"],
    ["huge preview", mutate((t) => (t.info.requestPreview = "x".repeat(70_000))), 400, "traces[0].info.requestPreview"],
    ["data missing", mutate((t) => delete t.data), 400, "traces[0].data"],
    ["spans not an array", mutate((t) => (t.data.spans = "s")), 400, "traces[0].data.spans"],
    ["no spans", mutate((t) => (t.data.spans = [])), 400, "traces[0].data.spans"],
    ["span from another trace", mutate((t) => (t.data.spans[1].traceId = `tr-${"1".repeat(32)}`)), 400, "traces[0].data.spans[1].traceId"],
    ["bad span id", mutate((t) => (t.data.spans[0].spanId = "zz")), 400, "traces[0].data.spans[0].spanId"],
    ["uppercase span id", mutate((t) => (t.data.spans[0].spanId = t.data.spans[0].spanId.toUpperCase())), 400, "traces[0].data.spans[0].spanId"],
    ["bad parent id", mutate((t) => (t.data.spans[1].parentId = 7)), 400, "traces[0].data.spans[1].parentId"],
    ["own parent", mutate((t) => (t.data.spans[1].parentId = t.data.spans[1].spanId)), 400, "traces[0].data.spans[1].parentId"],
    ["duplicate span ids", mutate((t) => (t.data.spans[1].spanId = t.data.spans[0].spanId)), 400, "traces[0].data.spans[1].spanId"],
    ["empty span name", mutate((t) => (t.data.spans[0].name = "")), 400, "traces[0].data.spans[0].name"],
    ["span name too long", mutate((t) => (t.data.spans[0].name = "n".repeat(2000))), 400, "traces[0].data.spans[0].name"],
    ["startTime NaN-ish", mutate((t) => (t.data.spans[0].startTime = null)), 400, "traces[0].data.spans[0].startTime"],
    ["endTime before start", mutate((t) => (t.data.spans[0].endTime = t.data.spans[0].startTime - 1)), 400, "traces[0].data.spans[0].endTime"],
    ["unknown status code", mutate((t) => (t.data.spans[0].status.statusCode = "FINE")), 400, "traces[0].data.spans[0].status.statusCode"],
    ["status missing", mutate((t) => delete t.data.spans[0].status), 400, "traces[0].data.spans[0].status"],
    ["spanType missing", mutate((t) => delete t.data.spans[0].spanType), 400, "traces[0].data.spans[0].spanType"],
    ["attributes an array", mutate((t) => (t.data.spans[0].attributes = [])), 400, "traces[0].data.spans[0].attributes"],
    ["too many attributes", mutate((t) => { for (let i = 0; i < 300; i++) t.data.spans[0].attributes[`a${i}`] = i; }), 400, "traces[0].data.spans[0].attributes"],
    ["oversize attribute", mutate((t) => (t.data.spans[0].attributes.big = "x".repeat(300_000))), 400, "traces[0].data.spans[0].attributes.big"],
    ["oversize inputs", mutate((t) => (t.data.spans[0].inputs = { doc: "y".repeat(300_000) })), 400, "traces[0].data.spans[0].inputs"],
    ["deeply nested outputs", mutate((t) => { let v: unknown = 1; for (let i = 0; i < 100; i++) v = [v]; t.data.spans[0].outputs = v; }), 400, "traces[0].data.spans[0].outputs"],
    ["events not an array", mutate((t) => (t.data.spans[0].events = {})), 400, "traces[0].data.spans[0].events"],
    ["event without a name", mutate((t) => (t.data.spans[0].events = [{ timestamp: 1, attributes: {} }])), 400, "traces[0].data.spans[0].events[0].name"],
    ["event attribute an object", mutate((t) => (t.data.spans[0].events = [{ name: "e", timestamp: 1, attributes: { o: { x: 1 } } }])), 400, "traces[0].data.spans[0].events[0].attributes.o"],
    ["same trace twice in a batch", () => { const t = good(); return batch(t, t); }, 400, "traces[1].info.traceId"],
    ["too many traces", () => batch(...Array.from({ length: 513 }, () => good())), 413, "traces"],
    ["wrong content type", () => batch(good()), 415, "", { "content-type": "text/plain" }],
    ["body over 1 MiB", () => batch(good()) + " ".repeat((1 << 20) + 10), 413, ""],
    ["invalid UTF-8", () => new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) as unknown as string, 400, ""],
    // Values that String() or JSON.stringify cannot turn into a message: refused as the payload's fault
    // (before: a TypeError or a stack overflow, answered 503 "could not store", which clients retry for ever).
    ["trace id an object whose toString is no function", mutate((t) => (t.info.traceId = { toString: 1 })), 400, "traces[0].info.traceId"],
    ["span id an object whose toString is no function", mutate((t) => (t.data.spans[0].spanId = { toString: 1 })), 400, "traces[0].data.spans[0].spanId"],
  ];

  for (const [name, body, status, path, headers] of cases) {
    it(`${name} → ${status}`, async () => {
      const a = app();
      const res = await post(a, "/v1/ingest", body(), headers);
      expect(res.status).toBe(status);
      const err = await errorOf(res);
      expect(err.error.length).toBeGreaterThan(5);
      if (typeof path === "string") expect(err.path).toBe(path);
      else expect(err.path).toMatch(path);
      expect(store.puts).toBe(0);
    });
  }

  it("a refusal quotes at most 80 characters of what was sent (before: a 500 KB version came back whole in the message)", async () => {
    for (const version of ["v".repeat(500_000), { big: "w".repeat(500_000) }]) {
      const res = await post(app(), "/v1/ingest", JSON.stringify({ version, traces: [good()] }));
      expect(res.status).toBe(400);
      const err = await errorOf(res);
      expect(err.path).toBe("version");
      expect(err.error.length).toBeLessThan(200);
    }
  });

  it("one bad trace refuses its whole batch: the good one beside it is not half-written", async () => {
    const a = app();
    const ok = simpleTrace("fine");
    const badOne = JSON.parse(JSON.stringify(simpleTrace("broken")));
    badOne.data.spans[1].startTime = "soon";
    const res = await post(a, "/v1/ingest", batch(ok, badOne));
    expect(res.status).toBe(400);
    expect((await errorOf(res)).path).toBe("traces[1].data.spans[1].startTime");
    expect(store.traces.size).toBe(0);
    // The client then sends each alone (docs/ingest-protocol.md): the good one goes in.
    expect((await post(a, "/v1/ingest", batch(ok))).status).toBe(200);
  });

  it("a body that lies about its Content-Length is cut off at the limit", async () => {
    const a = app({ limits: { maxBodyBytes: 1000 } });
    const res = await a.request(`${SELF}/v1/ingest`, {
      method: "POST",
      headers: { "content-type": "application/json", "content-length": "10", "x-mlflow-edge-key": "pk-app-0001", origin: "https://app.example" },
      body: batch(simpleTrace("long")),
    });
    expect(res.status).toBe(413);
  });

  it("a store failure is a 503 with Retry-After (the client keeps its traces), never a crash", async () => {
    const a = app();
    store.fail = true;
    const res = await post(a, "/v1/ingest", batch(simpleTrace("later")));
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
  });

  it("bad configuration fails at construction with the field named", () => {
    expect(() => createCollector({ store, limits: { maxBodyBytes: -1 } })).toThrow(/maxBodyBytes/);
    expect(() => createCollector({ store, ingestKeys: [{ key: "short", origins: ["*"] }] })).toThrow(/key/);
    expect(() => createCollector({ store, ingestKeys: [{ key: "long-enough-key", origins: ["ftp://x"] }] })).toThrow(/origins/);
    expect(() => createCollector({} as never)).toThrow(/store/);
  });
});

describe("auth and CORS", () => {
  const t = () => batch(simpleTrace("auth"));

  it("refuses a missing or unknown key (401) and a key used from another origin (403)", async () => {
    const a = app();
    expect((await post(a, "/v1/ingest", t(), { "x-mlflow-edge-key": "" })).status).toBe(401);
    const noKey = await a.request(`${SELF}/v1/ingest`, { method: "POST", body: t(), headers: { "content-type": "application/json", origin: "https://app.example" } });
    expect(noKey.status).toBe(401);
    expect((await errorOf(noKey)).hint).toContain("x-mlflow-edge-key");
    expect((await post(a, "/v1/ingest", t(), { "x-mlflow-edge-key": "pk-unknown-1" })).status).toBe(401);
    const stolen = await post(a, "/v1/ingest", t(), { origin: "https://evil.example" });
    expect(stolen.status).toBe(403);
    expect((await errorOf(stolen)).error).toContain("https://evil.example");
    expect(store.puts).toBe(0);
  });

  it("a 'self' key works from the collector's own origin only; a '*' key from anywhere", async () => {
    const a = app();
    expect((await post(a, "/v1/ingest", t(), { "x-mlflow-edge-key": "pk-self-001", origin: SELF })).status).toBe(200);
    expect((await post(a, "/v1/ingest", t(), { "x-mlflow-edge-key": "pk-self-001", origin: "https://app.example" })).status).toBe(403);
    expect((await post(a, "/v1/ingest", t(), { "x-mlflow-edge-key": "pk-anywhere", origin: "https://any.example" })).status).toBe(200);
  });

  it("server senders use the secret without an Origin; a wrong secret is 401", async () => {
    const a = app();
    const headers = { "content-type": "application/json" };
    expect((await a.request(`${SELF}/v1/ingest`, { method: "POST", body: t(), headers: { ...headers, authorization: "Bearer s3cret-server-token" } })).status).toBe(200);
    expect((await a.request(`${SELF}/v1/ingest`, { method: "POST", body: t(), headers: { ...headers, authorization: "Bearer s3cret-server-tokeN" } })).status).toBe(401);
  });

  it("with no keys and no secret configured the collector is open (the local demo), and a key or token a sender carries is ignored", async () => {
    const a = app({ ingestKeys: [], secret: undefined });
    const senders: Record<string, string>[] = [{}, { authorization: "Bearer a-deployment-secret" }, { "x-mlflow-edge-key": "pk-a-deployment-key", origin: "https://app.example" }];
    for (const extra of senders) {
      const res = await a.request(`${SELF}/v1/ingest`, { method: "POST", body: t(), headers: { "content-type": "application/json", ...extra } });
      expect([extra, res.status]).toEqual([extra, 200]);
    }
  });

  it("answers preflight only for allowlisted origins, with the headers the browser client needs", async () => {
    const a = app({ ingestKeys: [{ key: "pk-app-0001", origins: ["https://app.example"] }] });
    const ok = await a.request(`${SELF}/v1/ingest`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    expect(ok.status).toBe(204);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    // Exactly what docs/ingest-protocol.md lists, and never credentials.
    expect(ok.headers.get("access-control-allow-headers")).toBe("content-type, x-mlflow-edge-key");
    expect(ok.headers.get("access-control-allow-methods")).toBe("POST");
    expect(ok.headers.get("access-control-allow-credentials")).toBeNull();
    expect(ok.headers.get("vary")).toContain("Origin");
    const evil = await a.request(`${SELF}/v1/ingest`, { method: "OPTIONS", headers: { origin: "https://evil.example" } });
    expect(evil.status).toBe(403);
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    expect(await errorOf(evil)).toMatchObject({ path: "", error: expect.stringContaining("https://evil.example") });
    const res = await post(a, "/v1/ingest", t());
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("access-control-expose-headers")).toBe("retry-after");
    const refused = await post(a, "/v1/ingest", t(), { origin: "https://evil.example" });
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("rate-limits per key and client address with 429 and Retry-After; other keys and other visitors with the same key are unaffected; tokens refill", async () => {
    const a = app({ rateLimit: { perSecond: 1, burst: 2 } });
    const visitor = { "cf-connecting-ip": "203.0.113.7" };
    expect((await post(a, "/v1/ingest", t(), visitor)).status).toBe(200);
    expect((await post(a, "/v1/ingest", t(), visitor)).status).toBe(200);
    const limited = await post(a, "/v1/ingest", t(), visitor);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get("access-control-allow-origin")).toBe("https://app.example"); // the page can read Retry-After
    expect((await errorOf(limited)).error).toBe("too many requests from this client address with this ingest key");
    expect((await post(a, "/v1/ingest", t(), { ...visitor, "x-mlflow-edge-key": "pk-anywhere" })).status).toBe(200);
    // The key is public, shared by the site's every visitor: another visitor of the site is not held back.
    expect((await post(a, "/v1/ingest", t(), { "cf-connecting-ip": "198.51.100.20" })).status).toBe(200);
    clock += 1000;
    expect((await post(a, "/v1/ingest", t(), visitor)).status).toBe(200);
    // Server senders with the secret are trusted: no per-key brake on them.
    for (let i = 0; i < 5; i++) {
      const res = await a.request(`${SELF}/v1/ingest`, { method: "POST", body: t(), headers: { "content-type": "application/json", authorization: "Bearer s3cret-server-token" } });
      expect(res.status).toBe(200);
    }
  });
});

describe("POST /v1/traces: OTLP JSON", () => {
  it("converts what an OTLP exporter sends back into the same spans, and derives the trace info", async () => {
    const a = app();
    const original = simpleTrace("otlp", { tags: { k: "v" } });
    const res = await post(a, "/v1/traces", JSON.stringify(toOtlpExportRequest(original.data.spans)));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ partialSuccess: {} });
    const stored = store.traces.get(original.info.traceId)!;
    expect(stored.data.spans.map((s) => [s.name, s.spanType, s.parentId, s.inputs, s.outputs, s.status.statusCode])).toEqual(
      original.data.spans.map((s) => [s.name, s.spanType, s.parentId, s.inputs, s.outputs, s.status.statusCode]),
    );
    for (const [i, s] of stored.data.spans.entries()) expect(s.startTime).toBeCloseTo(original.data.spans[i]!.startTime, 3);
    expect(stored.info).toMatchObject({ state: "OK", requestPreview: original.info.requestPreview, responsePreview: original.info.responsePreview });
    expect(stored.info.tags["mlflow.traceName"]).toBe("answer");
  });

  it("refuses malformed OTLP with a path", async () => {
    const a = app();
    const spans = toOtlpExportRequest(simpleTrace("bad otlp").data.spans);
    const badId = JSON.parse(JSON.stringify(spans));
    badId.resourceSpans[0].scopeSpans[0].spans[0].traceId = "AAAA";
    const r1 = await post(a, "/v1/traces", JSON.stringify(badId));
    expect(r1.status).toBe(400);
    expect((await errorOf(r1)).path).toBe("resourceSpans[0].scopeSpans[0].spans[0].traceId");
    const r2 = await post(a, "/v1/traces", JSON.stringify({ resourceSpans: "x" }));
    expect(r2.status).toBe(400);
    // Resource entries with no span in them (spans under names not read): refused, not dropped with a 200.
    const r3 = await post(a, "/v1/traces", JSON.stringify({ resourceSpans: [{ scopeSpans: [] }] }));
    expect(r3.status).toBe(400);
    expect(store.puts).toBe(0);
  });
});

describe("reads: /api/traces", () => {
  it("need the secret when one is configured; with none they are open", async () => {
    const a = app();
    expect((await a.request(`${SELF}/api/traces`)).status).toBe(401);
    expect((await a.request(`${SELF}/api/traces`, { headers: { authorization: "Bearer s3cret-server-token" } })).status).toBe(200);
    const open = app({ ingestKeys: [], secret: undefined });
    expect((await open.request(`${SELF}/api/traces`)).status).toBe(200);
  });

  it("validates query parameters and ids", async () => {
    const a = app({ ingestKeys: [], secret: undefined });
    expect((await a.request(`${SELF}/api/traces?limit=0`)).status).toBe(400);
    expect((await a.request(`${SELF}/api/traces?status=MAYBE`)).status).toBe(400);
    expect((await a.request(`${SELF}/api/traces?forwarding=x`)).status).toBe(400);
    expect((await a.request(`${SELF}/api/traces/not-an-id`)).status).toBe(400);
    expect((await a.request(`${SELF}/api/traces/tr-${"0".repeat(32)}`)).status).toBe(404);
    const t = simpleTrace("read me");
    await a.request(`${SELF}/v1/ingest`, { method: "POST", body: batch(t), headers: { "content-type": "application/json" } });
    const got = await a.request(`${SELF}/api/traces/${t.info.traceId}`);
    expect(got.status).toBe(200);
    expect(got.headers.get("cache-control")).toBe("no-store");
    expect(((await got.json()) as StoredTrace).trace.info.traceId).toBe(t.info.traceId);
  });

  it("never returns MLflow credentials or the collector secret", async () => {
    const a = app();
    const bodies = await Promise.all(
      ["/health", "/api/traces", "/nope"].map(async (p) => (await a.request(`${SELF}${p}`, { headers: { authorization: "Bearer s3cret-server-token" } })).text()),
    );
    for (const b of bodies) expect(b).not.toContain("s3cret-server-token");
  });
});
