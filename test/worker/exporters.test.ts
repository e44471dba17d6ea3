// Where an instrumented Worker's traces go when it is not the collector itself: a remote
// collector over HTTP (here the test Worker's own collector, a real one), with retries.
import { env, exports } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { bufferStoreFromEnv } from "../../worker/buffer/shards.js";
import { collectorExporter, storeExporter } from "../../worker/exporters.js";
import type { StoredTrace } from "../../worker/store.js";
import { simpleTrace } from "./traces.js";

const BASE = "https://collector.example";
const viaTestWorker = (input: RequestInfo | URL, init?: RequestInit) => exports.default.fetch(new Request(input, init));

describe("collectorExporter", () => {
  it("posts each trace to the collector's /v1/ingest, where it is stored", async () => {
    const exporter = collectorExporter({ url: BASE, ingestKey: "pk-any-origin", fetch: viaTestWorker });
    const t = simpleTrace("remote");
    await exporter.export(t);
    const res = await exports.default.fetch(`${BASE}/api/traces/${t.info.traceId}`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as StoredTrace).trace.data.spans.map((s) => s.name)).toEqual(["answer", "retrieve"]);
  });

  it("retries network errors and 5xx, then delivers once", async () => {
    let calls = 0;
    const flaky = async (input: RequestInfo | URL, init?: RequestInit) => {
      calls++;
      if (calls === 1) throw new TypeError("network connection lost");
      if (calls === 2) return new Response("busy", { status: 503, headers: { "retry-after": "0" } });
      return viaTestWorker(input, init);
    };
    const t = simpleTrace("flaky remote");
    await collectorExporter({ url: BASE, ingestKey: "pk-any-origin", fetch: flaky }).export(t);
    expect(calls).toBe(3);
    expect((await exports.default.fetch(`${BASE}/api/traces/${t.info.traceId}`)).status).toBe(200);
  });

  it("a refusal fails at once with the collector's answer in the message", async () => {
    let calls = 0;
    const counting = async (input: RequestInfo | URL, init?: RequestInit) => (calls++, viaTestWorker(input, init));
    const exporter = collectorExporter({ url: BASE, ingestKey: "pk-wrong-key", fetch: counting });
    await expect(exporter.export(simpleTrace("refused"))).rejects.toThrow(/HTTP 401.*unknown ingest key/);
    expect(calls).toBe(1);
    expect(() => collectorExporter({ url: "ftp://nope" })).toThrow(/http\(s\) URL/);
  });
});

describe("storeExporter", () => {
  it("keeps the trace of a long streamed answer, cut to the ingest limits (it was refused whole: one span over a row)", async () => {
    const memory = new mlflow.InMemoryExporter();
    mlflow.init({ exporter: memory, silent: true });
    const stream = mlflow.trace(async function* llm() {
      for (let i = 0; i < 4000; i++) yield { choices: [{ delta: { content: `token ${i} ` } }], id: "chatcmpl-0123456789", model: "gpt-4o-mini" };
    });
    for await (const _ of stream()) { /* consume */ }
    await mlflow.flushTraces();
    const [trace] = memory.drain();
    await storeExporter(bufferStoreFromEnv(env)!).export(trace!);
    const stored = (await (await exports.default.fetch(`${BASE}/api/traces/${trace!.info.traceId}`)).json()) as StoredTrace;
    expect(stored.trace.data.spans[0]!.events).toHaveLength(1000);
    expect(stored.trace.data.spans[0]!.events.at(-1)!.name).toBe("mlflow.chunk.item.999");
  });

  it("tries a put the runtime marks retryable again (a Durable Object reset by a deploy); a refusal is not retried", async () => {
    const store = bufferStoreFromEnv(env)!;
    let calls = 0;
    const resetOnce = Object.create(store, {
      put: {
        value: (traces: Parameters<typeof store.put>[0]) => {
          if (++calls === 1) return Promise.reject(Object.assign(new Error("Durable Object reset because its code was updated."), { retryable: true }));
          return store.put(traces);
        },
      },
    }) as typeof store;
    const t = simpleTrace("stored after a reset");
    await storeExporter(resetOnce).export(t);
    expect(calls).toBe(2);
    expect((await exports.default.fetch(`${BASE}/api/traces/${t.info.traceId}`)).status).toBe(200);

    let refusals = 0;
    const refusing = Object.create(store, { put: { value: () => (refusals++, Promise.reject(new RangeError("traces[0] would hold 2100 spans"))) } }) as typeof store;
    await expect(storeExporter(refusing).export(simpleTrace("refused"))).rejects.toThrow("2100 spans");
    expect(refusals).toBe(1);
  });

  it("masks secrets before storing, as the collector does with what pages send (a request URL's token, a client's API key)", async () => {
    const memory = new mlflow.InMemoryExporter();
    mlflow.init({ exporter: memory, silent: true });
    const handle = mlflow.trace(function handle(url: string, client: object) { return "ok"; });
    handle("https://app.example/callback?code=x&access_token=ya29.SECRETVALUE", { apiKey: "sk-live-0123456789abcdefghij" });
    await mlflow.flushTraces();
    const [trace] = memory.drain();
    await storeExporter(bufferStoreFromEnv(env)!).export(trace!);
    const stored = (await (await exports.default.fetch(`${BASE}/api/traces/${trace!.info.traceId}`)).json()) as StoredTrace;
    expect(stored.trace.data.spans[0]!.inputs).toEqual({
      url: "https://app.example/callback?code=x&access_token=[REDACTED]",
      client: { apiKey: "[REDACTED]" },
    });
    expect(JSON.stringify(stored.trace)).not.toContain("SECRETVALUE");
  });
});
