import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { resetWarnings } from "../debug.js";
import { queuedTrace, type QueuedTrace, type TraceQueue } from "./queue.js";

// One behaviour suite for every TraceQueue (convention 18): MemoryQueue runs it in Node, the
// Durable Object SQLite queue runs it in workerd. No Node or DOM APIs here, only the seam.

export interface QueueFactoryOptions {
  /** The clock the queue must use for leases and `notBefore`. */
  now: () => number;
  maxTraces?: number;
  maxBytes?: number;
  leaseMs?: number;
}

export type QueueFactory = (options: QueueFactoryOptions) => TraceQueue | Promise<TraceQueue>;

const trace = (n: number, size = 10): QueuedTrace => queuedTrace(`tr-${String(n).padStart(32, "0")}`, `{"n":${n},"pad":"${"x".repeat(size)}"}`);
const ids = (items: readonly QueuedTrace[] | undefined) => (items ?? []).map((t) => t.id);

export function runQueueContract(name: string, factory: QueueFactory): void {
  describe(`TraceQueue contract: ${name}`, () => {
    let clock = 1_000_000;
    const now = () => clock;
    const make = (options: Omit<QueueFactoryOptions, "now"> = {}) => factory({ now, leaseMs: 10_000, ...options });
    let warn: ReturnType<typeof vi.spyOn>;

    beforeEach(() => {
      clock = 1_000_000;
      resetWarnings();
      warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    });
    afterEach(() => warn.mockRestore());

    it("leases the oldest entries first, up to maxBytes, with their bodies intact", async () => {
      const q = await make();
      const a = trace(1), b = trace(2), c = trace(3);
      const unicode = queuedTrace("tr-unicode", '{"text":"héllo ✓ 𝄞"}');
      await q.append([a, b]);
      await q.append([c, unicode]);
      const lease = await q.lease(a.bytes + b.bytes);
      expect(ids(lease?.items)).toEqual([a.id, b.id]);
      expect(lease?.items[0]?.body).toBe(a.body);
      const rest = await q.lease(1_000_000);
      expect(ids(rest?.items)).toEqual([c.id, unicode.id]);
      expect(rest?.items[1]?.body).toBe(unicode.body);
      expect(rest?.items[1]?.bytes).toBe(27); // UTF-8 bytes + 1 separator, not UTF-16 units
    });

    it("returns an oversized oldest entry alone instead of getting stuck behind it", async () => {
      const q = await make();
      const big = trace(1, 5_000), small = trace(2);
      await q.append([big, small]);
      const lease = await q.lease(100);
      expect(ids(lease?.items)).toEqual([big.id]);
      expect(ids((await q.lease(100))?.items)).toEqual([small.id]);
    });

    it("is idempotent by trace id: appending an id again keeps one entry", async () => {
      const q = await make();
      const a = trace(1);
      await q.append([a]);
      await q.append([a, { ...a, body: '{"other":true}' }]);
      expect((await q.stats()).queued).toBe(1);
      const lease = await q.lease(1_000_000);
      expect(lease?.items).toHaveLength(1);
      expect(lease?.items[0]?.body).toBe(a.body);
    });

    it("hides leased entries from other leasers until ack, nack or expiry", async () => {
      const q = await make();
      await q.append([trace(1), trace(2), trace(3)]);
      const [l1, l2] = await Promise.all([q.lease(1_000_000), q.lease(1_000_000)]);
      const all = [...ids(l1?.items), ...ids(l2?.items)];
      expect(new Set(all).size).toBe(all.length); // never the same trace to two leasers
      expect(all).toHaveLength(3);
      expect(await q.lease(1_000_000)).toBeUndefined();
    });

    it("deletes only on ack", async () => {
      const q = await make();
      await q.append([trace(1), trace(2)]);
      const lease = await q.lease(1_000_000);
      expect((await q.stats()).queued).toBe(2); // leased is still stored
      await q.ack(lease!);
      expect(await q.stats()).toMatchObject({ queued: 0, queuedBytes: 0 });
      clock += 1_000_000;
      expect(await q.lease(1_000_000)).toBeUndefined();
    });

    it("nack releases the entries for retryAt and counts the attempt", async () => {
      const q = await make();
      const a = trace(1);
      await q.append([a]);
      await q.nack((await q.lease(1_000))!, clock + 5_000);
      expect(await q.lease(1_000)).toBeUndefined();
      clock += 5_000;
      const again = await q.lease(1_000);
      expect(ids(again?.items)).toEqual([a.id]);
      expect(again?.items[0]?.attempts).toBe(1);
    });

    it("entries waiting for their retry time do not block newer ones", async () => {
      const q = await make();
      await q.append([trace(1)]);
      await q.nack((await q.lease(1_000))!, clock + 60_000);
      await q.append([trace(2)]);
      expect(ids((await q.lease(1_000))?.items)).toEqual([trace(2).id]);
    });

    it("a lease expires so a dead holder's entries are delivered by someone else", async () => {
      const q = await make({ leaseMs: 10_000 });
      await q.append([trace(1)]);
      const dead = await q.lease(1_000);
      expect(dead?.expiresAt).toBe(clock + 10_000);
      clock += 9_999;
      expect(await q.lease(1_000)).toBeUndefined();
      clock += 1;
      const taken = await q.lease(1_000);
      expect(ids(taken?.items)).toEqual([trace(1).id]);
      // The late holder's nack must not release the new holder's lease...
      await q.nack(dead!, 0);
      expect(await q.lease(1_000)).toBeUndefined();
      // ...but its ack still deletes: the collector has the trace, whoever sent it.
      await q.ack(dead!);
      expect((await q.stats()).queued).toBe(0);
    });

    it("drops the oldest entries beyond maxTraces, counts them and warns", async () => {
      const q = await make({ maxTraces: 3 });
      await q.append([trace(1), trace(2), trace(3)]);
      await q.append([trace(4), trace(5)]);
      expect(await q.stats()).toMatchObject({ queued: 3, dropped: 2 });
      expect(ids((await q.lease(1_000_000))?.items)).toEqual([trace(3).id, trace(4).id, trace(5).id]);
      expect(warn).toHaveBeenCalledWith(expect.stringMatching(/queue is full.*oldest traces were dropped/));
    });

    it("drops the oldest entries beyond maxBytes and keeps queuedBytes exact", async () => {
      const one = trace(1, 100).bytes;
      const q = await make({ maxBytes: one * 2 });
      await q.append([trace(1, 100), trace(2, 100), trace(3, 100)]);
      const stats = await q.stats();
      expect(stats).toMatchObject({ queued: 2, dropped: 1, queuedBytes: trace(2, 100).bytes + trace(3, 100).bytes });
      expect(ids((await q.lease(1_000_000))?.items)).toEqual([trace(2, 100).id, trace(3, 100).id]);
    });

    it("a single trace larger than maxBytes is dropped without evicting the others", async () => {
      const q = await make({ maxBytes: 1_000 });
      await q.append([trace(1)]);
      await q.append([trace(2, 5_000)]);
      expect(await q.stats()).toMatchObject({ queued: 1, dropped: 1 });
      expect(ids((await q.lease(1_000_000))?.items)).toEqual([trace(1).id]);
    });
  });
}
