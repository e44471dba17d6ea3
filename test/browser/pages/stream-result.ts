// A traced model call that returns a fetch body, as a frontend LLM call hands on an SSE stream:
// Chromium's own stream consumers (Response, pipeThrough, a reader cancelled midway) take the
// stream the tracer returns, and the span lasts until the body has been read.
import * as mlflow from "../../../core/index.js";

const callModel = mlflow.trace(async function callModel(chunks: number) {
  const response = await fetch(`/stream?chunks=${chunks}&gap=50`); // a stalled renderer still sees the body arrive after the return
  return response.body!;
}, { spanType: mlflow.SpanType.LLM });

const consumers: Record<string, (body: ReadableStream<Uint8Array>) => Promise<string>> = {
  response: (body) => new Response(body).text(),
  pipeThrough: async (body) => {
    let text = "";
    const reader = (body as ReadableStream<BufferSource>).pipeThrough(new TextDecoderStream()).getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) text += r.value;
    return text;
  },
  cancel: async (body) => {
    const reader = body.getReader();
    const first = await reader.read();
    await reader.cancel("stop pressed");
    return new TextDecoder().decode(first.value);
  },
};

async function run(consumer: string) {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, contextManager: new mlflow.StackContextManager() });
  const started = performance.now();
  const body = await callModel(4);
  const returnedAfter = performance.now() - started;
  const text = await consumers[consumer]!(body);
  await mlflow.flushTraces();
  const span = exporter.traces[0]?.data.spans[0];
  return {
    text,
    traces: exporter.traces.length,
    outputs: span?.outputs,
    status: span?.status.statusCode,
    events: span?.events.length,
    returnedAfter,
    spanMs: span && span.endTime !== null ? span.endTime - span.startTime : null,
  };
}
Object.assign(globalThis, { runStreamResult: run });

// A traced generator is still an Iterator: Chromium's iterator helpers and disposal work on it.
async function runGeneratorHelpers() {
  const exporter = new mlflow.InMemoryExporter();
  mlflow.init({ exporter, contextManager: new mlflow.StackContextManager() });
  const tokens = mlflow.trace(function* tokens() { yield "a"; yield "b"; yield "c"; });
  const stream = mlflow.trace(async function* stream() { yield 1; yield 2; });
  const mapped = (tokens() as any).map((t: string) => t.toUpperCase()).toArray();
  const disposed = tokens();
  disposed.next();
  (disposed as any)[Symbol.dispose](); // `using`: ends the span like a break
  const asyncDisposed = stream();
  await asyncDisposed.next();
  await (asyncDisposed as any)[Symbol.asyncDispose]();
  await mlflow.flushTraces();
  return {
    mapped,
    isIterator: tokens() instanceof (globalThis as any).Iterator,
    spans: exporter.traces.map((t) => { const s = t.data.spans[0]!; return [s.name, s.outputs, s.endTime !== null]; }),
  };
}
Object.assign(globalThis, { runGeneratorHelpers });
