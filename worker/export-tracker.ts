import type { Exporter } from "../core/export/exporter.js";
import type { Trace } from "../core/model/types.js";

// A Worker must keep its isolate alive (ctx.waitUntil) until its request's trace is handed on, and
// no longer. Core's flushTraces() waits for every trace in the isolate, and would force-export
// other requests' traces whose children are still running; this wrapper lets one request wait for
// its own export only.
//
// Exports are told apart by trace id and root span id, not trace id alone: two requests of one
// browser trace (same traceparent trace id) run concurrently in one isolate and are two exports,
// each of which its own request must wait for.

interface Pending {
  promise: Promise<void>;
  resolve: () => void;
}

/** The root span of one export: a request's or an invocation's span. */
export interface ExportRoot {
  readonly traceId: string;
  readonly spanId: string;
}

const keyOf = (traceId: string, rootSpanId: string) => `${traceId}/${rootSpanId}`;

export class ExportTracker implements Exporter {
  private readonly waiting = new Map<string, Pending>();
  /** Recently settled exports, for a waiter that arrives after its export settled (bounded). */
  private readonly recent = new Set<string>();
  private destination: Exporter | undefined;

  /** Sets where traces go (instrument() resolves it from the first invocation's env). */
  setDestination(exporter: Exporter | undefined): void {
    this.destination = exporter;
  }

  get hasDestination(): boolean {
    return this.destination !== undefined;
  }

  export(trace: Trace): Promise<void> {
    // The tracer lists a trace's spans in start order: the first is the root this export is for.
    const key = keyOf(trace.info.traceId, trace.data.spans[0]?.spanId ?? "");
    let done: Promise<void>;
    try {
      done = Promise.resolve(this.destination?.export(trace));
    } catch (error) {
      done = Promise.reject(error);
    }
    return done.finally(() => this.settle(key));
  }

  /** Resolves once the export whose root is `root` has settled (or `deadlineMs` passed). */
  exported(root: ExportRoot, deadlineMs: number): Promise<"exported" | "timeout"> {
    // A trace continuing a caller's that is not recorded is never exported: nothing to wait for.
    if ((root as { _record?: { sampledOut?: boolean } })._record?.sampledOut) return Promise.resolve("exported");
    const key = keyOf(root.traceId, root.spanId);
    if (this.recent.delete(key)) return Promise.resolve("exported");
    let pending = this.waiting.get(key);
    if (!pending) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      pending = { promise, resolve };
      this.waiting.set(key, pending);
    }
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), deadlineMs)));
    return Promise.race([pending.promise.then(() => "exported" as const), timeout]).finally(() => {
      if (timer !== null) clearTimeout(timer);
      if (this.waiting.get(key) === pending) this.waiting.delete(key);
    });
  }

  private settle(key: string): void {
    const pending = this.waiting.get(key);
    if (pending) return pending.resolve();
    this.recent.add(key);
    if (this.recent.size > 256) this.recent.delete(this.recent.values().next().value as string);
  }

  async flush(): Promise<void> {
    await this.destination?.flush?.();
  }
}
