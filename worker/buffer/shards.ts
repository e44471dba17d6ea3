import type { Trace } from "../../core/model/types.js";
import type { PutResult, StoredTrace, TracePage, TraceQuery, TraceStore } from "../store.js";
import { ConfigError } from "./config.js";
import { encodeCursor, newestFirst, normalizeQuery } from "./query.js";
import type { TraceBuffer } from "./trace-buffer.js";

// The buffer is sharded by trace id: every part of a trace lands on the same TraceBuffer (so parts
// merge), and traces spread evenly over the shards whatever key, origin or experiment sent them,
// so no single Durable Object (about 1,000 requests/s each, one thread) becomes the bottleneck.
//
// Limits (docs/worker-buffer.md): listing reads one page from every shard and merges them, so a
// page costs N subrequests; the shard count is part of the routing, so changing
// TRACE_BUFFER_SHARDS re-homes trace ids: traces already buffered stay in their old shard and are
// still forwarded by it, but later parts of those traces would start a second copy, and the old
// shards drop out of listings when the count shrinks. Pick the count once per deployment.

export const DEFAULT_SHARDS = 4;
export const MAX_SHARDS = 64;

/** FNV-1a over the id: stable across isolates and deployments, cheap, evenly spread for random ids. */
export function shardOf(traceId: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < traceId.length; i++) {
    hash ^= traceId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % shards;
}

export function readShardCount(value: unknown): number {
  if (value === undefined || value === "") return DEFAULT_SHARDS;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > MAX_SHARDS) throw new ConfigError("TRACE_BUFFER_SHARDS", `TRACE_BUFFER_SHARDS must be an integer from 1 to ${MAX_SHARDS}; got ${JSON.stringify(value)}.`);
  return n;
}

export class ShardedTraceStore implements TraceStore {
  constructor(
    private readonly namespace: DurableObjectNamespace<TraceBuffer>,
    readonly shards: number = DEFAULT_SHARDS,
  ) {}

  // Typed as the plain interface: RPC hands back structured-cloned values of the same shape, and
  // the recursive Json type is too deep for the generated stub types.
  private stub(index: number): TraceStore & Pick<TraceBuffer, "stats"> {
    return this.namespace.get(this.namespace.idFromName(`shard-${index}`)) as unknown as TraceStore & Pick<TraceBuffer, "stats">;
  }

  private stubFor(traceId: string): TraceStore {
    return this.stub(shardOf(traceId, this.shards));
  }

  async put(traces: Trace[]): Promise<PutResult> {
    const groups = new Map<number, { traces: Trace[]; at: number[] }>();
    traces.forEach((t, at) => {
      const i = shardOf(t.info.traceId, this.shards);
      const group = groups.get(i) ?? { traces: [], at: [] };
      group.traces.push(t);
      group.at.push(at);
      groups.set(i, group);
    });
    const results = await Promise.all(
      [...groups].map(([i, group]) =>
        this.stub(i)
          .put(group.traces)
          .catch((error: unknown) => {
            // A shard numbers the traces of its own group: name the trace by its place in the batch,
            // keeping the error's class (RangeError: over a limit; TypeError: a shape it refuses).
            const kind = error instanceof RangeError ? RangeError : error instanceof TypeError ? TypeError : undefined;
            const message = kind ? (error as Error).message : "";
            const m = /^traces\[(\d+)\]/.exec(message);
            if (!kind || !m) throw error;
            throw new kind(`traces[${group.at[Number(m[1])]}]${message.slice(m[0].length)}`);
          }),
      ),
    );
    return results.reduce((sum, r) => ({ stored: sum.stored + r.stored, merged: sum.merged + r.merged, duplicates: sum.duplicates + r.duplicates }), {
      stored: 0,
      merged: 0,
      duplicates: 0,
    });
  }

  async list(query: TraceQuery): Promise<TracePage> {
    const q = normalizeQuery(query);
    // Each shard returns its newest `limit` after the cursor; the merged newest `limit` are the page.
    const pages = await Promise.all(Array.from({ length: this.shards }, (_, i) => this.stub(i).list(q)));
    const all = pages.flatMap((p) => p.traces).sort(newestFirst);
    const traces = all.slice(0, q.limit);
    const more = all.length > q.limit || pages.some((p) => p.nextCursor !== null);
    const last = traces[traces.length - 1];
    return { traces, nextCursor: more && last ? encodeCursor({ requestTime: last.requestTime, traceId: last.traceId }) : null };
  }

  async get(traceId: string): Promise<StoredTrace | null> {
    return this.stubFor(traceId).get(traceId);
  }

  async retry(traceId: string): Promise<boolean> {
    return this.stubFor(traceId).retry(traceId);
  }

  /** Every shard's counters (for /health and tests). */
  async stats() {
    return Promise.all(Array.from({ length: this.shards }, (_, i) => this.stub(i).stats()));
  }
}

/** The store over the `TRACE_BUFFER` binding of a Worker's env, or undefined without one. */
export function bufferStoreFromEnv(env: object): ShardedTraceStore | undefined {
  const { TRACE_BUFFER: ns, TRACE_BUFFER_SHARDS: shards } = env as { TRACE_BUFFER?: DurableObjectNamespace<TraceBuffer>; TRACE_BUFFER_SHARDS?: unknown };
  if (!ns || typeof ns.idFromName !== "function") return undefined;
  return new ShardedTraceStore(ns, readShardCount(shards));
}
