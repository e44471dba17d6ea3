import type { ContextManager } from "../context/context-manager.js";
import { nowMs } from "./clock.js";
import { META_SCHEMA_VERSION, TRACE_SCHEMA_VERSION, type TraceState } from "./constants.js";
import { endedStatus, isLiveSpan, type LiveSpan } from "./live-span.js";
import type { SpanData, TraceInfo } from "./types.js";

/** What a trace in progress needs from the tracer that owns it. */
export interface TraceOwner {
  readonly contextManager: ContextManager;
  readonly maxValueBytes: number;
  readonly openSpanTimeoutMs: number;
  finishTrace(record: TraceRecord): void;
  /** The trace's root span ended (its children may still run): it is now the last active trace, as in Python. */
  rootEnded(record: TraceRecord): void;
}

/**
 * A trace being recorded. It finishes when its root span has ended and no other span (or stream
 * that will start one) is still open; a child that outlives its root is waited for, up to
 * `openSpanTimeoutMs`, then the trace is exported with that span marked unfinished.
 */
export class TraceRecord {
  readonly info: TraceInfo;
  readonly tracer: TraceOwner;
  /** Spans in start order; a slot holds the live span until it ends, then its data. */
  readonly slots: (LiveSpan | SpanData)[] = [];
  private open = 0;
  private pending = 0;
  /** Of `pending`, the holds of streams not read yet (`hold(true)`). */
  private streamHolds = 0;
  rootEnded = false;
  finished = false;
  /**
   * The root is a Worker invocation's (instrument(), the Hono middleware): getLastActiveTraceId()
   * inside it answers with this trace once a span in it ended, never another invocation's.
   */
  invocation = false;
  /** A span other than the root has ended. */
  childEnded = false;
  /** The tracer's synchronous run this trace started in (for its lost-context check). */
  startedIn: object | undefined;
  /** The root, when the caller chose this trace for it (`parent: null`, or a remote parent), not the context. */
  placedRoot: LiveSpan | undefined;
  /** The trace continues a caller's that is not recorded (`traceparent` flags `-00`): it is not exported. */
  sampledOut = false;
  /** Set by updateCurrentTrace({ state }); otherwise the root's status decides. */
  userState: TraceState | undefined;
  private lingerTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(tracer: TraceOwner, traceId: string, requestTime: number, experimentId: string | undefined) {
    this.tracer = tracer;
    this.info = {
      traceId,
      traceLocation: experimentId
        ? { type: "MLFLOW_EXPERIMENT", mlflowExperiment: { experimentId } }
        : { type: "MLFLOW_EXPERIMENT" },
      requestTime,
      state: "IN_PROGRESS",
      traceMetadata: { [META_SCHEMA_VERSION]: TRACE_SCHEMA_VERSION },
      tags: {},
    };
  }

  /** @internal Called by the LiveSpan constructor. */
  register(span: LiveSpan): number {
    this.open++;
    return this.slots.push(span) - 1;
  }

  /**
   * Keeps the trace open after its root ends until the returned release is called (or
   * openSpanTimeoutMs passes): a stream that will open a child span when iterated, work a Worker
   * handed to ctx.waitUntil.
   */
  hold(stream = false): () => void {
    this.pending++;
    if (stream) this.streamHolds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.pending--;
      if (stream) this.streamHolds--;
      this.maybeFinish();
    };
  }

  onSpanEnd(span: LiveSpan): void {
    if (this.finished) return; // force-exported already; the late end changes nothing
    this.slots[span._slot] = span._toData();
    this.open--;
    if (span._slot === 0) {
      this.rootEnded = true;
      this.tracer.rootEnded(this);
    } else this.childEnded = true;
    this.maybeFinish();
  }

  /** Every span has ended, and only generators made in it and not read yet keep it open. */
  get onlyHeld(): boolean {
    return this.rootEnded && this.open === 0 && this.pending === this.streamHolds;
  }

  private maybeFinish(): void {
    if (!this.rootEnded || this.finished) return;
    if (this.open === 0 && this.pending === 0) {
      this.finish();
      return;
    }
    if (this.lingerTimer === undefined && this.tracer.openSpanTimeoutMs !== Infinity) {
      this.lingerTimer = setTimeout(() => this.finish(), this.tracer.openSpanTimeoutMs);
      (this.lingerTimer as { unref?: () => void } | undefined)?.unref?.(); // (Node's; a browser's timer is a number, a stub's may be nothing)
    }
  }

  /**
   * Ends every span still open now, children first, each with a `cancelled` event saying why, and
   * finishes the trace (streams not yet iterated are not waited for).
   */
  cancel(reason: string): void {
    for (let i = this.slots.length - 1; i >= 0 && !this.finished; i--) {
      const slot = this.slots[i];
      if (isLiveSpan(slot) && !slot.isEnded) slot.addEvent({ name: "cancelled", attributes: { reason } }).end();
    }
    this.finish();
  }

  /**
   * What `cancel(reason)` would export if called now, as a separate copy: this record runs on (a
   * hidden page may come back, or be discarded without another event).
   */
  snapshot(reason: string): Pick<TraceRecord, "info" | "userState" | "spanData"> {
    const at = nowMs();
    const spans = this.slots.map((slot): SpanData => {
      if (!(isLiveSpan(slot))) return slot;
      const data = slot._toData(at);
      data.events.push({ name: "cancelled", timestamp: at, attributes: { reason } });
      data.status = endedStatus(data.status);
      return data;
    });
    // Finalizing renames and describes in place: the copy keeps that away from the live record.
    const copy = (globalThis as unknown as { structuredClone<T>(value: T): T }).structuredClone({ info: this.info, spans });
    return { info: copy.info, userState: this.userState, spanData: () => copy.spans };
  }

  /**
   * Differs whenever a span starts, ends or gets an event (a stream's chunk): what tells a stored
   * snapshot from the trace now, without copying it. (Attributes or outputs set without any of
   * those do not change it.)
   */
  get changeKey(): string {
    let events = 0;
    for (const slot of this.slots) events += isLiveSpan(slot) ? slot._eventCount : slot.events.length;
    return `${this.slots.length}:${this.open}:${events}`;
  }

  /** Finishes now: open spans are captured as they are (endTime null). Idempotent. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.lingerTimer !== undefined) clearTimeout(this.lingerTimer);
    this.tracer.finishTrace(this);
  }

  /** The spans as data; spans still open are captured with `endTime: null`. */
  spanData(): SpanData[] {
    return this.slots.map((slot) => (isLiveSpan(slot) ? slot._toData(null) : slot));
  }
}
