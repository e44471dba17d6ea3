// Span overhead: a traced no-op (sync and async) with mlflow-edge, against OpenTelemetry's
// sdk-trace-base tracer with its AsyncLocalStorage context manager doing the equivalent work in
// the same process: start an active span, record inputs and outputs as JSON attributes, end it,
// hand it to a batching processor with a no-op exporter. Rounds alternate to share GC and JIT
// conditions. Prints ns/span (the plain call's cost subtracted) and the ratio.
import { context, trace as otelTrace } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base";
import * as mlflow from "../core/index.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20_000);

const noopExporter: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => {} };
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
const provider = new BasicTracerProvider({
  spanProcessors: [new BatchSpanProcessor(noopExporter, { maxQueueSize: ITERATIONS * 2, maxExportBatchSize: 512, scheduledDelayMillis: 50 })],
});
otelTrace.setGlobalTracerProvider(provider);
const tracer = otelTrace.getTracer("bench");

mlflow.init({ exporter: { export() {} }, silent: true });

const plainSync = (x: number) => x + 1;
const plainAsync = async (x: number) => x + 1;
const edgeSync = mlflow.trace(function noop(x: number) { return x + 1; });
const edgeAsync = mlflow.trace(async function noopAsync(x: number) { return x + 1; });
const otelSync = (x: number) =>
  tracer.startActiveSpan("noop", (span) => {
    span.setAttribute("inputs", JSON.stringify({ x }));
    const out = plainSync(x);
    span.setAttribute("outputs", JSON.stringify(out));
    span.end();
    return out;
  });
const otelAsync = (x: number) =>
  tracer.startActiveSpan("noopAsync", async (span) => {
    span.setAttribute("inputs", JSON.stringify({ x }));
    const out = await plainAsync(x);
    span.setAttribute("outputs", JSON.stringify(out));
    span.end();
    return out;
  });

async function timeIt(fn: (x: number) => unknown, isAsync: boolean): Promise<number> {
  const start = process.hrtime.bigint();
  if (isAsync) for (let i = 0; i < ITERATIONS; i++) await fn(i);
  else for (let i = 0; i < ITERATIONS; i++) fn(i);
  return Number(process.hrtime.bigint() - start) / ITERATIONS;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function compare(label: string, isAsync: boolean, plain: (x: number) => unknown, edge: (x: number) => unknown, otel: (x: number) => unknown) {
  const samples = { plain: [] as number[], edge: [] as number[], otel: [] as number[] };
  for (let r = 0; r < ROUNDS + 1; r++) {
    const order: (keyof typeof samples)[] = r % 2 ? ["edge", "otel", "plain"] : ["otel", "edge", "plain"];
    for (const who of order) {
      const fn = who === "plain" ? plain : who === "edge" ? edge : otel;
      const ns = await timeIt(fn, isAsync);
      if (r > 0) samples[who].push(ns); // round 0 warms up
    }
    await provider.forceFlush();
  }
  const base = median(samples.plain);
  const edgeNs = median(samples.edge) - base;
  const otelNs = median(samples.otel) - base;
  console.log(`${label.padEnd(6)} mlflow-edge ${edgeNs.toFixed(0).padStart(6)} ns/span   OpenTelemetry ${otelNs.toFixed(0).padStart(6)} ns/span   ratio ${(edgeNs / otelNs).toFixed(2)}x`);
  return edgeNs / otelNs;
}

console.log(`span overhead (${ROUNDS} rounds x ${ITERATIONS} calls, median, plain call subtracted; Node ${process.version})`);
const syncRatio = await compare("sync", false, plainSync, edgeSync, otelSync);
const asyncRatio = await compare("async", true, plainAsync, edgeAsync, otelAsync);
console.log(`target: mlflow-edge <= 1.0x OpenTelemetry (while also recording inputs and outputs): sync ${syncRatio <= 1 ? "met" : "NOT met"}, async ${asyncRatio <= 1 ? "met" : "NOT met"}`);
await provider.shutdown();
