import { pyJsonDumps } from "../serialize/py-json.js";
import { computePreview, truncatePreview } from "../serialize/preview.js";
import {
  METADATA_PREVIEW_MAX_LENGTH,
  SpanAttributeKey,
  SpanStatusCode,
  TRACE_SCHEMA_VERSION,
  TraceMetadataKey,
  TraceState,
  TraceTagKey,
} from "./constants.js";
import type { TraceRecord } from "./trace-record.js";
import type { Json, SpanData, Trace, TraceInfo } from "./types.js";

// What MLflow's Python SDK does when a root span ends (tracing/processor/base_mlflow.py):
// timing, state, trace name tag, previews, input/output metadata and aggregated token usage.

export function finalizeTrace(record: TraceRecord, dedupeSpanNames: boolean): Trace {
  const spans = record.spanData();
  const root = spans[0] as SpanData;
  if (dedupeSpanNames) dedupeNames(spans);
  describeTrace(record.info, spans, root, record.userState);
  return { info: record.info, data: { spans } };
}

/**
 * A TraceInfo for spans that arrived without one (an OpenTelemetry sender): what MLflow's SDK
 * would have recorded, from the root (the earliest span whose parent is not among them).
 */
export function infoFromSpans(traceId: string, spans: SpanData[]): TraceInfo {
  const ids = new Set(spans.map((s) => s.spanId));
  const roots = spans.filter((s) => s.parentId === null || !ids.has(s.parentId)).sort((a, b) => a.startTime - b.startTime);
  const info: TraceInfo = {
    traceId,
    traceLocation: { type: "MLFLOW_EXPERIMENT" },
    requestTime: 0,
    state: TraceState.OK,
    traceMetadata: { [TraceMetadataKey.SCHEMA_VERSION]: TRACE_SCHEMA_VERSION },
    tags: {},
  };
  describeTrace(info, spans, (roots[0] ?? spans[0]) as SpanData, undefined);
  return info;
}

function describeTrace(info: TraceInfo, spans: SpanData[], root: SpanData, userState: TraceInfo["state"] | undefined): void {
  info.requestTime = Math.floor(root.startTime);
  const end = root.endTime ?? Math.max(...spans.map((s) => s.endTime ?? s.startTime));
  info.executionDuration = Math.max(0, Math.floor(end - root.startTime));
  info.state = userState ?? (root.status.statusCode === SpanStatusCode.ERROR ? TraceState.ERROR : TraceState.OK);
  info.tags[TraceTagKey.TRACE_NAME] = root.name;
  info.requestPreview ??= computePreview(root.inputs, "user");
  info.responsePreview ??= computePreview(root.outputs, "assistant");
  const meta = info.traceMetadata;
  // Python always writes both, "" when the root recorded none.
  meta[TraceMetadataKey.INPUTS] = root.inputs === undefined ? "" : truncatePreview(pyJsonDumps(root.inputs), METADATA_PREVIEW_MAX_LENGTH);
  meta[TraceMetadataKey.OUTPUTS] = root.outputs === undefined ? "" : truncatePreview(pyJsonDumps(root.outputs), METADATA_PREVIEW_MAX_LENGTH);
  const usage = aggregateTokenUsage(spans);
  if (usage) meta[TraceMetadataKey.TOKEN_USAGE] = pyJsonDumps(usage);
}

/**
 * `red, red` → `red_1, red_2`, in start order, as the product brief documents (MLflow itself
 * dropped the suffixes in 3.6; `init({ dedupeSpanNames: false })` keeps names as given).
 */
export function dedupeNames(spans: SpanData[]): void {
  const counts = new Map<string, number>();
  for (const span of spans) counts.set(span.name, (counts.get(span.name) ?? 0) + 1);
  const next = new Map<string, number>();
  for (const span of spans) {
    if ((counts.get(span.name) ?? 0) < 2) continue;
    const n = (next.get(span.name) ?? 0) + 1;
    next.set(span.name, n);
    span.name = `${span.name}_${n}`;
  }
}

type Usage = { input_tokens: number; output_tokens: number; total_tokens: number };

/**
 * Sums `mlflow.chat.tokenUsage` from the top down; a span's usage already covers its descendants'.
 * Starts from every span whose parent is absent (the root, or the tops of parts still waiting for
 * theirs) and visits each span once, so parts that point at each other cannot loop it.
 */
export function aggregateTokenUsage(spans: SpanData[]): Usage | undefined {
  const ids = new Set(spans.map((s) => s.spanId));
  const children = new Map<string, SpanData[]>();
  const pending: SpanData[] = [];
  for (const span of spans) {
    if (span.parentId === null || !ids.has(span.parentId)) pending.push(span);
    else {
      const list = children.get(span.parentId);
      if (list) list.push(span);
      else children.set(span.parentId, [span]);
    }
  }
  const total: Usage = { input_tokens: 0, output_tokens: 0, total_tokens: 0 };
  let found = false;
  const seen = new Set<string>();
  for (let span = pending.pop(); span; span = pending.pop()) {
    if (seen.has(span.spanId)) continue;
    seen.add(span.spanId);
    const usage = span.attributes[SpanAttributeKey.CHAT_USAGE];
    if (usage && typeof usage === "object" && !Array.isArray(usage)) {
      found = true;
      total.input_tokens += num(usage.input_tokens);
      total.output_tokens += num(usage.output_tokens);
      total.total_tokens += num(usage.total_tokens ?? num(usage.input_tokens) + num(usage.output_tokens));
    } else pending.push(...(children.get(span.spanId) ?? []));
  }
  return found ? total : undefined;
}

const num = (v: Json | undefined): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
