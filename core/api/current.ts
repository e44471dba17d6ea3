import { errorText, reportSdkError, shownValue, warnOnce } from "../debug.js";
import { META_SESSION, META_USER } from "../model/constants.js";
import type { LiveSpan } from "../model/live-span.js";
import { isRemoteParent } from "../model/remote-parent.js";
import { truncatePreview } from "../serialize/preview.js";
import { setKey } from "../serialize/safe-json.js";
import { getTracer } from "../tracer.js";

/** The active span (set by withSpan, trace, span.run), or `null`. */
export function getCurrentActiveSpan(): LiveSpan | null {
  const active = getTracer().contextManager.active();
  return active && !isRemoteParent(active) ? active : null; // a remote parent is not a span of ours
}

export interface UpdateCurrentTraceOptions {
  tags?: Record<string, string>;
  metadata?: Record<string, string>;
  /** Overrides the Request column of MLflow's Traces view. */
  requestPreview?: string;
  /** Overrides the Response column of MLflow's Traces view. */
  responsePreview?: string;
  clientRequestId?: string | null;
  /**
   * Stored as metadata `mlflow.trace.session`. A list of strings is a hierarchical session
   * (outermost first), stored as its compact JSON text, as Python stores one.
   */
  sessionId?: string | readonly string[] | null;
  /** Stored as metadata `mlflow.trace.user`. */
  user?: string | null;
  /** Pins the trace state (Python's `state=`); otherwise the root span's status decides. */
  state?: "OK" | "ERROR";
}

/** `value` as a string, never throwing (a null-prototype object, a throwing `toString`). */
const asText = (value: unknown): string => (typeof value === "string" ? value : errorText(value, true));

/** A session id as MLflow stores it: a list of strings (a hierarchical session) as compact JSON text; `undefined` for a list that is not one. */
function sessionText(id: unknown): string | undefined {
  try {
    if (!Array.isArray(id)) return asText(id);
    const levels: string[] = [];
    for (let i = 0; i < id.length; i++) {
      const level: unknown = id[i]; // (a hole reads as undefined: refused, as Python refuses None)
      if (typeof level !== "string") return undefined;
      levels.push(JSON.stringify(level));
    }
    return levels.length ? `[${levels.join(",")}]` : undefined;
  } catch {
    return undefined; // a list that cannot be read (a revoked Proxy)
  }
}

function stringValues(kind: string, values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(values)) {
    const value = values[key];
    if (typeof value !== "string") warnOnce(`non-string-${kind}`, `${kind} values must be strings; "${key}" was converted with String().`);
    setKey(out, key, asText(value));
  }
  return out;
}

/**
 * Updates the trace of the active span: tags, metadata, previews, client request id, session, user.
 * @example
 * mlflow.updateCurrentTrace({ tags: { fruit: "apple" }, requestPreview: "Doc: ..." });
 */
export function updateCurrentTrace(options: UpdateCurrentTraceOptions = {}): void {
  try {
    update(options);
  } catch (error) {
    reportSdkError("updateCurrentTrace", error); // options that cannot be read (a throwing getter, a revoked Proxy)
  }
}

function update(options: UpdateCurrentTraceOptions): void {
  if (typeof options !== "object" || options === null) {
    warnOnce("bad-update-options", `updateCurrentTrace() takes an object such as { tags: { … } }; got ${options === null ? "null" : typeof options}, ignored.`);
    return;
  }
  const span = getCurrentActiveSpan();
  if (!span) {
    warnOnce("no-active-trace", "updateCurrentTrace() found no active trace; call it inside withSpan, a traced function or span.run().");
    return;
  }
  const record = span._record;
  if (record.finished) {
    warnOnce("trace-exported", `updateCurrentTrace() was called after trace ${record.info.traceId} was exported; ignored.`);
    return;
  }
  const info = record.info;
  // Spread, not Object.assign: a "__proto__" key stays data.
  if (options.tags) info.tags = { ...info.tags, ...stringValues("tag", options.tags) };
  if (options.metadata) info.traceMetadata = { ...info.traceMetadata, ...stringValues("metadata", options.metadata) };
  if (options.requestPreview) info.requestPreview = truncatePreview(asText(options.requestPreview));
  if (options.responsePreview) info.responsePreview = truncatePreview(asText(options.responsePreview));
  // null as "not given", as Python's `is not None`: an anonymous visitor's `session?.id ?? null`
  // must not put every such trace in one session named "null".
  if (options.clientRequestId != null) info.clientRequestId = asText(options.clientRequestId);
  if (options.sessionId != null) {
    const session = sessionText(options.sessionId);
    if (session !== undefined) info.traceMetadata[META_SESSION] = session;
    else warnOnce("bad-session", "updateCurrentTrace({ sessionId }) takes a string or a non-empty list of strings (a hierarchical session); ignored.");
  }
  if (options.user != null) info.traceMetadata[META_USER] = asText(options.user);
  const state: unknown = options.state; // read once: a getter answers what it likes each time
  if (state !== undefined) {
    if (state === "OK" || state === "ERROR") record.userState = state; // the TraceState of that name
    else warnOnce("bad-state", `updateCurrentTrace({ state }) takes "OK" or "ERROR"; got ${shownValue(state)}.`);
  }
}

/**
 * Id of the trace whose root span ended last in this process (its children may still run), or
 * `undefined`. Inside an instrumented Worker invocation (its own span is the root), it is that
 * invocation's trace once a traced call in it, or the invocation, has ended (else `undefined`),
 * in ctx.waitUntil work too: concurrent requests share the isolate, and one must never get
 * another's trace.
 */
export function getLastActiveTraceId(): string | undefined {
  const record = getCurrentActiveSpan()?._record;
  if (record?.invocation) return (record.rootEnded || record.childEnded) && !record.sampledOut ? record.info.traceId : undefined;
  return getTracer().last.traceId;
}

/** Exports every finished trace and waits until the exporter has handed them on. */
export function flushTraces(): Promise<void> {
  return getTracer().flush();
}
