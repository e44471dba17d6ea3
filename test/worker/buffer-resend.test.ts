// What MLflow 3.18 does with a second send of a trace id it already has, and the buffer relying on
// it: a part that arrives after its trace was forwarded is sent again, merged, and MLflow ends up
// with one trace holding every span (worker/buffer/forward.ts sums up the measured behaviour).
import { env } from "cloudflare:workers";
import { runDurableObjectAlarm } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { MlflowClient } from "../../core/mlflow/client.js";
import type { SpanData, Trace } from "../../core/model/types.js";
import { api, forwardNow, fromMlflow, proxy, resetProxy, row } from "./fixture/buffer-helpers.js";
import { joinedTrace } from "./traces.js";

const USAGE = "mlflow.chat.tokenUsage";
let n = 0;
const buffer = () => env.TRACE_BUFFER.get(env.TRACE_BUFFER.idFromName(`resend-${Date.now()}-${n++}`));
// As MLflow answers a Timestamp (proto3 JSON): no fraction when it has none (…:20Z, not …:20.000Z).
const iso = (ms: number) => new Date(ms).toISOString().replace(".000Z", "Z");

beforeEach(async () => {
  await resetProxy();
});

describe("MLflow 3.18: a second OTLP + StartTraceV3 send of the same trace id", () => {
  it("adds new spans, overwrites a span sent again, replaces timing, state and previews, and merges tags and metadata key by key", async () => {
    const client = new MlflowClient({ trackingUri: proxy });
    const experiment = await client.getOrCreateExperiment("mlflow-edge-workerd-tests");
    const { browser, worker } = joinedTrace();
    const first = structuredClone(worker);
    first.info.tags = { a: "1", b: "1" };
    first.info.traceMetadata = { x: "1" };
    first.info.requestTime += 5_000;
    first.data.spans[0]!.attributes.k = "first";
    await client.sendTrace(first, experiment);

    const second = structuredClone(browser);
    second.info.tags = { a: "2" };
    second.info.traceMetadata = { y: "1" };
    second.info.state = "ERROR";
    second.info.executionDuration = 9_000;
    const resent = structuredClone(worker.data.spans[0]!);
    resent.attributes.k = "second";
    resent.name = "renamed";
    second.data.spans.push(resent);
    await client.sendTrace(second, experiment);

    const stored = (await fromMlflow(browser.info.traceId))!;
    // llm was only in the first request and stays; the Worker root was overwritten (new name).
    expect(stored.tree).toEqual([
      ["chat", null],
      ["fetch", "chat"],
      ["llm", "renamed"],
      ["renamed", "fetch"],
    ]);
    expect(stored.info).toMatchObject({ request_time: iso(browser.info.requestTime), execution_duration: "9s", state: "ERROR", request_preview: browser.info.requestPreview });
    expect(stored.info.tags).toMatchObject({ a: "2", b: "1" });
    expect(stored.info.trace_metadata).toMatchObject({ x: "1", y: "1" });
    // Size stats describe the second request only (3 spans), not the 4 MLflow now holds.
    expect(JSON.parse(stored.info.trace_metadata["mlflow.trace.sizeStats"]!)).toMatchObject({ num_spans: 3 });
  });
});

describe("TraceBuffer: the settle window", () => {
  it("waits FORWARD_DELAY_MS after the last part, so the browser and Worker parts reach MLflow in one send, by the alarm alone", async () => {
    const stub = env.QUICK_BUFFER.get(env.QUICK_BUFFER.idFromName(`settle-${Date.now()}`));
    const { browser, worker } = joinedTrace();
    const firstAt = Date.now();
    await api(stub).put([browser]);
    const firstDue = Number((await row(stub, browser.info.traceId))!.next_attempt_at);
    expect(firstDue).toBeGreaterThanOrEqual(firstAt + 3_000);
    await new Promise((r) => setTimeout(r, 100));
    const secondAt = Date.now();
    expect(await api(stub).put([worker])).toEqual({ stored: 0, merged: 1, duplicates: 0 });
    const secondDue = Number((await row(stub, browser.info.traceId))!.next_attempt_at);
    expect(secondDue).toBeGreaterThanOrEqual(secondAt + 3_000);
    expect(secondDue).toBeGreaterThan(firstDue);
    expect((await api(stub).stats()).nextAlarm).toBe(secondDue);
    // No test hook from here on: the alarm fires on its own.
    await expect.poll(async () => (await row(stub, browser.info.traceId))!.forwarding, { timeout: 15_000, interval: 100 }).toBe("forwarded");
    expect(await row(stub, browser.info.traceId)).toMatchObject({ attempts: 1 });
    expect((await fromMlflow(browser.info.traceId))?.tree).toEqual([
      ["POST /api/answer", "fetch"],
      ["chat", null],
      ["fetch", "chat"],
      ["llm", "POST /api/answer"],
    ]);
  });
});

describe("TraceBuffer: a part that arrives after its trace was forwarded", () => {
  it("the Worker part forwarded alone, then the browser root: MLflow has one trace with both parts nested, the root's previews, timing and name, the union of tags, and the summed token usage", async () => {
    const stub = buffer();
    const { browser, worker } = joinedTrace();
    // Token usage on both sides: the Worker's LLM call, and a browser-side call beside the fetch.
    worker.data.spans.find((s) => s.name === "llm")!.attributes[USAGE] = { input_tokens: 10, output_tokens: 2, total_tokens: 12 };
    worker.info.traceMetadata["mlflow.trace.tokenUsage"] = '{"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}';
    worker.info.tags.region = "worker-eu";
    const chat = browser.data.spans.find((s) => s.parentId === null)!;
    const rerank: SpanData = { ...structuredClone(chat), spanId: "00000000000000aa", parentId: chat.spanId, name: "rerank", attributes: { [USAGE]: { input_tokens: 5, output_tokens: 1, total_tokens: 6 } } };
    browser.data.spans.push(rerank);
    browser.info.traceMetadata["mlflow.trace.tokenUsage"] = '{"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}';
    browser.info.requestTime -= 250; // the browser's root started before its request reached the Worker
    worker.info.requestTime += 100;

    await api(stub).put([worker]);
    await forwardNow(stub); // the partial wait ran out before the browser part arrived
    const partial = (await fromMlflow(worker.info.traceId))!;
    expect(partial.tree).toEqual([["POST /api/answer", "<remote>"], ["llm", "POST /api/answer"]]);
    expect(partial.info.tags["mlflow.traceName"]).toBe("POST /api/answer");

    expect(await api(stub).put([browser])).toEqual({ stored: 0, merged: 1, duplicates: 0 });
    expect(await row(stub, browser.info.traceId)).toMatchObject({ forwarding: "buffered", span_count: 5 });
    await forwardNow(stub);
    expect(await row(stub, browser.info.traceId)).toMatchObject({ forwarding: "forwarded", attempts: 2 });

    const stored = (await fromMlflow(browser.info.traceId))!;
    expect(stored.tree).toEqual([
      ["POST /api/answer", "fetch"],
      ["chat", null],
      ["fetch", "chat"],
      ["llm", "POST /api/answer"],
      ["rerank", "chat"],
    ]);
    expect(stored.info).toMatchObject({
      request_time: iso(browser.info.requestTime),
      state: browser.info.state,
      request_preview: browser.info.requestPreview,
      response_preview: browser.info.responsePreview,
    });
    expect(stored.info.tags).toMatchObject({ "mlflow.traceName": "chat", side: "browser", region: "worker-eu" });
    expect(JSON.parse(stored.info.trace_metadata["mlflow.trace.tokenUsage"]!)).toEqual({ input_tokens: 15, output_tokens: 3, total_tokens: 18 });
    expect(JSON.parse(stored.info.trace_metadata["mlflow.trace.sizeStats"]!)).toMatchObject({ num_spans: 5 });

    // The buffer's own view agrees, root first.
    const local = (await api(stub).get(browser.info.traceId))!;
    expect(local.trace.data.spans[0]!.name).toBe("chat");
    expect(local.summary).toMatchObject({ name: "chat", spanCount: 5, requestTime: browser.info.requestTime });
  });

  it("a resend of a part already forwarded sends nothing again", async () => {
    const stub = buffer();
    const { browser } = joinedTrace();
    await api(stub).put([browser]);
    await forwardNow(stub);
    expect(await api(stub).put([browser] as Trace[])).toEqual({ stored: 0, merged: 0, duplicates: 1 });
    expect(await row(stub, browser.info.traceId)).toMatchObject({ forwarding: "forwarded", next_attempt_at: null });
    // (Counted by the buffer, not the proxy: other test files send through the same proxy.)
    await runDurableObjectAlarm(stub);
    expect(await row(stub, browser.info.traceId)).toMatchObject({ forwarding: "forwarded", attempts: 1 });
  });
});
