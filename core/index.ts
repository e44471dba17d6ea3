/**
 * mlflow-edge: MLflow's manual tracing API for browsers, Cloudflare Workers and Node.
 * Code written for MLflow's TS SDK ports by changing one import: `import * as mlflow from "mlflow-edge"`.
 * @module
 */

/** Tracing API (names and semantics of MLflow's TS SDK). */
export { trace } from "./api/trace.js";
export type { TraceOptions, TraceDecorator } from "./api/trace.js";
export { withSpan, startSpan } from "./api/span-scope.js";
export type { SpanOptions } from "./api/span-scope.js";
export { getCurrentActiveSpan, updateCurrentTrace, getLastActiveTraceId, flushTraces } from "./api/current.js";
export type { UpdateCurrentTraceOptions } from "./api/current.js";
export {
  registerOnSpanStartHook,
  registerOnSpanEndHook,
  unregisterOnSpanStartHook,
  unregisterOnSpanEndHook,
  clearOnSpanStartHooks,
  clearOnSpanEndHooks,
} from "./model/hooks.js";
export type { SpanHook } from "./model/hooks.js";
export { init } from "./init.js";
export type { InitOptions } from "./init.js";
export type { TracerOptions } from "./config.js";

/** Joining a trace started elsewhere (W3C trace context). */
export { parseTraceparent, traceparentOf } from "./model/remote-parent.js";
export { getTracingContextHeadersForHttpRequest, withTracingContextFromHeaders, withTracingContextFromHeadersAsync } from "./api/distributed.js";
export type { RemoteParent } from "./model/remote-parent.js";

/** Span and trace model. */
export { LiveSpan } from "./model/live-span.js";
export type { EndSpanOptions, SpanEventInput, SpanStatusInput } from "./model/live-span.js";
export { SpanType, SpanStatusCode, TraceState, SpanAttributeKey, TraceMetadataKey, TraceTagKey, TokenUsageKey } from "./model/constants.js";
export {
  TRACE_SCHEMA_VERSION,
  TRACE_ID_PREFIX,
  DEFAULT_SPAN_NAME,
  PREVIEW_MAX_LENGTH as REQUEST_RESPONSE_PREVIEW_MAX_LENGTH,
} from "./model/constants.js";
export type { Json, SpanData, SpanEvent, SpanStatus, Trace, TraceData, TraceInfo, TraceLocation, TokenUsage, EventAttributeValue } from "./model/types.js";
/** MLflow's TS SDK calls the span type `LiveSpan` and the finished one `Span`. */
export type { LiveSpan as Span } from "./model/live-span.js";

/** Seams: where traces go and how context is carried. */
export { InMemoryExporter } from "./export/exporter.js";
export type { Exporter } from "./export/exporter.js";
export type { ContextManager } from "./context/context-manager.js";
export { StackContextManager } from "./context/stack.js";
export { AsyncLocalStorageContextManager } from "./context/async-local-storage.js";
export type { AsyncLocalStorageConstructor, AsyncLocalStorageLike } from "./context/async-local-storage.js";

/** MLflow client: send traces straight to an MLflow tracking server (OTLP + StartTraceV3). */
export { MlflowExporter } from "./mlflow/exporter.js";
export type { MlflowExporterOptions } from "./mlflow/exporter.js";
export { MlflowClient } from "./mlflow/client.js";
export type { MlflowClientOptions, SendTraceResult } from "./mlflow/client.js";
export { MlflowError, MlflowExperimentError, MlflowHttpError, MlflowNetworkError, MlflowResponseError } from "./mlflow/errors.js";
export type { RetryPolicy } from "./mlflow/retry.js";

/** Delivery: durable queue → sender → collector (`POST /v1/ingest`); the browser and Worker runtimes wire these. */
export type { TraceQueue, QueuedTrace, Lease, QueueStats, QueueLimits } from "./export/queue.js";
export { queuedTrace } from "./export/queue.js";
export { MemoryQueue } from "./export/memory-queue.js";
export type { MemoryQueueOptions } from "./export/memory-queue.js";
export type { Transport, TransportHint, TransportResult } from "./export/transport.js";
export { Sender } from "./export/sender.js";
export type { SenderOptions, SenderStats } from "./export/sender.js";
export type { BackoffOptions } from "./export/backoff.js";
export { QueueExporter, sampledIn } from "./export/queue-exporter.js";
export type { QueueExporterOptions, QueueExporterStats } from "./export/queue-exporter.js";
export { redactSecrets, createRedactor, REDACTED, PII_PATTERNS } from "./export/redact.js";
export type { RedactHook, RedactorOptions, RedactRule } from "./export/redact.js";
export { INGEST_PATH, INGEST_VERSION, INGEST_KEY_HEADER, encodeIngestBatch, ingestHeaders } from "./export/ingest-format.js";
export { parseRetryAfter } from "./export/backoff.js";
export type { IngestBatch, IngestError } from "./export/ingest-format.js";
