import { fail } from "../config.js";
import { reportSdkError, warnOnce } from "../debug.js";
import type { Trace } from "../model/types.js";
import { isPromiseLike } from "../tracer.js";
import type { Exporter } from "./exporter.js";
import { queuedTrace, type QueuedTrace, type TraceQueue } from "./queue.js";
import { redactSecrets, type RedactHook } from "./redact.js";
import { ingestJson } from "./fit.js";

export interface QueueExporterOptions {
  queue: TraceQueue;
  /**
   * Fraction of traces kept (0..1, default 1), decided by trace id so that every copy of a trace
   * (its snapshots, a resend) gets the same answer; or a function deciding per finished trace (tail sampling).
   */
  sample?: number | ((trace: Trace) => boolean);
  /** Runs before anything is stored; `null` drops the trace. Default `redactSecrets`; `false` stores traces as they are. */
  redact?: RedactHook | false;
  /** Called once the traces are stored: typically nudges the sender. */
  onStored?: (ids: readonly string[], items: readonly QueuedTrace[]) => void;
  /** Called with the id of a finished trace that is not stored (sampled out, dropped by redact, failed). */
  onDropped?: (traceId: string) => void;
  /** What `flush()` runs after pending writes are stored: typically the sender's drain. */
  drain?: () => Promise<void>;
}

export interface QueueExporterStats {
  /** Traces left out by sampling or by the redaction hook returning `null`. */
  sampledOut: number;
  /** Traces lost because they could not be serialized or stored (reported once as a warning). */
  failed: number;
}

/** Throws a TypeError unless `sample` is undefined, a rate from 0 to 1 or a function. */
export function validateSample(sample: unknown, fn = "QueueExporter"): void {
  if (sample !== undefined && typeof sample !== "function" && !(typeof sample === "number" && sample >= 0 && sample <= 1)) {
    fail("sample", "a number from 0 to 1 or a function (trace) => boolean", sample, fn);
  }
}

/**
 * Rate sampling by trace id, so the decision is the same each time a trace is looked at: a hidden
 * page stores its open traces again every few seconds, and a random draw each time would let a
 * discarded tab's trace through far more often than the rate. The id's last 8 hex digits are
 * random (crypto) in ids this package makes; an id from elsewhere not ending in 8 hex digits gets a draw.
 */
export function sampledIn(traceId: string, rate: number): boolean {
  const tail = traceId.slice(-8);
  return (/^[0-9a-f]{8}$/i.test(tail) ? Number.parseInt(tail, 16) / 2 ** 32 : Math.random()) < rate;
}

/**
 * An Exporter that stores each finished trace in a TraceQueue (sample → redact → serialize →
 * append) and resolves once it is stored; a Sender delivers from there.
 */
export class QueueExporter implements Exporter {
  private readonly options: QueueExporterOptions;
  private readonly writing = new Map<string, { item: QueuedTrace; stored: Promise<void> }>();
  private readonly counts: QueueExporterStats = { sampledOut: 0, failed: 0 };
  private stopped = false;

  constructor(options: QueueExporterOptions) {
    validateSample(options.sample);
    this.options = options;
  }

  async export(trace: Trace): Promise<void> {
    if (this.stopped) return;
    const item = this.prepare(trace, true);
    if (!item) {
      this.options.onDropped?.(trace.info.traceId);
      return;
    }
    const stored = this.options.queue.append([item]);
    const entry = { item, stored };
    this.writing.set(item.id, entry);
    try {
      await stored;
      this.options.onStored?.([item.id], [item]);
    } catch (error) {
      this.counts.failed++;
      reportSdkError("queue.append", error);
    } finally {
      if (this.writing.get(item.id) === entry) this.writing.delete(item.id);
    }
  }

  /** Waits for every pending write, then drains. */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.writing.values()].map((w) => w.stored));
    await this.options.drain?.();
  }

  /** Stores nothing from now on (shutdown: tracing was turned off, perhaps as the user withdrew consent). */
  stop(): void {
    this.stopped = true;
  }

  /** Traces whose queue write has not finished yet (for a page closing right now), and a promise of those writes. */
  unsettled(): { items: QueuedTrace[]; stored: Promise<void> } {
    const pending = [...this.writing.values()];
    return { items: pending.map((w) => w.item), stored: Promise.all(pending.map((w) => w.stored)).then(() => undefined) };
  }

  stats(): QueueExporterStats {
    return { ...this.counts };
  }

  /** Queue entries for traces not finished yet (Tracer.snapshotOpenTraces), sampled, redacted and cut like finished ones; not counted. */
  prepareSnapshots(traces: readonly Trace[]): QueuedTrace[] {
    return traces.map((t) => this.prepare(t, false)).filter((item) => item !== undefined);
  }

  /** Sampling, redaction and serialization; `undefined` when the trace is not to be stored. */
  private prepare(trace: Trace, count: boolean): QueuedTrace | undefined {
    const { sample, redact = redactSecrets } = this.options;
    try {
      const keep = typeof sample === "function" ? sample(trace) : sample === undefined || sampledIn(trace.info.traceId, sample);
      if (isPromiseLike(keep)) warnOnce("sample-async", "the sample function returned a Promise: it must decide synchronously, so the trace was kept.");
      const kept = keep ? (redact ? redact(trace) : trace) : null;
      if (isPromiseLike(kept)) {
        if (count) this.counts.failed++;
        warnOnce("redact-async", "the redact hook returned a Promise: it must return the trace synchronously, so the trace was dropped.");
        return undefined;
      }
      if (kept === null) {
        if (count) this.counts.sampledOut++;
        return undefined;
      }
      const id = kept?.info?.traceId;
      if (typeof id !== "string" || id === "") {
        if (count) this.counts.failed++;
        warnOnce("redact-shape", "the redact hook returned something that is not a trace (no info.traceId); the trace was dropped.");
        return undefined;
      }
      // Cut to what a collector takes (fit.ts): refused, the whole trace would be lost.
      const { json, bytes } = ingestJson(kept);
      return queuedTrace(id, json, bytes);
    } catch (error) {
      if (count) this.counts.failed++;
      reportSdkError("sample/redact/serialize", error); // a throwing hook never leaks the raw trace
      return undefined;
    }
  }
}
