/**
 * mlflow-edge/worker: the Cloudflare Workers runtime. Trace Worker code (`instrument`, the Hono
 * middleware `mlflowTracing`, Durable Object classes with `instrumentDurableObject`), collect traces
 * from browsers and other senders (`createCollector`), buffer them durably and forward them to
 * MLflow (the `TraceBuffer` Durable Object).
 * @module
 */
export { instrument, resetWorkerTracing } from "./instrument.js";
export { instrumentDurableObject, type DurableObjectTracingOptions } from "./durable-object.js";
export type { WorkerTracingOptions } from "./instrument.js";
export { mlflowTracing } from "./hono.js";
export { requestSpan } from "./request-span.js";
export type { RequestSpanOptions } from "./request-span.js";
export { storeExporter, collectorExporter } from "./exporters.js";
export type { CollectorExporterOptions } from "./exporters.js";
export { destinationFromEnv } from "./destination.js";

export { createCollector } from "./collector/app.js";
export type { CollectorOptions } from "./collector/app.js";
export type { CollectorLimits } from "./collector/limits.js";
export type { IngestKey } from "./collector/auth.js";
export type { RateLimit } from "./collector/rate-limit.js";

export { TraceBuffer } from "./buffer/trace-buffer.js";
export type { TraceBufferStats } from "./buffer/trace-buffer.js";
export type { SecretBinding, SecretSetting, TraceBufferEnv } from "./buffer/config.js";
export { ShardedTraceStore, bufferStoreFromEnv, shardOf } from "./buffer/shards.js";
export type { ForwardingState, PutResult, StoredTrace, TracePage, TraceQuery, TraceStore, TraceSummary } from "./store.js";
