import type { Exporter } from "../core/export/exporter.js";
import type { Trace } from "../core/model/types.js";

// A Worker must keep its isolate alive (ctx.waitUntil) until its request's trace is handed on, and
// no longer. Core's flushTraces() waits for every trace in the isolate, and would force-export
// other requests' traces whose children are still running; this wrapper lets one request wait for
// its own trace only.

interface Pending {
  promise: Promise<void>;
  resolve: () => void;
}

export class ExportTracker implements Exporter {
  private readonly waiting = new Map<string, Pending>();
  /** Recently exported ids, for a waiter that arrives after the export settled (bounded). */
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
    const id = trace.info.traceId;
    let done: Promise<void>;
    try {
      done = Promise.resolve(this.destination?.export(trace));
    } catch (error) {
      done = Promise.reject(error);
    }
    const settled = done.finally(() => this.settle(id));
    // A Worker part and a second request of the same trace id (a browser making two calls) are
    // separate exports; each waiter is released by the export that follows it.
    return settled;
  }

  /** Resolves once the trace with this id has been exported (or `deadlineMs` passed). */
  exported(traceId: string, deadlineMs: number): Promise<"exported" | "timeout"> {
    if (this.recent.delete(traceId)) return Promise.resolve("exported");
    let pending = this.waiting.get(traceId);
    if (!pending) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      pending = { promise, resolve };
      this.waiting.set(traceId, pending);
    }
    let timer: ReturnType<typeof setTimeout> | null = null;
    const timeout = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), deadlineMs)));
    return Promise.race([pending.promise.then(() => "exported" as const), timeout]).finally(() => {
      if (timer !== null) clearTimeout(timer);
      if (this.waiting.get(traceId) === pending) this.waiting.delete(traceId);
    });
  }

  private settle(traceId: string): void {
    const pending = this.waiting.get(traceId);
    if (pending) return pending.resolve();
    this.recent.add(traceId);
    if (this.recent.size > 256) this.recent.delete(this.recent.values().next().value as string);
  }

  async flush(): Promise<void> {
    await this.destination?.flush?.();
  }
}
