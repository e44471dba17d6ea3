import { getCurrentActiveSpan } from "../core/api/current.js";
import { fail, outputsUnlessSet } from "../core/api/settle.js";
import { startSpan } from "../core/api/span-scope.js";
import { relayStream } from "../core/api/stream.js";
import { errorText, reportSdkError, warnOnce } from "../core/debug.js";
import { SpanStatusCode, SpanType } from "../core/model/constants.js";
import type { LiveSpan } from "../core/model/live-span.js";
import { parseTraceparent } from "../core/model/remote-parent.js";
import { isPromiseLike, lockedProperty } from "../core/tracer.js";
import type { ExportTracker } from "./export-tracker.js";
import { isCollectorRequest } from "./untraced.js";

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
  /**
   * Requests to leave out (a health check, `/favicon.ico`, a bot's probe): true drops the
   * request's trace, with every span recorded under it, and the `traceparent` it sends on says
   * "not sampled" (`-00`). The request itself is handled as usual.
   */
  ignoreRequest?: (request: Request) => boolean;
}

type WaitUntil = (promise: Promise<unknown>) => void;

/**
 * The runtime's own `waitUntil`, taken before the handler runs: the trace's export goes through
 * it even when the handler (or a library such as Sentry's) replaces `ctx.waitUntil`. Undefined for
 * a ctx without one (`{}` in a unit test, a handler called with no ctx): tracing then holds nothing
 * open. (instrumentDurableObject passes none: a Durable Object's `ctx.waitUntil` extends nothing.)
 */
export function runtimeWaitUntil(ctx: unknown): WaitUntil | undefined {
  const waitUntil = (ctx as { waitUntil?: unknown } | null | undefined)?.waitUntil;
  return typeof waitUntil === "function" ? (promise) => void Reflect.apply(waitUntil, ctx, [promise]) : undefined;
}

/** How long after the response the isolate waits for a trace's export, unless exportDeadlineMs says otherwise. */
export const DEFAULT_EXPORT_DEADLINE_MS = 25_000;

/** How long waitUntil work may hold a trace: the export deadline less 5 s (half of it when shorter). */
export function holdMsFor(exportDeadlineMs = DEFAULT_EXPORT_DEADLINE_MS): number {
  return Math.max(0, exportDeadlineMs - Math.min(5_000, exportDeadlineMs / 2));
}

/**
 * Waits for the export of `span`'s trace, at most `deadlineMs`. A trace whose root has ended but
 * whose children still run when the hold ends (holdMsFor) is exported then, its open spans marked
 * unfinished: once the invocation is over its timers never fire (the open-span timeout's neither),
 * and the trace would stay in memory, never exported.
 */
function awaitExport(tracker: ExportTracker, span: LiveSpan, deadlineMs: number): Promise<"exported" | "timeout"> {
  const record = span._record;
  const force = setTimeout(() => {
    if (record.rootEnded && !record.finished) record.finish();
  }, holdMsFor(deadlineMs));
  return tracker.exported(span, deadlineMs).finally(() => clearTimeout(force));
}

/**
 * Holds the invocation open (waitUntil) until the trace is handed on, and says so when it was not
 * by the deadline: the invocation ends then, and the export still running ends with it, unheard
 * (exportDeadlineMs 0 asks for that: nothing is said).
 */
function holdForExport(waitUntil: WaitUntil, exported: Promise<"exported" | "timeout">, deadlineMs: number): void {
  waitUntil(
    exported.then((outcome) => {
      if (outcome === "timeout" && deadlineMs > 0) {
        warnOnce(
          "worker-export-deadline",
          `a trace was not handed on within exportDeadlineMs (${deadlineMs} ms) after its invocation's response and is lost: the invocation ends, and the export with it ` +
            "(its destination did not answer in time, or work given to ctx.waitUntil kept the trace open). Bind TRACE_BUFFER to keep traces through outages.",
        );
      }
    }),
  );
}

const requestSpans = new WeakMap<Request, LiveSpan>();
/** Requests whose handler is running now: a layer called from inside it joins its span. */
const handling = new WeakSet<Request>();

/**
 * The span of a request whose traced handler is running now, when this code runs inside it (an
 * outer layer's: instrument(instrument(h)), an app's mlflowTracing() around a sub-app's). The same
 * Request handled again beside it, or after it, is not inside it, and gets its own trace.
 */
export function enclosingSpan(request: Request): LiveSpan | undefined {
  const span = requestSpans.get(request);
  return span && !span.isEnded && handling.has(request) && runsUnder(span) ? span : undefined;
}

/** Whether the active span is `span` or one of its descendants. */
function runsUnder(span: LiveSpan): boolean {
  const slots = span._record.slots;
  let current: { spanId: string; parentId: string | null } | undefined = getCurrentActiveSpan() ?? undefined;
  for (let depth = 0; current && depth < 1_000; depth++) {
    if (current.spanId === span.spanId) return true;
    const parentId = current.parentId;
    current = parentId === null ? undefined : slots.find((s) => s.spanId === parentId);
  }
  return false;
}

/**
 * The span of an instrumented request: explicit context for code running where AsyncLocalStorage
 * is unavailable (no `nodejs_als`/`nodejs_compat` flag): `withSpan(fn, { parent: requestSpan(req) })`.
 */
export function requestSpan(request: Request): LiveSpan | undefined {
  return requestSpans.get(request);
}

export function pathOf(request: Request): string {
  try {
    return new URL(request.url).pathname;
  } catch {
    return "/";
  }
}

/**
 * Relays `body`, ending `span` once it has been read to the end, has failed or was cancelled
 * (`onEnd` then runs). Its length is not declared: a handler's Content-Length may be stale (a new
 * body under an upstream response's headers, HTMLRewriter output), and workerd, which ignores it
 * for such bodies, would then cut the response. A relay nobody starts reading within `unreadMs`
 * (its response was dropped, as Hono drops a HEAD response's body) ends the span then with a
 * `body not read` event.
 */
function endWithBody(
  body: ReadableStream<Uint8Array>,
  span: LiveSpan,
  unreadMs: number,
  onEnd: () => void,
): ReadableStream<Uint8Array> {
  let bytes = 0;
  let ended = false;
  const finish = (error?: unknown, event?: { name: string; reason: unknown }) => {
    clearTimeout(unread);
    if (ended) return;
    ended = true;
    try {
      span.setAttribute("http.response.body.size", bytes);
      if (event) span.addEvent(event.name, { reason: event.reason === undefined ? "" : String(event.reason) });
      if (error !== undefined) fail(span, error);
      else span.end();
    } catch (sdkError) {
      reportSdkError("instrument", sdkError);
    }
    onEnd();
  };
  // The relay first: a body already used throws here, before any timer is set.
  const relayed = relayStream(body, {
    pulled: () => clearTimeout(unread), // reading has started: it ends with the body, however slow
    chunk: (value) => (bytes += (value as Uint8Array).byteLength),
    done: () => finish(),
    failed: (error) => finish(error),
    cancelled: (reason) => finish(undefined, { name: "cancelled", reason }),
  }) as unknown as ReadableStream<Uint8Array>;
  const unread = setTimeout(() => finish(undefined, { name: "body not read", reason: `no read within ${unreadMs} ms` }), unreadMs);
  (unread as { unref?: () => void }).unref?.();
  return relayed;
}

/**
 * Drops the trace of `span` (a request's) when the app's ignoreRequest leaves `request` out; one
 * that throws, or answers with a Promise, leaves nothing out (warned once).
 */
export function leaveOut(span: LiveSpan, request: Request, ignoreRequest: RequestSpanOptions["ignoreRequest"]): void {
  if (!ignoreRequest) return;
  let answer: unknown;
  try {
    answer = ignoreRequest(request);
  } catch (error) {
    warnOnce("ignore-request-threw", `ignoreRequest threw (${errorText(error, true)}), so the request is traced.`);
    return;
  }
  if (isPromiseLike(answer)) {
    Promise.resolve(answer).catch(() => undefined);
    warnOnce("ignore-request-promise", "ignoreRequest returned a Promise; it must answer at once (true or false), so the request is traced.");
    return;
  }
  if (answer === true) span._record.sampledOut = true;
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
  handle: (span?: LiveSpan) => Response | Promise<Response>,
  options: RequestSpanOptions = {},
): Promise<Response> {
  // Traced already (instrument(instrument(h)), mlflowTracing() on an app and on a sub-app): the
  // inner layer adds nothing, rather than starting a second trace for the same request.
  // Its ignoreRequest still counts: any layer may leave the request out.
  const outer = enclosingSpan(request);
  if (outer) {
    leaveOut(outer, request, options.ignoreRequest);
    return handle(outer);
  }
  // A CORS preflight is the browser's own request (a traceparent header sent cross-origin, which
  // propagateTo adds, causes one), not the app's work: a trace of its own would be noise.
  if (request.method === "OPTIONS" && request.headers.has("access-control-request-method")) return handle();
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
    span._record.invocation = true;
    requestSpans.set(request, span);
    leaveOut(span, request, options.ignoreRequest);
  } catch (error) {
    reportSdkError("instrument", error);
    return handle();
  }
  const deadline = options.exportDeadlineMs ?? DEFAULT_EXPORT_DEADLINE_MS;
  const handOn = () => {
    // Registered synchronously after the root ended, so the export cannot be missed.
    const exported = awaitExport(tracker, span, deadline);
    if (waitUntil) holdForExport(waitUntil, exported, deadline);
  };
  let response: Response;
  handling.add(request);
  // The collector's own request (a page's batch, a read of the Traces view), known once it has
  // been handled: its trace (a request span is always its trace's root) is not exported, nor
  // waited for.
  const leaveCollectors = () => {
    if (isCollectorRequest(request)) span._record.sampledOut = true;
  };
  try {
    response = await span.run(() => handle(span));
  } catch (error) {
    leaveCollectors();
    fail(span, error);
    handOn();
    throw error;
  } finally {
    handling.delete(request);
  }
  leaveCollectors();
  // (Not instanceof: a Response of another class than the global one, as @hono/node-server's, is one;
  // a plain object with a status, which the runtime refuses, is not.)
  if (Object.prototype.toString.call(response) !== "[object Response]") {
    // A handler that forgot its `return`: handed back as it is, for the runtime to say so, as
    // untraced; the span ends with what it was (reading a body from it would throw our own error).
    fail(span, new TypeError(`the handler resolved to ${response === null ? "null" : typeof response}, not a Response`));
    handOn();
    return response;
  }
  try {
    span.setAttribute("http.response.status_code", response.status);
    // Outputs the handler set on the request span (the active span in it) are kept: the status is
    // the outputs only where it set none.
    outputsUnlessSet(span, { status: response.status });
    // A recorded exception's description ("TypeError: …") says more than the status does.
    if (response.status >= 500 && span.status.statusCode !== SpanStatusCode.ERROR) span.setStatus(SpanStatusCode.ERROR, `HTTP ${response.status}`);
    // Nothing to stream: no body, a WebSocket upgrade, or a HEAD request (whose body the runtime,
    // or Hono before it, discards unread).
    if (!response.body || response.status === 101 || (response as { webSocket?: unknown }).webSocket || request.method === "HEAD") {
      span.end();
      handOn();
      return response;
    }
    // Read already (through a reader released since), or locked to a reader: the runtime refuses
    // to send it, as untraced (a relay would take the reader only when read, too late to throw,
    // and send an empty body as a whole one).
    if (response.bodyUsed) throw new TypeError("the response body was already read, so it cannot be sent");
    if (response.body.locked) throw new TypeError("the response body is locked to a reader, so it cannot be sent");
    // The isolate must outlive the body (a long LLM stream) and then the export: one waitUntil
    // covering both, registered now while the invocation is still open.
    let bodyDone!: () => void;
    const finished = new Promise<void>((r) => (bodyDone = r));
    // (With exportDeadlineMs 0 nothing is held, but a body is still read after the response: the
    // default time before one nobody reads counts as dropped.)
    const body = endWithBody(response.body, span, deadline || DEFAULT_EXPORT_DEADLINE_MS, () => bodyDone());
    if (waitUntil) holdForExport(waitUntil, finished.then(() => awaitExport(tracker, span, deadline)), deadline);
    // The response as init keeps all of it: status, headers, and in workerd `encodeBody: "manual"`
    // (a pre-compressed body is not compressed again) and `cf`.
    return new Response(body, response);
  } catch (error) {
    if (!span.isEnded) {
      // A body already used (read by the handler, or locked to a reader) cannot be sent: the
      // runtime answers 500, as it would untraced. The span says so.
      if (response.bodyUsed || response.body?.locked) fail(span, error);
      else {
        reportSdkError("instrument", error);
        span.end();
      }
      handOn();
    } else reportSdkError("instrument", error);
    return response;
  }
}

/** The span of each non-HTTP invocation, by what identifies it (its controller, batch, message…). */
const invocationSpans = new WeakMap<object, LiveSpan>();

/**
 * A root span around a non-HTTP invocation (scheduled, queue, a Durable Object's alarm). `key`
 * identifies the invocation: a layer running inside another's span for the same key
 * (instrument(instrument(h)), a handler wrapped twice) joins that span, as a Request's does.
 */
export async function traceInvocation<T>(
  name: string,
  inputs: Record<string, unknown>,
  tracker: ExportTracker,
  waitUntil: WaitUntil | undefined,
  run: (span?: LiveSpan, joined?: boolean) => T | Promise<T>,
  deadlineMs = DEFAULT_EXPORT_DEADLINE_MS,
  key?: unknown,
): Promise<T> {
  const keyed = typeof key === "object" && key !== null ? key : undefined;
  const outer = keyed && invocationSpans.get(keyed);
  if (outer && !outer.isEnded && runsUnder(outer)) return run(outer, true);
  let span: LiveSpan;
  try {
    span = startSpan({ name, spanType: SpanType.UNKNOWN, inputs, parent: null });
    span._record.invocation = true;
    if (keyed) invocationSpans.set(keyed, span);
  } catch (error) {
    reportSdkError("instrument", error);
    return run();
  }
  try {
    const result = await span.run(() => run(span));
    span.end();
    return result;
  } catch (error) {
    fail(span, error);
    throw error;
  } finally {
    const exported = awaitExport(tracker, span, deadlineMs);
    if (waitUntil) holdForExport(waitUntil, exported, deadlineMs);
  }
}

/**
 * The invocation's ctx as the handler gets it: `waitUntil` also keeps the invocation's trace open
 * until each promise it is given settles, so spans of work done after the response (a cache
 * write, an evaluation) stay in the request's trace instead of starting their own. A hold lasts at
 * most `holdMs` after the root span ends (awaitExport; and openSpanTimeoutMs), which leaves the
 * export time before its deadline.
 * Everything else is the ctx's own, called on the ctx. Without a span, the ctx as it is.
 */
export function holdingContext<C extends object>(ctx: C, span: LiveSpan | undefined, holdMs: number): C {
  const target = ctx as C & { waitUntil?: (promise: unknown) => void };
  if (!span || typeof target?.waitUntil !== "function") return ctx; // no span (it could not start): nothing to hold
  // The runtime's, taken now: a library that later assigns its own wrapper (saving this one to call
  // on) must not be called back from here, or each calls the other for ever (Sentry #17514).
  const original = target.waitUntil;
  /** What the handler assigned or defined as `ctx.waitUntil`: kept on this proxy, not on the runtime's ctx. */
  let assigned: PropertyDescriptor | undefined;
  const waitUntil = (promise: unknown) => {
    let given = promise;
    if (holdMs > 0) {
      try {
        if (isPromiseLike(promise)) {
          // Adopted once, here: a lazy thenable (a query builder) must not run twice.
          given = Promise.resolve(promise);
          // Released when it settles; at the latest, holdMs after the root ends (the response, or
          // the end of its body: a long stream's evaluation registered at the start is still held)
          // awaitExport finishes the trace, as does openSpanTimeoutMs.
          const release = span._record.hold();
          (given as Promise<unknown>).then(release, release);
        }
      } catch {
        given = promise; // a throwing `then` getter: the runtime says what it says of it
      }
    }
    return Reflect.apply(original, target, [given]);
  };
  return new Proxy(target, {
    get(object, key, receiver) {
      // A property the object fixed (a frozen ctx's own method) is reported as it is: a proxy may
      // report nothing else (its waitUntil then holds nothing for the trace).
      if (lockedProperty(object, key)) return Reflect.get(object, key, object);
      if (key === "waitUntil") return !assigned ? waitUntil : assigned.get ? assigned.get.call(receiver) : assigned.value;
      const value: unknown = Reflect.get(object, key, object);
      return typeof value === "function" ? value.bind(object) : value;
    },
    set(object, key, value, receiver) {
      if (key !== "waitUntil") return Reflect.set(object, key, value);
      if (assigned?.set) assigned.set.call(receiver, value);
      else if (assigned?.get) return false; // an accessor without a setter, as on any object
      else assigned = { value, writable: true, configurable: true };
      return true;
    },
    defineProperty(object, key, descriptor) {
      if (key !== "waitUntil") return Reflect.defineProperty(object, key, descriptor);
      // (A non-configurable one could not be kept here without breaking the Proxy's invariants.)
      if (descriptor.configurable === false) return false;
      assigned = { ...assigned, ...descriptor };
      if (descriptor.get || descriptor.set) delete assigned.value;
      else if ("value" in descriptor) (delete assigned.get, delete assigned.set);
      return true;
    },
  });
}
