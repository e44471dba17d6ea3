import type { Trace } from "../model/types.js";

/**
 * Receives each finished trace once its root span ended. `export` resolves when the trace has been
 * durably handed on (stored in a queue, accepted by a collector or by MLflow). Anything with an
 * `export(trace)` method works, which is the seam tests use.
 */
export interface Exporter {
  export(trace: Trace): Promise<void> | void;
  /** Resolves once everything handed to `export` so far has been delivered or stored. */
  flush?(): Promise<void>;
}

/** Keeps finished traces in memory: for tests, and for apps that render their own traces. */
export class InMemoryExporter implements Exporter {
  readonly traces: Trace[] = [];

  export(trace: Trace): void {
    this.traces.push(trace);
  }

  /** Removes and returns everything collected so far. */
  drain(): Trace[] {
    return this.traces.splice(0, this.traces.length);
  }
}
