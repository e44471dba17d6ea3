import { fail } from "../core/api/settle.js";
import { relayStream } from "../core/api/stream.js";
import { startSpan } from "../core/api/span-scope.js";
import { reportSdkError } from "../core/debug.js";
import { SpanStatusCode, SpanType } from "../core/model/constants.js";
import type { LiveSpan } from "../core/model/live-span.js";
import { parseTraceparent } from "../core/model/remote-parent.js";
import type { ExportTracker } from "./export-tracker.js";

// One root span per Worker invocation, shared by instrument() (module Workers) and the Hono
// middleware. The span continues the caller's W3C traceparent, is active (AsyncLocalStorage) while
// the handler runs, and ends when the response body has been streamed out or cancelled; then the
// isolate is kept alive (waitUntil) until that trace is handed on, never the response delayed.

export interface RequestSpanOptions {
  /** Span name for a request; default `"<METHOD> <route or path>"`. */
  spanName?: (request: Request, route: string | undefined) => string;
  /** Join the caller's trace from its `traceparent` header (default true). */
  continueTrace?: boolean;
  /** Span type of the request span (default UNKNOWN; MLflow has no HTTP type). */
  spanType?: SpanType;
  /** How long after the response the isolate waits for this trace's export (default 25 s). */
  exportDeadlineMs?: number;
}

type WaitUntil = (promise: Promise<unknown>) => void;

const requestSpans = new WeakMap<Request, LiveSpan>();

/**
 * The span of an instrumented request: explicit context for code running where AsyncLocalStorage
 * is unavailable (no `nodejs_als`/`nodejs_compat` flag): `withSpan(fn, { parent: requestSpan(req) })`.
 */
export function requestSpan(request: Request): LiveSpan | undefined {
  return requestSpans.get(request);
}

function pathOf(request: Request): string {
  try {
    return new URL(request.url).pathname;
  } catch {
    return "/";
  }
}

/** Ends `span` once `body` has been read to the end or cancelled; returns the stream to send. */
function endWithBody(body: ReadableStream<Uint8Array>, span: LiveSpan, onEnd: () => void): ReadableStream<Uint8Array> {
  let bytes = 0;
  let ended = false;
  const finish = (error?: unknown, cancelled = false) => {
    if (ended) return;
    ended = true;
    span.setAttribute("http.response.body.size", bytes);
    if (cancelled) span.addEvent("cancelled", { reason: error === undefined ? "" : String(error) });
    if (error !== undefined && !cancelled) fail(span, error);
    else span.end();
    onEnd();
  };
  return relayStream(body, {
    chunk: (value) => (bytes += (value as Uint8Array).byteLength),
    done: () => finish(),
    failed: (error) => finish(error),
    cancelled: (reason) => finish(reason, true),
  }) as unknown as ReadableStream<Uint8Array>;
}

/**
 * Runs `handle` inside a request span. Exceptions are recorded and rethrown unchanged; a 5xx
 * marks the span ERROR.
 */
export async function traceRequest(
  request: Request,
  route: string | undefined,
  tracker: ExportTracker,
  waitUntil: WaitUntil | undefined,
  handle: () => Response | Promise<Response>,
  options: RequestSpanOptions = {},
): Promise<Response> {
  let span: LiveSpan;
  try {
    const path = pathOf(request);
    const parent = options.continueTrace === false ? null : (parseTraceparent(request.headers.get("traceparent")) ?? null);
    span = startSpan({
      name: options.spanName?.(request, route) ?? `${request.method} ${route ?? path}`,
      spanType: options.spanType ?? SpanType.UNKNOWN,
      inputs: { method: request.method, url: request.url },
      attributes: { "http.request.method": request.method, "url.path": path, ...(route ? { "http.route": route } : {}) },
      parent,
    });
    requestSpans.set(request, span);
  } catch (error) {
    reportSdkError("instrument", error);
    return handle();
  }
  const deadline = options.exportDeadlineMs ?? 25_000;
  const handOn = () => {
    // Registered synchronously after the root ended, so the export cannot be missed.
    const exported = tracker.exported(span.traceId, deadline);
    if (waitUntil) waitUntil(exported);
  };
  let response: Response;
  try {
    response = await span.run(handle);
  } catch (error) {
    fail(span, error);
    handOn();
    throw error;
  }
  try {
    span.setAttribute("http.response.status_code", response.status);
    span.setOutputs({ status: response.status });
    if (response.status >= 500) span.setStatus(SpanStatusCode.ERROR, `HTTP ${response.status}`);
    if (!response.body || response.status === 101 || (response as { webSocket?: unknown }).webSocket) {
      span.end();
      handOn();
      return response;
    }
    // The isolate must outlive the body (a long LLM stream) and then the export: one waitUntil
    // covering both, registered now while the invocation is still open.
    let bodyDone!: () => void;
    const finished = new Promise<void>((r) => (bodyDone = r));
    const body = endWithBody(response.body, span, () => {
      bodyDone();
    });
    if (waitUntil) waitUntil(finished.then(() => tracker.exported(span.traceId, deadline)));
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  } catch (error) {
    reportSdkError("instrument", error);
    if (!span.isEnded) {
      span.end();
      handOn();
    }
    return response;
  }
}

/** A root span around a non-HTTP invocation (scheduled, queue). */
export async function traceInvocation<T>(
  name: string,
  inputs: Record<string, unknown>,
  tracker: ExportTracker,
  waitUntil: WaitUntil | undefined,
  run: () => T | Promise<T>,
  deadlineMs = 25_000,
): Promise<T> {
  let span: LiveSpan;
  try {
    span = startSpan({ name, spanType: SpanType.UNKNOWN, inputs, parent: null });
  } catch (error) {
    reportSdkError("instrument", error);
    return run();
  }
  try {
    const result = await span.run(run);
    span.end();
    return result;
  } catch (error) {
    fail(span, error);
    throw error;
  } finally {
    const exported = tracker.exported(span.traceId, deadlineMs);
    if (waitUntil) waitUntil(exported);
  }
}
