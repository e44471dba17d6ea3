// Retry timing and error classification. The fetch here is a local stub that only scripts status
// codes: it proves the backoff arithmetic, never delivery (test/mlflow does that against MLflow).
import { describe, expect, it } from "vitest";
import { authHeaders } from "./auth.js";
import { MlflowHttpError, MlflowNetworkError } from "./errors.js";
import { describeErrorBody, sendWithRetry, type FetchLike } from "./http.js";
import { parseRetryAfter } from "../export/backoff.js";
import { backoffDelay, nextDelay, resolveRetryPolicy } from "./retry.js";

type Answer = { status: number; statusText?: string; headers?: Record<string, string>; body?: string };
function scripted(answers: (number | Error | Answer)[]) {
  const calls: number[] = [];
  const fetch: FetchLike = async () => {
    calls.push(Date.now());
    const next = answers.shift();
    if (next === undefined) throw new Error("script exhausted");
    if (next instanceof Error) throw next;
    const a: Answer = typeof next === "number" ? { status: next } : next;
    return new Response(a.body ?? "", { status: a.status, statusText: a.statusText, headers: a.headers });
  };
  return { fetch, calls };
}

function settings(fetch: FetchLike, delays: number[], retry = {}) {
  return {
    fetch, headers: {}, timeoutMs: 1000, retry: resolveRetryPolicy({ initialDelayMs: 100, ...retry }),
    random: () => 0.5, sleep: async (ms: number) => void delays.push(ms),
  };
}

describe("backoff", () => {
  it("doubles from the initial delay with equal jitter, capped by maxDelayMs", () => {
    const p = resolveRetryPolicy({ initialDelayMs: 100, maxDelayMs: 1000 });
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, p, () => 0))).toEqual([50, 100, 200, 400, 500]);
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, p, () => 1))).toEqual([100, 200, 400, 800, 1000]);
  });

  it("parses Retry-After as seconds or an HTTP date, and lets it override the backoff, in full", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", Date.parse("Wed, 21 Oct 2015 07:28:00 GMT"))).toBe(5000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter("31536000")).toBe(3_600_000); // a year: a broken server, waited at most an hour
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:05 GMT", Date.parse("Wed, 21 Oct 2015 07:29:00 GMT"))).toBe(0); // past
    const p = resolveRetryPolicy({ maxDelayMs: 2000 });
    expect(nextDelay(1, p, 1500)).toBe(1500);
    expect(nextDelay(1, p, 60_000)).toBe(60_000); // never retried sooner than asked (the time budget decides whether to wait)
  });

  it("rejects bad policies with the field's name", () => {
    expect(() => resolveRetryPolicy({ maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => resolveRetryPolicy({ initialDelayMs: -1 })).toThrow(/initialDelayMs/);
  });
});

describe("send", () => {
  it("a send whose deadline has passed makes no request at all (one sent and aborted a tick later still reached MLflow)", async () => {
    let calls = 0;
    const fetch: FetchLike = async () => (calls++, new Response("{}"));
    const error = await sendWithRetry({ ...settings(fetch, []), outage: {}, deadline: Date.now() - 1 }, { method: "POST", url: "http://x/v1/traces" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowNetworkError);
    expect(String(error)).toMatch(/deadline passed before this try/);
    expect(calls).toBe(0);
  });

  it("a retry's wait that ends past the deadline (a busy isolate's late timer) reports MLflow's last answer, not the untried try", async () => {
    const s = scripted([{ status: 503, body: '{"error_code":"TEMPORARILY_UNAVAILABLE","message":"down for maintenance"}' }]);
    // The wait asked for ends 50 ms within the deadline; the timer fires 100 ms late.
    const deadline = Date.now() + 150;
    const late = { ...settings(s.fetch, []), deadline, sleep: () => new Promise<void>((r) => setTimeout(r, Math.max(0, deadline - Date.now()) + 10)) };
    const error = await sendWithRetry(late, { method: "POST", url: "http://x/v1/traces" }).catch((e: unknown) => e);
    // (Before: "the send's deadline passed before this try", MLflow's 503 gone; CI met it under load.)
    expect(error).toBeInstanceOf(MlflowHttpError);
    expect(String(error)).toMatch(/503.*down for maintenance/);
    expect(s.calls).toHaveLength(1);
  });

  it("retries 500, 503, 408 (a proxy timing out) and network errors, then succeeds", async () => {
    const delays: number[] = [];
    const s = scripted([500, new TypeError("fetch failed"), { status: 503 }, { status: 408, statusText: "Request Timeout" }, 200]);
    const answer = await sendWithRetry(settings(s.fetch, delays), { method: "POST", url: "http://x/v1/traces" });
    expect(answer.status).toBe(200);
    expect(delays).toEqual([75, 150, 300, 600]);
  });

  it("waits what Retry-After says on 429", async () => {
    const delays: number[] = [];
    const s = scripted([{ status: 429, headers: { "Retry-After": "2" } }, 200]);
    await sendWithRetry(settings(s.fetch, delays, { maxDelayMs: 5000 }), { method: "GET", url: "http://x/" });
    expect(delays).toEqual([2000]);
  });

  it("waits a Retry-After longer than one backoff delay in full, and gives up at once when it does not fit the time budget", async () => {
    const delays: number[] = [];
    const s = scripted([{ status: 429, headers: { "Retry-After": "45" } }, 200]);
    await sendWithRetry(settings(s.fetch, delays), { method: "GET", url: "http://x/" });
    expect(delays).toEqual([45_000]); // (maxDelayMs is 10 s: it capped this at 10 s)
    const later: number[] = [];
    const t = scripted([{ status: 503, headers: { "Retry-After": "120" } }, 200]);
    const error = await sendWithRetry(settings(t.fetch, later), { method: "GET", url: "http://x/" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 503, retryAfterMs: 120_000 });
    expect(later).toEqual([]);
  });

  it("with a client's shared outage, the time budget counts from when the server started failing: once spent, requests fail at once, one tried every maxDelayMs", async () => {
    let now = 0;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      let tried = 0;
      const fetch: FetchLike = async () => {
        tried++;
        now += 1_000; // each try takes a second
        throw new TypeError("fetch failed");
      };
      const base = { fetch, headers: {}, timeoutMs: 1000, retry: resolveRetryPolicy({ maxElapsedMs: 20_000, maxDelayMs: 5_000 }), random: () => 0.5, outage: {} };
      const s = { ...base, sleep: async (ms: number) => void (now += ms) };
      const first = await sendWithRetry(s, { method: "POST", url: "http://x/1" }).catch((e: unknown) => e);
      expect(first).toBeInstanceOf(MlflowNetworkError);
      expect(now).toBeLessThanOrEqual(20_000);
      // One request failing alone refuses nobody (it may be the only one the server fails); the next
      // is tried until the outage's budget (from the first failure) is spent: from then on the others are refused.
      const before = tried;
      await sendWithRetry(s, { method: "POST", url: "http://x/1b" }).catch(() => undefined);
      expect(tried).toBeGreaterThan(before);
      expect(now).toBeLessThanOrEqual(21_000);
      const spent = now;
      const triedFirst = tried;
      // Every later request within maxDelayMs fails at once, untried, saying why.
      const later = await Promise.all([1, 2, 3].map((i) => sendWithRetry(s, { method: "POST", url: `http://x/${i + 1}` }).catch((e: unknown) => e)));
      expect(tried).toBe(triedFirst);
      expect(now).toBe(spent);
      for (const e of later) expect(String((e as Error).message)).toMatch(/not tried: the server has failed every request for \d+ s \(last: MLflow POST http:\/\/x\/1b failed: fetch failed/);
      // After maxDelayMs one is tried again; an answer ends the outage.
      now += 5_000;
      const ok: FetchLike = async () => new Response("{}", { status: 200 });
      expect((await sendWithRetry({ ...s, fetch: ok }, { method: "POST", url: "http://x/5" })).status).toBe(200);
      expect(s.outage).toMatchObject({ since: undefined, refusedUntil: undefined });

      // One trace the server always fails while it answers the others: no outage, nobody refused.
      let i = 0;
      const mixed: FetchLike = async (url) => {
        now += 1_000;
        i++;
        if (String(url).endsWith("/poison")) return new Response("", { status: 500 });
        return new Response("{}", { status: 200 });
      };
      const m = { ...s, fetch: mixed };
      const poison = sendWithRetry(m, { method: "POST", url: "http://x/poison" }).catch((e: unknown) => e);
      const others = await Promise.all(Array.from({ length: 30 }, (_, k) => sendWithRetry(m, { method: "POST", url: `http://x/ok${k}` })));
      expect(await poison).toMatchObject({ status: 500 });
      expect(others.every((a) => a.status === 200)).toBe(true);
      expect((await sendWithRetry(m, { method: "POST", url: "http://x/after" })).status).toBe(200); // not refused
      expect(i).toBeGreaterThan(31);

      // An outage followed by a quiet time (the app idle, the server back): forgotten, nothing refused.
      const down = await sendWithRetry(s, { method: "POST", url: "http://x/down" }).catch((e: unknown) => e);
      expect(down).toBeInstanceOf(MlflowNetworkError);
      now += 60_000;
      const four = await Promise.all([1, 2, 3, 4].map((k) => sendWithRetry({ ...s, fetch: ok }, { method: "POST", url: `http://x/back${k}` })));
      expect(four.map((a) => a.status)).toEqual([200, 200, 200, 200]);

      // Down again; once maxDelayMs has passed, one request goes and those sent meanwhile wait for it.
      await sendWithRetry(s, { method: "POST", url: "http://x/down2" }).catch(() => undefined);
      now += 5_000;
      let probes = 0;
      const slowOk: FetchLike = async () => (probes++, new Response("{}", { status: 200 }));
      const together = await Promise.all([1, 2, 3].map((k) => sendWithRetry({ ...s, fetch: slowOk }, { method: "POST", url: `http://x/probe${k}` })));
      expect(together.map((a) => a.status)).toEqual([200, 200, 200]);
      expect(probes).toBe(3);
    } finally {
      Date.now = realNow;
    }
  });

  it("a probe that never settles (its Worker invocation ended) holds the requests waiting on it one try's time at most, and is replaced", async () => {
    let now = 0;
    const realNow = Date.now;
    Date.now = () => now;
    try {
      const down: FetchLike = async () => {
        now += 1_000;
        throw new TypeError("fetch failed");
      };
      const s = { fetch: down, headers: {}, timeoutMs: 20, retry: resolveRetryPolicy({ maxElapsedMs: 5_000, maxDelayMs: 1_000 }), random: () => 0.5, outage: {}, sleep: async (ms: number) => void (now += ms) };
      await sendWithRetry(s, { method: "POST", url: "http://x/1" }).catch(() => undefined); // the budget spent
      await sendWithRetry(s, { method: "POST", url: "http://x/2" }).catch(() => undefined); // a second request failing: others refused
      now += 1_000;
      void sendWithRetry({ ...s, fetch: () => new Promise<Response>(() => {}) }, { method: "POST", url: "http://x/probe" }); // never settles
      const waiting = sendWithRetry(s, { method: "POST", url: "http://x/waits" }).catch((e: unknown) => e);
      expect(String(await waiting)).toMatch(/not tried/); // after timeoutMs + 1 s of real time, not never
      now += 2_000; // past one try's time: the stuck probe is let go
      const ok: FetchLike = async () => new Response("{}", { status: 200 });
      expect((await sendWithRetry({ ...s, fetch: ok }, { method: "POST", url: "http://x/next" })).status).toBe(200);
    } finally {
      Date.now = realNow;
    }
  });

  it("one trace failing alone (a 500 about it) while nothing else is sent refuses nobody: the next trace is sent", async () => {
    const s = { ...settings(scripted([]).fetch, []), retry: resolveRetryPolicy({ initialDelayMs: 1, maxElapsedMs: 50, maxDelayMs: 10_000 }), outage: {} };
    const poison = await sendWithRetry({ ...s, fetch: async () => new Response("", { status: 500 }) }, { method: "POST", url: "http://x/poison" }).catch((e: unknown) => e);
    expect(poison).toMatchObject({ status: 500 });
    let tried = 0;
    const answer = await sendWithRetry({ ...s, fetch: async () => (tried++, new Response("{}", { status: 200 })) }, { method: "POST", url: "http://x/next" });
    expect([answer.status, tried]).toEqual([200, 1]);
  });

  it("a 501 (a file store's /v1/traces) is an answer, not retried: the client sends the spans another way at once, and no outage starts", async () => {
    const delays: number[] = [];
    const s = scripted([{ status: 501, body: '{"detail": "not supported"}' }]);
    const error = await sendWithRetry({ ...settings(s.fetch, delays), outage: {} }, { method: "POST", url: "http://x/v1/traces" }).catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 501, retryable: false, attempts: 1 });
    expect(delays).toEqual([]);
  });

  it("fails at once on 403 with the server's message and code in a typed error", async () => {
    const delays: number[] = [];
    const s = scripted([{ status: 403, statusText: "Forbidden", body: '{"error_code": "PERMISSION_DENIED", "message": "Permission denied"}' }]);
    const error = await sendWithRetry(settings(s.fetch, delays), { method: "POST", url: "http://x/api" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowHttpError);
    expect(error).toMatchObject({ status: 403, errorCode: "PERMISSION_DENIED", serverMessage: "Permission denied", retryable: false, attempts: 1 });
    expect(String((error as Error).message)).toBe("MLflow POST http://x/api answered 403 Forbidden (PERMISSION_DENIED): Permission denied");
    expect(delays).toEqual([]);
  });

  it("gives up after maxAttempts with the last failure, naming the attempts", async () => {
    const delays: number[] = [];
    const s = scripted([new TypeError("fetch failed"), new TypeError("fetch failed"), new TypeError("fetch failed")]);
    const error = await sendWithRetry(settings(s.fetch, delays, { maxAttempts: 3 }), { method: "GET", url: "http://x/" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MlflowNetworkError);
    expect((error as Error).message).toBe("MLflow GET http://x/ failed: fetch failed (after 3 attempts)");
  });

  it("times out a stalled request and retries it", async () => {
    let n = 0;
    const fetch: FetchLike = (_url, init) => {
      n++;
      if (n === 2) return Promise.resolve(new Response("{}", { status: 200 }));
      return new Promise((_resolve, reject) => init!.signal!.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError"))));
    };
    const delays: number[] = [];
    const answer = await sendWithRetry({ ...settings(fetch, delays), timeoutMs: 30 }, { method: "GET", url: "http://x/" });
    expect(answer.status).toBe(200);
    expect(n).toBe(2);
  });

  it("describes error bodies: MLflow JSON, FastAPI detail, or plain text", () => {
    expect(describeErrorBody('{"detail": "Invalid OpenTelemetry format"}')).toEqual({ errorCode: undefined, message: "Invalid OpenTelemetry format" });
    expect(describeErrorBody("You are not authenticated.\n Please log in.")).toEqual({ errorCode: undefined, message: "You are not authenticated. Please log in." });
  });
});

describe("auth", () => {
  it("sends Basic for username+password (UTF-8 safe), else Bearer, else nothing", () => {
    expect(authHeaders({ username: "admin", password: "pässword" })).toEqual({ Authorization: `Basic ${Buffer.from("admin:pässword").toString("base64")}` });
    expect(authHeaders({ token: "t0k" })).toEqual({ Authorization: "Bearer t0k" });
    expect(authHeaders({})).toEqual({});
  });
});
