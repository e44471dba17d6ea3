import { INGEST_VERSION } from "../../core/export/ingest-format.js";
import { SpanAttributeKey } from "../../core/model/constants.js";
import { utf8Length } from "../../core/serialize/safe-json.js";
import type { EventAttributeValue, Json, SpanData, SpanEvent, Trace, TraceInfo } from "../../core/model/types.js";
import type { CollectorLimits } from "./limits.js";
import { pathKey, Refusal } from "./refusal.js";

// Strict validation of `POST /v1/ingest` bodies (docs/ingest-protocol.md). The result is built
// field by field from what was checked, never the input object itself, so nothing unvalidated
// (extra fields, prototype tricks) reaches storage. The first problem refuses the whole batch.

const TRACE_ID = /^tr-[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
const STATES = new Set<TraceInfo["state"]>(["OK", "ERROR", "IN_PROGRESS", "STATE_UNSPECIFIED"]);
const STATUS_CODES = new Set(["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"]);

const bad = (path: string, message: string, hint = "") => new Refusal(400, message, path, hint);
// JSON may carry a "__proto__" key, but assigning one to a plain object swaps its prototype
// instead of storing data (here or in any later copy): refused rather than silently lost.
const protoKey = (path: string) => bad(path, `${path} has a "__proto__" key`, "rename the key; it cannot be stored as data");

function checkKey(k: string, path: string, limits: CollectorLimits): void {
  if (k === "__proto__") throw protoKey(path);
  checkString(k, `${path} (key)`, limits.maxNameLength, { empty: false });
}
const typeName = (v: unknown) => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);
/** A value the sender wrote, for a message: a string, number or boolean as JSON (a string cut to 80 characters), anything else by its type (an object may have no text form, or be nested past what JSON.stringify can walk). */
const shown = (v: unknown): string =>
  typeof v === "string" ? JSON.stringify(v.slice(0, 80)) : typeof v === "number" || typeof v === "boolean" ? String(v) : typeName(v);

export function checkObject(v: unknown, path: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw bad(path, `${path || "body"} must be an object, not ${typeName(v)}`);
  return v as Record<string, unknown>;
}

function checkString(v: unknown, path: string, max: number, { empty = true } = {}): string {
  if (typeof v !== "string") throw bad(path, `${path} must be a string, not ${typeName(v)}`);
  if (!empty && v === "") throw bad(path, `${path} must not be empty`);
  if (v.length > max) throw bad(path, `${path} is ${v.length} characters; the limit is ${max}`, "shorten it, or raise the collector's limits");
  return v;
}

/** 9999-12-31T23:59:59.999Z, the last time MLflow (and an ISO timestamp) can hold. */
const MAX_TIME_MS = 253_402_300_799_999;

function checkTime(v: unknown, path: string): number {
  if (typeof v !== "number" || !Number.isFinite(v)) throw bad(path, `${path} must be a finite number, not ${typeName(v)}`, "send epoch milliseconds");
  // MLflow stores times up to the year 9999; past it a trace arrives broken (request time 1970, no
  // state) while the send counts as done. Past it is usually microseconds sent for milliseconds.
  if (v < 0 || v > MAX_TIME_MS) throw bad(path, `${path} is out of range (after the year 9999)`, "send epoch milliseconds, not micro- or nanoseconds");
  return v;
}

function checkId(v: unknown, path: string, pattern: RegExp, what: string): string {
  if (typeof v !== "string" || !pattern.test(v)) throw bad(path, `${path} must be ${what}`, `got ${shown(v)}`);
  return v;
}

/** A JSON value within the depth and size limits; returns it unchanged (JSON.parse made it plain). */
function checkJson(v: unknown, path: string, limits: CollectorLimits): Json {
  const walk = (x: unknown, depth: number): void => {
    if (depth > limits.maxDepth) throw bad(path, `${path} is nested more than ${limits.maxDepth} levels deep`);
    if (x === null || typeof x === "string" || typeof x === "boolean") return;
    if (typeof x === "number") {
      if (!Number.isFinite(x)) throw bad(path, `${path} holds a non-finite number`);
      return;
    }
    if (Array.isArray(x)) return x.forEach((item) => walk(item, depth + 1));
    if (typeof x === "object") {
      for (const [k, item] of Object.entries(x as object)) {
        if (k === "__proto__") throw protoKey(path);
        walk(item, depth + 1);
      }
      return;
    }
    throw bad(path, `${path} holds a ${typeof x}, which is not JSON`);
  };
  walk(v, 0);
  const bytes = utf8Length(JSON.stringify(v));
  if (bytes > limits.maxValueBytes) throw bad(path, `${path} is ${bytes} bytes of JSON; the limit is ${limits.maxValueBytes}`, "trim the value before tracing it");
  return v as Json;
}

function stringMap(v: unknown, path: string, limits: CollectorLimits): Record<string, string> {
  const o = checkObject(v, path);
  const keys = Object.keys(o);
  if (keys.length > limits.maxTags) throw bad(path, `${path} has ${keys.length} entries; the limit is ${limits.maxTags}`);
  const out: Record<string, string> = {};
  for (const k of keys) {
    const p = pathKey(path, k);
    checkKey(k, p, limits);
    out[k] = checkString(o[k], p, limits.maxTextLength);
  }
  return out;
}

function eventValue(v: unknown, path: string): EventAttributeValue {
  if (typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number" && Number.isFinite(v)) return v;
  if (Array.isArray(v) && v.every((x) => typeof x === "string" || typeof x === "boolean" || (typeof x === "number" && Number.isFinite(x)))) {
    return v as EventAttributeValue;
  }
  throw bad(path, `${path} must be a string, number, boolean or an array of those`);
}

function checkEvent(v: unknown, path: string, limits: CollectorLimits): SpanEvent {
  const o = checkObject(v, path);
  const attrs = checkObject(o.attributes ?? {}, `${path}.attributes`);
  const attributes: Record<string, EventAttributeValue> = {};
  for (const k of Object.keys(attrs)) {
    checkKey(k, pathKey(`${path}.attributes`, k), limits);
    attributes[k] = eventValue(attrs[k], pathKey(`${path}.attributes`, k));
  }
  checkJson(attributes, `${path}.attributes`, limits);
  return { name: checkString(o.name, `${path}.name`, limits.maxNameLength, { empty: false }), timestamp: checkTime(o.timestamp, `${path}.timestamp`), attributes };
}

function checkSpan(v: unknown, path: string, traceId: string, limits: CollectorLimits): SpanData {
  const o = checkObject(v, path);
  const spanTraceId = checkId(o.traceId, `${path}.traceId`, TRACE_ID, "the trace's id");
  if (spanTraceId !== traceId) throw bad(`${path}.traceId`, `${path}.traceId is ${spanTraceId}, not the trace's id ${traceId}`);
  const startTime = checkTime(o.startTime, `${path}.startTime`);
  const endTime = o.endTime === null ? null : checkTime(o.endTime, `${path}.endTime`);
  if (endTime !== null && endTime < startTime) throw bad(`${path}.endTime`, `${path}.endTime is before its startTime`);
  const status = checkObject(o.status, `${path}.status`);
  const statusCode = checkString(status.statusCode, `${path}.status.statusCode`, 40);
  if (!STATUS_CODES.has(statusCode)) throw bad(`${path}.status.statusCode`, `${path}.status.statusCode must be one of ${[...STATUS_CODES].join(", ")}`);
  const attrs = checkObject(o.attributes ?? {}, `${path}.attributes`);
  const attrKeys = Object.keys(attrs);
  if (attrKeys.length > limits.maxAttributes) throw bad(`${path}.attributes`, `${path}.attributes has ${attrKeys.length} entries; the limit is ${limits.maxAttributes}`);
  const attributes: Record<string, Json> = {};
  for (const k of attrKeys) {
    checkKey(k, pathKey(`${path}.attributes`, k), limits);
    attributes[k] = checkJson(attrs[k], pathKey(`${path}.attributes`, k), limits);
  }
  const events = o.events ?? [];
  if (!Array.isArray(events)) throw bad(`${path}.events`, `${path}.events must be an array`);
  if (events.length > limits.maxEvents) throw bad(`${path}.events`, `${path}.events has ${events.length} entries; the limit is ${limits.maxEvents}`);
  const spanType = checkString(o.spanType, `${path}.spanType`, limits.maxNameLength, { empty: false });
  const inputs = o.inputs === undefined ? undefined : checkJson(o.inputs, `${path}.inputs`, limits);
  const outputs = o.outputs === undefined ? undefined : checkJson(o.outputs, `${path}.outputs`, limits);
  // The reserved attributes say the same as the typed fields (MLflow reads the attributes).
  attributes[SpanAttributeKey.SPAN_TYPE] = spanType;
  attributes[SpanAttributeKey.REQUEST_ID] = traceId;
  if (inputs !== undefined) attributes[SpanAttributeKey.INPUTS] = inputs;
  else delete attributes[SpanAttributeKey.INPUTS];
  if (outputs !== undefined) attributes[SpanAttributeKey.OUTPUTS] = outputs;
  else delete attributes[SpanAttributeKey.OUTPUTS];
  return {
    traceId,
    spanId: checkId(o.spanId, `${path}.spanId`, SPAN_ID, "16 lowercase hex characters"),
    parentId: o.parentId === null ? null : checkId(o.parentId, `${path}.parentId`, SPAN_ID, "null or 16 lowercase hex characters"),
    name: checkString(o.name, `${path}.name`, limits.maxNameLength, { empty: false }),
    spanType,
    startTime,
    endTime,
    status: { statusCode: statusCode as SpanData["status"]["statusCode"], description: checkString(status.description ?? "", `${path}.status.description`, limits.maxTextLength) },
    inputs,
    outputs,
    attributes,
    events: events.map((e, i) => checkEvent(e, `${path}.events[${i}]`, limits)),
  };
}

function checkInfo(v: unknown, path: string, limits: CollectorLimits): TraceInfo {
  const o = checkObject(v, path);
  const traceId = checkId(o.traceId, `${path}.traceId`, TRACE_ID, '"tr-" and 32 lowercase hex characters');
  const state = checkString(o.state, `${path}.state`, 40) as TraceInfo["state"];
  if (!STATES.has(state)) throw bad(`${path}.state`, `${path}.state must be one of ${[...STATES].join(", ")}`);
  const out: TraceInfo = {
    traceId,
    // The collector's configuration decides the experiment; the client's claim is not kept.
    traceLocation: { type: "MLFLOW_EXPERIMENT" },
    requestTime: checkTime(o.requestTime, `${path}.requestTime`),
    state,
    traceMetadata: stringMap(o.traceMetadata ?? {}, `${path}.traceMetadata`, limits),
    tags: stringMap(o.tags ?? {}, `${path}.tags`, limits),
  };
  if (o.executionDuration !== undefined) out.executionDuration = checkTime(o.executionDuration, `${path}.executionDuration`);
  if (o.requestPreview !== undefined) out.requestPreview = checkString(o.requestPreview, `${path}.requestPreview`, limits.maxTextLength);
  if (o.responsePreview !== undefined) out.responsePreview = checkString(o.responsePreview, `${path}.responsePreview`, limits.maxTextLength);
  if (o.clientRequestId !== undefined) out.clientRequestId = checkString(o.clientRequestId, `${path}.clientRequestId`, limits.maxNameLength);
  return out;
}

/**
 * Tags and metadata that tie a trace to other things on the MLflow server (a run, whose Traces tab
 * then lists it; a logged model; where its data is stored; the AI gateway; an evaluation; linked
 * prompt versions), mark it as the server's (a scorer's trace, totals finalized) or name who made it
 * (the developer, the authenticated user): a page has no
 * business setting them, and anyone can be a page. Dropped from what callers without the collector
 * secret send, as tags, as metadata and as the span attributes MLflow reads as tags; the trace's user and session (`mlflow.trace.user`, `mlflow.trace.session`) are kept,
 * being the page's to say.
 */
const SERVER_KEYS = new Set([
  "mlflow.sourceRun",
  "mlflow.modelId",
  "mlflow.artifactLocation",
  "mlflow.trace.spansLocation",
  "mlflow.trace.archiveLocation",
  "mlflow.trace.archivalFailure",
  "mlflow.user",
  "mlflow.auth.userId",
  "mlflow.auth.username",
  "mlflow.gateway.endpointId",
  "mlflow.gateway.requestType",
  "mlflow.gateway.caller",
  "mlflow.gateway.linkedTraceId",
  "mlflow.eval.requestId",
  "mlflow.linkedPrompts",
  "mlflow.trace.sourceScorer",
  "mlflow.trace.infoFinalized",
].map((key) => key.toLowerCase()));

/** MLflow's OTLP ingest makes a root span's `mlflow.traceTag.<key>` attribute the trace tag `<key>`. */
const TAG_ATTRIBUTE = "mlflow.traceTag.";

/**
 * Matched as a database may match them: MLflow's keys are case-sensitive, but a tracking store on
 * MySQL or SQL Server compares them with the database's collation (often blind to case, accents
 * and compatibility forms, and padding trailing spaces), in searches and in its primary keys.
 */
const isServerKey = (key: string): boolean => SERVER_KEYS.has(key.normalize("NFKD").replace(/\p{M}/gu, "").trim().toLowerCase());

export function withoutServerKeys(trace: Trace): void {
  for (const map of [trace.info.tags, trace.info.traceMetadata]) for (const key in map) if (isServerKey(key)) delete map[key];
  // On every span, not only this part's root: another part may hold the trace's true root.
  for (const span of trace.data.spans) {
    for (const key in span.attributes) if (key.startsWith(TAG_ATTRIBUTE) && isServerKey(key.slice(TAG_ATTRIBUTE.length))) delete span.attributes[key];
  }
}

/**
 * The spans of one part form a forest that hangs from at most one true root. A parent outside the
 * part is legitimate (a Worker part's root points at the browser's span), but duplicate ids, a
 * second `parentId: null` root, and parent chains that loop back on themselves are not.
 */
function checkTree(spans: readonly SpanData[], path: string): void {
  const index = new Map<string, number>();
  let root: number | undefined;
  spans.forEach((s, i) => {
    if (index.has(s.spanId)) throw bad(`${path}[${i}].spanId`, `span id ${s.spanId} appears twice in the trace`);
    index.set(s.spanId, i);
    if (s.parentId === null) {
      if (root !== undefined) throw bad(`${path}[${i}].parentId`, `the trace has two root spans (${path}[${root}] and ${path}[${i}])`, "a trace has one root; other spans name their parent");
      root = i;
    }
  });
  // 0 unvisited, 1 on the current chain, 2 known to end at a root or outside the part.
  const state = new Uint8Array(spans.length);
  spans.forEach((_, start) => {
    const chain: number[] = [];
    let i: number | undefined = start;
    while (i !== undefined && state[i] === 0) {
      state[i] = 1;
      chain.push(i);
      const parent: string | null = spans[i]!.parentId;
      i = parent === null ? undefined : index.get(parent);
    }
    if (i !== undefined && state[i] === 1) {
      throw bad(`${path}[${i}].parentId`, `span ${spans[i]!.spanId} is its own ancestor: the parent ids form a loop`, "each span's parent must start a chain that ends at the root");
    }
    for (const c of chain) state[c] = 2;
  });
}

/** One trace as `core/model/types.ts` defines it; throws a Refusal naming the first problem. */
export function validateTrace(v: unknown, path: string, limits: CollectorLimits): Trace {
  const o = checkObject(v, path);
  const traceInfo = checkInfo(o.info, `${path}.info`, limits);
  const data = checkObject(o.data, `${path}.data`);
  const spans = data.spans;
  if (!Array.isArray(spans)) throw bad(`${path}.data.spans`, `${path}.data.spans must be an array`);
  if (spans.length === 0) throw bad(`${path}.data.spans`, `${path}.data.spans is empty`, "a trace has at least its root span");
  if (spans.length > limits.maxSpansPerTrace) throw bad(`${path}.data.spans`, `${path}.data.spans has ${spans.length} spans; the limit is ${limits.maxSpansPerTrace}`);
  const checked = spans.map((s, i) => checkSpan(s, `${path}.data.spans[${i}]`, traceInfo.traceId, limits));
  checkTree(checked, `${path}.data.spans`);
  return { info: traceInfo, data: { spans: checked } };
}

/** A whole `POST /v1/ingest` body, already parsed from JSON. */
export function validateIngestBatch(body: unknown, limits: CollectorLimits): Trace[] {
  const o = checkObject(body, "");
  if (o.version !== INGEST_VERSION) {
    throw bad("version", `unsupported ingest version ${o.version === undefined ? "(none)" : shown(o.version)}`, `send {"version": ${INGEST_VERSION}, "traces": [...]}`);
  }
  if (!Array.isArray(o.traces)) throw bad("traces", "traces must be an array");
  if (o.traces.length === 0) throw bad("traces", "traces is empty");
  if (o.traces.length > limits.maxTracesPerBatch) throw new Refusal(413, `the batch has ${o.traces.length} traces; the limit is ${limits.maxTracesPerBatch}`, "traces", "send smaller batches");
  const traces = o.traces.map((t, i) => validateTrace(t, `traces[${i}]`, limits));
  const ids = new Set<string>();
  traces.forEach((t, i) => {
    if (ids.has(t.info.traceId)) throw bad(`traces[${i}].info.traceId`, `trace ${t.info.traceId} appears twice in the batch`, "send each part of a trace once per batch");
    ids.add(t.info.traceId);
  });
  return traces;
}
