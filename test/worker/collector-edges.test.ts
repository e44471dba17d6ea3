// More of the collector inside workerd: hostile /v1/ingest bodies that plain JSON.stringify cannot
// produce (1e999, "__proto__"), trace shapes that are valid JSON but not a tree, compressed and
// mislabelled bodies, configuration mistakes, CORS details, the redaction hook and the read API.
import { Hono } from "hono";
import { beforeEach, describe, expect, it } from "vitest";
import { createRedactor } from "../../core/export/redact.js";
import type { Trace } from "../../core/model/types.js";
import { env as workerEnv } from "cloudflare:workers";
import { bufferStoreFromEnv, shardOf } from "../../worker/buffer/shards.js";
import { createCollector, type CollectorOptions } from "../../worker/collector/app.js";
import { MemoryStore } from "./memory-store.js";
import { joinedTrace, simpleTrace } from "./traces.js";

const SELF = "https://collector.example";
const SECRET = "edge-server-secret-1";
let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});
const app = (extra: Partial<CollectorOptions<Record<string, unknown>>> = {}) =>
  createCollector<Record<string, unknown>>({
    store,
    ingestKeys: [{ key: "pk-app-0001", origins: ["https://app.example"] }, { key: "pk-any-0001", origins: ["*"] }],
    secret: SECRET,
    ...extra,
  });
const headers = { "content-type": "application/json", "x-mlflow-edge-key": "pk-app-0001", origin: "https://app.example" };
const ingest = (a: ReturnType<typeof app>, body: BodyInit, extra: Record<string, string> = {}, env?: Record<string, unknown>) =>
  a.request(`${SELF}/v1/ingest`, { method: "POST", body, headers: { ...headers, ...extra } }, env);
const batch = (...traces: unknown[]) => JSON.stringify({ version: 1, traces });
const errorOf = async (res: Response) => (await res.json()) as { error: string; path: string; hint: string };
const copy = (t: Trace) => JSON.parse(JSON.stringify(t)) as Record<string, any>;

describe("/v1/ingest: hostile bodies beyond the basic table", () => {
  const good = () => simpleTrace("edge");
  const raw = (fn: (text: string, t: Trace) => string) => () => {
    const t = good();
    return fn(batch(t), t);
  };
  const mutate = (fn: (t: Record<string, any>) => void) => () => {
    const t = copy(good());
    fn(t);
    return batch(t);
  };
  const sp = "traces[0].data.spans";
  type Case = [name: string, body: () => string, status: number, path: string];
  const cases: Case[] = [
    ["startTime 1e999 (Infinity after parsing)", raw((b, t) => b.replace(`"startTime":${t.data.spans[0]!.startTime}`, '"startTime":1e999')), 400, `${sp}[0].startTime`],
    // Microseconds sent for milliseconds: past the year 9999, which MLflow stores broken (request time 1970, no state).
    ["requestTime in microseconds", mutate((t) => (t.info.requestTime *= 1000)), 400, "traces[0].info.requestTime"],
    ["startTime in microseconds", mutate((t) => (t.data.spans[0].startTime *= 1000)), 400, `${sp}[0].startTime`],
    ["a nested number 1e999", raw((b) => b.replace('"inputs":{"question":"edge"}', '"inputs":{"question":1e999}')), 400, `${sp}[0].inputs`],
    ["event timestamp -1e999", mutate((t) => (t.data.spans[0].events = [{ name: "e", timestamp: "X", attributes: {} }])), 400, `${sp}[0].events[0].timestamp`],
    ["a __proto__ tag", raw((b) => b.replace('"tags":{', '"tags":{"__proto__":"x",')), 400, 'traces[0].info.tags.__proto__'],
    ["a __proto__ key deep in inputs", raw((b) => b.replace('"inputs":{"question":"edge"}', '"inputs":{"question":{"__proto__":{"polluted":1}}}')), 400, `${sp}[0].inputs`],
    ["a __proto__ attribute", mutate((t) => (t.data.spans[0].attributes = JSON.parse('{"__proto__": 1}'))), 400, `${sp}[0].attributes.__proto__`],
    ["two roots in one part", mutate((t) => (t.data.spans[1].parentId = null)), 400, `${sp}[1].parentId`],
    ["a parent loop", mutate((t) => (t.data.spans[0].parentId = t.data.spans[1].spanId)), 400, `${sp}[0].parentId`],
    ["uppercase trace id", mutate((t) => (t.info.traceId = t.info.traceId.toUpperCase())), 400, "traces[0].info.traceId"],
    ["executionDuration a string", mutate((t) => (t.info.executionDuration = "5ms")), 400, "traces[0].info.executionDuration"],
    ["clientRequestId a number", mutate((t) => (t.info.clientRequestId = 7)), 400, "traces[0].info.clientRequestId"],
    ["status description a number", mutate((t) => (t.data.spans[0].status.description = 1)), 400, `${sp}[0].status.description`],
    ["endTime a string", mutate((t) => (t.data.spans[0].endTime = "later")), 400, `${sp}[0].endTime`],
    ["span not an object", mutate((t) => (t.data.spans[1] = [])), 400, `${sp}[1]`],
    ["event attribute array of objects", mutate((t) => (t.data.spans[0].events = [{ name: "e", timestamp: 1, attributes: { a: [{}] } }])), 400, `${sp}[0].events[0].attributes.a`],
    ["attribute key too long", mutate((t) => (t.data.spans[0].attributes["k".repeat(1001)] = 1)), 400, `${sp}[0].attributes["${"k".repeat(60)}"] (key)`],
    ["metadata value too long", mutate((t) => (t.info.traceMetadata.big = "m".repeat(70_000))), 400, "traces[0].info.traceMetadata.big"],
    ["empty body", () => "", 400, ""],
    ["version as a string", () => JSON.stringify({ version: "1", traces: [good()] }), 400, "version"],
  ];
  for (const [name, body, status, path] of cases) {
    it(`${name} → ${status}`, async () => {
      const res = await ingest(app(), body());
      expect(res.status).toBe(status);
      expect((await errorOf(res)).path).toBe(path);
      expect(store.puts).toBe(0);
    });
  }

  it("spans, events and traces over their configured limits", async () => {
    const a = app({ limits: { maxSpansPerTrace: 1, maxEvents: 1, maxTracesPerBatch: 1 } });
    const spans = await ingest(a, batch(good()));
    expect([spans.status, (await errorOf(spans)).path]).toEqual([400, `${sp}`]);
    const one = copy(good());
    one.data.spans = [one.data.spans[0]];
    one.data.spans[0].events = [1, 2].map((i) => ({ name: `e${i}`, timestamp: 1, attributes: {} }));
    const events = await ingest(a, batch(one));
    expect([events.status, (await errorOf(events)).path]).toEqual([400, `${sp}[0].events`]);
    expect((await ingest(a, batch(good(), good()))).status).toBe(413);
    expect(store.puts).toBe(0);
  });

  it("a body streamed in chunks past the limit is cut off without a Content-Length to go on", async () => {
    const chunk = new TextEncoder().encode(" ".repeat(4096));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        sent++;
        if (sent > 100) controller.close(); // 400 KB if nobody stops reading
        else controller.enqueue(chunk);
      },
    });
    const res = await ingest(app({ limits: { maxBodyBytes: 10_000 } }), body);
    expect(res.status).toBe(413);
    expect(sent).toBeLessThan(10); // the collector stopped reading at the limit
  });
});

describe("/v1/ingest: encodings and content types", () => {
  const gzip = async (text: string) => new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();

  it("takes a gzip body, and counts the limit after decompression (a small bomb is refused)", async () => {
    const t = simpleTrace("zip");
    expect((await ingest(app(), await gzip(batch(t)), { "content-encoding": "gzip" })).status).toBe(200);
    expect(store.traces.has(t.info.traceId)).toBe(true);
    const bomb = await gzip(batch(t) + " ".repeat(2_000_000));
    expect(bomb.byteLength).toBeLessThan(20_000);
    const res = await ingest(app(), bomb, { "content-encoding": "gzip" });
    expect(res.status).toBe(413);
    expect(store.puts).toBe(1);
  });

  it("refuses corrupt gzip (400), unknown encodings and charsets (415), JSON under another type (415)", async () => {
    const body = batch(simpleTrace("enc"));
    const corrupt = await ingest(app(), body, { "content-encoding": "gzip" });
    expect([corrupt.status, (await errorOf(corrupt)).error]).toEqual([400, "the body is not valid gzip data"]);
    expect((await ingest(app(), body, { "content-encoding": "br" })).status).toBe(415);
    expect((await ingest(app(), body, { "content-type": "application/json; charset=utf-16" })).status).toBe(415);
    expect((await ingest(app(), body, { "content-type": "application/json; charset=UTF-8" })).status).toBe(200);
    expect((await ingest(app(), body, { "content-type": "application/x-www-form-urlencoded" })).status).toBe(415);
  });
});

describe("configuration: a mistake fails at construction, naming the field", () => {
  it.each([
    ["limits.maxBodyBytes 0", { limits: { maxBodyBytes: 0 } }, /limits\.maxBodyBytes/],
    ["limits.maxDepth 1.5", { limits: { maxDepth: 1.5 } }, /limits\.maxDepth/],
    // Deeper nesting would overflow the stack while decoding: a 503 that senders retry for ever.
    ["limits.maxDepth 5000", { limits: { maxDepth: 5000 } }, /limits\.maxDepth must be at most 256/],
    ["an unknown limit", { limits: { maxSpans: 5 } }, /unknown limit "maxSpans"/],
    ["rateLimit.burst 0", { rateLimit: { burst: 0 } }, /rateLimit\.burst/],
    ["rateLimit.perSecond NaN", { rateLimit: { perSecond: Number.NaN } }, /rateLimit\.perSecond/],
    ["an unknown rateLimit field", { rateLimit: { window: 5 } }, /unknown rateLimit field "window"/],
    ["readAccess 'maybe'", { readAccess: "maybe" }, /readAccess/],
    ["redact not a function", { redact: "yes" }, /redact/],
    ["ingestKeys a string", { ingestKeys: "pk-app-0001" }, /ingestKeys/],
    ["an origin with a path", { ingestKeys: [{ key: "pk-app-0001", origins: ["https://app.example/page"] }] }, /origins/],
    // Origins a browser never writes so: every request would be a 403 that names an origin on the list.
    ["an origin with upper-case letters", { ingestKeys: [{ key: "pk-app-0001", origins: ["https://App.example.com"] }] }, /"https:\/\/App.example.com" never matches a browser's Origin header, which reads "https:\/\/app.example.com"/],
    ["an origin with its default port", { ingestKeys: [{ key: "pk-app-0001", origins: ["https://app.example.com:443"] }] }, /which reads "https:\/\/app.example.com"/],
    ["an origin with a query", { ingestKeys: [{ key: "pk-app-0001", origins: ["https://app.example.com?"] }] }, /never matches a browser's Origin header/],
    ["an origin with a fragment", { ingestKeys: [{ key: "pk-app-0001", origins: ["https://app.example.com#x"] }] }, /never matches a browser's Origin header/],
    ["an origin with a wildcard", { ingestKeys: [{ key: "pk-app-0001", origins: ["https://*.example.com"] }] }, /no wildcards within one: list each origin/],
    // A misspelt option would be ignored: here reads would stay closed while the operator meant them open.
    ["a misspelt option", { readaccess: "open" }, /unknown option "readaccess"; did you mean "readAccess"\?/],
    ["secret a number", { secret: 5 }, /secret must be a non-empty string or \(env\) => string \| undefined; got number/],
    ["secret empty", { secret: "" }, /secret must be a non-empty string/],
  ])("%s", (_, extra, message) => {
    expect(() => createCollector({ store, ...(extra as object) })).toThrow(message);
  });

  it("reads INGEST_KEYS and COLLECTOR_SECRET from the env; a malformed INGEST_KEYS is a 503 that says so", async () => {
    const a = createCollector<Record<string, unknown>>({ store });
    const env = { INGEST_KEYS: JSON.stringify([{ key: "pk-env-0001", origins: ["self"] }]), COLLECTOR_SECRET: "env-secret-value" };
    const t = () => batch(simpleTrace("env"));
    expect((await ingest(a, t(), { "x-mlflow-edge-key": "pk-env-0001", origin: SELF }, env)).status).toBe(200);
    expect((await ingest(a, t(), { "x-mlflow-edge-key": "pk-env-0001", origin: "https://app.example" }, env)).status).toBe(403);
    expect((await a.request(`${SELF}/api/traces`, {}, env)).status).toBe(401);
    expect((await a.request(`${SELF}/api/traces`, { headers: { authorization: "Bearer env-secret-value" } }, env)).status).toBe(200);
    const broken = await ingest(a, t(), { "x-mlflow-edge-key": "pk-env-0001", origin: SELF }, { INGEST_KEYS: "[{key:" });
    expect(broken.status).toBe(503);
    expect(broken.headers.get("retry-after")).toBe("60");
    expect(await errorOf(broken)).toMatchObject({ error: expect.stringContaining("INGEST_KEYS"), hint: expect.stringContaining("INGEST_KEYS") });
    const health = await a.request(`${SELF}/health`, {}, { INGEST_KEYS: "[{key:" });
    expect([health.status, (await errorOf(health)).error]).toEqual([503, expect.stringContaining("INGEST_KEYS")]);
    // Reads do not depend on the ingest keys being well-formed.
    expect((await a.request(`${SELF}/api/traces`, { headers: { authorization: "Bearer env-secret-value" } }, { ...env, INGEST_KEYS: "nope" })).status).toBe(200);
  });

  it("a secret function that returns no string is the misconfiguration 503, not a secret anyone can match", async () => {
    const a = createCollector<Record<string, unknown>>({ store, secret: (env) => env.SECRET as string });
    const sent = await a.request(`${SELF}/v1/ingest`, { method: "POST", body: batch(simpleTrace("fn")), headers: { "content-type": "application/json", authorization: "Bearer 5" } }, { SECRET: 5 });
    expect([sent.status, (await errorOf(sent)).error]).toEqual([503, "the collector is misconfigured: options.secret(env) returned number, not a string"]);
    const read = await a.request(`${SELF}/api/traces`, { headers: { authorization: "Bearer 5" } }, { SECRET: 5 });
    expect(read.status).toBe(503);
    expect((await a.request(`${SELF}/api/traces`, { headers: { authorization: "Bearer string-secret" } }, { SECRET: "string-secret" })).status).toBe(200);
  });

  it.each([
    ["COLLECTOR_SECRET set empty", {}, { COLLECTOR_SECRET: "" }],
    ["INGEST_KEYS set to []", {}, { INGEST_KEYS: "[]" }],
    ["INGEST_KEYS set empty", {}, { INGEST_KEYS: "" }],
    ["a secret(env) whose binding is missing", { secret: (env: Record<string, unknown>) => env.MY_SECRET as string | undefined }, {}],
    ["ingestKeys(env) finding none", { ingestKeys: () => [] }, {}],
  ])("auth configured but holding nothing (%s) is the misconfiguration 503 for ingest, health and reads, never an open collector", async (_, extra, env) => {
    const a = createCollector<Record<string, unknown>>({ store, ...(extra as object) });
    const t = simpleTrace("no-auth");
    const sent = await ingest(a, batch(t), { "x-mlflow-edge-key": "", origin: "https://evil.example" }, env);
    expect([sent.status, (await errorOf(sent)).error]).toEqual([503, expect.stringContaining("configured but hold none")]);
    expect((await a.request(`${SELF}/health`, {}, env)).status).toBe(503);
    expect((await a.request(`${SELF}/api/traces/${t.info.traceId}`, {}, env)).status).toBe(401);
    expect((await a.request(`${SELF}/api/traces`, {}, env)).status).toBe(401);
    // Nothing configured at all: the local demo's open collector, as before.
    const overridden = await ingest(createCollector<Record<string, unknown>>({ store, ingestKeys: [] }), batch(t), {}, { INGEST_KEYS: JSON.stringify([{ key: "pk-env-0001", origins: ["*"] }]) });
    expect([overridden.status, (await errorOf(overridden)).error]).toEqual([503, expect.stringContaining("ingestKeys: [] in the code overrides INGEST_KEYS")]);
    const open = createCollector<Record<string, unknown>>({ store });
    expect((await ingest(open, batch(simpleTrace("open")), { origin: "https://evil.example" }, {})).status).toBe(200);
  });

  it("a bad TRACE_BUFFER_SHARDS is a 503 that names it (clients keep their traces), not a generic store failure", async () => {
    // As the README writes it: no cast, the env type inferred.
    const a = createCollector({ store: (env) => bufferStoreFromEnv(env)!, secret: SECRET });
    const env = { TRACE_BUFFER: workerEnv.TRACE_BUFFER, TRACE_BUFFER_SHARDS: "100" };
    const res = await a.request(`${SELF}/v1/ingest`, { method: "POST", body: batch(simpleTrace("shards")), headers: { "content-type": "application/json", authorization: `Bearer ${SECRET}` } }, env);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("60");
    expect(await errorOf(res)).toEqual({
      error: 'the collector is misconfigured: TRACE_BUFFER_SHARDS must be an integer from 1 to 64; got "100".',
      path: "",
      hint: "fix TRACE_BUFFER_SHARDS in the Worker's configuration",
    });
    const read = await a.request(`${SELF}/api/traces`, { headers: { authorization: `Bearer ${SECRET}` } }, env);
    expect(read.status).toBe(503);
    const health = await a.request(`${SELF}/health`, {}, env);
    expect([health.status, (await errorOf(health)).error]).toEqual([503, expect.stringContaining("TRACE_BUFFER_SHARDS")]);
    expect((await errorOf(read)).error).toContain("TRACE_BUFFER_SHARDS");
  });

  it("keys returned by an ingestKeys function are checked like any others", async () => {
    const a = app({ ingestKeys: () => [{ key: "short", origins: ["*"] }] });
    const res = await ingest(a, batch(simpleTrace("fn")), { "x-mlflow-edge-key": "short" });
    expect(res.status).toBe(503);
    expect((await errorOf(res)).error).toContain("ingestKeys(env)[0].key");
  });
});

describe("CORS details", () => {
  it("a '*' key echoes the caller's origin, never '*', and allows no credentials", async () => {
    const res = await ingest(app(), batch(simpleTrace("star")), { "x-mlflow-edge-key": "pk-any-0001", origin: "https://else.example" });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://else.example");
    expect(res.headers.get("access-control-allow-credentials")).toBeNull();
    expect(res.headers.get("vary")).toContain("Origin");
  });

  it("a refusal to an allowed origin still carries CORS headers, so the page can read why and Retry-After", async () => {
    const res = await ingest(app(), "{", {});
    expect(res.status).toBe(400);
    expect(res.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(res.headers.get("access-control-expose-headers")).toBe("retry-after");
  });

  it("reads have no CORS at all: a page elsewhere cannot read traces, even when reads are open", async () => {
    const a = app({ readAccess: "open" });
    const res = await a.request(`${SELF}/api/traces`, { headers: { origin: "https://app.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("redaction on the server", () => {
  it("is configurable: a custom redactor masks what the deployment names", async () => {
    const a = app({ redact: createRedactor({ keys: ["email"] }) });
    const t = simpleTrace("pii");
    t.data.spans[0]!.inputs = { question: "hi", email: "a@b.example" };
    expect((await ingest(a, batch(t))).status).toBe(200);
    expect(JSON.stringify(store.traces.get(t.info.traceId))).not.toContain("a@b.example");
  });

  it("a hook that drops or throws refuses the batch with 422 and stores nothing of it", async () => {
    const [keep, drop] = [simpleTrace("keep"), simpleTrace("drop")];
    const dropper = app({ redact: (t) => (t.info.traceId === drop.info.traceId ? null : t) });
    const res = await ingest(dropper, batch(keep, drop));
    expect(res.status).toBe(422);
    expect((await errorOf(res)).path).toBe("traces[1]");
    const thrower = app({ redact: () => { throw new Error("boom"); } });
    expect((await ingest(thrower, batch(keep))).status).toBe(422);
    expect(store.puts).toBe(0);
  });

  it("a hook whose output the buffer refuses (it dropped each span's events) is a 422 naming the hook, not a 503 retried for ever", async () => {
    // Second in a batch whose first trace goes to another shard: named by its place in the batch.
    const refused = simpleTrace("no events");
    let other = simpleTrace("on another shard");
    while (shardOf(other.info.traceId, 4) === shardOf(refused.info.traceId, 4)) other = simpleTrace("on another shard");
    const stripped = app({
      store: bufferStoreFromEnv(workerEnv)!,
      redact: (t) => (t.info.traceId !== refused.info.traceId ? t : { ...t, data: { spans: t.data.spans.map(({ events: _, ...s }) => s as Trace["data"]["spans"][number]) } }),
    });
    const res = await ingest(stripped, batch(other, refused));
    const body = await errorOf(res);
    expect([res.status, res.headers.get("retry-after"), body.path]).toEqual([422, null, "traces[1].data.spans[0]"]);
    expect(body.error).toMatch(/^the collector's redaction left a trace the buffer refuses: .*events/);
  });
});

describe("idempotency and split traces", () => {
  it("a resend is acknowledged as a duplicate; the other part of a split trace merges", async () => {
    const a = app();
    const { browser, worker } = joinedTrace();
    expect(await (await ingest(a, batch(browser))).json()).toMatchObject({ accepted: 1, stored: 1 });
    expect(await (await ingest(a, batch(browser))).json()).toMatchObject({ accepted: 1, stored: 0, duplicates: 1 });
    expect(await (await ingest(a, batch(worker))).json()).toMatchObject({ accepted: 1, merged: 1 });
  });
});

describe("the read API", () => {
  const read = (a: ReturnType<typeof app>, path: string, init: RequestInit = {}) =>
    a.request(`${SELF}${path}`, { ...init, headers: { authorization: `Bearer ${SECRET}`, ...(init.headers as object) } });

  it("passes filters through, and pages with the store's cursor; a cursor it did not issue is a 400", async () => {
    const a = app();
    for (const q of ["a", "b", "c"]) await ingest(a, batch(simpleTrace(q)));
    const first = (await (await read(a, "/api/traces?limit=2&status=OK&tag=team%3Dedge&text=abc&forwarding=buffered")).json()) as { traces: unknown[]; nextCursor: string };
    expect(store.lastQuery).toEqual({ limit: 2, status: "OK", tag: "team=edge", text: "abc", forwarding: "buffered" });
    expect(first.traces).toHaveLength(2);
    const second = (await (await read(a, `/api/traces?limit=2&cursor=${first.nextCursor}`)).json()) as { traces: unknown[]; nextCursor: string | null };
    expect([second.traces.length, second.nextCursor]).toEqual([1, null]);
    const badCursor = await read(a, "/api/traces?cursor=forged");
    expect([badCursor.status, (await errorOf(badCursor)).path]).toEqual([400, "cursor"]);
  });

  it.each([
    ["limit=abc", "limit"],
    ["limit=201", "limit"],
    ["limit=1e2", "limit"],
    ["status=ok", "status"],
    ["forwarding=lost", "forwarding"],
    [`text=${"t".repeat(501)}`, "text"],
    [`cursor=${"c".repeat(201)}`, "cursor"],
  ])("refuses ?%s at its parameter", async (q, path) => {
    const res = await read(app(), `/api/traces?${q}`);
    expect([res.status, (await errorOf(res)).path]).toEqual([400, path]);
  });

  it("retries a trace the store can retry, 404s one it cannot, 400s a malformed id", async () => {
    const a = app();
    const t = simpleTrace("retry");
    await ingest(a, batch(t));
    expect(await (await read(a, `/api/traces/${t.info.traceId}/retry`, { method: "POST" })).json()).toEqual({ retried: true });
    expect((await read(a, `/api/traces/tr-${"a".repeat(32)}/retry`, { method: "POST" })).status).toBe(404);
    expect((await read(a, "/api/traces/tr-XYZ/retry", { method: "POST" })).status).toBe(400);
  });

  it("readAccess 'secret' with no secret configured lets nobody read; a store failure is a 503 worded for reading", async () => {
    const locked = app({ secret: undefined, readAccess: "secret" });
    const refused = await locked.request(`${SELF}/api/traces`);
    expect(refused.status).toBe(401);
    // HTTP asks a 401 to say which credential it wants.
    expect(refused.headers.get("www-authenticate")).toMatch(/^Bearer /);
    const a = app();
    store.fail = true;
    const res = await read(a, "/api/traces");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect((await errorOf(res)).error).toBe("the trace store is not available right now");
  });

  it("reads are open by default only on a collector open for ingest too: ingest keys without a secret leave nobody reading", async () => {
    const keysOnly = app({ secret: undefined });
    const refused = await keysOnly.request(`${SELF}/api/traces`);
    expect([refused.status, (await errorOf(refused)).error]).toEqual([401, "reading traces needs the collector secret, and none is configured"]);
    expect((await keysOnly.request(`${SELF}/api/traces/tr-${"a".repeat(32)}`)).status).toBe(401);
    expect((await keysOnly.request(`${SELF}/api/traces/tr-${"a".repeat(32)}/retry`, { method: "POST" })).status).toBe(401);
    // Keys from the env, well-formed or not, close reads the same way.
    const fromEnv = app({ secret: undefined, ingestKeys: undefined });
    expect((await fromEnv.request(`${SELF}/api/traces`, {}, { INGEST_KEYS: JSON.stringify([{ key: "pk-env-0001", origins: ["self"] }]) })).status).toBe(401);
    expect((await fromEnv.request(`${SELF}/api/traces`, {}, { INGEST_KEYS: "[{key:" })).status).toBe(401);
    // Neither keys nor a secret: a local collector, open for ingest and for reads.
    expect((await fromEnv.request(`${SELF}/api/traces`, {}, {})).status).toBe(200);
    expect((await app({ secret: undefined, readAccess: "open" }).request(`${SELF}/api/traces`)).status).toBe(200);
  });

  it("a store function that gives no store (the Durable Object binding missing) is a misconfiguration on /health and on ingest, not an ok beside 503s", async () => {
    const unbound = app({ store: (env) => bufferStoreFromEnv(env as never)! });
    for (const res of [await unbound.request(`${SELF}/health`, {}, {}), await ingest(unbound, batch(simpleTrace("unbound")), {}, {})]) {
      expect([res.status, res.headers.get("retry-after")]).toEqual([503, "60"]);
      expect((await errorOf(res)).error).toContain("TRACE_BUFFER");
    }
  });

  it("unknown routes and /health answer JSON", async () => {
    const a = app();
    expect(await (await a.request(`${SELF}/health`)).json()).toEqual({ ok: true });
    const missing = await a.request(`${SELF}/v1/other`, { method: "POST" });
    expect([missing.status, (await errorOf(missing)).path]).toEqual([404, ""]);
  });

  it("mounted as the README mounts it, a wrong method on a collector route is a JSON 405 with Allow; the host's own routes under /v1/ and /api/ answer, registered before or after the mount", async () => {
    const host = new Hono();
    host.get("/api/mine", (c) => c.text("host route"));
    host.route("/", app({ readAccess: "open" }));
    host.post("/v1/chat/completions", (c) => c.text("host proxy")); // an OpenAI-compatible route, after the mount
    const cases: [string, string, number, string | null][] = [
      ["GET", "/v1/ingest", 405, "POST"],
      ["PUT", "/v1/traces", 405, "POST"],
      ["DELETE", "/api/traces", 405, "GET, HEAD"],
      ["POST", `/api/traces/tr-${"a".repeat(32)}`, 405, "GET, HEAD"],
      ["GET", `/api/traces/tr-${"a".repeat(32)}/retry`, 405, "POST"],
    ];
    for (const [method, path, status, allow] of cases) {
      const res = await host.request(`${SELF}${path}`, { method });
      expect([method, path, res.status, res.headers.get("allow"), res.headers.get("content-type")]).toEqual([method, path, status, allow, "application/json"]);
      const body = (await res.json()) as Record<string, unknown>;
      expect(body).toMatchObject({ error: `${method} is not allowed on ${path}`, path: "", hint: expect.any(String) });
      // OTLP senders read a google.rpc.Status beside our fields.
      if (path === "/v1/traces") expect(body).toMatchObject({ code: 12, message: body.error });
    }
    // What the collector serves, and the host's own routes, are untouched; an unknown path is the host's 404.
    expect((await host.request(`${SELF}/api/mine`)).status).toBe(200);
    // Registered after the mount, with reads behind the secret: still the host's, unguarded.
    const guarded = new Hono();
    guarded.route("/", app());
    guarded.get("/api/mine", (c) => c.text("host route"));
    guarded.post("/v1/chat/completions", (c) => c.text("host proxy"));
    expect((await guarded.request(`${SELF}/api/mine`)).status).toBe(200);
    expect((await guarded.request(`${SELF}/api/traces`)).status).toBe(401);
    // No collector CORS on the host's /v1/ routes: neither its 403 preflight nor its headers.
    const preflight = await guarded.request(`${SELF}/v1/chat/completions`, { method: "OPTIONS", headers: { origin: "https://elsewhere.example", "access-control-request-method": "POST" } });
    expect(preflight.status).toBe(404);
    const hostPost = await guarded.request(`${SELF}/v1/chat/completions`, { method: "POST", headers: { origin: "https://app.example" } });
    expect([hostPost.status, hostPost.headers.get("access-control-allow-origin")]).toEqual([200, null]);
    const proxied = await host.request(`${SELF}/v1/chat/completions`, { method: "POST" });
    expect([proxied.status, await proxied.text()]).toEqual([200, "host proxy"]);
    expect((await host.request(`${SELF}/v1/nope`)).status).toBe(404);
    expect((await host.request(`${SELF}/api/traces`)).status).toBe(200);
    expect((await host.request(`${SELF}/v1/ingest`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } })).status).toBe(204);
    expect((await ingest(host as never, batch(simpleTrace("mounted")))).status).toBe(200);
  });
});
