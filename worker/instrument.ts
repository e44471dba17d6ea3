import { checkKnownKeys, configure, fail, timerMs, TRACER_KEYS, validateTracerOptions, type TracerOptions } from "../core/config.js";
import { AsyncLocalStorageContextManager, type AsyncLocalStorageConstructor } from "../core/context/async-local-storage.js";
import { errorText, warnOnce } from "../core/debug.js";
import { MLFLOW_INIT_KEYS } from "../core/init.js";
import { getTracer, type Tracer } from "../core/tracer.js";
import { DEFAULT_MAX_VALUE_BYTES } from "../core/serialize/safe-json.js";
import type { Exporter } from "../core/export/exporter.js";
import { ExportTracker } from "./export-tracker.js";
import { destinationFromEnv } from "./destination.js";
import { holdingContext, holdMsFor, runtimeWaitUntil, traceInvocation, traceRequest, type RequestSpanOptions } from "./request-span.js";

// instrument(handler) for module Workers: one root span per fetch/scheduled/queue/email/tail invocation,
// traces handed on inside ctx.waitUntil. The tracer is configured on the first invocation, when
// the Worker's env (its bindings and secrets) is known.

export interface WorkerTracingOptions<Env> extends Omit<TracerOptions, "exporter" | "contextManager">, RequestSpanOptions {
  /**
   * Where finished traces go, from the Worker's env. Default: the `TRACE_BUFFER` Durable Object
   * binding if there is one, else a remote collector (`MLFLOW_EDGE_COLLECTOR_URL` with
   * `MLFLOW_EDGE_COLLECTOR_SECRET`), else MLflow itself (`MLFLOW_TRACKING_URI` + an experiment).
   */
  exporter?: (env: Env) => Exporter | undefined;
  /**
   * AsyncLocalStorage to carry the active span. Found on its own with the `nodejs_compat` flag;
   * with only `nodejs_als`, pass `AsyncLocalStorage` from "node:async_hooks". Without either,
   * spans nest only through explicit parents (`requestSpan(request)`), and a warning says so.
   */
  asyncLocalStorage?: AsyncLocalStorageConstructor;
}

interface Setup {
  tracker: ExportTracker;
  tracer: Tracer;
  /** The options it was made with: another layer's are compared with them. */
  options: object;
  /** Options objects already compared with those (ensureTracing runs on every request). */
  compared: WeakSet<object>;
}

/**
 * Whether two layers' options set up the same tracer: the values that decide it, defaults filled
 * in. Exporter factories count as the same when they are one function or have the same source
 * text (an inline `(env) => …` written alike in each layer); a factory made by a closure with
 * another value, or a bound one, is not told apart by its text.
 */
function sameTracing(a: WorkerTracingOptions<never>, b: WorkerTracingOptions<never>): boolean {
  const key = (o: WorkerTracingOptions<never>) =>
    JSON.stringify([o.experimentId, o.dedupeSpanNames ?? true, o.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES, o.openSpanTimeoutMs ?? WORKER_OPEN_SPAN_TIMEOUT_MS, o.silent ?? false]);
  const sameExporter = a.exporter === b.exporter || (a.exporter !== undefined && b.exporter !== undefined && String(a.exporter) === String(b.exporter));
  // asyncLocalStorage: one layer may pass what the other finds by itself (nodejs_compat).
  const sameStorage = a.asyncLocalStorage === b.asyncLocalStorage || a.asyncLocalStorage === undefined || b.asyncLocalStorage === undefined;
  return sameExporter && sameStorage && key(a) === key(b);
}

/** A Worker may run on for only ~30 s after its response: unfinished children are exported before that. */
const WORKER_OPEN_SPAN_TIMEOUT_MS = 20_000;

let isolateSetup: Setup | undefined;
/** Tracers ensureTracing made: replacing one of those (after resetWorkerTracing) is no surprise. */
const configuredHere = new WeakSet<Tracer>();

/**
 * Configures the isolate's tracer from the first env seen, and again if something else replaced
 * the global tracer since (an `init()` elsewhere in the Worker).
 */
export function ensureTracing<Env>(env: Env, options: WorkerTracingOptions<Env>, fn = "instrument"): Setup {
  const current = getTracer();
  if (isolateSetup && current === isolateSetup.tracer) {
    // One tracer and destination per isolate, the first layer's: another's differing ones would be
    // ignored without a word (a per-route exporter, another experiment).
    if (!isolateSetup.compared.has(options)) {
      isolateSetup.compared.add(options);
      if (!sameTracing(options as WorkerTracingOptions<never>, isolateSetup.options as WorkerTracingOptions<never>)) {
        warnOnce(
          "instrument-options-differ",
          "instrument()/mlflowTracing()/instrumentDurableObject() are used with different tracing options (exporter, experimentId, maxValueBytes, …) in one Worker: " +
            "one tracer serves the isolate, set up by the first to run, and the others' are ignored. Pass the same options to each " +
            "(spanName, spanType, continueTrace, exportDeadlineMs and ignoreRequest may differ).",
        );
      }
    }
    return isolateSetup;
  }
  if (current.exporter !== undefined && !configuredHere.has(current)) {
    // init() (or another configure) set up tracing that this replaces: its exporter would get nothing.
    warnOnce(
      "instrument-replaces-init",
      "instrument()/mlflowTracing()/instrumentDurableObject() configure tracing themselves and replace what init() set up (its exporter gets no traces from here on): " +
        "pass those options to them instead, e.g. instrument(handler, { exporter: (env) => …, experimentId }).",
    );
  }
  const tracker = new ExportTracker();
  let destination: Exporter | undefined;
  try {
    destination = options.exporter ? options.exporter(env) : destinationFromEnv(env as Record<string, unknown>, { exportDeadlineMs: options.exportDeadlineMs });
  } catch (error) {
    // A configuration mistake must not fail the Worker's requests: say what is wrong, trace on.
    warnOnce("worker-destination", `${fn}(): traces are dropped: ${errorText(error)}`);
    destination = undefined;
  }
  if (!destination && !options.exporter) {
    warnOnce(
      "worker-no-destination",
      `${fn}(): no TRACE_BUFFER binding, MLFLOW_EDGE_COLLECTOR_URL or MLFLOW_TRACKING_URI in env and no exporter option, so traces are recorded and dropped.`,
    );
  }
  tracker.setDestination(destination);
  const { exporter: _e, asyncLocalStorage, spanName: _n, continueTrace: _c, spanType: _t, exportDeadlineMs: _d, ignoreRequest: _i, ...tracer } = options;
  configure({
    ...tracer,
    openSpanTimeoutMs: tracer.openSpanTimeoutMs ?? WORKER_OPEN_SPAN_TIMEOUT_MS,
    exporter: tracker,
    contextManager: asyncLocalStorage ? new AsyncLocalStorageContextManager(asyncLocalStorage) : undefined,
  });
  isolateSetup = { tracker, tracer: getTracer(), options, compared: new WeakSet([options]) };
  configuredHere.add(isolateSetup.tracer);
  return isolateSetup;
}

const WORKER_KEYS = [
  ...TRACER_KEYS.filter((k) => k !== "contextManager"), "spanName", "spanType", "continueTrace", "exportDeadlineMs", "ignoreRequest", "asyncLocalStorage",
] as const satisfies readonly (keyof WorkerTracingOptions<unknown>)[];
// init()'s MLflow options: a Worker reads those from its env, where secrets belong.
const FROM_ENV = "a Worker takes MLflow's settings from its env (MLFLOW_TRACKING_URI, MLFLOW_EXPERIMENT_ID or _NAME, MLFLOW_TRACKING_TOKEN, …), or from exporter: (env) => new MlflowExporter({ … })";
const INIT_ONLY: Record<string, string> = {
  ...Object.fromEntries(MLFLOW_INIT_KEYS.map((k) => [k, FROM_ENV])),
  contextManager: "a Worker carries context with AsyncLocalStorage (pass asyncLocalStorage when it is not found on its own)",
};

/**
 * Checks the options where instrument() or mlflowTracing() is called, at the Worker's top level:
 * a mistake fails the upload with a message naming the option instead of every request later.
 */
export function validateWorkerOptions<Env>(options: WorkerTracingOptions<Env>, fn: string): void {
  const bad = (field: string, expected: string, got: unknown) => fail(field, expected, got, fn);
  if (typeof options !== "object" || options === null) bad("options", "an object", options);
  checkKnownKeys(options, WORKER_KEYS, fn, INIT_ONLY);
  const { exporter, asyncLocalStorage, spanName, continueTrace, spanType, exportDeadlineMs, ignoreRequest, ...tracer } = options;
  validateTracerOptions(tracer, fn);
  if (exporter !== undefined && typeof exporter !== "function") bad("exporter", "a function (env) => Exporter", exporter);
  // A class whose instances run() and getStore(): an arrow or bound function, or a class without
  // them, would pass a typeof test and then fail every request.
  const proto = typeof asyncLocalStorage === "function" ? (asyncLocalStorage as { prototype?: Record<string, unknown> }).prototype : undefined;
  if (asyncLocalStorage !== undefined && (typeof proto?.run !== "function" || typeof proto.getStore !== "function")) {
    bad("asyncLocalStorage", 'AsyncLocalStorage from "node:async_hooks" (a class whose instances have run() and getStore())', asyncLocalStorage);
  }
  if (spanName !== undefined && typeof spanName !== "function") bad("spanName", "a function (request, route) => string", spanName);
  if (continueTrace !== undefined && typeof continueTrace !== "boolean") bad("continueTrace", "a boolean", continueTrace);
  if (ignoreRequest !== undefined && typeof ignoreRequest !== "function") bad("ignoreRequest", "a function (request) => boolean", ignoreRequest);
  if (spanType !== undefined && (typeof spanType !== "string" || spanType === "")) bad("spanType", "a SpanType or a non-empty string", spanType);
  if (exportDeadlineMs !== undefined && !timerMs(exportDeadlineMs)) {
    bad("exportDeadlineMs", "a number of milliseconds from 0 to 2147483647", exportDeadlineMs);
  }
}

/** For tests: forget the isolate's tracing setup so the next invocation configures again. */
export function resetWorkerTracing(): void {
  isolateSetup = undefined;
}

/**
 * The wrapper's members other than the traced handlers: every method and accessor the handler
 * has, own or inherited from its class (`email`, `tail`, helpers, getters), forwarded to the
 * handler itself, so `this` is the handler as when workerd calls it (private fields work, state
 * stays on one object). Its data properties (a class too) are read through the prototype.
 */
function forwardMembers(handler: object, wrapped: object): void {
  const seen = new Set<PropertyKey>(["constructor"]);
  for (let proto: object | null = handler; proto && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Reflect.ownKeys(proto)) {
      if (seen.has(key)) continue;
      seen.add(key);
      const descriptor = Reflect.getOwnPropertyDescriptor(proto, key);
      if (!descriptor) continue;
      const base = { enumerable: descriptor.enumerable ?? false, configurable: true };
      // A class is a value, not a method: read through the prototype as it is (`new wrapped.Cls()`).
      if (typeof descriptor.value === "function" && /^class\b/.test(Function.prototype.toString.call(descriptor.value))) continue;
      if (typeof descriptor.value === "function") {
        Object.defineProperty(wrapped, key, {
          ...base,
          writable: true,
          value: function (...args: unknown[]) {
            return (Reflect.get(handler, key) as (...a: unknown[]) => unknown).apply(handler, args);
          },
        });
      } else if (descriptor.get || descriptor.set) {
        Object.defineProperty(wrapped, key, {
          ...base,
          get: () => Reflect.get(handler, key),
          set: (value: unknown) => {
            Reflect.set(handler, key, value);
          },
        });
      }
    }
  }
}

/**
 * The `Env` a handler's methods take (unknown when it says none). Hono's `fetch` takes
 * `Env | {} | undefined`: the members with no property are dropped, so `env` is the app's Env.
 */
type HandlerEnv<H> = H extends ExportedHandler<infer Env> ? ([Bound<NonNullable<Env>>] extends [never] ? Env : Bound<NonNullable<Env>>) : unknown;
/** The members of a union that have properties (all-optional ones and records too): not Hono's `{}`. */
type Bound<E> = E extends unknown ? ([keyof E] extends [never] ? never : E) : never;

/**
 * Wraps a module Worker's handlers: each `fetch` becomes a root span (method, path, status; it
 * continues the caller's `traceparent`), as do `scheduled` and `queue` invocations. The handler
 * may be an object or a class instance (`instrument(new App())`); its other members stay.
 * @example
 * export default instrument({ async fetch(request, env, ctx) { ... } });
 */
export function instrument<Env, H extends ExportedHandler<Env>>(handler: H, options?: WorkerTracingOptions<Env>): H;
/**
 * A handler typed with its own `Env`: `{ … } satisfies ExportedHandler<Env>`, a Hono app
 * (`instrument(app)`), a class instance. (The first form's `Env` cannot come from such a handler.)
 */
export function instrument<H extends ExportedHandler<never>>(handler: H, options?: WorkerTracingOptions<HandlerEnv<H>>): H;
export function instrument<Env, H extends ExportedHandler<Env>>(handler: H, options: WorkerTracingOptions<Env> = {}): H {
  if (typeof handler !== "object" || handler === null) {
    const got = typeof handler === "function" ? (/^class[\s{]/.test(Function.prototype.toString.call(handler)) ? "a class" : "a function") : handler === null ? "null" : typeof handler;
    throw new TypeError(
      `mlflow-edge instrument(): the handler must be an object with fetch, scheduled or queue methods (instrument({ fetch }) or instrument(new App())); got ${got}.`,
    );
  }
  validateWorkerOptions(options, "instrument");
  const wrapped = Object.create(handler) as Record<PropertyKey, unknown>;
  forwardMembers(handler, wrapped);
  // Defined, not assigned: assigning would fail for a frozen handler or an accessor on its prototype.
  const own = (key: string, value: unknown) => Object.defineProperty(wrapped, key, { value, writable: true, enumerable: true, configurable: true });
  const { fetch: onFetch, scheduled, queue } = handler;
  const { email, tail } = handler as { email?: unknown; tail?: unknown };
  // waitUntil work holds a trace at most this long, so its export still fits the deadline.
  const holdMs = holdMsFor(options.exportDeadlineMs);
  if (typeof onFetch === "function") {
    const fetch: NonNullable<ExportedHandler<Env>["fetch"]> = (request, env, ctx) => {
      const { tracker } = ensureTracing(env, options);
      return traceRequest(request, undefined, tracker, runtimeWaitUntil(ctx), (span) => onFetch.call(handler, request, env, holdingContext(ctx, span, holdMs)), options);
    };
    own("fetch", fetch);
  }
  if (typeof scheduled === "function") {
    const onScheduled: NonNullable<ExportedHandler<Env>["scheduled"]> = (controller, env, ctx) => {
      const { tracker } = ensureTracing(env, options);
      const inputs = { cron: controller.cron, scheduledTime: controller.scheduledTime };
      return traceInvocation(`scheduled ${controller.cron}`, inputs, tracker, runtimeWaitUntil(ctx), (span) => scheduled.call(handler, controller, env, holdingContext(ctx, span, holdMs)), options.exportDeadlineMs, controller);
    };
    own("scheduled", onScheduled);
  }
  if (typeof queue === "function") {
    const onQueue: NonNullable<ExportedHandler<Env>["queue"]> = (batch, env, ctx) => {
      const { tracker } = ensureTracing(env, options);
      const inputs = { queue: batch.queue, messages: batch.messages.length };
      return traceInvocation(`queue ${batch.queue}`, inputs, tracker, runtimeWaitUntil(ctx), (span) => queue.call(handler, batch, env, holdingContext(ctx, span, holdMs)), options.exportDeadlineMs, batch);
    };
    own("queue", onQueue);
  }
  // email and tail get a root span too: code there (a withSpan) would otherwise run with tracing
  // not yet configured when one of them is the isolate's first invocation, and its export would
  // not be held open (waitUntil), so its trace was dropped without a word.
  if (typeof email === "function") {
    const onEmail = (message: { to?: unknown; rawSize?: unknown }, env: Env, ctx: ExecutionContext) => {
      const { tracker } = ensureTracing(env, options);
      // The recipient's domain only: a reply-by-email address carries its token in the local part
      // (reply+<token>@…), and no default redaction can tell it.
      const at = typeof message?.to === "string" ? message.to.lastIndexOf("@") : -1;
      const to = at >= 0 ? (message.to as string).slice(at + 1) : "";
      const inputs = { toDomain: to, size: message?.rawSize };
      return traceInvocation(`email ${to}`.trim(), inputs, tracker, runtimeWaitUntil(ctx), (span) => email.call(handler, message, env, holdingContext(ctx, span, holdMs)), options.exportDeadlineMs, message);
    };
    own("email", onEmail);
  }
  if (typeof tail === "function") {
    const onTail = (events: unknown, env: Env, ctx: ExecutionContext) => {
      const { tracker } = ensureTracing(env, options);
      const inputs = { events: Array.isArray(events) ? events.length : undefined };
      return traceInvocation("tail", inputs, tracker, runtimeWaitUntil(ctx), (span) => tail.call(handler, events, env, holdingContext(ctx, span, holdMs)), options.exportDeadlineMs, events);
    };
    own("tail", onTail);
  }
  return wrapped as unknown as H;
}
