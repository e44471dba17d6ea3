import type { SpanStatusCode, SpanType, TraceState } from "./constants.js";

/** A JSON value: what inputs, outputs and attributes hold once captured. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Values allowed on span events, as in OpenTelemetry. */
export type EventAttributeValue = string | number | boolean | string[] | number[] | boolean[];

export interface SpanStatus {
  statusCode: SpanStatusCode;
  description: string;
}

export interface SpanEvent {
  name: string;
  /** Epoch milliseconds. */
  timestamp: number;
  attributes: Record<string, EventAttributeValue>;
}

/**
 * A finished span: plain, JSON-safe data (shaped like the span of MLflow's TS SDK). `attributes`
 * include MLflow's reserved `mlflow.*` keys (span type, inputs, outputs, trace id), as MLflow's do.
 */
export interface SpanData {
  traceId: string;
  spanId: string;
  /** `null` for the root span. */
  parentId: string | null;
  name: string;
  spanType: SpanType;
  /** Epoch milliseconds (fractional). */
  startTime: number;
  /** Epoch milliseconds (fractional); `null` only if the span was never ended. */
  endTime: number | null;
  status: SpanStatus;
  inputs: Json | undefined;
  outputs: Json | undefined;
  attributes: Record<string, Json>;
  events: SpanEvent[];
}

export interface TraceLocation {
  type: "MLFLOW_EXPERIMENT";
  mlflowExperiment?: { experimentId: string };
}

/** MLflow's TraceInfo V3, camelCased as in MLflow's TS SDK. */
export interface TraceInfo {
  /** `tr-<32 hex>`. */
  traceId: string;
  clientRequestId?: string;
  traceLocation: TraceLocation;
  /** Epoch milliseconds of the root span's start. */
  requestTime: number;
  /** Milliseconds from root start to root end. */
  executionDuration?: number;
  state: TraceState;
  requestPreview?: string;
  responsePreview?: string;
  traceMetadata: Record<string, string>;
  tags: Record<string, string>;
}

/** A finished trace, as handed to exporters: `{ info, data: { spans } }`, spans in start order. */
export interface Trace {
  info: TraceInfo;
  data: TraceData;
}

/** A trace's spans, in start order (the root first). */
export interface TraceData {
  spans: SpanData[];
}

/** Token counts as MLflow records them (`mlflow.chat.tokenUsage`, `mlflow.trace.tokenUsage`). */
export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}
