// End to end with the real tools: the demo Worker under `wrangler dev` (collector, TraceBuffer
// Durable Objects, an instrumented LLM route) and the real MLflow server. A browser-like sender
// and the Worker's own route produce one joined trace that appears in MLflow once, nested right;
// with MLflow down and the Worker restarted in between, everything arrives once when MLflow is back.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { MlflowClient } from "../../core/mlflow/client.js";
import { startWranglerDev, type WranglerDev } from "../e2e/wrangler-dev.js";
import { FaultProxy } from "./fault-proxy.js";
import { mlflowUri, readViaRest, searchViaRest } from "./readback.js";

const KEY = "demo-page-key"; // the demo's ingest key (wrangler.toml), bound to the Worker's own origin
let proxy: FaultProxy;
let worker: WranglerDev | undefined;
let experimentName: string;

const vars = () => ({
  MLFLOW_TRACKING_URI: proxy.url,
  MLFLOW_EXPERIMENT_NAME: experimentName,
  FORWARD_DELAY_MS: "200",
  FORWARD_RETRY_BASE_MS: "300",
  FORWARD_RETRY_MAX_MS: "1500",
});

beforeAll(async () => {
  proxy = new FaultProxy(mlflowUri());
  await proxy.start();
  experimentName = `worker-e2e-${Date.now()}`;
  worker = await startWranglerDev({ vars: vars() });
}, 180_000);

afterAll(async () => {
  await worker?.stop();
  await proxy.stop();
});

const exporter = new mlflow.InMemoryExporter();

/** The browser's side of one chat turn: a root span, and a fetch to the Worker carrying traceparent. */
async function browserTurn(base: string, question: string): Promise<mlflow.Trace> {
  mlflow.init({ exporter, silent: true });
  await mlflow.withSpan(
    async (chat) => {
      await mlflow.withSpan(
        async (fetchSpan) => {
          const res = await fetch(`${base}/llm/v1/chat/completions`, {
            method: "POST",
            headers: { "content-type": "application/json", traceparent: `00-${fetchSpan.traceId.slice(3)}-${fetchSpan.spanId}-01` },
            body: JSON.stringify({ model: "demo-mini", stream: true, messages: [{ role: "user", content: question }] }),
          });
          expect(res.status).toBe(200);
          const sse = await res.text();
          expect(sse).toContain("data: [DONE]");
          return { status: res.status };
        },
        { name: "fetch", spanType: mlflow.SpanType.UNKNOWN, parent: chat },
      );
      return "answered";
    },
    { name: "chat", spanType: mlflow.SpanType.AGENT, inputs: { message: question } },
  );
  await mlflow.flushTraces();
  return exporter.drain()[0]!;
}

async function ingest(base: string, traces: mlflow.Trace[]): Promise<Response> {
  return fetch(`${base}/v1/ingest`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-mlflow-edge-key": KEY, origin: base },
    body: JSON.stringify({ version: 1, traces }),
  });
}

async function experimentId(): Promise<string> {
  for (let i = 0; i < 100; i++) {
    const id = await new MlflowClient({ trackingUri: mlflowUri() }).getExperimentIdByName(experimentName);
    if (id) return id;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`experiment ${experimentName} never created`);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${worker?.output().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("demo Worker under wrangler dev, with the real MLflow", () => {
  it("a browser part and the instrumented Worker route form one trace that reaches MLflow once, nested", async () => {
    const base = worker!.url;
    const browserPart = await browserTurn(base, "What is mlflow-edge?");
    expect((await ingest(base, [browserPart])).status).toBe(200);
    const id = browserPart.info.traceId;
    // Spans reach MLflow before the TraceInfo (StartTraceV3) that names the trace: wait until the
    // buffer says the whole trace went through, not only until MLflow shows its spans.
    const stored = await waitFor("the joined trace in MLflow", async () => {
      const { summary } = (await (await fetch(`${base}/api/traces/${id}`)).json()) as { summary: { forwarding: string; spanCount: number } };
      if (summary.forwarding !== "forwarded" || summary.spanCount !== 3) return undefined;
      const t = await readViaRest(id);
      return t.spans.length === 3 ? t : undefined;
    });
    expect(stored.spans.map((s) => [s.name, s.parent]).sort()).toEqual(
      [
        ["chat", null],
        ["fetch", "chat"],
        ["POST /llm/v1/*", "fetch"],
      ].sort(),
    );
    const workerSpan = stored.spans.find((s) => s.name === "POST /llm/v1/*")!;
    expect(workerSpan.attributes).toMatchObject({ "http.request.method": "POST", "url.path": "/llm/v1/chat/completions", "http.response.status_code": 200 });
    expect(stored.info.request_preview).toBe('{"message": "What is mlflow-edge?"}'); // not chat-shaped: MLflow shows the JSON
    const exp = await experimentId();
    expect(await searchViaRest(exp, `trace.name = 'chat'`)).toEqual([id]);
    // The buffer says so too.
    const summary = (await (await fetch(`${base}/api/traces/${id}`)).json()) as { summary: { forwarding: string; spanCount: number } };
    expect(summary.summary).toMatchObject({ forwarding: "forwarded", spanCount: 3 });
  }, 120_000);

  it("MLflow down, the Worker restarted in between: every trace arrives once when MLflow is back", async () => {
    const exp = await experimentId();
    const before = new Set(await searchViaRest(exp, ""));
    const port = proxy.port;
    await proxy.stop(); // MLflow unreachable: connections refused
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const part = await browserTurn(worker!.url, `outage question ${i}`);
      expect((await ingest(worker!.url, [part])).status).toBe(200);
      sent.push(part.info.traceId);
    }
    // Failed attempts are visible in the buffer.
    await waitFor("a failed forwarding attempt", async () => {
      const page = (await (await fetch(`${worker!.url}/api/traces?limit=10`)).json()) as { traces: { traceId: string; attempts: number; lastError: string | null }[] };
      const t = page.traces.find((x) => x.traceId === sent[0]);
      return t && t.attempts > 0 && t.lastError ? t : undefined;
    });
    const stateDir = worker!.stateDir;
    await worker!.stop();
    worker = await startWranglerDev({ vars: vars(), stateDir });
    await proxy.start(port);
    const arrived = await waitFor("all traces in MLflow", async () => {
      const ids = (await searchViaRest(exp, "")).filter((x) => !before.has(x));
      return sent.every((s) => ids.includes(s)) ? ids : undefined;
    }, 90_000);
    expect(arrived.sort()).toEqual([...sent].sort()); // once each, nothing else
    for (const id of sent) expect((await readViaRest(id)).spans).toHaveLength(3);
  }, 240_000);
});
