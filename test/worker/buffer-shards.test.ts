// Listing across shards where it is easy to get wrong: many traces in the same millisecond (in
// Workers the clock only moves on I/O) spread over shards, traces arriving between two pages, and
// filters that leave some shards with nothing.
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Trace } from "../../core/model/types.js";
import { ShardedTraceStore, shardOf } from "../../worker/buffer/shards.js";
import type { TraceStore } from "../../worker/store.js";
import { simpleTrace } from "./traces.js";

let run = 0;
/** A store over shards no other test uses (names are per test run). */
function freshStore(shards: number): ShardedTraceStore {
  const prefix = `shards-${Date.now()}-${run++}`;
  const ns = env.UNFORWARDED_BUFFER;
  const scoped = { get: (id: DurableObjectId) => ns.get(id), idFromName: (name: string) => ns.idFromName(`${prefix}/${name}`) };
  return new ShardedTraceStore(scoped as never, shards);
}

async function everyPage(store: TraceStore, query: Parameters<TraceStore["list"]>[0]): Promise<string[]> {
  const seen: string[] = [];
  let cursor = query.cursor;
  for (let pages = 0; pages < 100; pages++) {
    const page = await store.list({ ...query, cursor });
    seen.push(...page.traces.map((t) => t.traceId));
    if (!page.nextCursor) return seen;
    cursor = page.nextCursor;
  }
  throw new Error("paging never ended");
}

const at = (t: Trace, ms: number): Trace => {
  t.info.requestTime = ms;
  return t;
};

describe("ShardedTraceStore: keyset paging across shards", () => {
  it("traces of the same millisecond on different shards are each listed once, ordered by trace id", async () => {
    const store = freshStore(4);
    const same = Array.from({ length: 17 }, (_, i) => at(simpleTrace(`tie ${i}`), 1_800_000_000_000));
    const older = Array.from({ length: 3 }, (_, i) => at(simpleTrace(`older ${i}`), 1_700_000_000_000 + i));
    expect(new Set(same.map((t) => shardOf(t.info.traceId, 4))).size).toBeGreaterThan(1);
    await store.put([...same, ...older]);
    const expected = [...same.map((t) => t.info.traceId).sort().reverse(), ...older.reverse().map((t) => t.info.traceId)];
    for (const limit of [1, 3, 5, 20, 200]) expect(await everyPage(store, { limit })).toEqual(expected);
  });

  it("a trace arriving between two pages neither repeats nor hides the ones already paged past", async () => {
    const store = freshStore(3);
    const made = Array.from({ length: 9 }, (_, i) => at(simpleTrace(`steady ${i}`), 1_800_000_000_000 + i * 10));
    await store.put(made);
    const first = await store.list({ limit: 4 });
    expect(first.traces.map((t) => t.traceId)).toEqual(made.slice(5).reverse().map((t) => t.info.traceId));
    // Newer than everything (belongs on page one) and one in the middle of the rest.
    await store.put([at(simpleTrace("newest"), 1_900_000_000_000), at(simpleTrace("middle"), 1_800_000_000_015)]);
    const rest = await everyPage(store, { limit: 4, cursor: first.nextCursor! });
    const middle = (await store.list({ text: "middle" })).traces[0]!.traceId;
    expect(rest).toEqual([...made.slice(2, 5).reverse().map((t) => t.info.traceId), middle, ...made.slice(0, 2).reverse().map((t) => t.info.traceId)]);
  });

  it("filters page across shards too, and a shard with no match does not end the listing early", async () => {
    const store = freshStore(4);
    const made = Array.from({ length: 30 }, (_, i) => at(simpleTrace(i % 3 === 0 ? `needle ${i}` : `hay ${i}`, { tags: { kind: i % 3 === 0 ? "needle" : "hay" }, fail: i % 6 === 0 }), 1_800_000_000_000 + i));
    await store.put(made);
    const needles = made.filter((_, i) => i % 3 === 0).reverse().map((t) => t.info.traceId);
    expect(await everyPage(store, { limit: 3, text: "NEEDLE" })).toEqual(needles);
    expect(await everyPage(store, { limit: 2, tag: "kind=needle" })).toEqual(needles);
    expect(await everyPage(store, { limit: 2, tag: "kind=needle", status: "ERROR" })).toEqual(made.filter((_, i) => i % 6 === 0).reverse().map((t) => t.info.traceId));
    expect(await everyPage(store, { limit: 7, tag: "kind=nothing" })).toEqual([]);
    // A trace id typed in the search box finds its trace.
    expect(await everyPage(store, { text: made[7]!.info.traceId.slice(3, 15).toUpperCase() })).toEqual([made[7]!.info.traceId]);
  });
});
