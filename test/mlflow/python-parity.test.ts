// The same programs written with MLflow's Python SDK (python_programs.py) and with mlflow-edge,
// sent to the same real server; the stored traces are compared field by field, ids and times aside.
// Every difference that remains is listed in KNOWN_DIFFERENCES (and docs/mlflow-differences.md),
// so a new one fails the test.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, inject, it } from "vitest";
import * as mlflow from "../../core/index.js";
import { mlflowUri, newExperiment, readViaPython, readViaUi, type NormalSpan, type NormalTrace } from "./readback.js";

class ValueError_ extends Error {}

const programs: Record<string, () => Promise<unknown> | unknown> = {
  decorator() {
    const add_1 = mlflow.trace(function add_1(x: number) { return x + 1; }, { spanType: "func", attributes: { key: "value" } });
    const minus_1 = mlflow.trace(function minus_1(x: number) { return x - 1; }, { spanType: "func", attributes: { key1: "value1" } });
    mlflow.trace(function trace_test(x: number) { return minus_1(add_1(x)); }, { name: "Trace Test" })(4);
  },
  explicit_outputs() {
    mlflow.trace(function answer(q: string) {
      mlflow.getCurrentActiveSpan()!.setOutputs({ answer: q.toUpperCase() });
      return { text: q.toUpperCase(), tokens: 7 };
    })("why?");
  },
  chat_list_root() {
    return mlflow.withSpan((span) => {
      span.setInputs([{ role: "system", content: "be brief" }, { role: "user", content: "hi" }]);
      span.setOutputs([{ role: "assistant", content: "hello!" }]);
    }, { name: "chat" });
  },
  emoji_cut() {
    mlflow.trace(function ask(q: string) { return q && "ok"; })("a" + "\u{1F600}".repeat(1200));
  },
  user_trace_name() {
    mlflow.trace(function named() { mlflow.updateCurrentTrace({ tags: { "mlflow.traceName": "custom-name" } }); return 1; })();
  },
  outputs_none() {
    mlflow.trace(function five() { mlflow.getCurrentActiveSpan()!.setOutputs(null); return 5; })();
  },
  code_block() {
    return mlflow.withSpan((span) => { span.setInputs({ x: 1, y: 2 }); span.setOutputs(3); }, { name: "MySpan" });
  },
  tags_and_previews() {
    mlflow.trace(function generate_text(prompt: string) {
      mlflow.getCurrentActiveSpan()!.setAttributes({ model: "gpt-4o-mini", temperature: 0.7, stop: ["\n"] });
      mlflow.updateCurrentTrace({
        tags: { fruit: "apple" }, metadata: { tenant: "acme" }, clientRequestId: "req-42",
        requestPreview: "Doc: preview", responsePreview: "Summary: preview",
      });
      return prompt.toUpperCase();
    }, { spanType: mlflow.SpanType.LLM })("hi");
  },
  chat_with_usage() {
    const create = mlflow.trace(function create(messages: { role: string; content: string }[], model: string) {
      mlflow.getCurrentActiveSpan()!.setAttribute("mlflow.chat.tokenUsage", { input_tokens: 5, output_tokens: 3, total_tokens: 8 });
      return { choices: [{ message: { role: "assistant", content: `You said: ${messages.at(-1)!.content}` } }] };
    }, { name: "Completions", spanType: mlflow.SpanType.CHAT_MODEL });
    mlflow.trace(function chat(question: string) { return create([{ role: "user", content: question }], "gpt-4o-mini"); }, { spanType: mlflow.SpanType.CHAIN })("Hello");
  },
  exception() {
    const child = mlflow.trace(function child(x: number) { return x * 2; });
    const parse = mlflow.trace(function parse(text: string) {
      child(21);
      mlflow.getCurrentActiveSpan()!.setAttribute("stage", "parsing");
      throw new ValueError_(`Some error in ${text}`);
    });
    try { parse("{bad json"); } catch { /* expected */ }
  },
  generator_reducer() {
    const stream_data = mlflow.trace(function* stream_data() { yield* "hé😀lo"; }, { outputReducer: (chunks: string[]) => chunks.join(",") });
    for (const _ of stream_data()) { /* consume */ }
  },
  generator_plain() {
    const stream_data = mlflow.trace(function* stream_data() { for (let i = 0; i < 3; i++) yield i; });
    for (const _ of stream_data()) { /* consume */ }
  },
  long_values() {
    mlflow.withSpan((span) => {
      mlflow.updateCurrentTrace({ tags: { note: "t".repeat(5000) }, metadata: { "mlflow.trace.session": "s".repeat(300) } });
      span.setInputs({ q: 1 });
    }, { name: "n".repeat(5000) });
  },
  unstorable_spans() {
    const model = mlflow.trace(function model(q: string) {
      const span = mlflow.getCurrentActiveSpan()!;
      span.setAttribute("mlflow.chat.tokenUsage", { input_tokens: null, output_tokens: 2, total_tokens: 2 });
      span.setAttribute("session.id", "s".repeat(300));
      return q.toUpperCase();
    }, { spanType: mlflow.SpanType.CHAT_MODEL });
    mlflow.trace(function app(q: string) { return model(q); }, { spanType: mlflow.SpanType.CHAIN })("hi");
  },
  usage_with_cache() {
    const model = mlflow.trace(function model(q: string) {
      mlflow.getCurrentActiveSpan()!.setAttribute("mlflow.chat.tokenUsage", { input_tokens: 7, output_tokens: 2, cache_read_input_tokens: 5 });
      return q;
    }, { spanType: mlflow.SpanType.CHAT_MODEL });
    mlflow.trace(function app(q: string) { return model(q) + model(q); }, { spanType: mlflow.SpanType.CHAIN })("hi");
  },
  small_floats() {
    mlflow.trace(function score(p: number) { return { p, lp: [-3.2e-5, 2.5e-9, 0.5] }; })(1e-5);
  },
  event_arrays() {
    return mlflow.withSpan((span) => {
      span.addEvent({ name: "typed", attributes: { ints: [1, 2, 3], floats: [0.5, 1.5], bools: [true, false], words: ["a", "b"] } });
    }, { name: "events" });
  },
  async generator_throws() {
    const tokens = mlflow.trace(function* tokens() {
      yield "a";
      yield 1e-5;
      throw new ValueError_("boom mid-stream");
    });
    try { for (const _ of tokens()) { /* consume */ } } catch { /* expected */ }
  },
};

/** Differences that remain between a Python-SDK trace and an mlflow-edge trace (see docs/mlflow-differences.md). */
const KNOWN_DIFFERENCES = {
  /** Python records where it runs (user, script, git); a browser or Worker has no such thing. */
  pythonOnlyMetadata: ["mlflow.source.git.branch", "mlflow.source.git.commit", "mlflow.source.git.repoURL", "mlflow.source.name", "mlflow.source.type", "mlflow.user"],
};

/** A stored trace without what legitimately differs per run: ids, times, sizes, stack traces. */
function comparable(trace: NormalTrace) {
  const { trace_id: _id, request_time: _t, execution_duration: _d, tags, metadata, ...info } = trace.info;
  const { "mlflow.artifactLocation": _a, ...restTags } = tags;
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (KNOWN_DIFFERENCES.pythonOnlyMetadata.includes(k)) continue;
    // Sizes depend on ids and times; only the span count is compared.
    meta[k] = k === "mlflow.trace.sizeStats" ? `num_spans=${(JSON.parse(v) as { num_spans: number }).num_spans}` : k === "mlflow.trace.sizeBytes" ? "<n>" : v;
  }
  const spans = trace.spans.map(({ start_ns: _s, end_ns: _e, ...span }: NormalSpan) => ({
    ...span,
    events: span.events.map((e) => {
      const { "exception.stacktrace": stack, ...attributes } = e.attributes;
      return stack === undefined ? e : { name: e.name, attributes: { ...attributes, "exception.stacktrace": "<stack>" } };
    }),
  }));
  return { info: { ...info, tags: restTags, metadata: meta }, spans };
}

const script = fileURLToPath(new URL("./python_programs.py", import.meta.url));
function runPython(experimentId: string): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    execFile(inject("mlflowPython"), [script, mlflowUri(), experimentId], { env: { ...process.env, MLFLOW_DISABLE_TELEMETRY: "true", DO_NOT_TRACK: "true" } }, (error, stdout, stderr) => {
      if (error) reject(new Error(`python_programs.py failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Record<string, string>);
    });
  });
}

let python: Record<string, string>;
const edge: Record<string, string> = {};

beforeAll(async () => {
  const experimentId = await newExperiment("parity");
  python = await runPython(experimentId);
  mlflow.init({ trackingUri: mlflowUri(), experimentId, dedupeSpanNames: false, silent: true });
  for (const [name, program] of Object.entries(programs)) {
    await program();
    edge[name] = mlflow.getLastActiveTraceId()!;
  }
  await mlflow.flushTraces();
  mlflow.init({ silent: true });
}, 120_000);

describe("the same program through MLflow's Python SDK and through mlflow-edge", () => {
  for (const name of Object.keys(programs)) {
    it(`${name}: the stored traces match field by field (REST)`, async () => {
      const [py, ours] = await Promise.all([readViaUi(python[name]!), readViaUi(edge[name]!)]);
      expect(comparable(ours)).toEqual(comparable(py));
      // The known difference is exactly the environment metadata, nothing else.
      const missing = Object.keys(py.info.metadata).filter((k) => !(k in ours.info.metadata)).sort();
      expect(missing).toEqual(KNOWN_DIFFERENCES.pythonOnlyMetadata.filter((k) => k in py.info.metadata));
      expect(Object.keys(ours.info.metadata).filter((k) => !(k in py.info.metadata))).toEqual([]);
    });
  }

  it("MLflow's Python client reads both the same way (get_trace)", async () => {
    const read = await readViaPython([...Object.values(python), ...Object.values(edge)]);
    for (const name of Object.keys(programs)) {
      expect(comparable(read.traces[edge[name]!]!)).toEqual(comparable(read.traces[python[name]!]!));
    }
  }, 120_000);
});
