import { findAsyncLocalStorage, AsyncLocalStorageContextManager } from "./context/async-local-storage.js";
import type { ContextManager } from "./context/context-manager.js";
import { StackContextManager } from "./context/stack.js";
import { isDev, reportExportError, reportSdkError, warnOnce } from "./debug.js";
import type { Exporter } from "./export/exporter.js";
import { followWallClock, nowMs, traceClosed, traceOpened } from "./model/clock.js";
import { DEFAULT_SPAN_NAME, SPAN_TYPE_UNKNOWN, type SpanType } from "./model/constants.js";
import { finalizeTrace } from "./model/finalize.js";
import { runHooks, startHooks } from "./model/hooks.js";
import { newOtelTraceId, newSpanId, toMlflowTraceId } from "./model/ids.js";
import { isLiveSpan, LiveSpan } from "./model/live-span.js";
import { isRemoteParent, type RemoteParent } from "./model/remote-parent.js";
import { TraceRecord, type TraceOwner } from "./model/trace-record.js";
import type { Trace } from "./model/types.js";
import { DEFAULT_MAX_VALUE_BYTES } from "./serialize/safe-json.js";

export interface TracerSettings {
  exporter?: Exporter;
  contextManager?: ContextManager;
  experimentId?: string;
  dedupeSpanNames?: boolean;
  maxValueBytes?: number;
  openSpanTimeoutMs?: number;
}

export interface StartSpanInternal {
  name?: string;
  spanType?: SpanType;
  inputs?: unknown;
  attributes?: Record<string, unknown>;
  parent?: LiveSpan | RemoteParent | null;
  startTimeMs?: number;
  functionName?: string;
}

/**
 * Whether a proxy of `target` must report `prop` as it is: an own read-only, non-configurable data
 * property (every property of a frozen object). Any other value for it is a TypeError of the proxy's.
 */
export function lockedProperty(target: object, prop: PropertyKey): boolean {
  const d = Reflect.getOwnPropertyDescriptor(target, prop);
  return d?.configurable === false && d.writable === false;
}

/** Whether `value` is a thenable. One whose `then` cannot be read (a revoked Proxy, a throwing getter) is not: it passes through as a value. */
export function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  try {
    return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as PromiseLike<unknown>).then === "function";
  } catch {
    return false;
  }
}

function defaultContextManager(): ContextManager {
  const als = findAsyncLocalStorage();
  return als ? new AsyncLocalStorageContextManager(als) : new StackContextManager();
}

/** The single tracing state: context manager, exporter, traces in progress, exports in flight. */
export class Tracer implements TraceOwner {
  readonly contextManager: ContextManager;
  readonly exporter: Exporter | undefined;
  readonly experimentId: string | undefined;
  readonly dedupeSpanNames: boolean;
  readonly maxValueBytes: number;
  readonly openSpanTimeoutMs: number;
  /**
   * Its traces count as open in the realm (they hold the clock's anchor still). Not for the
   * SDK's own detached tracer, whose spans record nowhere and may never be ended.
   */
  countsOpen = true;
  /**
   * The last trace that ended, for `getLastActiveTraceId()`: one holder shared by a tracer and every
   * tracer that replaces it, so `init()` again forgets nothing, and a trace still open then records
   * its id when it ends under the tracer it began with (a process-wide value in MLflow's SDKs).
   */
  last: { traceId: string | undefined } = { traceId: undefined };
  private readonly openTraces = new Set<TraceRecord>();
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Tracers this one replaced (init() again) that still had traces open or exports in flight:
   * those finish under them, and flush() waits for them too. Flat, and pruned as they finish.
   */
  private readonly retired = new Set<Tracer>();
  /** A trace went to an exporter that has a flush() since it was last called (it may hold the trace in a batch). */
  private unflushed = false;
  /** Lost-context checks apply: a context manager that may lose the span across an await, in development (read once: not per span). */
  private readonly checksContext: boolean;
  /**
   * The synchronous run in progress, for the lost-context check (cleared by a microtask): traces
   * started in it were started together with a span starting now, not left behind by an await.
   */
  private turn: object | undefined;

  constructor(settings: TracerSettings = {}) {
    this.contextManager = settings.contextManager ?? defaultContextManager();
    this.exporter = settings.exporter;
    this.experimentId = settings.experimentId;
    this.dedupeSpanNames = settings.dedupeSpanNames ?? true;
    this.maxValueBytes = settings.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES;
    this.openSpanTimeoutMs = settings.openSpanTimeoutMs ?? 120_000;
    this.checksContext = !this.contextManager.propagatesAcrossAwait && isDev();
  }

  /** The parent a new span would get: the explicit one, else the active span. */
  resolveParent(explicit: LiveSpan | RemoteParent | null | undefined): LiveSpan | RemoteParent | undefined {
    if (explicit === null) return undefined;
    if (explicit !== undefined) {
      if (isRemoteParent(explicit) || isLiveSpan(explicit)) return explicit;
      const shown = isPromiseLike(explicit) ? "a Promise (a missing await?)" : typeof explicit;
      warnOnce("bad-parent", `"parent" must be a span, a remote parent (parseTraceparent) or null; got ${shown}, so the span starts under the active span.`);
    }
    return this.contextManager.active();
  }

  startSpan(options: StartSpanInternal): LiveSpan {
    const resolved = this.resolveParent(options.parent);
    const remote = isRemoteParent(resolved) ? resolved : undefined;
    let parent = remote ? undefined : (resolved as LiveSpan | undefined);
    // Under a parent whose trace was dropped unsampled (left out by sampling or ignoreRequest), the
    // new trace is left out with it.
    let unsampled = false;
    if (parent && parent._record.finished) {
      unsampled = parent._record.sampledOut;
      if (!unsampled) {
        warnOnce(
          "parent-finished",
          `span "${options.name}" was started under a parent whose trace ${parent.traceId} was already exported; it starts a new trace instead.`,
        );
      } else if (isDev()) {
        // (Work a left-out request started and left running, a timer or a loop: said, once, in development.)
        warnOnce(
          "parent-left-out",
          `span "${options.name}" was started under a parent whose trace ${parent.traceId} was left out (unsampled, or ignoreRequest) and has ended; it is left out too.`,
        );
      }
      parent = undefined;
    }
    // A new trace with none other open in the realm (whose spans would move): times may first
    // follow the wall clock again.
    if (!parent) followWallClock();
    const start = options.startTimeMs ?? nowMs();
    let span: LiveSpan;
    const name = options.name || DEFAULT_SPAN_NAME;
    const spanType = options.spanType ?? SPAN_TYPE_UNKNOWN;
    if (parent) {
      span = new LiveSpan(parent._record, newSpanId(), parent.spanId, name, spanType, start);
    } else {
      // A remote parent made active (withTracingContextFromHeaders) is a parent: nothing was lost.
      if (this.checksContext && options.parent === undefined && !remote) this.checkLostContext(name);
      // A remote parent continues its trace: same id, and this root points at the remote span.
      const traceId = remote ? remote.traceId : toMlflowTraceId(newOtelTraceId());
      const record = new TraceRecord(this, traceId, Math.floor(start), this.experimentId);
      if (remote?.sampled === false || unsampled) record.sampledOut = true;
      if (this.checksContext) record.startedIn = this.currentTurn();
      this.openTraces.add(record);
      if (this.countsOpen) traceOpened();
      span = new LiveSpan(record, newSpanId(), remote ? remote.spanId : null, name, spanType, start);
      // `parent: null` or a remote parent given: the caller chose this trace for this span.
      if (options.parent === null || isRemoteParent(options.parent)) record.placedRoot = span;
    }
    try {
      if (options.functionName !== undefined) span._setFunctionName(options.functionName);
      if (options.inputs != null) span.setInputs(options.inputs); // null is no inputs, as in MLflow's SDKs
      if (options.attributes) span.setAttributes(options.attributes);
      if (startHooks.size) runHooks(startHooks, span, "start");
    } catch (error) {
      // The span is in its trace already: ended with the fault rather than left open (the
      // caller carries on untraced). A runaway recursion's deepest frames get here; where even
      // that has no stack left, the first frame that can ends it (failThrown).
      span._unsettled = true;
      try {
        span._recordException(error, true);
        span.end();
      } catch {
        // no stack left even for that: the trace's open-span timeout ends it
      }
      throw error;
    }
    return span;
  }

  /**
   * Without a context manager that survives `await`, a root span starting while another trace is
   * open is ambiguous: it may be a new flow, or a child whose context was lost across an await.
   * We never guess a parent (that would nest silently wrong); we start a new trace and say so.
   */
  private checkLostContext(name: string): void {
    if (this.openTraces.size === 0 || this.contextManager.carriedHere?.()) return;
    // A trace whose spans have all ended, held only for a generator not read yet, is not one a
    // span could have lost its way from; nor is one started in this same synchronous run (two
    // flows started together: a context is lost across an await, so in a later run).
    let open: TraceRecord | undefined;
    for (const record of this.openTraces) {
      if (!record.onlyHeld && record.startedIn !== this.turn) {
        open = record;
        break;
      }
    }
    if (!open) return;
    warnOnce(
      "lost-context",
      `span "${name}" started with no active parent while trace ${open.info.traceId} is still open, so it became a new trace. ` +
        `If it was meant to be a child, the context (${this.contextManager.name}) was lost across an await; ` +
        "if it is meant to be a new trace, pass { parent: null } (withSpan, startSpan or trace options) to say so. " +
        "Fix: pass { parent: span } to withSpan/startSpan or wrap the call in span.run(() => ...), or use a context manager " +
        "that survives await: AsyncLocalStorage (Node; Workers with the nodejs_compat flag) or Zone.js with async/await lowered " +
        "(browsers). See the README, 'Context'.",
    );
  }

  private currentTurn(): object {
    let turn = this.turn;
    if (!turn) {
      const started = (turn = this.turn = {});
      queueMicrotask(() => {
        if (this.turn === started) this.turn = undefined;
      });
    }
    return turn;
  }

  /** Lets go of a trace in progress: it is then kept only by its spans' holders (the detached tracer's, which record nowhere). */
  forget(record: TraceRecord): void {
    if (this.openTraces.delete(record) && this.countsOpen) traceClosed();
  }

  /** Called by a TraceRecord when its root and every child have ended. */
  finishTrace(record: TraceRecord): void {
    this.forget(record);
    if (record.sampledOut) return;
    let trace: Trace;
    try {
      trace = finalizeTrace(record, this.dedupeSpanNames);
    } catch (error) {
      reportSdkError("finalizeTrace", error);
      return;
    }
    this.export(trace);
  }

  rootEnded(record: TraceRecord): void {
    if (!record.sampledOut) this.last.traceId = record.info.traceId; // one never exported has no id to look up
  }

  private export(trace: Trace): void {
    const exporter = this.exporter;
    if (!exporter) return;
    try {
      if (exporter.flush) this.unflushed = true;
      const result = exporter.export(trace);
      if (isPromiseLike(result)) this.track(Promise.resolve(result));
    } catch (error) {
      reportExportError(error);
    }
  }

  private track(promise: Promise<void>, where?: string): void {
    const settled = promise.then(
      () => undefined,
      (error: unknown) => (where ? reportSdkError(where, error) : reportExportError(error)),
    );
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }

  /**
   * Exports every trace whose root has ended (children still open are captured unfinished) and
   * waits until the exporter has handed everything on.
   */
  async flush(): Promise<void> {
    for (const previous of [...this.retired]) {
      // Only one with something to hand on is waited for (its exporter's flush may never end
      // otherwise, say retrying a server that is gone); one whose only open traces have not ended
      // their root is kept for a later flush.
      if (previous.inFlight.size > 0 || previous.unflushed || [...previous.openTraces].some((r) => r.rootEnded)) await previous.flushOwn();
      if (!previous.hasWork) this.retired.delete(previous);
    }
    await this.flushOwn();
  }

  /** flush() for this tracer's own traces and exporter. */
  private async flushOwn(): Promise<void> {
    for (const record of [...this.openTraces]) if (record.rootEnded) record.finish();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
    this.unflushed = false;
    try {
      await this.exporter?.flush?.();
    } catch (error) {
      reportSdkError("exporter.flush", error);
    }
  }

  /**
   * Takes over from `previous` (init() again): a `flushTraces()` still waits for what it had open
   * or in flight, under its exporter, so a handler that flushes before its process is frozen
   * loses no trace another handler's init() cut off. A previous tracer with nothing open or in
   * flight is dropped at once (its exporter's batch is flushed now, and waited for while it is).
   */
  replace(previous: Tracer): void {
    this.last = previous.last;
    for (const t of [previous, ...previous.retired]) {
      // What its exporter holds in a batch is flushed now: kept only while that runs, a tracer
      // does not outlive it (an app calling init() again and again, never flushTraces()).
      if (t.unflushed) {
        t.unflushed = false;
        if (t.exporter?.flush) t.track(Promise.resolve().then(() => t.exporter?.flush?.()), "exporter.flush");
      }
      if (t.hasWork) this.retired.add(t);
    }
    previous.retired.clear();
  }

  private get hasWork(): boolean {
    return this.openTraces.size > 0 || this.inFlight.size > 0 || this.unflushed;
  }

  /**
   * The program is going away (a page being closed): ends every open span, with a `cancelled`
   * event giving `reason`, so that each open trace is exported now instead of lost.
   */
  cancelOpenTraces(reason: string): void {
    for (const record of [...this.openTraces]) record.cancel(reason);
  }

  /**
   * Each open trace as `cancelOpenTraces(reason)` would export it now, leaving it open: for a
   * program that may be killed without notice (a hidden page) to store in advance. With `seen`
   * (trace id → TraceRecord.changeKey of the last snapshot), traces unchanged since are skipped.
   */
  snapshotOpenTraces(reason: string, seen?: Map<string, string>): Trace[] {
    const traces: Trace[] = [];
    for (const record of this.openTraces) {
      try {
        if (!record.slots.length || record.sampledOut) continue;
        if (seen) {
          const key = record.changeKey;
          if (seen.get(record.info.traceId) === key) continue;
          seen.set(record.info.traceId, key);
        }
        traces.push(finalizeTrace(record.snapshot(reason), this.dedupeSpanNames));
      } catch (error) {
        reportSdkError("snapshotOpenTraces", error);
      }
    }
    return traces;
  }

  /** Traces started and not yet exported (for diagnostics and tests). */
  get openTraceCount(): number {
    return this.openTraces.size;
  }
}

// One tracer per realm, even when two copies of the package are bundled (OpenTelemetry's
// registerGlobal idea): the slot is keyed by a global symbol and records the version that made it.
const SLOT = Symbol.for("mlflow-edge");
const VERSION = "0.1.0";
type Slot = { version: string; tracer: Tracer };

export function getTracer(): Tracer {
  const holder = globalThis as { [SLOT]?: Slot };
  let slot = holder[SLOT];
  if (!slot) {
    slot = { version: VERSION, tracer: new Tracer() };
    holder[SLOT] = slot;
  } else if (slot.version !== VERSION) {
    warnOnce("two-versions", `two versions of mlflow-edge are loaded (${slot.version} and ${VERSION}); both use the first one's tracer.`);
  }
  return slot.tracer;
}

export function setTracer(tracer: Tracer): void {
  (globalThis as { [SLOT]?: Slot })[SLOT] = { version: VERSION, tracer };
}
