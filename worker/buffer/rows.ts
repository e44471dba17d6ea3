import { TraceState } from "../../core/model/constants.js";
import type { SpanData, TraceInfo } from "../../core/model/types.js";
import { isRecord, stringMap } from "../../core/serialize/trace-info.js";
import type { ForwardingState, TraceSummary } from "../store.js";
import type { TraceRow } from "./schema.js";

// Reading stored rows back. The collector validates what it stores, but storage outlives code:
// a row written by an older version, or damaged by hand, must not take the Traces view or the
// forwarding alarm down with it. Every reader here degrades to what the row's columns still say.

const FORWARDING: readonly string[] = ["buffered", "forwarded", "dead-lettered", "not-configured"] satisfies ForwardingState[];
const STATES: readonly string[] = Object.values(TraceState);
const stateOf = (row: Pick<TraceRow, "state">) => (STATES.includes(row.state) ? row.state : TraceState.STATE_UNSPECIFIED) as TraceState;

function parseStored(text: unknown): unknown {
  if (typeof text !== "string") return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A span row's body, or undefined when it is not a span this code can send or show. */
export function readSpan(body: unknown): SpanData | undefined {
  const span = parseStored(body);
  if (!isRecord(span)) return undefined;
  if (typeof span.spanId !== "string" || typeof span.name !== "string" || typeof span.startTime !== "number") return undefined;
  if (!(span.parentId === null || typeof span.parentId === "string")) return undefined;
  if (!(span.endTime === null || typeof span.endTime === "number")) return undefined;
  if (!isRecord(span.status) || !isRecord(span.attributes) || !Array.isArray(span.events)) return undefined;
  return span as unknown as SpanData;
}

/** The stored TraceInfo, rebuilt from the row's columns when the JSON is unreadable. */
export function readInfo(row: TraceRow): TraceInfo {
  const info = parseStored(row.info);
  if (isRecord(info) && typeof info.traceId === "string" && typeof info.requestTime === "number" && isRecord(info.tags) && isRecord(info.traceMetadata)) {
    return { ...(info as unknown as TraceInfo), tags: stringMap(info.tags), traceMetadata: stringMap(info.traceMetadata) };
  }
  const rebuilt: TraceInfo = {
    traceId: String(row.trace_id),
    traceLocation: { type: "MLFLOW_EXPERIMENT" },
    requestTime: Number(row.request_time) || 0,
    state: stateOf(row),
    traceMetadata: {},
    tags: stringMap(parseStored(row.tags)),
  };
  if (typeof row.duration === "number") rebuilt.executionDuration = row.duration;
  if (typeof row.request_preview === "string") rebuilt.requestPreview = row.request_preview;
  if (typeof row.response_preview === "string") rebuilt.responsePreview = row.response_preview;
  return rebuilt;
}

const numOr = (v: unknown, fallback: number): number => (typeof v === "number" && Number.isFinite(v) ? v : fallback);
const strOrNull = (v: unknown): string | null => (typeof v === "string" ? v : null);

/** The columns a summary is made of. */
export type SummaryRow = Pick<
  TraceRow,
  "trace_id" | "name" | "state" | "request_preview" | "response_preview" | "request_time" | "duration" | "span_count" | "tags" | "forwarding" | "attempts" | "last_error" | "received_at" | "updated_at"
>;

/** A row of the list query (query.ts SUMMARY_COLUMNS): bounded columns, and whether each was cut. */
export type ListRow = SummaryRow & { name_cut: number | null; request_preview_cut: number | null; response_preview_cut: number | null; last_error_cut: number | null; tags_cut: number | null };

/** A summary as `list` returns it: `cut` names the fields shortened to keep the page small (absent when none was). */
export type ListedSummary = TraceSummary & { cut?: string[] };

export function toListedSummary(row: ListRow): ListedSummary {
  const summary: ListedSummary = toSummary(row);
  const cut = (
    [
      ["name", row.name_cut],
      ["requestPreview", row.request_preview_cut],
      ["responsePreview", row.response_preview_cut],
      ["lastError", row.last_error_cut],
      ["tags", row.tags_cut],
    ] as const
  )
    .filter(([, flag]) => flag === 1)
    .map(([field]) => field);
  if (cut.length) summary.cut = cut;
  return summary;
}

export function toSummary(row: SummaryRow): TraceSummary {
  return {
    traceId: String(row.trace_id),
    name: strOrNull(row.name),
    state: stateOf(row),
    requestPreview: strOrNull(row.request_preview),
    responsePreview: strOrNull(row.response_preview),
    requestTime: numOr(row.request_time, 0),
    executionDuration: typeof row.duration === "number" ? row.duration : null,
    spanCount: numOr(row.span_count, 0),
    tags: stringMap(parseStored(row.tags)),
    // An unknown state is shown as buffered: the alarm still owns the row.
    forwarding: (FORWARDING.includes(row.forwarding) ? row.forwarding : "buffered") as ForwardingState,
    attempts: numOr(row.attempts, 0),
    lastError: strOrNull(row.last_error),
    receivedAt: numOr(row.received_at, 0),
    updatedAt: numOr(row.updated_at, 0),
  };
}
