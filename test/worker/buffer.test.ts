// The TraceBuffer Durable Object inside workerd: durable, idempotent puts; merging the parts of a
// trace; forwarding to the real MLflow server (behind the fault proxy) with backoff, Retry-After
// and dead-lettering; retention; the query API over shards.
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { ShardedTraceStore, shardOf } from "../../worker/buffer/shards.js";
import type { Trace } from "../../core/model/types.js";
import { TraceBuffer } from "../../worker/buffer/trace-buffer.js";
import type { TraceStore, TraceSummary } from "../../worker/store.js";
import { api, endPause, fault, forwardNow, fromMlflow, makeDue, proxy, resetProxy, row, sortedTree, sql } from "./fixture/buffer-helpers.js";
import { finishedAndSnapshot, joinedTrace, simpleTrace } from "./traces.js";

let n = 0;
const buffer = () => env.TRACE_BUFFER.get(env.TRACE_BUFFER.idFromName(`t-${Date.now()}-${n++}`));

beforeEach(async () => {
  await resetProxy();
});

describe("TraceBuffer: storing", () => {
  it("acknowledges a put once the trace is in SQLite, and a resend is a duplicate, not a second copy", async () => {
    const stub = buffer();
    const t = simpleTrace("durable");
    expect(await api(stub).put([t])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    expect(await row(stub, t.info.traceId)).toMatchObject({ span_count: 2, forwarding: "buffered", state: "OK" });
    expect(await api(stub).put([t, t])).toEqual({ stored: 0, merged: 0, duplicates: 2 });
    const stored = await api(stub).get(t.info.traceId);
    expect(stored?.trace.data.spans).toEqual(t.data.spans);
    expect(stored?.summary).toMatchObject({ traceId: t.info.traceId, name: "answer", spanCount: 2, requestPreview: t.info.requestPreview, forwarding: "buffered" });
  });

  it("a resend of a trace whose token usage another SDK wrote as compact JSON changes nothing: a duplicate, not sent to MLflow again", async () => {
    const stub = buffer();
    const t = simpleTrace("usage");
    t.data.spans[1]!.attributes["mlflow.chat.tokenUsage"] = { input_tokens: 3, output_tokens: 4, total_tokens: 7 };
    t.info.traceMetadata["mlflow.trace.tokenUsage"] = '{"input_tokens":3,"output_tokens":4,"total_tokens":7}';
    expect(await api(stub).put([t])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    const first = (await row(stub, t.info.traceId))!;
    expect(await api(stub).put([t])).toEqual({ stored: 0, merged: 0, duplicates: 1 });
    expect((await row(stub, t.info.traceId))!.version).toBe(first.version);
    // The trace's usage is the sum over its spans, written as MLflow writes it, from the first put on.
    expect(JSON.parse(String(JSON.parse(String(first.info)).traceMetadata["mlflow.trace.tokenUsage"]))).toEqual({ input_tokens: 3, output_tokens: 4, total_tokens: 7 });
  });

  it("merges the Worker part and the browser part of one trace by span id; the part with the true root describes it", async () => {
    const stub = buffer();
    const { browser, worker } = joinedTrace();
    expect(worker.info.traceId).toBe(browser.info.traceId);
    expect(await api(stub).put([worker])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    // Without its root the trace waits (FORWARD_PARTIAL_DELAY_MS) for the rest.
    expect(Number((await row(stub, worker.info.traceId))!.next_attempt_at)).toBeGreaterThan(Date.now() + 30_000);
    expect(await api(stub).put([browser])).toEqual({ stored: 0, merged: 1, duplicates: 0 });
    const stored = (await api(stub).get(browser.info.traceId))!;
    expect(sortedTree(stored.trace)).toEqual([
      ["POST /api/answer", "fetch"],
      ["chat", null],
      ["fetch", "chat"],
      ["llm", "POST /api/answer"],
    ]);
    expect(stored.summary).toMatchObject({ name: "chat", spanCount: 4, requestPreview: browser.info.requestPreview, responsePreview: browser.info.responsePreview });
    expect(stored.trace.info.tags.side).toBe("browser");
    // Both parts again, in either order: nothing new.
    expect(await api(stub).put([browser, worker])).toEqual({ stored: 0, merged: 0, duplicates: 2 });
  });

  it("a hidden page's snapshot never overrides the finished trace, whichever arrives last", async () => {
    const { finished, snapshot } = await finishedAndSnapshot();
    expect(snapshot.data.spans[0]!.endTime!).toBeLessThan(finished.data.spans[0]!.endTime!);
    const id = finished.info.traceId;
    // The page finished the trace, sent it, then was discarded before deleting its snapshot.
    const late = buffer();
    expect(await api(late).put([finished])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    expect(await api(late).put([snapshot])).toEqual({ stored: 0, merged: 0, duplicates: 1 });
    // The snapshot went first (another tab sent it), then the finished trace.
    const early = buffer();
    await api(early).put([snapshot]);
    expect(await api(early).put([finished])).toEqual({ stored: 0, merged: 1, duplicates: 0 });
    for (const stub of [late, early]) {
      const stored = (await api(stub).get(id))!;
      expect(stored.trace.data.spans).toEqual(finished.data.spans);
      expect(stored.trace.info).toEqual(finished.info);
      expect(stored.summary.responsePreview).toBe(finished.info.responsePreview);
    }
  });
});

describe("TraceBuffer: forwarding to MLflow", () => {
  it("forwards a due trace when the alarm runs; MLflow has it with every span", async () => {
    const stub = buffer();
    const t = simpleTrace("forward me", { tags: { suite: "buffer" } });
    await api(stub).put([t]);
    expect(await forwardNow(stub)).toBe(true);
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "forwarded", attempts: 1, last_error: null, next_attempt_at: null });
    const stored = await fromMlflow(t.info.traceId);
    expect(stored?.tree).toEqual(sortedTree(t));
    expect(stored?.info).toMatchObject({ state: "OK", request_preview: t.info.requestPreview });
    expect(stored?.info.tags.suite).toBe("buffer");
  });

  it("a joined trace reaches MLflow once, with the browser and Worker parts nested; a part arriving after forwarding is sent again, merged", async () => {
    const stub = buffer();
    const { browser, worker } = joinedTrace();
    await api(stub).put([browser]);
    await forwardNow(stub);
    expect((await fromMlflow(browser.info.traceId))?.tree).toHaveLength(2);
    await api(stub).put([worker]); // late Worker part
    expect(await row(stub, browser.info.traceId)).toMatchObject({ forwarding: "buffered" });
    await makeDue(stub);
    await forwardNow(stub);
    const stored = await fromMlflow(browser.info.traceId);
    expect(stored?.tree).toEqual([
      ["POST /api/answer", "fetch"],
      ["chat", null],
      ["fetch", "chat"],
      ["llm", "POST /api/answer"],
    ]);
    expect(stored?.info.request_preview).toBe(browser.info.requestPreview);
    expect(await row(stub, browser.info.traceId)).toMatchObject({ forwarding: "forwarded", attempts: 2 });
  });

  it("MLflow answering 503 twice, then 200: retried with growing backoff, stored once", async () => {
    const stub = buffer();
    const t = simpleTrace("flaky");
    await api(stub).put([t]);
    await fault("^/v1/traces", 503, 2);
    const before = Date.now();
    await forwardNow(stub);
    const first = (await row(stub, t.info.traceId))!;
    expect(first).toMatchObject({ forwarding: "buffered", attempts: 1 });
    expect(String(first.last_error)).toContain("503");
    expect(Number(first.next_attempt_at)).toBeGreaterThanOrEqual(before + 30_000); // FORWARD_RETRY_BASE_MS / 2 at least
    // The alarm is set for the retry, or for the end of the shard's pause if later (a 503 pauses the
    // whole shard too: see the storm test below).
    const stats = await api(stub).stats();
    expect(stats.nextAlarm).toBe(Math.max(Number(first.next_attempt_at), stats.pausedUntil ?? 0));
    await endPause(stub);
    await forwardNow(stub);
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "buffered", attempts: 2 });
    await endPause(stub);
    await forwardNow(stub);
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "forwarded", attempts: 3, last_error: null });
    expect((await fromMlflow(t.info.traceId))?.tree).toEqual(sortedTree(t));
    const counted = (await (await fetch(`${proxy}/__proxy/count?match=^/v1/traces`)).json()) as { count: number };
    expect(counted.count).toBe(3);
  });

  it("MLflow overloaded (429 without Retry-After, 503) or away: one run stops after the first answers, and the shard waits longer each run", async () => {
    const stub = buffer();
    const traces = Array.from({ length: 25 }, (_, i) => simpleTrace(`storm ${i}`));
    await api(stub).put(traces);
    await fault("^/v1/traces", 429, 100, {}, JSON.stringify({ error_code: "RESOURCE_EXHAUSTED", message: "rate limited" }));
    const sent = async () => (await sql<{ n: number }>(stub, "SELECT SUM(attempts) AS n FROM traces"))[0]!.n;
    const before = Date.now();
    await forwardNow(stub);
    expect(await sent()).toBe(4); // one group of four, then the shard stops (it sent all 25 before)
    const first = (await api(stub).stats()).pausedUntil!;
    expect(first).toBeGreaterThan(before);
    await forwardNow(stub); // still paused: nothing goes out
    expect(await sent()).toBe(4);
    await endPause(stub);
    await forwardNow(stub);
    expect(await sent()).toBe(8);
    expect(await sql(stub, "SELECT key, value FROM shard_state WHERE key = 'server_failures'")).toEqual([{ key: "server_failures", value: 2 }]);
    await resetProxy(); // the server is back: the next run sends everything and the count starts again
    await endPause(stub);
    await forwardNow(stub);
    expect((await api(stub).list({ forwarding: "forwarded", limit: 100 })).traces).toHaveLength(25);
    expect(await sql(stub, "SELECT value FROM shard_state WHERE key = 'server_failures'")).toEqual([{ value: 0 }]);
  });

  it("MLflow (or a proxy before it) answering 408 more times than FORWARD_MAX_PERMANENT_FAILURES: retried, never dead-lettered", async () => {
    const stub = buffer();
    const t = simpleTrace("timed out by a proxy");
    await api(stub).put([t]);
    await fault("^/v1/traces", 408, 4, {}, "request timeout");
    for (let i = 0; i < 4; i++) {
      await makeDue(stub);
      await forwardNow(stub);
    }
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "buffered", attempts: 4, permanent_failures: 0 });
    await makeDue(stub);
    await forwardNow(stub);
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "forwarded", attempts: 5 });
  });

  it("honours Retry-After from MLflow: nothing else is sent to it until then, and a new part does not bring the retry forward", async () => {
    const stub = buffer();
    const t = simpleTrace("slow down", { tags: { v: "1" } });
    await api(stub).put([t]);
    await fault("^/v1/traces", 429, 1, { "Retry-After": "1200" });
    const before = Date.now();
    await forwardNow(stub);
    const r = (await row(stub, t.info.traceId))!;
    expect(r.forwarding).toBe("buffered");
    expect(String(r.last_error)).toContain("429");
    expect(Number(r.next_attempt_at)).toBeGreaterThanOrEqual(before + 1_200_000);
    // The alarm itself is set for then, not for the (shorter) backoff.
    const stats = await api(stub).stats();
    expect(stats.nextAlarm).toBe(r.next_attempt_at);
    expect(stats.pausedUntil).toBeGreaterThanOrEqual(before + 1_200_000);

    // Another trace, even one made due now, waits for the same Retry-After; so does a new part.
    const other = simpleTrace("also waits");
    const update = simpleTrace("slow down", { tags: { v: "2" } });
    update.info.traceId = t.info.traceId;
    update.data.spans = t.data.spans;
    expect(await api(stub).put([other, update])).toEqual({ stored: 1, merged: 1, duplicates: 0 });
    // (Longer than the fixture's 600 s settle window, so the new part's own due time is earlier.)
    expect(await row(stub, t.info.traceId)).toMatchObject({ next_attempt_at: r.next_attempt_at, last_error: r.last_error });
    await forwardNow(stub);
    // Nothing was sent (counted by the buffer: other test files send through the same proxy).
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "buffered", attempts: 1 });
    expect(await row(stub, other.info.traceId)).toMatchObject({ forwarding: "buffered", attempts: 0 });
    expect((await api(stub).stats()).nextAlarm).toBeGreaterThanOrEqual(before + 1_200_000);

    // Once the pause is over both go, the merged trace with its newer tag.
    await runInDurableObject(stub, (_: TraceBuffer, state) => {
      state.storage.sql.exec("UPDATE shard_state SET value = 0");
    });
    await forwardNow(stub);
    expect(await row(stub, other.info.traceId)).toMatchObject({ forwarding: "forwarded" });
    expect((await fromMlflow(t.info.traceId))?.info.tags.v).toBe("2");
  });

  it("MLflow down (connection refused) keeps the trace buffered with the network error", async () => {
    const stub = buffer();
    const t = simpleTrace("down");
    await api(stub).put([t]);
    await fault("^/v1/traces", 502, 1, {}, "bad gateway");
    await forwardNow(stub);
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "buffered", attempts: 1 });
    expect(await fromMlflow(t.info.traceId)).toBeUndefined();
  });

  it("a trace whose spans MLflow cannot keep in its tables (422) still reaches MLflow, as traces.json, as Python's SDK sends it", async () => {
    const stub = buffer();
    const t = simpleTrace("unaddable usage");
    const llm = t.data.spans.find((s) => s.parentId !== null)!;
    llm.attributes["mlflow.chat.tokenUsage"] = { input_tokens: null, output_tokens: 2, total_tokens: 2 };
    await api(stub).put([t]);
    await forwardNow(stub);
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "forwarded", attempts: 1 });
    const info = (await (await fetch(`${proxy}/api/3.0/mlflow/traces/${t.info.traceId}`)).json()) as { trace: { trace_info: { tags: Record<string, string> } } };
    expect(info.trace.trace_info.tags["mlflow.traceName"]).toBe("answer");
    expect(info.trace.trace_info.tags["mlflow.trace.spansLocation"]).toBeUndefined();
    const data = (await (await fetch(`${proxy}/ajax-api/2.0/mlflow/get-trace-artifact?request_id=${t.info.traceId}`)).json()) as { spans: { name: string }[] };
    expect(data.spans.map((s) => s.name).sort()).toEqual(["answer", "retrieve"]);
  });

  it("a trace MLflow keeps refusing (400) is dead-lettered with the server's message, visible in the list, and retry() sends it again", async () => {
    const stub = buffer();
    const t = simpleTrace("refused");
    await api(stub).put([t]);
    expect(await api(stub).retry(t.info.traceId)).toBe(false); // buffered: already queued, nothing to retry
    await fault("^/api/3.0/mlflow/traces$", 400, 3, {}, JSON.stringify({ error_code: "INVALID_PARAMETER_VALUE", message: "trace too odd" }));
    for (let i = 0; i < 3; i++) {
      await makeDue(stub);
      await forwardNow(stub);
    }
    const dead = (await row(stub, t.info.traceId))!;
    expect(dead).toMatchObject({ forwarding: "dead-lettered", attempts: 3, permanent_failures: 3, next_attempt_at: null });
    expect(String(dead.last_error)).toContain("trace too odd");
    const page = await api(stub).list({ forwarding: "dead-lettered" });
    expect(page.traces.map((s) => [s.traceId, s.forwarding])).toEqual([[t.info.traceId, "dead-lettered"]]);
    expect(page.traces[0]!.lastError).toContain("INVALID_PARAMETER_VALUE");
    expect(await api(stub).retry(t.info.traceId)).toBe(true);
    await forwardNow(stub);
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "forwarded" });
    expect((await fromMlflow(t.info.traceId))?.tree).toEqual(sortedTree(t));
    expect(await api(stub).retry(t.info.traceId)).toBe(false); // forwarded: in MLflow, not sent again
    expect(await row(stub, t.info.traceId)).toMatchObject({ forwarding: "forwarded" });
    expect(await api(stub).retry("tr-00000000000000000000000000000000")).toBe(false);
  });

  it("refused credentials (401/403) pause the shard and dead-letter nothing: the traces go once the credentials work", async () => {
    const stub = buffer();
    const [a, b] = [simpleTrace("credentials a"), simpleTrace("credentials b")];
    await api(stub).put([a, b]);
    const unpause = () => runInDurableObject(stub, (_: TraceBuffer, state) => void state.storage.sql.exec("DELETE FROM shard_state"));
    await fault("^/v1/traces", 401, 6, {}, JSON.stringify({ error_code: "UNAUTHENTICATED", message: "bad token" }));
    for (let i = 0; i < 3; i++) {
      await unpause();
      await forwardNow(stub); // both are sent, both refused
      expect((await api(stub).stats()).pausedUntil).toBeGreaterThan(Date.now());
    }
    const rows = await Promise.all([a, b].map((t) => row(stub, t.info.traceId)));
    // Three refusals dead-letter a trace MLflow refuses (400); refused credentials are not the trace's fault.
    expect(rows.map((r) => [r!.forwarding, r!.attempts, r!.permanent_failures])).toEqual([["buffered", 3, 0], ["buffered", 3, 0]]);
    expect(String(rows[0]!.last_error)).toContain("401");
    await unpause(); // the credentials were fixed and the pause has passed
    await forwardNow(stub);
    expect(await Promise.all([a, b].map(async (t) => (await row(stub, t.info.traceId))!.forwarding))).toEqual(["forwarded", "forwarded"]);
  });

  it("refused credentials with a backlog: each run sends one group, and the shard waits longer each run, not each trace's first backoff again", async () => {
    const stub = buffer();
    await api(stub).put(Array.from({ length: 25 }, (_, i) => simpleTrace(`backlog ${i}`)));
    await fault("^/v1/traces", 403, 100, {}, JSON.stringify({ error_code: "PERMISSION_DENIED", message: "no access" }));
    const sent = async () => (await sql<{ n: number }>(stub, "SELECT SUM(attempts) AS n FROM traces"))[0]!.n;
    for (let run = 1; run <= 3; run++) {
      await endPause(stub);
      await forwardNow(stub);
      expect(await sent()).toBe(4 * run); // traces not tried yet go first, one group per run
    }
    // Runs in a row that found MLflow refusing everything, as for an overloaded server.
    expect(await sql(stub, "SELECT value FROM shard_state WHERE key = 'server_failures'")).toEqual([{ value: 3 }]);
    await resetProxy(); // access granted: the count starts again
    await endPause(stub);
    await makeDue(stub);
    await forwardNow(stub);
    expect(await sql(stub, "SELECT value FROM shard_state WHERE key = 'server_failures'")).toEqual([{ value: 0 }]);
  });

  it("forwarded traces stay viewable for the retention period, then the alarm deletes them", async () => {
    const stub = buffer();
    const t = simpleTrace("retained");
    await api(stub).put([t]);
    await forwardNow(stub);
    const r = (await row(stub, t.info.traceId))!;
    expect(Number(r.expires_at)).toBeGreaterThan(Date.now() + 23 * 3_600_000);
    await runInDurableObject(stub, (_: TraceBuffer, state) => {
      state.storage.sql.exec("UPDATE traces SET expires_at = 1");
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await api(stub).get(t.info.traceId)).toBeNull();
    expect(await fromMlflow(t.info.traceId)).toBeDefined(); // MLflow still has it, of course
  });
});

describe("TraceBuffer: a part arriving after its forwarded trace left the buffer (retention)", () => {
  const expireAll = async (stub: DurableObjectStub<TraceBuffer>) => {
    await sql(stub, "UPDATE traces SET expires_at = 1");
    expect(await runDurableObjectAlarm(stub)).toBe(true);
  };
  // A browser's clock: epoch ms with a fraction, 16-17 significant digits (timeOrigin + performance.now()).
  const browserTimes = (t: Trace) => {
    for (const span of t.data.spans) {
      span.startTime += 0.7012345;
      if (span.endTime !== null) span.endTime += 0.7012345;
    }
    return t;
  };
  const USAGE = "mlflow.chat.tokenUsage";

  it("an older copy (a hidden page's snapshot sent on a later visit) or a resend changes nothing: MLflow keeps the finished trace", async () => {
    const { finished, snapshot } = await finishedAndSnapshot();
    [finished, snapshot].forEach(browserTimes);
    const id = finished.info.traceId;
    const stub = buffer();
    await api(stub).put([finished]);
    expect(await forwardNow(stub)).toBe(true);
    const before = (await fromMlflow(id))!;
    await expireAll(stub);
    expect(await api(stub).get(id)).toBeNull();
    expect(await api(stub).put([snapshot])).toEqual({ stored: 0, merged: 0, duplicates: 1 });
    expect(await api(stub).put([finished])).toEqual({ stored: 0, merged: 0, duplicates: 1 });
    expect(await api(stub).get(id)).toBeNull(); // nothing stored, nothing to forward
    await makeDue(stub);
    await forwardNow(stub);
    const after = (await fromMlflow(id))!;
    expect(after.info.state).toBe(finished.info.state);
    expect(after.info.execution_duration).toBe(before.info.execution_duration);
    expect(after.tree).toEqual(before.tree);
    // Remembered for DEPARTED_KEPT_MS (30 days); after that a late part is a new trace again, and
    // the next alarm run forgets the record.
    expect(Number((await sql<{ until: number }>(stub, "SELECT until FROM departed WHERE trace_id = ?", id))[0]!.until)).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    await sql(stub, "UPDATE departed SET until = 1");
    expect(await api(stub).put([snapshot])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    await runDurableObjectAlarm(stub);
    expect(await sql(stub, "SELECT trace_id FROM departed")).toEqual([]);
  });

  it("a part with anything MLflow does not have goes whole: MLflow adds its spans, and its token usage and span count are the part's", async () => {
    const { finished, snapshot } = await finishedAndSnapshot(); // workerd's whole milliseconds: ends compare exactly
    for (const t of [finished, snapshot]) t.data.spans.find((sp) => sp.name === "retrieve")!.attributes[USAGE] = { input_tokens: 3, output_tokens: 4, total_tokens: 7 };
    const retrieve = finished.data.spans.find((sp) => sp.name === "retrieve")!;
    finished.data.spans.push({ ...structuredClone(retrieve), spanId: "00000000000000bb", name: "llm", attributes: { [USAGE]: { input_tokens: 10, output_tokens: 20, total_tokens: 30 } } });
    finished.info.traceMetadata["mlflow.trace.tokenUsage"] = '{"input_tokens": 13, "output_tokens": 24, "total_tokens": 37}';
    const stub = buffer();
    await api(stub).put([snapshot]); // the snapshot went first and was forwarded, then deleted here
    await forwardNow(stub);
    await expireAll(stub);
    expect(await api(stub).put([finished])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    await makeDue(stub);
    expect(await forwardNow(stub)).toBe(true);
    const stored = (await fromMlflow(finished.info.traceId))!;
    expect(stored.tree).toEqual([["answer", null], ["llm", "answer"], ["retrieve", "answer"]]);
    expect(stored.info.state).toBe(finished.info.state);
    expect(JSON.parse(stored.info.trace_metadata["mlflow.trace.tokenUsage"]!)).toEqual({ input_tokens: 13, output_tokens: 24, total_tokens: 37 });
    expect(JSON.parse(stored.info.trace_metadata["mlflow.trace.sizeStats"]!)).toMatchObject({ num_spans: 3 });
  });

  it("the Worker part of a joined trace, then the browser part: each remembered, neither sent twice", async () => {
    const { browser, worker } = joinedTrace();
    const stub = buffer();
    await api(stub).put([worker]);
    await forwardNow(stub);
    await expireAll(stub);
    expect(await api(stub).put([worker])).toEqual({ stored: 0, merged: 0, duplicates: 1 }); // what MLflow has
    expect(await api(stub).put([browser])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    await makeDue(stub);
    expect(await forwardNow(stub)).toBe(true);
    expect((await fromMlflow(browser.info.traceId))!.tree).toEqual([
      ["POST /api/answer", "fetch"],
      ["chat", null],
      ["fetch", "chat"],
      ["llm", "POST /api/answer"],
    ]);
    // Forwarded and deleted again, that part is remembered beside the first.
    await expireAll(stub);
    expect(await api(stub).put([browser, worker])).toEqual({ stored: 0, merged: 0, duplicates: 2 });
  });

  it("an older copy still changes nothing after a later part stored the trace again, and in a part that also ends a span MLflow has open", async () => {
    const rootEnd = async (id: string) => {
      const res = await fetch(`${proxy}/api/3.0/mlflow/traces/get?trace_id=${id}`);
      const body = (await res.json()) as { trace: { spans: { parent_span_id?: string; end_time_unix_nano?: string; events?: { name: string }[] }[] } };
      const root = body.trace.spans.find((sp) => !sp.parent_span_id)!;
      return { end: root.end_time_unix_nano, events: (root.events ?? []).map((e) => e.name) };
    };
    // 1. A late Worker part (a span MLflow lacks) stores the trace again; then the snapshot comes.
    const { finished, snapshot } = await finishedAndSnapshot();
    const id = finished.info.traceId;
    const stub = buffer();
    await api(stub).put([finished]);
    await forwardNow(stub);
    const before = await rootEnd(id);
    await expireAll(stub);
    const root = finished.data.spans.find((sp) => sp.parentId === null)!;
    const late: Trace = { info: { ...structuredClone(finished.info), tags: {}, traceMetadata: {} }, data: { spans: [{ ...structuredClone(root), spanId: "00000000000000cc", parentId: root.spanId, name: "POST /api/late", events: [] }] } };
    expect(await api(stub).put([late])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
    expect(await api(stub).put([snapshot])).toEqual({ stored: 0, merged: 0, duplicates: 1 });
    await makeDue(stub);
    await forwardNow(stub);
    expect(await rootEnd(id)).toEqual(before);
    expect((await fromMlflow(id))!.tree).toContainEqual(["POST /api/late", "answer"]);
    // 2. MLflow has a child still open (exported unfinished); the snapshot ends it early but
    // holds an older copy of the root: the whole snapshot is an older view, not sent.
    const two = await finishedAndSnapshot();
    two.finished.data.spans.find((sp) => sp.parentId !== null)!.endTime = null;
    const other = buffer();
    await api(other).put([two.finished]);
    await forwardNow(other);
    const kept = await rootEnd(two.finished.info.traceId);
    await expireAll(other);
    expect(await api(other).put([two.snapshot])).toEqual({ stored: 0, merged: 0, duplicates: 1 });
    expect(await rootEnd(two.finished.info.traceId)).toEqual(kept);
  });

  it("a trace id sent again and again is remembered up to 5000 spans, then forgotten rather than outgrow a row", async () => {
    const t = simpleTrace("fixed traceparent");
    const id = t.info.traceId;
    const stub = buffer();
    const many = Object.fromEntries(Array.from({ length: 4_999 }, (_, i) => [i.toString(16).padStart(16, "0"), 1]));
    await sql(stub, "INSERT INTO departed (trace_id, span_ends, until) VALUES (?, ?, ?)", id, JSON.stringify(many), Date.now() + 86_400_000);
    expect(await api(stub).put([t])).toEqual({ stored: 1, merged: 0, duplicates: 0 }); // its spans are new
    await forwardNow(stub);
    await expireAll(stub); // 4 999 + 2 spans: over the cap
    expect(await sql(stub, "SELECT trace_id FROM departed WHERE trace_id = ?", id)).toEqual([]);
  });

  it("a part repeating a span MLflow has open, still open, beside a new span: stored (the copy is not older)", async () => {
    const { finished } = await finishedAndSnapshot();
    const child = finished.data.spans.find((sp) => sp.parentId !== null)!;
    child.endTime = null; // exported unfinished
    const stub = buffer();
    await api(stub).put([finished]);
    await forwardNow(stub);
    await expireAll(stub);
    const sibling = { ...structuredClone(child), spanId: "00000000000000dd", name: "sibling", endTime: child.startTime + 1 };
    const part: Trace = { info: structuredClone(finished.info), data: { spans: [structuredClone(child), sibling] } };
    expect(await api(stub).put([part])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
  });

  it("a new trace id whose first part has no spans (tags only) is stored, not taken for a duplicate", async () => {
    const t = simpleTrace("tags only", { tags: { k: "v" } });
    t.data.spans = [];
    expect(await api(buffer()).put([t])).toEqual({ stored: 1, merged: 0, duplicates: 0 });
  });
});

describe("TraceBuffer without MLflow configured", () => {
  it("keeps traces viewable as not-configured, never forwards, and expires them after the retention", async () => {
    const stub = env.UNFORWARDED_BUFFER.get(env.UNFORWARDED_BUFFER.idFromName(`u-${Date.now()}`));
    const t = simpleTrace("embedded");
    await api(stub).put([t]);
    expect((await api(stub).get(t.info.traceId))?.summary).toMatchObject({ forwarding: "not-configured", spanCount: 2 });
    await runInDurableObject(stub, (_: TraceBuffer, state) => {
      state.storage.sql.exec("UPDATE traces SET expires_at = 1");
    });
    expect(await forwardNow(stub)).toBe(true);
    expect(await api(stub).get(t.info.traceId)).toBeNull();
    expect(await fromMlflow(t.info.traceId)).toBeUndefined();
  });
});

describe("ShardedTraceStore: routing and the query API", () => {
  it("routes every part of a trace to one shard and spreads traces over all shards", () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 400; i++) counts[shardOf(simpleTrace(`q${i}`).info.traceId, 4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(60);
  });

  it("lists newest first across shards with stable keyset pages, and filters by status, tag, text and forwarding", async () => {
    const store = new ShardedTraceStore(env.UNFORWARDED_BUFFER as never, 3);
    const made: Trace[] = [];
    for (let i = 0; i < 23; i++) {
      const t = simpleTrace(`question ${i} ${i % 5 === 0 ? "about llamas" : "about cats"}`, { tags: { batch: i % 2 ? "odd" : "even" }, fail: i % 7 === 0 });
      t.info.requestTime = 1_800_000_000_000 + i * 1000; // distinct, known order
      made.push(t);
    }
    expect(await store.put(made)).toEqual({ stored: 23, merged: 0, duplicates: 0 });
    const newest = [...made].reverse().map((t) => t.info.traceId);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list({ limit: 5, cursor });
      seen.push(...page.traces.map((t) => t.traceId));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(newest);
    const errors = await store.list({ status: "ERROR" });
    expect(errors.traces.map((t) => t.traceId).sort()).toEqual(made.filter((_, i) => i % 7 === 0).map((t) => t.info.traceId).sort());
    expect((await store.list({ tag: "batch=odd", limit: 200 })).traces).toHaveLength(11);
    expect((await store.list({ tag: "batch", limit: 200 })).traces).toHaveLength(23);
    expect((await store.list({ tag: "nope" })).traces).toHaveLength(0);
    const llamas = await store.list({ text: "LLAMAS" });
    expect(llamas.traces).toHaveLength(5);
    expect((await store.list({ text: "100%_" })).traces).toHaveLength(0); // LIKE wildcards are literal
    expect((await store.list({ forwarding: "not-configured", limit: 200 })).traces).toHaveLength(23);
    const one = made[4]!;
    expect((await store.get(one.info.traceId))?.trace.data.spans).toEqual(one.data.spans);
    expect(await store.get("tr-ffffffffffffffffffffffffffffffff")).toBeNull();
  });

  it("pages through traces whose request time String() writes in exponent notation (a nextCursor it hands out is one it takes back)", async () => {
    // 1e-7 ms: valid, if odd (a sender's unit mistake); before the fix the second page was a 400.
    const tiny = [1e-7, 2e-7, 3e-7].map((requestTime) => {
      const t = simpleTrace("tiny");
      t.info.requestTime = requestTime;
      return t;
    });
    const tinyStore = new ShardedTraceStore(env.UNFORWARDED_BUFFER as never, 1);
    await tinyStore.put(tiny);
    const tinySeen: string[] = [];
    for (let cursor: string | undefined, i = 0; i === 0 || cursor; i++) {
      const page = await tinyStore.list({ limit: 1, text: "tiny", cursor });
      tinySeen.push(...page.traces.map((t) => t.traceId));
      cursor = page.nextCursor ?? undefined;
    }
    expect(tinySeen.sort()).toEqual(tiny.map((t) => t.info.traceId).sort());
  });

  it("text search ignores case in any script, and a shard made before the search column was added still finds its old rows", async () => {
    const stub = env.UNFORWARDED_BUFFER.get(env.UNFORWARDED_BUFFER.idFromName(`search-${Date.now()}`));
    const [old, fresh] = [simpleTrace("old row about Zebras"), simpleTrace("Über die Brücke")];
    const found = await runInDurableObject(stub, async (_: TraceBuffer, state) => {
      const before = new TraceBuffer(state as DurableObjectState, env);
      await state.blockConcurrencyWhile(async () => {});
      await before.put([old]);
      state.storage.sql.exec("ALTER TABLE traces DROP COLUMN search"); // as a shard of the previous release
      const after = new TraceBuffer(state as DurableObjectState, env); // the new deployment migrates it
      await state.blockConcurrencyWhile(async () => {});
      await after.put([fresh]);
      const ids = async (text: string) => (await after.list({ text })).traces.map((t) => t.traceId);
      return { zebras: await ids("zebras"), uber: await ids("über"), UBER: await ids("ÜBER"), brucke: await ids("BRÜCKE") };
    });
    expect(found).toEqual({ zebras: [old.info.traceId], uber: [fresh.info.traceId], UBER: [fresh.info.traceId], brucke: [fresh.info.traceId] });
  });

  it("a listed summary is bounded whatever its trace holds (previews, name, tags); `cut` says what was shortened, get() has it all", async () => {
    const stub = env.UNFORWARDED_BUFFER.get(env.UNFORWARDED_BUFFER.idFromName(`summaries-${Date.now()}`));
    const big = simpleTrace("big");
    // Long tags and short ones, interleaved: the short ones are listed, up to 4096 characters of JSON.
    const tags = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`k${i}`, i % 2 ? `${i}`.padEnd(4800, "v") : `short ${i}`]));
    // MLflow's own tags stored first: listed after the user's, which the Traces view shows.
    const system = Object.fromEntries(Array.from({ length: 150 }, (_, i) => [`mlflow.m${i}`, `system ${i}`]));
    big.info.tags = { ...system, ...tags, "mlflow.traceName": "N".repeat(5000) };
    big.info.requestPreview = "q".repeat(65_000);
    big.info.responsePreview = "é".repeat(65_000);
    const small = simpleTrace("small", { tags: { team: "edge" } });
    const damaged = simpleTrace("damaged");
    expect(await api(stub).put([big, small, damaged])).toEqual({ stored: 3, merged: 0, duplicates: 0 });
    await runInDurableObject(stub, (_: TraceBuffer, state) => {
      state.storage.sql.exec("UPDATE traces SET tags = ? WHERE trace_id = ?", `{"a":${"[".repeat(5000)}`, damaged.info.traceId); // not JSON
    });
    const page = await api(stub).list({ limit: 200 });
    const listed = (t: Trace) => page.traces.find((s) => s.traceId === t.info.traceId)! as TraceSummary & { cut?: string[] };
    const b = listed(big);
    expect(b.cut).toEqual(["name", "requestPreview", "responsePreview", "tags"]);
    expect([b.name!.length, b.requestPreview!.length, b.responsePreview]).toEqual([1000, 1000, "é".repeat(1000)]);
    expect(JSON.stringify(b.tags).length).toBeLessThanOrEqual(4096);
    // Whole tags, in stored order, never a value cut short: the short ones, as many as fit.
    const kept = Object.entries(b.tags);
    expect(kept.length).toBeGreaterThan(50);
    const short = Object.entries(big.info.tags).filter(([, v]) => v.length < 1000);
    const userFirst = [...short.filter(([k]) => !k.startsWith("mlflow.")), ...short.filter(([k]) => k.startsWith("mlflow."))];
    expect(Object.keys(b.tags).filter((k) => !k.startsWith("mlflow.")).length).toBeGreaterThan(50);
    expect(new Map(kept)).toEqual(new Map(userFirst.slice(0, kept.length)));
    expect(JSON.stringify(b).length).toBeLessThan(10_000);
    // A small trace's summary is its whole summary; a damaged tags column lists as no tags.
    expect(listed(small)).toEqual((await api(stub).get(small.info.traceId))!.summary);
    expect(listed(small).cut).toBeUndefined();
    expect(listed(damaged)).toMatchObject({ tags: {}, cut: ["tags"] });
    const whole = (await api(stub).get(big.info.traceId))!;
    expect(whole.summary.tags).toEqual(big.info.tags);
    expect(whole.trace.info.requestPreview).toBe(big.info.requestPreview);
  });

  it("a page of traces with the largest tags a row holds lists (40 of them were over the 32 MiB an RPC carries)", async () => {
    const stub = env.UNFORWARDED_BUFFER.get(env.UNFORWARDED_BUFFER.idFromName(`big-page-${Date.now()}`));
    const value = "v".repeat(4800);
    for (let i = 0; i < 40; i++) {
      const t = simpleTrace(`big tags ${i}`);
      t.info.tags = Object.fromEntries(Array.from({ length: 190 }, (_, k) => [`k${k}`, value])); // 912 KB, twice in the row
      await api(stub).put([t]);
    }
    const page = await api(stub).list({});
    expect(page.traces).toHaveLength(40);
    expect(JSON.stringify(page).length).toBeLessThan(40 * 10_000);
  });

  it("refuses a malformed query instead of guessing", async () => {
    const store = new ShardedTraceStore(env.UNFORWARDED_BUFFER as never, 2);
    await expect(store.list({ limit: 0 })).rejects.toThrow(/limit/);
    await expect(store.list({ cursor: "'; DROP TABLE traces; --" })).rejects.toThrow(/cursor/);
    await expect(store.list({ status: "MAYBE" as never })).rejects.toThrow(/status/);
  });
});
