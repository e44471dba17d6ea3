import { resetWarnings } from "../debug.js";
import { queuedTrace, type QueuedTrace, type TraceQueue } from "./queue.js";

// One behaviour suite for every TraceQueue (convention 18), free of any test framework and of DOM
// and Node APIs: vitest runs it against MemoryQueue in Node (memory-queue.test.ts), Playwright runs
// it against the IndexedDB queue in Chromium (test/browser/delivery/queue-contract.spec.ts).

export interface QueueFactoryOptions {
  /** The clock the queue must use for leases and `notBefore`. */
  now: () => number;
  maxTraces?: number;
  maxBytes?: number;
  leaseMs?: number;
}

export type QueueFactory = (options: QueueFactoryOptions) => TraceQueue | Promise<TraceQueue>;

interface Ctx {
  make(options?: Omit<QueueFactoryOptions, "now">): Promise<TraceQueue>;
  /** Moves the queue's clock. */
  tick(ms: number): void;
  now(): number;
  warnings: string[];
}

const trace = (n: number, size = 10): QueuedTrace => queuedTrace(`tr-${String(n).padStart(32, "0")}`, `{"n":${n},"pad":"${"x".repeat(size)}"}`);
const ids = (items: readonly QueuedTrace[] | undefined) => (items ?? []).map((t) => t.id);

/** Deep equality through JSON (queue values are plain data); throws with both sides on mismatch. */
function eq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}
/** The fields of `expected` only. */
function has(actual: object | undefined, expected: Record<string, unknown>, what: string): void {
  const picked = Object.fromEntries(Object.keys(expected).map((k) => [k, (actual as Record<string, unknown> | undefined)?.[k]]));
  eq(picked, expected, what);
}

export const QUEUE_CONTRACT: readonly { name: string; run(ctx: Ctx): Promise<void> }[] = [
  {
    name: "leases the oldest entries first, up to maxBytes, with their bodies intact",
    async run(ctx) {
      const q = await ctx.make();
      const a = trace(1), b = trace(2), c = trace(3);
      const unicode = queuedTrace("tr-unicode", '{"text":"héllo ✓ 𝄞"}');
      await q.append([a, b]);
      await q.append([c, unicode]);
      const lease = await q.lease(a.bytes + b.bytes);
      eq(ids(lease?.items), [a.id, b.id], "ids(lease?.items)");
      eq(lease?.items[0]?.body, a.body, "lease?.items[0]?.body");
      const rest = await q.lease(1_000_000);
      eq(ids(rest?.items), [c.id, unicode.id], "ids(rest?.items)");
      eq(rest?.items[1]?.body, unicode.body, "rest?.items[1]?.body");
      eq(rest?.items[1]?.bytes, 27, "rest?.items[1]?.bytes"); // UTF-8 bytes + 1 separator, not UTF-16 units
    },
  },
  {
    name: "returns an oversized oldest entry alone instead of getting stuck behind it",
    async run(ctx) {
      const q = await ctx.make();
      const big = trace(1, 5_000), small = trace(2);
      await q.append([big, small]);
      const lease = await q.lease(100);
      eq(ids(lease?.items), [big.id], "ids(lease?.items)");
      eq(ids((await q.lease(100))?.items), [small.id], "ids((await q.lease(100))?.items)");
    },
  },
  {
    name: "is idempotent by trace id: appending an id again keeps one entry",
    async run(ctx) {
      const q = await ctx.make();
      const a = trace(1);
      await q.append([a]);
      await q.append([a, { ...a, body: '{"other":true}' }]);
      eq((await q.stats()).queued, 1, "(await q.stats()).queued");
      const lease = await q.lease(1_000_000);
      eq((lease?.items)?.length, 1, "lease?.items length");
      eq(lease?.items[0]?.body, a.body, "lease?.items[0]?.body");
    },
  },
  {
    name: "hides leased entries from other leasers until ack, nack or expiry",
    async run(ctx) {
      const q = await ctx.make();
      await q.append([trace(1), trace(2), trace(3)]);
      const [l1, l2] = await Promise.all([q.lease(1_000_000), q.lease(1_000_000)]);
      const all = [...ids(l1?.items), ...ids(l2?.items)];
      eq(new Set(all).size, all.length, "new Set(all).size"); // never the same trace to two leasers
      eq((all)?.length, 3, "all length");
      eq(await q.lease(1_000_000), undefined, "await q.lease(1_000_000)");
    },
  },
  {
    name: "deletes only on ack",
    async run(ctx) {
      const q = await ctx.make();
      await q.append([trace(1), trace(2)]);
      const lease = await q.lease(1_000_000);
      eq((await q.stats()).queued, 2, "(await q.stats()).queued"); // leased is still stored
      await q.ack(lease!);
      has(await q.stats(), { queued: 0, queuedBytes: 0 }, "await q.stats()");
      ctx.tick(1_000_000);
      eq(await q.lease(1_000_000), undefined, "await q.lease(1_000_000)");
    },
  },
  {
    name: "nack releases the entries for retryAt and counts the attempt",
    async run(ctx) {
      const q = await ctx.make();
      const a = trace(1);
      await q.append([a]);
      await q.nack((await q.lease(1_000))!, ctx.now() + 5_000);
      eq(await q.lease(1_000), undefined, "await q.lease(1_000)");
      ctx.tick(5_000);
      const again = await q.lease(1_000);
      eq(ids(again?.items), [a.id], "ids(again?.items)");
      eq(again?.items[0]?.attempts, 1, "again?.items[0]?.attempts");
    },
  },
  {
    name: "nack of entries set aside, not failed, releases them for retryAt without counting an attempt",
    async run(ctx) {
      const q = await ctx.make();
      await q.append([trace(1)]);
      await q.nack((await q.lease(1_000))!, ctx.now() + 5_000, false);
      eq(await q.lease(1_000), undefined, "await q.lease(1_000)");
      ctx.tick(5_000);
      eq((await q.lease(1_000))?.items[0]?.attempts, 0, "attempts after a nack that was no failure");
    },
  },
  {
    name: "entries waiting for their retry time do not block newer ones",
    async run(ctx) {
      const q = await ctx.make();
      await q.append([trace(1)]);
      await q.nack((await q.lease(1_000))!, ctx.now() + 60_000);
      await q.append([trace(2)]);
      eq(ids((await q.lease(1_000))?.items), [trace(2).id], "ids((await q.lease(1_000))?.items)");
    },
  },
  {
    name: "a lease expires so a dead holder's entries are delivered by someone else",
    async run(ctx) {
      const q = await ctx.make({ leaseMs: 10_000 });
      await q.append([trace(1)]);
      const dead = await q.lease(1_000);
      const lasts = 10_000 + Math.ceil(trace(1).bytes / 16); // leaseMs and the upload allowance
      eq(dead?.expiresAt, ctx.now() + lasts, "dead lease expiresAt");
      ctx.tick(lasts - 1);
      eq(await q.lease(1_000), undefined, "lease before expiry");
      ctx.tick(1);
      const taken = await q.lease(1_000);
      eq(ids(taken?.items), [trace(1).id], "ids(taken?.items)");
      // The late holder's nack must not release the new holder's lease...
      await q.nack(dead!, 0);
      eq(await q.lease(1_000), undefined, "lease after the late nack");
      // ...but its ack still deletes: the collector has the trace, whoever sent it.
      await q.ack(dead!);
      eq((await q.stats()).queued, 0, "(await q.stats()).queued");
    },
  },
  {
    name: "a large lease lasts as long as its upload may take on a slow link (128 kbit/s)",
    async run(ctx) {
      const q = await ctx.make({ leaseMs: 10_000 });
      const big = trace(1, 160_000);
      await q.append([big]);
      const lease = await q.lease(1_000);
      eq(lease?.expiresAt, ctx.now() + 10_000 + Math.ceil(big.bytes / 16), "expiresAt");
      ctx.tick(10_000 + 5_000); // past the plain lease, still uploading
      eq(await q.lease(1_000_000), undefined, "lease while the upload may still run");
      ctx.tick(Math.ceil(big.bytes / 16));
      eq(ids((await q.lease(1_000_000))?.items), [big.id], "lease once the upload allowance is over");
    },
  },
  {
    name: "drops the oldest entries beyond maxTraces, counts them and warns",
    async run(ctx) {
      const q = await ctx.make({ maxTraces: 3 });
      await q.append([trace(1), trace(2), trace(3)]);
      await q.append([trace(4), trace(5)]);
      has(await q.stats(), { queued: 3, dropped: 2 }, "await q.stats()");
      eq(ids((await q.lease(1_000_000))?.items), [trace(3).id, trace(4).id, trace(5).id], "ids((await q.lease(1_000_000))?.items)");
      if (!ctx.warnings.some((w) => /queue is full.*oldest traces were dropped/.test(w))) throw new Error(`no queue-full warning among ${JSON.stringify(ctx.warnings)}`);
    },
  },
  {
    name: "drops the oldest entries beyond maxBytes and keeps queuedBytes exact",
    async run(ctx) {
      const one = trace(1, 100).bytes;
      const q = await ctx.make({ maxBytes: one * 2 });
      await q.append([trace(1, 100), trace(2, 100), trace(3, 100)]);
      const stats = await q.stats();
      has(stats, { queued: 2, dropped: 1, queuedBytes: trace(2, 100).bytes + trace(3, 100).bytes }, "stats");
      eq(ids((await q.lease(1_000_000))?.items), [trace(2, 100).id, trace(3, 100).id], "ids((await q.lease(1_000_000))?.items)");
    },
  },
  {
    name: "a single trace larger than maxBytes is dropped without evicting the others",
    async run(ctx) {
      const q = await ctx.make({ maxBytes: 1_000 });
      await q.append([trace(1)]);
      await q.append([trace(2, 5_000)]);
      has(await q.stats(), { queued: 1, dropped: 1 }, "await q.stats()");
      eq(ids((await q.lease(1_000_000))?.items), [trace(1).id], "ids((await q.lease(1_000_000))?.items)");
      // The warning names what happened: not "the oldest were dropped", which did not happen.
      if (ctx.warnings.some((w) => /oldest traces were dropped/.test(w))) throw new Error(`a queue-full warning for one large trace: ${JSON.stringify(ctx.warnings)}`);
      if (!ctx.warnings.some((w) => w.includes(`a trace of ${trace(2, 5_000).bytes} bytes is larger than the queue's byte cap (1000)`))) {
        throw new Error(`no too-large warning among ${JSON.stringify(ctx.warnings)}`);
      }
    },
  },
  {
    name: "a clock set back (an NTP fix) neither holds a retry for the size of the jump nor cancels it",
    async run(ctx) {
      const q = await ctx.make();
      await q.append([trace(1), trace(2)]);
      await q.nack((await q.lease(trace(1).bytes))!, ctx.now() + 5_000);
      await q.nack((await q.lease(trace(2).bytes))!, ctx.now() + 3_600_000); // a collector's Retry-After of an hour
      ctx.tick(-24 * 3_600_000); // the clock was a day ahead
      eq(await q.lease(1_000_000), undefined, "lease at once after the clock went back a day");
      ctx.tick(5_000);
      const retried = await q.lease(1_000_000);
      eq(ids(retried?.items), [trace(1).id], "the 5 s retry, 5 s later");
      await q.ack(retried!);
      ctx.tick(-1_000); // a second back: the hour still holds
      ctx.tick(60_000);
      eq(await q.lease(1_000_000), undefined, "the hour's retry a minute later");
    },
  },
  {
    name: "a clock set back a little does not give a held lease out again",
    async run(ctx) {
      const q = await ctx.make({ leaseMs: 10_000 });
      await q.append([trace(1)]);
      const held = await q.lease(1_000);
      eq(ids(held?.items), [trace(1).id], "first lease");
      ctx.tick(2_000);
      ctx.tick(-3_000); // a step back of 3 s, 2 s after the lease
      eq(await q.lease(1_000), undefined, "lease while the first is held");
    },
  },
];

/** Runs one named case against queues from `factory`, with a fresh clock and captured warnings. */
export async function runQueueContractCase(name: string, factory: QueueFactory): Promise<void> {
  const c = QUEUE_CONTRACT.find((x) => x.name === name);
  if (!c) throw new Error(`no queue contract case "${name}"`);
  let clock = 1_000_000;
  const warnings: string[] = [];
  const warn = console.warn;
  resetWarnings();
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  try {
    await c.run({
      make: async (options = {}) => factory({ now: () => clock, leaseMs: 10_000, ...options }),
      tick: (ms) => void (clock += ms),
      now: () => clock,
      warnings,
    });
  } finally {
    console.warn = warn;
  }
}
