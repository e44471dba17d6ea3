import { pyJsonDumps } from "../serialize/py-json.js";
import { computePreview, truncatePreview } from "../serialize/preview.js";
import {
  ATTR_TOKEN_USAGE,
  META_INPUTS,
  META_OUTPUTS,
  META_SCHEMA_VERSION,
  META_TOKEN_USAGE,
  METADATA_PREVIEW_MAX_LENGTH,
  STATUS_ERROR,
  TAG_TRACE_NAME,
  TRACE_SCHEMA_VERSION,
} from "./constants.js";
import type { TraceRecord } from "./trace-record.js";
import type { Json, SpanData, Trace, TraceInfo } from "./types.js";

// What MLflow's Python SDK does when a root span ends (tracing/processor/base_mlflow.py):
// timing, state, trace name tag, previews, input/output metadata and aggregated token usage.

export function finalizeTrace(record: Pick<TraceRecord, "info" | "userState" | "spanData">, dedupeSpanNames: boolean): Trace {
  const spans = record.spanData();
  // Described before names are deduplicated: Python names the trace when its root starts.
  describeTrace(record.info, spans, spans[0] as SpanData, record.userState);
  if (dedupeSpanNames) dedupeNames(spans);
  return { info: record.info, data: { spans } };
}

/**
 * A TraceInfo for spans that arrived without one (an OpenTelemetry sender): what MLflow's SDK
 * would have recorded, from the root (the earliest span whose parent is not among them).
 */
export function infoFromSpans(traceId: string, spans: SpanData[]): TraceInfo {
  const info: TraceInfo = {
    traceId,
    traceLocation: { type: "MLFLOW_EXPERIMENT" },
    requestTime: 0,
    state: "OK",
    traceMetadata: { [META_SCHEMA_VERSION]: TRACE_SCHEMA_VERSION },
    tags: {},
  };
  describeTrace(info, spans, (rootOf(spans) ?? spans[0]) as SpanData, undefined);
  return info;
}

/** The span a trace is described from: the earliest whose parent is not among them (a Worker's root has the page's span as parent). */
export function rootOf<S extends SpanData>(spans: readonly S[]): S | undefined {
  const ids = new Set(spans.map((s) => s.spanId));
  let root: S | undefined;
  for (const s of spans) if ((s.parentId === null || !ids.has(s.parentId)) && (!root || s.startTime < root.startTime)) root = s;
  return root;
}

function describeTrace(info: TraceInfo, spans: SpanData[], root: SpanData, userState: TraceInfo["state"] | undefined): void {
  info.requestTime = Math.floor(root.startTime);
  const end = root.endTime ?? Math.max(...spans.map((s) => s.endTime ?? s.startTime));
  info.executionDuration = Math.max(0, Math.floor(end - root.startTime));
  info.state = userState ?? (root.status.statusCode === STATUS_ERROR ? "ERROR" : "OK");
  info.tags[TAG_TRACE_NAME] ??= root.name; // as Python: set at the start, so a name the user set wins
  const texts = rootTexts(root);
  info.requestPreview ??= texts.requestPreview;
  info.responsePreview ??= texts.responsePreview;
  const meta = info.traceMetadata;
  meta[META_INPUTS] = texts.inputs;
  meta[META_OUTPUTS] = texts.outputs;
  const usage = aggregateTokenUsage(spans);
  if (usage) meta[META_TOKEN_USAGE] = pyJsonDumps(usage);
}

/**
 * What the trace's description repeats of its root as text: the previews, and the inputs and
 * outputs metadata (Python always writes both, "" when the root recorded none).
 */
export function rootTexts(root: SpanData): { requestPreview: string; responsePreview: string; inputs: string; outputs: string } {
  // Each value is dumped once, for its preview (when that falls back to the JSON) and its metadata.
  const inputs = root.inputs === undefined ? "" : pyJsonDumps(root.inputs);
  const outputs = root.outputs === undefined ? "" : pyJsonDumps(root.outputs);
  return {
    requestPreview: computePreview(root.inputs, "user", inputs),
    responsePreview: computePreview(root.outputs, "assistant", outputs),
    inputs: truncatePreview(inputs, METADATA_PREVIEW_MAX_LENGTH),
    outputs: truncatePreview(outputs, METADATA_PREVIEW_MAX_LENGTH),
  };
}

/**
 * `red, red` → `red_1, red_2`, in start order, as the product brief documents (MLflow itself
 * dropped the suffixes in 3.6; `init({ dedupeSpanNames: false })` keeps names as given).
 */
export function dedupeNames(spans: SpanData[]): void {
  if (spans.length < 2) return;
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

type Usage = Record<string, number>;
const USAGE_KEYS = ["input_tokens", "output_tokens", "total_tokens"];
/** Added only when some span reports them (Anthropic-style prompt caching). */
const CACHE_KEYS = ["cache_read_input_tokens", "cache_creation_input_tokens", "cache_creation_input_tokens_above_1hr"];

/**
 * Sums `mlflow.chat.tokenUsage` from the top down as MLflow does (tracing/utils
 * `aggregate_usage_from_spans`): a span's usage already covers its descendants', a missing count is
 * 0, cache counts are summed when present, and usage that is not an object or a count that is not
 * a number (Python cannot add it) leaves the trace without usage. Starts from every span whose
 * parent is absent (the root, or the tops of parts still waiting for theirs) and visits each span
 * once, so parts that point at each other cannot loop it.
 */
export function aggregateTokenUsage(spans: SpanData[]): Usage | undefined {
  if (!spans.some((s) => s.attributes[ATTR_TOKEN_USAGE] != null)) return undefined; // most traces: no usage at all
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
    const usage = span.attributes[ATTR_TOKEN_USAGE];
    if (usage === undefined || usage === null) {
      pending.push(...(children.get(span.spanId) ?? []));
      continue;
    }
    if (typeof usage !== "object" || Array.isArray(usage)) return undefined;
    found = true;
    for (const key of [...USAGE_KEYS, ...CACHE_KEYS.filter((k) => k in usage)]) {
      const n = tokenCount(usage[key]);
      if (n === undefined) return undefined;
      total[key] = (total[key] ?? 0) + n;
      // Counts past what a double holds add up to Infinity, which JSON has no word for (Python
      // writes `Infinity`, which MLflow's UI cannot parse): no usage rather than a broken one.
      if (!Number.isFinite(total[key])) return undefined;
    }
  }
  return found ? total : undefined;
}

/** A token count as Python adds it: absent is 0, a boolean is 0 or 1, anything else not a number is no count. */
const tokenCount = (v: Json | undefined): number | undefined => (v === undefined ? 0 : typeof v === "boolean" ? Number(v) : typeof v === "number" ? v : undefined);
