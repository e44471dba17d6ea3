// Every seed example of the product brief, produced with mlflow-edge, delivered to the real MLflow
// server and read back three ways: MLflow's REST API (`traces/get`), the UI's artifact endpoint
// (`get-trace-artifact`) and MLflow's own Python client (`mlflow.get_trace`, `search_traces`).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as mlflow from "../../core/index.js";
import type { Exporter, Trace } from "../../core/index.js";
import { msToNs } from "../../core/model/clock.js";
import {
  mlflowUri, newExperiment, normalizeLocal, readViaArtifact, readViaPython, readViaRest, searchViaRest,
  type NormalSpan, type NormalTrace,
} from "./readback.js";
import { programs } from "../programs/brief.js";

let experimentId: string;
const sent = new Map<string, Trace>();

/** Sends through the real MlflowExporter and keeps what was sent, to compare with what comes back. */
function teeTo(target: mlflow.MlflowExporter): Exporter & { traces: Trace[] } {
  const traces: Trace[] = [];
  return {
    traces,
    export(trace) {
      traces.push(trace);
      sent.set(trace.info.traceId, trace);
      return target.export(trace);
    },
    flush: () => target.flush(),
  };
}

const withoutReserved = (spans: NormalSpan[]) => spans.map(({ reserved: _r, ...rest }) => rest);

/** Fields MLflow returns exactly as we sent them (the server adds infoFinalized, spansLocation, artifactLocation). */
function expectInfoMatches(info: NormalTrace["info"], trace: Trace): void {
  expect(info.trace_id).toBe(trace.info.traceId);
  expect(info.state).toBe(trace.info.state);
  expect(info.request_preview ?? "").toBe(trace.info.requestPreview ?? "");
  expect(info.response_preview ?? "").toBe(trace.info.responsePreview ?? "");
  expect(info.request_time).toBe(trace.info.requestTime);
  expect(info.execution_duration).toBe(trace.info.executionDuration);
  expect(info.tags).toMatchObject(trace.info.tags);
  expect(info.tags["mlflow.trace.spansLocation"]).toBe("TRACKING_STORE");
  expect(info.metadata).toMatchObject(trace.info.traceMetadata);
  expect(JSON.parse(info.metadata["mlflow.trace.sizeStats"]!)).toMatchObject({ num_spans: trace.data.spans.length });
  expect(Number(info.metadata["mlflow.trace.sizeBytes"])).toBeGreaterThan(0);
  if (trace.info.clientRequestId !== undefined) expect(info.client_request_id).toBe(trace.info.clientRequestId);
}

function expectSpansMatch(actual: NormalSpan[], trace: Trace): void {
  const local = normalizeLocal(trace);
  expect(withoutReserved(actual)).toEqual(withoutReserved(local));
  // Every reserved key we sent is stored (the server may add its own, e.g. mlflow.llm.model).
  actual.forEach((span, i) => expect(span.reserved).toEqual(expect.arrayContaining(local[i]!.reserved)));
}

beforeAll(async () => {
  experimentId = await newExperiment("roundtrip");
});

describe("brief examples round-trip through MLflow's REST API", () => {
  for (const program of programs) {
    it(program.name, async () => {
      const tee = teeTo(new mlflow.MlflowExporter({ trackingUri: mlflowUri(), experimentId }));
      mlflow.init({ exporter: tee, silent: true, ...program.init });
      await program.run();
      await mlflow.flushTraces();
      expect(tee.traces).toHaveLength(program.expected.length);
      for (const trace of tee.traces) {
        const rest = await readViaRest(trace.info.traceId);
        expectInfoMatches(rest.info, trace);
        expectSpansMatch(rest.spans, trace);
        expectSpansMatch(await readViaArtifact(trace.info.traceId), trace);
      }
    });
  }
});

describe("specific fields, as MLflow shows them", () => {
  it("keeps stream chunks as mlflow.chunk.item.N events and the reducer's result as outputs", async () => {
    const traces = [...sent.values()];
    const openai = traces.find((t) => t.data.spans[0]!.name === "predict")!;
    const rest = await readViaRest(openai.info.traceId);
    const span = rest.spans[0]!;
    expect(span.events.map((e) => e.name)).toEqual([0, 1, 2, 3].map((i) => `mlflow.chunk.item.${i}`));
    expect(JSON.parse(span.events[1]!.attributes["mlflow.chunk.value"] as string)).toMatchObject({ choices: [{ delta: { content: "Hel" } }] });
    expect(span.outputs).toMatchObject({ object: "chat.completion", choices: [{ message: { role: "assistant", content: "Hello!" }, finish_reason: "stop" }] });
    expect(rest.info.response_preview).toBe("Hello!"); // MLflow's chat-aware preview of the root outputs
  });

  it("stores the exception event and 'ValueError: …' status of a failed span", async () => {
    const failed = [...sent.values()].find((t) => t.data.spans[0]!.name === "parse")!;
    const rest = await readViaRest(failed.info.traceId);
    expect(rest.info.state).toBe("ERROR");
    const root = rest.spans.find((s) => s.name === "parse")!;
    expect(root).toMatchObject({ status: "ERROR", status_message: "ValueError: Some error", attributes: { stage: "parsing" } });
    expect(root.events).toHaveLength(1);
    expect(root.events[0]).toMatchObject({ name: "exception", attributes: { "exception.type": "ValueError", "exception.message": "Some error" } });
    expect(String(root.events[0]!.attributes["exception.stacktrace"])).toMatch(/at /);
  });

  it("a lone surrogate (half an emoji from another client's cut) costs nothing else: MLflow's parser would drop what follows it", async () => {
    const memory = new mlflow.InMemoryExporter();
    mlflow.init({ exporter: memory, silent: true });
    mlflow.withSpan((span) => {
      span.setInputs({ q: "hi" });
      mlflow.updateCurrentTrace({ tags: { team: "edge" }, metadata: { tenant: "acme" } });
    }, { name: "half" });
    await mlflow.flushTraces();
    const [trace] = memory.drain();
    const half = "\ud83d";
    trace!.info.requestPreview = `cut${half}`;
    trace!.info.tags = { ...trace!.info.tags, [`k${half}`]: `v${half}` };
    trace!.info.traceMetadata = { ...trace!.info.traceMetadata, note: `n${half}` };
    trace!.data.spans[0]!.name = `half${half}`;
    await new mlflow.MlflowExporter({ trackingUri: mlflowUri(), experimentId }).export(trace!);
    const rest = await readViaRest(trace!.info.traceId);
    expect(rest.info.request_preview).toBe("cut\ufffd");
    expect(rest.info.tags).toMatchObject({ team: "edge", "k\ufffd": "v\ufffd", "mlflow.traceName": "half", "mlflow.trace.spansLocation": "TRACKING_STORE" });
    expect(rest.info.metadata).toMatchObject({ tenant: "acme", note: "n\ufffd", "mlflow.traceInputs": '{"q": "hi"}' });
    expect(rest.info.execution_duration).toBe(trace!.info.executionDuration);
    expect(rest.spans.map((s) => s.name)).toEqual(["half\ufffd"]);
  });

  it("masks secrets before sending: an SDK client passed to a traced function keeps its API key out of MLflow", async () => {
    class ChatClient {
      apiKey = "sk-proj-abcdefghijklmnop0123456789";
      baseURL = "https://api.openai.com/v1";
      _options = { apiKey: this.apiKey, maxRetries: 2 };
    }
    mlflow.init({ trackingUri: mlflowUri(), experimentId, silent: true });
    const ask = mlflow.trace(async function ask(client: ChatClient, question: string) { return `${question}: ok`; });
    await ask(new ChatClient(), "hi");
    await mlflow.flushTraces();
    const ids = await searchViaRest(experimentId, "trace.name = 'ask'");
    expect(ids).toHaveLength(1);
    const id = ids[0];
    const rest = await readViaRest(id!);
    expect(rest.spans[0]!.inputs).toEqual({
      client: { apiKey: "[REDACTED]", baseURL: "https://api.openai.com/v1", _options: { apiKey: "[REDACTED]", maxRetries: 2 } },
      question: "hi",
    });
    expect(rest.info.metadata["mlflow.traceInputs"]).not.toContain("sk-proj");
  });

  it("keeps nanosecond timing exact to the microsecond", async () => {
    const any = [...sent.values()][0]!;
    const rest = await readViaRest(any.info.traceId);
    const root = any.data.spans[0]!;
    expect(rest.spans[0]!.start_ns).toBe(msToNs(root.startTime).toString());
    expect(rest.spans[0]!.end_ns).toBe(msToNs(root.endTime!).toString());
  });
});

describe("MLflow's Python client", () => {
  let python: Awaited<ReturnType<typeof readViaPython>>;
  beforeAll(async () => {
    python = await readViaPython([...sent.keys()], [
      { experiment_id: experimentId, filter: "tags.fruit = 'apple'" },
      { experiment_id: experimentId, filter: "trace.name = 'Summarization Pipeline'" },
    ]);
  }, 120_000);

  it("mlflow.get_trace reads every mlflow-edge trace with the same spans, info and timing", () => {
    expect(Object.keys(python.traces).sort()).toEqual([...sent.keys()].sort());
    for (const [id, trace] of sent) {
      const read = python.traces[id]!;
      expectInfoMatches(read.info, trace);
      expectSpansMatch(read.spans, trace);
    }
  });

  it("mlflow.search_traces finds them by tag and by trace name, as does SearchTracesV3", async () => {
    const byTag = [...sent.values()].filter((t) => t.info.tags.fruit === "apple").map((t) => t.info.traceId);
    const byName = [...sent.values()].filter((t) => t.info.tags["mlflow.traceName"] === "Summarization Pipeline").map((t) => t.info.traceId);
    expect(byTag).toHaveLength(1);
    expect(byName).toHaveLength(1);
    expect(python.searches).toEqual([byTag, byName]);
    expect(await searchViaRest(experimentId, "tags.fruit = 'apple'")).toEqual(byTag);
    expect(await searchViaRest(experimentId, "trace.name = 'Summarization Pipeline'")).toEqual(byName);
  });
});

afterAll(() => {
  mlflow.init({ silent: true });
});
