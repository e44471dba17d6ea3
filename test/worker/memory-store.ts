// A small in-memory TraceStore for the collector's tests (our own seam, not MLflow): it counts
// puts, can be told to fail, and keeps each trace as the collector handed it over.
import type { Trace } from "../../core/model/types.js";
import type { PutResult, StoredTrace, TracePage, TraceQuery, TraceStore } from "../../worker/store.js";

export class MemoryStore implements TraceStore {
  readonly traces = new Map<string, Trace>();
  puts = 0;
  fail = false;
  lastQuery: TraceQuery | undefined;

  async put(traces: Trace[]): Promise<PutResult> {
    if (this.fail) throw new Error("store down");
    this.puts++;
    const r = { stored: 0, merged: 0, duplicates: 0 };
    for (const t of traces) {
      const prev = this.traces.get(t.info.traceId);
      if (!prev) r.stored++;
      else if (JSON.stringify(prev) === JSON.stringify(t)) r.duplicates++;
      else r.merged++;
      this.traces.set(t.info.traceId, t);
    }
    return r;
  }

  async list(q: TraceQuery): Promise<TracePage> {
    if (this.fail) throw new Error("store down");
    this.lastQuery = q;
    // The real buffer throws RangeError for a cursor it did not issue; so does this one.
    if (q.cursor !== undefined && !/^\d+$/.test(q.cursor)) throw new RangeError(`cursor ${JSON.stringify(q.cursor)} is not one this API returned`);
    const all = [...this.traces.values()];
    const from = Number(q.cursor ?? 0);
    const page = all.slice(from, from + (q.limit ?? 50));
    const next = from + page.length < all.length ? String(from + page.length) : null;
    return { traces: page.map((t) => ({ traceId: t.info.traceId }) as never), nextCursor: next };
  }

  async get(id: string): Promise<StoredTrace | null> {
    const t = this.traces.get(id);
    return t ? { summary: { traceId: id } as never, trace: t } : null;
  }

  async retry(id: string): Promise<boolean> {
    return this.traces.has(id);
  }
}
