// The collector's front door under hostile callers: the rate limiter's memory bound, ingest keys
// as INGEST_KEYS writes them, the redaction hook's answers and option shapes.
import { beforeEach, describe, expect, it } from "vitest";
import { createCollector, type CollectorOptions } from "../../worker/collector/app.js";
import { sameSecret } from "../../worker/collector/auth.js";
import { MemoryStore } from "./memory-store.js";
import { simpleTrace } from "./traces.js";

const SELF = "https://collector.example";
let store: MemoryStore;
beforeEach(() => {
  store = new MemoryStore();
});
const batch = (...traces: unknown[]) => JSON.stringify({ version: 1, traces });
const errorOf = async (res: Response) => (await res.json()) as { error: string; path: string; hint: string };
type App = ReturnType<typeof createCollector<Record<string, unknown>>>;
const open = (extra: Partial<CollectorOptions<Record<string, unknown>>> = {}): App => createCollector<Record<string, unknown>>({ store, ...extra });
const ingest = (a: App, headers: Record<string, string>, body = batch(simpleTrace("door")), env?: Record<string, unknown>) =>
  a.request(`${SELF}/v1/ingest`, { method: "POST", body, headers: { "content-type": "application/json", ...headers } }, env);

describe("rate limits: callers beyond the limiter's memory", () => {
  it("a throttled caller stays throttled while thousands of other addresses send (its limit is not reset for it)", async () => {
    const now = 5_000_000; // the clock stands still: no bucket refills during the test
    const a = open({ rateLimit: { perSecond: 1, burst: 1 }, now: () => now });
    // Only the limiter's answer matters: an empty body is refused after it, at no cost.
    const send = (ip: string) => a.request(`${SELF}/v1/ingest`, { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": ip } });
    expect((await send("198.51.100.7")).status).toBe(400);
    const limited = await send("198.51.100.7");
    expect(limited.status).toBe(429);
    // An open collector has no keys: the limit is the client address's, and the answer says so.
    expect((await errorOf(limited)).error).toBe("too many requests from this client address");
    // A runaway page keeps asking while a spray of other addresses passes through the limiter.
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 6_000; i++) await send(`2001:db8:${round}:${i.toString(16)}::1`);
      expect((await send("198.51.100.7")).status).toBe(429);
    }
  });
});

describe("rate limits: IPv6 clients", () => {
  // A host commonly holds a whole /64 and picks new addresses in it at will (privacy addresses):
  // limited per address, anyone holding the public key got a fresh burst from each of them.
  it("counts an IPv6 /64 as one client address, however its addresses are written; other /64s and IPv4 clients have their own", async () => {
    const now = 5_000_000;
    const a = open({ ingestKeys: [{ key: "pk-v6-00001", origins: ["*"] }], rateLimit: { perSecond: 1, burst: 2 }, now: () => now });
    const send = (ip: string) => ingest(a, { "x-mlflow-edge-key": "pk-v6-00001", "cf-connecting-ip": ip });
    expect((await send("2001:db8:aa:bb::1")).status).toBe(200);
    expect((await send("2001:0db8:00aa:00bb:ffff:1:2:3")).status).toBe(200);
    const limited = await send("2001:DB8:AA:BB:0:0:0:9");
    expect([limited.status, (await errorOf(limited)).error]).toEqual([429, "too many requests from this client address with this ingest key"]);
    expect((await send("2001:db8:aa:bc::1")).status).toBe(200);
    expect((await send("::ffff:198.51.100.7")).status).toBe(200);
    expect((await send("198.51.100.7")).status).toBe(200);
    expect((await send("198.51.100.8")).status).toBe(200);
  });
});

describe("ingest keys as INGEST_KEYS writes them", () => {
  it("one key listed twice, for two sites: both sites may send (the preflight let the second in, and its POST got a 403)", async () => {
    const env = { INGEST_KEYS: JSON.stringify([{ key: "pk-shared-01", origins: ["https://a.example"] }, { key: "pk-shared-01", origins: ["https://b.example"] }]) };
    const a = open();
    const preflight = await a.request(`${SELF}/v1/ingest`, { method: "OPTIONS", headers: { origin: "https://b.example", "access-control-request-method": "POST" } }, env);
    expect(preflight.status).toBe(204);
    for (const origin of ["https://a.example", "https://b.example"]) {
      const res = await ingest(a, { "x-mlflow-edge-key": "pk-shared-01", origin }, batch(simpleTrace(origin)), env);
      expect([origin, res.status]).toEqual([origin, 200]);
    }
    expect((await ingest(a, { "x-mlflow-edge-key": "pk-shared-01", origin: "https://c.example" }, undefined, env)).status).toBe(403);
  });
});

describe("ingest keys a header cannot carry", () => {
  // Browsers and runtimes strip spaces around a header value, and fetch throws on characters
  // beyond Latin-1: such a key was taken, then every request with it got "unknown ingest key".
  it.each([
    ["a trailing space", "pk-app-0001 "],
    ["a leading tab", "\tpk-app-0001"],
    ["a line break", "pk-app-0001\n"],
    ["a typographic dash", "pk-app\u20140001"],
  ])("INGEST_KEYS with %s is the misconfiguration 503 naming the entry; in code, a TypeError at start-up", async (_, key) => {
    const env = { INGEST_KEYS: JSON.stringify([{ key: "pk-good-0001", origins: ["*"] }, { key, origins: ["*"] }]) };
    const res = await ingest(open(), { "x-mlflow-edge-key": "pk-good-0001" }, undefined, env);
    expect(res.status).toBe(503);
    const { error } = await errorOf(res);
    expect(error).toContain("INGEST_KEYS[1].key");
    expect(error).not.toContain(key.trim());
    expect(() => open({ ingestKeys: [{ key, origins: ["*"] }] })).toThrow(/ingestKeys\[0\]\.key .*header/);
    expect(store.puts).toBe(0);
  });

  it("a key with spaces inside, or any printable ASCII, is taken and matched", async () => {
    const key = "pk app~!#$%&'*+-.^_`|0001\"";
    const res = await ingest(open({ ingestKeys: [{ key, origins: ["*"] }] }), { "x-mlflow-edge-key": key });
    expect(res.status).toBe(200);
  });
});

describe("the redact hook's answers", () => {
  // The deployment's mistake, made for every trace alike: the answer names it, and the clients
  // keep their traces until it is fixed (it was a 503 "could not store the traces right now").
  it.each([
    ["an async hook (a Promise)", (async (t: unknown) => t) as never, "a Promise"],
    ["a hook that forgot to return the trace", ((t: { info: { tags: Record<string, string> } }) => void (t.info.tags.masked = "1")) as never, "undefined"],
  ])("%s is the misconfiguration 503 naming the redact option", async (_, redact, what) => {
    const res = await ingest(open({ redact }), {});
    const body = await errorOf(res);
    expect([res.status, res.headers.get("retry-after")]).toEqual([503, "60"]);
    expect(body.error).toContain(`the redact hook returned ${what}`);
    expect(body.hint).toContain("redact");
    expect(store.puts).toBe(0);
  });
});

describe("options of the wrong shape fail at start-up naming the field", () => {
  // They threw "Cannot convert undefined or null to object", or took a string's characters for limits.
  it.each([
    ["limits null", { limits: null }, /createCollector\(\): limits must be an object/],
    ["limits a string", { limits: "1mb" }, /createCollector\(\): limits must be an object/],
    ["limits an array", { limits: [1] }, /createCollector\(\): limits must be an object/],
    ["rateLimit null", { rateLimit: null }, /createCollector\(\): rateLimit must be an object/],
    ["rateLimit a number", { rateLimit: 50 }, /createCollector\(\): rateLimit must be an object/],
  ])("%s", (_, extra, message) => {
    expect(() => createCollector({ store, ...(extra as object) })).toThrow(message);
  });
});

describe("the retry route", () => {
  it("refuses a page of another origin (a form or no-cors POST needs no preflight), even with reads open; the collector's own pages and servers may retry", async () => {
    const a = open({ readAccess: "open" });
    const t = simpleTrace("dead");
    await store.put([t]);
    const retry = (headers: Record<string, string>) => a.request(`${SELF}/api/traces/${t.info.traceId}/retry`, { method: "POST", headers });
    for (const origin of ["https://evil.example", "null"]) {
      const res = await retry({ origin, "content-type": "application/x-www-form-urlencoded" });
      expect([origin, res.status]).toEqual([origin, 403]);
      expect((await errorOf(res)).error).toContain(origin);
    }
    expect((await retry({ origin: SELF })).status).toBe(200);
    expect((await retry({})).status).toBe(200);
  });
});

describe("auth functions that throw", () => {
  // They were a 503 "could not store the traces right now" (Retry-After: 5), and /health blamed
  // the trace store. What they threw stays in the Worker's log: it may quote a secret's text.
  it.each([
    ["secret(env)", { secret: (env: Record<string, unknown>) => JSON.parse(env.SECRETS as string).collector as string }, "options.secret(env)"],
    ["ingestKeys(env)", { ingestKeys: (env: Record<string, unknown>) => JSON.parse(env.SECRETS as string).keys as never }, "options.ingestKeys(env)"],
  ])("%s that throws is the misconfiguration 503 naming it, on ingest and /health", async (_, extra, name) => {
    const env = { SECRETS: "{not json: tops3cret-value" };
    const a = open(extra as never);
    const errors: unknown[] = [];
    const log = console.error;
    console.error = (...args: unknown[]) => void errors.push(args);
    try {
      for (const res of [await ingest(a, { authorization: "Bearer x" }, undefined, env), await a.request(`${SELF}/health`, {}, env)]) {
        const body = await errorOf(res);
        expect([res.status, res.headers.get("retry-after")]).toEqual([503, "60"]);
        expect(body.error).toContain(`${name} threw`);
        expect(JSON.stringify(body)).not.toContain("tops3cret");
      }
    } finally {
      console.error = log;
    }
    expect(errors.length).toBeGreaterThan(0); // the cause is in the log
    expect(store.puts).toBe(0);
  });
});

describe("CORS when INGEST_KEYS cannot be read", () => {
  it("the 503 to a page of another origin still varies on Origin (the collector's own pages get it with CORS)", async () => {
    const env = { INGEST_KEYS: "[{" };
    const a = open();
    const preflight = await a.request(`${SELF}/v1/ingest`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } }, env);
    const post = await ingest(a, { origin: "https://app.example" }, undefined, env);
    for (const res of [preflight, post]) {
      expect([res.status, res.headers.get("vary"), res.headers.get("access-control-allow-origin")]).toEqual([503, "Origin", null]);
    }
    const own = await ingest(a, { origin: SELF }, undefined, env);
    expect([own.status, own.headers.get("vary"), own.headers.get("access-control-allow-origin")]).toEqual([503, "Origin", SELF]);
  });
});

describe("store and clock options of the wrong kind fail at start-up", () => {
  // They were taken, then every request got a 503 "retry later" that no retry could cure.
  it.each([
    ["store the Durable Object namespace itself", { store: { get() {}, idFromName() {} } }, /createCollector\(\): options\.store must be a TraceStore \(put, list, get, retry\) or \(env\) => TraceStore; it has no put, list, retry/],
    ["store a string", { store: "TRACE_BUFFER" }, /options\.store must be a TraceStore/],
    ["now a number", { now: 5 }, /createCollector\(\): now must be a function returning epoch milliseconds/],
  ])("%s", (_, extra, message) => {
    expect(() => createCollector({ store, ...(extra as object) })).toThrow(message);
  });
});

describe("a secret no Authorization header can carry", () => {
  // A line break kept from a file (Terraform's file(), a JSON secrets file): every server sender
  // and reader sending the secret got 401 "not this collector's secret".
  it("COLLECTOR_SECRET with a trailing line break is the misconfiguration 503 naming it, on ingest, reads and /health", async () => {
    const env = { COLLECTOR_SECRET: "server-s3cret-value\n" };
    const a = open();
    const auth = { authorization: "Bearer server-s3cret-value" };
    const responses = [await ingest(a, auth, undefined, env), await a.request(`${SELF}/api/traces`, { headers: auth }, env), await a.request(`${SELF}/health`, {}, env)];
    for (const res of responses) {
      const body = await errorOf(res);
      expect([res.status, res.headers.get("retry-after")]).toEqual([503, "60"]);
      expect(body.error).toContain("COLLECTOR_SECRET is not printable ASCII without a space at either end");
      expect(JSON.stringify(body)).not.toContain("s3cret");
    }
    expect(store.puts).toBe(0);
  });

  it("pages sending their ingest key are not held back by it: only requests that need the secret get the 503", async () => {
    // A whitespace-ended secret never let a server sender in; pages with keys worked, and must keep working.
    const env = { COLLECTOR_SECRET: "server-s3cret-value\n", INGEST_KEYS: JSON.stringify([{ key: "pk-page-0001", origins: ["https://app.example"] }]) };
    const a = open();
    const page = await ingest(a, { "x-mlflow-edge-key": "pk-page-0001", origin: "https://app.example" }, undefined, env);
    expect(page.status).toBe(200);
    expect(store.puts).toBe(1);
    const server = await ingest(a, { authorization: "Bearer server-s3cret-value" }, undefined, env);
    expect([server.status, (await errorOf(server)).error]).toEqual([503, expect.stringContaining("COLLECTOR_SECRET is not printable ASCII without a space at either end")]);
    // So with a secret(env) that throws or gives no string; with no keys to fall back on, every ingest is the 503.
    for (const secret of [() => { throw new Error("no SECRETS binding"); }, () => 5 as unknown as string]) {
      const log = console.error;
      const logged: unknown[] = [];
      console.error = (...args: unknown[]) => void logged.push(args);
      try {
        const b = open({ secret, ingestKeys: [{ key: "pk-page-0001", origins: ["*"] }] });
        expect((await ingest(b, { "x-mlflow-edge-key": "pk-page-0001" })).status).toBe(200);
        expect(logged).toEqual([]); // the secret is not read for a page: no log line per visitor's batch
        expect((await ingest(b, { authorization: "Bearer x" })).status).toBe(503);
        expect((await ingest(open({ secret }), { "x-mlflow-edge-key": "pk-page-0001" })).status).toBe(503);
      } finally {
        console.error = log;
      }
    }
  });

  it("a COLLECTOR_SECRET that is neither text nor a Secrets Store secret (a JSON var) is the misconfiguration 503 naming it for server senders; pages with keys are still taken", async () => {
    const env = { COLLECTOR_SECRET: { secret: "server-s3cret-value" }, INGEST_KEYS: JSON.stringify([{ key: "pk-page-0001", origins: ["*"] }]) };
    const a = open();
    const server = await ingest(a, { authorization: "Bearer server-s3cret-value" }, undefined, env);
    expect([server.status, (await errorOf(server)).error]).toEqual([503, expect.stringContaining("COLLECTOR_SECRET is a binding holding object, not text or a Secrets Store secret")]);
    expect((await ingest(a, { "x-mlflow-edge-key": "pk-page-0001" }, undefined, env)).status).toBe(200);
  });

  it("given in code, it is a TypeError at start-up; a secret(env) returning one is the 503", async () => {
    expect(() => open({ secret: " server-s3cret-value" })).toThrow(/createCollector\(\): secret is not printable ASCII without a space at either end/);
    expect(() => open({ secret: "server-s\u00e9cret-value" })).toThrow(/secret is not printable ASCII/); // as ingest keys: no header carries it as written
    const res = await ingest(open({ secret: () => "server-s3cret-value\r\n" }), { authorization: "Bearer server-s3cret-value" });
    expect([res.status, (await errorOf(res)).error]).toEqual([503, expect.stringContaining("options.secret(env) returned a secret that is not printable ASCII without a space at either end")]);
  });

  it("reads a deployment keeps open (readAccess: \"open\", as the demo) do not depend on the secret, as they do not on INGEST_KEYS", async () => {
    const a = open({ readAccess: "open" });
    for (const env of [{ COLLECTOR_SECRET: "server-s3cret-value\n" }, { COLLECTOR_SECRET: "ok-secret-value", INGEST_KEYS: "[{" }]) {
      expect((await a.request(`${SELF}/api/traces`, {}, env)).status).toBe(200);
    }
    const fromFn = open({ readAccess: "open", secret: (env) => env.NOT_A_STRING as string });
    expect((await fromFn.request(`${SELF}/api/traces`, {}, { NOT_A_STRING: 5 })).status).toBe(200);
  });
});

describe("comparing a credential with the secret", () => {
  // (Its time depends on the length of what the caller sent only; that is read in the code, not timed here.)
  it("matches only the exact secret: not a prefix, an extension, a repetition or another text of its length", () => {
    const secret = "server-s3cret-value";
    expect(sameSecret(secret, secret)).toBe(true);
    for (const given of ["", "s", secret.slice(0, -1), `${secret}x`, secret.repeat(2), secret.replace("3", "4"), "x".repeat(secret.length), "é".repeat(secret.length)]) {
      expect(sameSecret(given, secret), JSON.stringify(given)).toBe(false);
    }
    expect(sameSecret("pk-\u00e9t\u00e9-key", "pk-\u00e9t\u00e9-key")).toBe(true);
    // Texts that differ only in a lone surrogate (UTF-8 writes each as the same U+FFFD bytes).
    expect(sameSecret("s3cret-\ud800", "s3cret-\udbff")).toBe(false);
    expect(sameSecret("s3cret-\ud800", "s3cret-\ufffd")).toBe(false);
  });
});

describe("a 401 names the credentials the collector takes", () => {
  // HTTP asks every 401 for a challenge; the key refusals had none, and a collector with only a
  // secret told a caller with no credentials to send an ingest key it has none of.
  const challengeOf = async (a: App, headers: Record<string, string>) => {
    const res = await ingest(a, headers);
    return [res.status, res.headers.get("www-authenticate"), (await errorOf(res)).error];
  };
  const KEY = 'MLflow-Edge-Key realm="mlflow-edge collector", header="x-mlflow-edge-key"';
  const BEARER = 'Bearer realm="mlflow-edge collector"';
  it.each([
    ["keys only", { ingestKeys: [{ key: "pk-page-0001", origins: ["*"] }] }, KEY, "missing ingest key"],
    ["keys and a secret", { ingestKeys: [{ key: "pk-page-0001", origins: ["*"] }], secret: "server-s3cret-value" }, `${KEY}, ${BEARER}`, "missing ingest key"],
    ["a secret only", { secret: "server-s3cret-value" }, BEARER, "missing credentials"],
  ])("%s", async (_, options, challenge, missing) => {
    const a = open(options);
    expect(await challengeOf(a, {})).toEqual([401, challenge, missing]);
    expect(await challengeOf(a, { "x-mlflow-edge-key": "pk-not-a-key" })).toEqual([401, challenge, "unknown ingest key"]);
    expect(await challengeOf(a, { authorization: "Bearer not-the-secret" })).toEqual([401, BEARER, "the Authorization bearer token is not this collector's secret"]);
  });
});
