import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { resetWarnings } from "../debug.js";
import { backoffDelay, parseRetryAfter } from "./backoff.js";
import { MemoryQueue } from "./memory-queue.js";
import { queuedTrace, type QueuedTrace } from "./queue.js";
import { Sender, type SenderOptions } from "./sender.js";
import type { TransportHint, TransportResult } from "./transport.js";

// The sender against an in-memory collector. The real network (keepalive, unload, offline) is
// proven in Chromium by test/browser/delivery; these pin the policy: batches, retries, budgets.

type Call = { ids: string[]; hint: TransportHint; at: number; bytes: number };

function collector(answer: (call: Call, n: number) => TransportResult | Promise<TransportResult> = () => ({ status: 200 })) {
  const calls: Call[] = [];
  const accepted = new Map<string, number>();
  const transport = async (body: string, hint: TransportHint): Promise<TransportResult> => {
    const parsed = JSON.parse(body) as { version: number; traces: { info: { traceId: string } }[] };
    expect(parsed.version).toBe(1);
    const call = { ids: parsed.traces.map((t) => t.info.traceId), hint, at: Date.now(), bytes: new TextEncoder().encode(body).length };
    expect(call.bytes).toBe(hint.bytes);
    calls.push(call);
    const result = await answer(call, calls.length);
    if (result.status >= 200 && result.status < 300) for (const id of call.ids) accepted.set(id, (accepted.get(id) ?? 0) + 1);
    return result;
  };
  return { calls, accepted, transport };
}

const traceOf = (n: number, padBytes = 100): QueuedTrace => {
  const id = `tr-${String(n).padStart(32, "0")}`;
  return queuedTrace(id, JSON.stringify({ info: { traceId: id }, data: { spans: [], pad: "x".repeat(padBytes) } }));
};
const traces = (count: number, padBytes = 100) => Array.from({ length: count }, (_, i) => traceOf(i + 1, padBytes));
/** A queue write that lands when the test says so. */
const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

/** Sending marks as the origin's tabs share them (browser: localStorage), in a Map of id → until. */
const markStore = () => {
  const marks = new Map<string, number>();
  const sendingMarks = {
    markSending: (ids: readonly string[], until: number) => ids.forEach((id) => marks.set(id, until)),
    sendingUntil: (id: string, now: number) => ((marks.get(id) ?? 0) > now ? marks.get(id) : undefined),
    unmarkSending: (ids: readonly string[]) => ids.forEach((id) => marks.delete(id)),
  };
  return { marks, sendingMarks };
};

describe("Sender", () => {
  let warn: ReturnType<typeof vi.spyOn>;
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
    resetWarnings();
    warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
  });
  afterEach(() => {
    vi.useRealTimers();
    warn.mockRestore();
  });

  const setup = (c: ReturnType<typeof collector>, options: Partial<SenderOptions> = {}) => {
    const queue = new MemoryQueue();
    const sender = new Sender({ queue, transport: c.transport, retry: { baseMs: 1_000, maxMs: 8_000 }, random: () => 1, ...options });
    return { queue, sender };
  };

  it("sends everything once, in keepalive batches that each fit half the 60 KB budget (the other half is the app's while the page stays)", async () => {
    const c = collector();
    const { queue, sender } = setup(c);
    await queue.append(traces(40, 5_000)); // ≈ 200 KB
    await sender.drain();
    expect([...c.accepted.values()]).toEqual(Array(40).fill(1));
    expect(c.calls.length).toBeGreaterThanOrEqual(4);
    for (const call of c.calls) {
      expect(call.hint.keepalive).toBe(true);
      expect(call.bytes).toBeLessThanOrEqual(30_000);
    }
    expect(c.calls.flatMap((call) => call.ids)).toEqual(traces(40).map((t) => t.id)); // oldest first
    expect((await queue.stats()).queued).toBe(0);
    expect(sender.stats()).toMatchObject({ sent: 40, requests: c.calls.length, keepaliveRequests: c.calls.length });
  });

  it("sends a trace larger than the keepalive budget alone, without keepalive", async () => {
    const c = collector();
    const { queue, sender } = setup(c);
    await queue.append([traceOf(1), traceOf(2, 100_000), traceOf(3)]);
    await sender.drain();
    expect(c.calls.map((call) => [call.ids.length, call.hint.keepalive])).toEqual([[1, true], [1, false], [1, true]]);
    expect(c.accepted.size).toBe(3);
  });

  it("while the page stays, a trace over half the keepalive budget goes without keepalive (the app's beacons keep their room); a page going away sends it with keepalive", async () => {
    const c = collector();
    const { queue, sender } = setup(c);
    await queue.append([traceOf(1, 40_000)]);
    await sender.drain();
    await queue.append([traceOf(2, 40_000)]);
    await sender.flushOnUnload();
    expect(c.calls.map((call) => [call.ids, call.hint.keepalive])).toEqual([[[traceOf(1).id], false], [[traceOf(2).id], true]]);
  });

  it("decides keepalive on the body it sends, not on the entries' bytes: a trace stored with too small a size (by another version, a script) does not go with keepalive, which the browser would refuse every time", async () => {
    const c = collector();
    const { queue, sender } = setup(c);
    await queue.append([{ ...traceOf(1, 40_000), bytes: 100 }, traceOf(2)]);
    await sender.drain(); // a 40 KB body, over the half of the budget a page that stays may use
    await queue.append([{ ...traceOf(3, 80_000), bytes: 100 }]);
    await sender.flushOnUnload(); // an 80 KB body, over the whole budget: it waits for the next page
    expect(c.calls.map((call) => [call.ids, call.hint.keepalive])).toEqual([[[traceOf(1).id, traceOf(2).id], false]]);
    expect((await queue.stats()).queued).toBe(1);
  });

  it("retries 503s with growing, jittered backoff until the collector accepts, then sends each trace once", async () => {
    const c = collector((_, n) => ({ status: n <= 3 ? 503 : 200 }));
    const { queue, sender } = setup(c, { random: () => 0.5 });
    await queue.append(traces(3));
    await sender.drain();
    expect(c.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(c.calls).toHaveLength(4);
    const gaps = c.calls.slice(1).map((call, i) => call.at - (c.calls[i] as Call).at);
    expect(gaps).toEqual([500, 1_000, 2_000]); // half of 1 s, 2 s, 4 s: random() = 0.5
    expect([...c.accepted.values()]).toEqual([1, 1, 1]);
    expect(sender.stats()).toMatchObject({ sent: 3, failures: 3 });
  });

  it("waits out Retry-After on 429 before sending again", async () => {
    const c = collector((_, n) => (n === 1 ? { status: 429, retryAfterMs: 7_000 } : { status: 200 }));
    const { queue, sender } = setup(c, { random: () => 0 });
    await queue.append(traces(2));
    await sender.drain();
    sender.nudge(); // a new trace arriving must not jump the wait
    await vi.advanceTimersByTimeAsync(6_999);
    expect(c.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(c.calls).toHaveLength(2);
    expect(c.accepted.size).toBe(2);
  });

  it("drops only the trace the collector refuses (400) and delivers its batch-mates", async () => {
    const bad = traceOf(2).id;
    const c = collector((call) => ({ status: call.ids.includes(bad) ? 400 : 200, detail: '{"error":"bad span","path":"traces[0]"}' }));
    const { queue, sender } = setup(c);
    await queue.append(traces(3));
    await sender.drain();
    expect([...c.accepted.keys()].sort()).toEqual([traceOf(1).id, traceOf(3).id]);
    expect(sender.stats()).toMatchObject({ sent: 2, rejected: 1 });
    expect((await queue.stats()).queued).toBe(0); // the bad trace does not block the queue
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(new RegExp(`refused trace ${bad} with HTTP 400.*bad span`)));
  });

  it("a trace the collector answers 500 to every time does not hold the others back: after failing alone while they are accepted, it waits on its own", async () => {
    const poison = traceOf(3).id;
    const c = collector((call) => ({ status: call.ids.includes(poison) ? 500 : 200 }));
    const { queue, sender } = setup(c);
    await queue.append(traces(6));
    await sender.drain();
    await vi.advanceTimersByTimeAsync(30_000); // three tries of the batch, then it is split
    expect([...c.accepted.keys()].sort()).toEqual(traces(6).map((t) => t.id).filter((id) => id !== poison));
    await queue.append([traceOf(7), traceOf(8)]);
    sender.nudge();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(c.accepted.has(traceOf(7).id) && c.accepted.has(traceOf(8).id)).toBe(true); // not behind it either
    expect([...c.accepted.values()].every((n) => n === 1)).toBe(true);
    expect((await queue.stats()).queued).toBe(1); // kept, not dropped: retried less and less often
    const before = c.calls.length;
    await vi.advanceTimersByTimeAsync(60_000);
    expect(c.calls.length - before).toBeLessThanOrEqual(2);
    expect(warn).toHaveBeenCalledWith(expect.stringMatching(new RegExp(`HTTP 500 to trace ${poison} each time, while accepting the others`)));
  });

  it("a collector down with 500s is split once, then tried a batch at a time as for any outage", async () => {
    const down = collector(() => ({ status: 500 }));
    const gateway = collector(() => ({ status: 503 }));
    for (const c of [down, gateway]) {
      const { queue, sender } = setup(c);
      await queue.append(traces(20));
      await sender.drain();
      await vi.advanceTimersByTimeAsync(120_000);
      sender.stop();
      expect(c.accepted.size).toBe(0);
      expect((await queue.stats()).queued).toBe(20);
    }
    expect(down.calls.filter((call) => call.ids.length === 1)).toHaveLength(1); // the one split: oldest alone, then the rest
    expect(down.calls.length).toBeLessThanOrEqual(gateway.calls.length + 2);
  });

  it("after a 500 outage, a collector back but failing the oldest trace every time still takes the others", async () => {
    let down = true;
    const poison = traceOf(1).id;
    const c = collector((call) => ({ status: down || call.ids.includes(poison) ? 500 : 200 }));
    const { queue, sender } = setup(c);
    await queue.append(traces(6));
    await sender.drain();
    await vi.advanceTimersByTimeAsync(30_000); // the outage: split once, both parts failed
    down = false;
    await vi.advanceTimersByTimeAsync(20_000);
    sender.stop();
    expect([...c.accepted.keys()].sort()).toEqual(traces(6).slice(1).map((t) => t.id)); // before the fix: none, until a reload
    expect((await queue.stats()).queued).toBe(1);
  });

  it("Retry-After: 0 does not count as the collector asking for a pause: a closing page still sends, as after any failure", async () => {
    let down = true;
    const c = collector(() => (down ? { status: 503, retryAfterMs: 0 } : { status: 200 }));
    const { queue, sender } = setup(c);
    await queue.append(traces(3));
    await sender.drain();
    await vi.advanceTimersByTimeAsync(2_500); // a couple of tries, in backoff now
    down = false;
    // Before the fix: nothing, as if the collector had asked every page to hold its traces.
    expect(sender.sendUnqueued([traceOf(9)], Promise.resolve())).toEqual([traceOf(9).id]);
    await vi.advanceTimersByTimeAsync(0);
    expect([...c.accepted.keys()]).toEqual([traceOf(9).id]); // the others wait out their backoff, stored
  });

  it("a 403 from a firewall before the collector (not its own refusal) drops only the trace it matched", async () => {
    const flagged = traceOf(2).id;
    const c = collector((call) => (call.ids.includes(flagged) ? { status: 403, detail: "<html>Access denied</html>" } : { status: 200 }));
    const { queue, sender } = setup(c);
    await queue.append(traces(4));
    await sender.drain();
    expect([...c.accepted.keys()].sort()).toEqual([1, 3, 4].map((n) => traceOf(n).id));
    expect(sender.stats()).toMatchObject({ sent: 3, rejected: 1 });
  });

  it("the collector's own 403 (origin not allowed) drops the batch in one request, not trace by trace", async () => {
    const c = collector(() => ({ status: 403, detail: '{"error":"origin https://evil.example is not allowed","path":"","hint":"add it to ALLOWED_ORIGINS"}' }));
    const { queue, sender } = setup(c);
    await queue.append(traces(4));
    await sender.drain();
    expect(c.calls).toHaveLength(1);
    expect(sender.stats()).toMatchObject({ sent: 0, rejected: 4 });
  });

  it("Retry-After: 0 from a collector that keeps failing does not undo the backoff", async () => {
    const c = collector(() => ({ status: 503, retryAfterMs: 0 }));
    const { queue, sender } = setup(c);
    await queue.append(traces(1));
    await sender.drain();
    await vi.advanceTimersByTimeAsync(30_000);
    expect(c.calls.length).toBeLessThanOrEqual(6); // 1 s, 2 s, 4 s, 8 s, 8 s…: not every poll (5 s) or faster
  });

  it("does not send while offline, and sends when the network returns", async () => {
    let online = false;
    const c = collector();
    const { queue, sender } = setup(c, { isOnline: () => online });
    await queue.append(traces(2));
    await sender.drain();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(c.calls).toHaveLength(0);
    online = true;
    sender.resume();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.accepted.size).toBe(2);
  });

  it("survives a transport that throws or answers nonsense, and still delivers once", async () => {
    const c = collector((_, n) => {
      if (n === 1) throw new TypeError("Failed to fetch");
      if (n === 2) return { status: Number.NaN };
      if (n === 3) return { status: 302 };
      return { status: 204 };
    });
    const { queue, sender } = setup(c);
    await queue.append(traces(2));
    await sender.drain();
    await vi.advanceTimersByTimeAsync(30_000);
    expect([...c.accepted.values()]).toEqual([1, 1]);
  });

  it("unload flush: a trace too large for keepalive at the head of the queue stays for next time, and the smaller ones behind it go now", async () => {
    const c = collector();
    const { queue, sender } = setup(c);
    const big = traceOf(1, 70_000);
    await queue.append([big, ...traces(3).slice(1)]);
    await sender.flushOnUnload();
    expect(c.calls.flatMap((call) => call.ids).sort()).toEqual([traceOf(2).id, traceOf(3).id]);
    expect(c.calls.every((call) => call.hint.keepalive)).toBe(true);
    expect((await queue.stats()).queued).toBe(1); // the big one, due again for the next send
    await sender.drain();
    expect(c.accepted.get(big.id)).toBe(1);
  });

  it("unload flush: keepalive batches never exceed 60 KB or 8 requests in flight; the rest stays queued", async () => {
    const pending: (() => void)[] = [];
    let inFlightBytes = 0, peakBytes = 0, inFlight = 0, peak = 0;
    const c = collector(async (call) => {
      inFlightBytes += call.bytes; inFlight++;
      peakBytes = Math.max(peakBytes, inFlightBytes); peak = Math.max(peak, inFlight);
      await new Promise<void>((r) => pending.push(r)); // the page is gone: no answers yet
      inFlightBytes -= call.bytes; inFlight--;
      return { status: 200 };
    });
    const { queue, sender } = setup(c);
    await queue.append(traces(50, 3_000)); // ≈ 150 KB
    const flushing = sender.flushOnUnload();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.calls.length).toBeGreaterThan(0);
    expect(c.calls.every((call) => call.hint.keepalive)).toBe(true);
    expect(peakBytes).toBeLessThanOrEqual(60_000);
    expect(peak).toBeLessThanOrEqual(8);
    const started = c.calls.flatMap((call) => call.ids).length;
    expect(started).toBeLessThan(50);
    pending.forEach((r) => r());
    await flushing;
    expect((await queue.stats()).queued).toBe(50 - started);
  });

  it("sendUnqueued puts the request on the wire synchronously and acks once the trace is stored", async () => {
    const c = collector();
    const { queue, sender } = setup(c);
    const items = traces(3);
    const { promise: stored, resolve: store } = deferred();
    const sent = sender.sendUnqueued(items, stored);
    expect(sent).toEqual(items.map((i) => i.id));
    expect(c.calls).toHaveLength(1); // before any await: a closing page gives no second chance
    expect(c.calls[0]?.hint.keepalive).toBe(true);
    await queue.append(items);
    await sender.drain(); // the drain must not send them again while that request is out
    expect(c.calls).toHaveLength(1);
    store();
    await vi.advanceTimersByTimeAsync(0);
    expect((await queue.stats()).queued).toBe(0);
    expect([...c.accepted.values()]).toEqual([1, 1, 1]);
  });

  it("sendUnqueued honours the collector's Retry-After: the closing page's traces stay stored for the next one", async () => {
    const c = collector((_, n) => (n === 1 ? { status: 429, retryAfterMs: 60_000 } : { status: 200 }));
    const { queue, sender } = setup(c);
    await queue.append(traces(1));
    await sender.drain(); // answered 429, Retry-After: 60 s
    expect(sender.sendUnqueued([traceOf(9)], Promise.resolve())).toEqual([]);
    expect(c.calls).toHaveLength(1);
  });

  it("remembers stored traces until a request carries them, within the keepalive budget, oldest forgotten first", async () => {
    const c = collector();
    const { queue, sender } = setup(c);
    const [a, b] = traces(2, 25_000);
    await queue.append([a!, b!]);
    sender.remember([a!, b!]);
    expect(sender.remembered().map((i) => i.id)).toEqual([a!.id, b!.id]);
    const big = traceOf(3, 30_000);
    sender.remember([big, traceOf(4, 70_000)]); // over the 60 KB budget: a goes; one larger than the budget is never kept
    expect(sender.remembered().map((i) => i.id)).toEqual([b!.id, big.id]);
    await sender.drain(); // b goes out (big was never queued)
    expect(c.calls.flatMap((call) => call.ids)).toEqual([a!.id, b!.id]);
    expect(sender.remembered().map((i) => i.id)).toEqual([big.id]);
    // A page going into the back/forward cache sends what is left from memory.
    expect(sender.sendUnqueued(sender.remembered(), Promise.resolve())).toEqual([big.id]);
    expect(sender.remembered()).toEqual([]);
    // The tab lost the lead and got it back: what it remembered is forgotten, its bytes with it.
    const [c1, c2] = [traceOf(5, 30_000), traceOf(6, 29_000)];
    sender.remember([c1!]);
    sender.forgetRemembered();
    expect(sender.remembered()).toEqual([]);
    sender.remember([c2!, traceOf(7, 29_000)]);
    expect(sender.remembered().map((i) => i.id)).toEqual([c2!.id, traceOf(7).id]); // the budget is whole again
  });

  it("a batch the drain leased, sent from memory by a closing page before the drain's request: not sent twice", async () => {
    const c = collector();
    const queue = new MemoryQueue();
    const leased = deferred();
    const release = deferred();
    const lease = queue.lease.bind(queue);
    // A slow disk: the lease is taken, the sender hears of it later.
    queue.lease = async (maxBytes) => {
      const got = await lease(maxBytes);
      leased.resolve();
      await release.promise;
      return got;
    };
    const sender = new Sender({ queue, transport: c.transport, retry: { baseMs: 1_000, maxMs: 8_000 }, random: () => 1 });
    const items = traces(2);
    await queue.append(items);
    sender.remember(items);
    const draining = sender.drain();
    await leased.promise;
    expect(sender.sendUnqueued(sender.remembered(), Promise.resolve())).toEqual(items.map((i) => i.id)); // the page is going
    release.resolve(); // its tasks still ran (the lease done, the request next)
    await draining;
    await vi.advanceTimersByTimeAsync(0);
    expect(c.calls.map((call) => call.ids)).toEqual([items.map((i) => i.id)]);
    expect([...c.accepted.values()]).toEqual([1, 1]);
    expect((await queue.stats()).queued).toBe(0);
  });

  it("marks what it sends from memory for a lease's time, clears the marks once answered, and leaves traces another page marked alone until theirs", async () => {
    const { marks, sendingMarks } = markStore();
    const answered = deferred();
    const c = collector(async (call) => (call.ids.includes(traceOf(1).id) ? (await answered.promise, { status: 200 }) : { status: 200 }));
    const { queue, sender } = setup(c, { sendingMarks });
    const mine = traceOf(1);
    sender.sendUnqueued([mine], Promise.resolve());
    // A lease's time, and the upload's time of the request (the trace and its envelope).
    expect(marks.get(mine.id)! - (Date.now() + 30_000 + Math.ceil(mine.bytes / 16))).toBeGreaterThanOrEqual(0);
    expect(marks.get(mine.id)! - (Date.now() + 30_000 + Math.ceil(mine.bytes / 16))).toBeLessThan(10);
    answered.resolve();
    await vi.advanceTimersByTimeAsync(0);
    expect(marks.size).toBe(0);
    // Another page (gone into the back/forward cache, its lock now this sender's) marked this one.
    const theirs = traceOf(2);
    marks.set(theirs.id, Date.now() + 20_000);
    await queue.append([theirs]);
    const nack = vi.spyOn(queue, "nack");
    await sender.drain();
    expect(c.calls.map((call) => call.ids)).toEqual([[mine.id]]); // left alone…
    expect(nack.mock.calls.map(([lease, at, failed]) => [lease.items.map((i) => i.id), at, failed])).toEqual([[[theirs.id], marks.get(theirs.id), false]]); // (no failed attempt)
    await vi.advanceTimersByTimeAsync(20_000 + 5_000); // …until its mark ran out (and the next look)
    expect(c.calls.map((call) => call.ids)).toEqual([[mine.id], [theirs.id]]);
  });

  it("a page hidden or going away marks the traces its requests still carry (plain ones only into the back/forward cache), and their answer clears the marks", async () => {
    const { marks, sendingMarks } = markStore();
    let answer = deferred();
    const c = collector(async () => (await answer.promise, { status: 200 }));
    const { queue, sender } = setup(c, { sendingMarks });
    const [small, big] = [traceOf(1), traceOf(2, 40_000)];
    await queue.append([small, big]);
    const draining = sender.drain();
    await vi.advanceTimersByTimeAsync(0);
    expect(c.calls.map((call) => [call.ids, call.hint.keepalive])).toEqual([[[small.id], true]]);
    expect(marks.size).toBe(0); // nothing marked while the page stays
    sender.markOnTheWire(false);
    expect([...marks.keys()]).toEqual([small.id]);
    expect(marks.get(small.id)! - Date.now()).toBeGreaterThanOrEqual(30_000); // a lease's time, and the upload's
    answer.resolve(); // the page lived on (hidden, or back from the cache), and the answer is in
    answer = deferred();
    await vi.advanceTimersByTimeAsync(0);
    expect(marks.size).toBe(0);
    expect(c.calls.map((call) => [call.ids, call.hint.keepalive])).toEqual([[[small.id], true], [[big.id], false]]);
    sender.markOnTheWire(false); // closed for good: a plain request dies with its page
    expect(marks.size).toBe(0);
    sender.markOnTheWire(true); // into the back/forward cache, where it carries on
    expect(marks.get(big.id)! - Date.now()).toBeGreaterThanOrEqual(30_000 + 40_000 / 16);
    answer.resolve();
    await draining;
    expect(marks.size).toBe(0);
  });

  it("a trace sent from memory keeps its own mark until it is stored and acknowledged, however often the page hides", async () => {
    const { marks, sendingMarks } = markStore();
    const c = collector();
    const { queue, sender } = setup(c, { sendingMarks });
    const item = traceOf(1);
    const { promise: stored, resolve: store } = deferred();
    sender.sendUnqueued([item], stored); // pagehide into the cache, its write still under way
    sender.markOnTheWire(true); // the visibilitychange that follows
    await vi.advanceTimersByTimeAsync(0); // answered
    expect(marks.has(item.id)).toBe(true); // not acknowledged in the queue yet: still this page's
    await queue.append([item]);
    store();
    await vi.advanceTimersByTimeAsync(0);
    expect(marks.size).toBe(0);
    expect((await queue.stats()).queued).toBe(0);
  });

  it("does not remember a trace already sent from memory before its write finished", async () => {
    const c = collector();
    const { queue, sender } = setup(c);
    const item = traceOf(1);
    const { promise: stored, resolve: store } = deferred();
    sender.sendUnqueued([item], stored); // the page was hidden while the trace was being written
    await queue.append([item]);
    sender.remember([item]); // the write lands
    store();
    await vi.advanceTimersByTimeAsync(0);
    expect(sender.remembered()).toEqual([]); // a later cached hide must not send it again
    expect([...c.accepted.values()]).toEqual([1]);
  });

  it("a trace queued while a drain is finishing is sent by that drain, not left for the idle poll", async () => {
    // The drain's last step reads the queue's stats to plan a wake-up; a trace stored and nudged
    // during that read used to find the run still "in progress" and be left behind.
    const c = collector();
    const queue = new MemoryQueue();
    let pausing = false;
    let release!: () => void;
    const slowStats = new (class extends MemoryQueue {
      override async append(items: readonly QueuedTrace[]) { return queue.append(items); }
      override async lease(maxBytes: number) { return queue.lease(maxBytes); }
      override async ack(lease: Parameters<MemoryQueue["ack"]>[0]) { return queue.ack(lease); }
      override async nack(lease: Parameters<MemoryQueue["nack"]>[0], at: number) { return queue.nack(lease, at); }
      override async stats() {
        if (pausing) await new Promise<void>((r) => (release = r));
        return queue.stats();
      }
    })();
    const sender = new Sender({ queue: slowStats, transport: c.transport, idlePollMs: 60_000 });
    await queue.append([traceOf(1)]);
    pausing = true;
    const first = sender.drain();
    await vi.waitFor(() => expect(release).toBeTypeOf("function"));
    pausing = false;
    await queue.append([traceOf(2)]); // stored while the drain plans its wake-up
    const second = sender.drain();
    release();
    await Promise.all([first, second]);
    expect([...c.accepted.keys()]).toEqual([traceOf(1).id, traceOf(2).id]);
    expect((await queue.stats()).queued).toBe(0);
  });

  it("a trace queued and nudged in the microtasks while a run ends starts a new run, at every offset", async () => {
    // The run used to be forgotten a microtask after its last check, so a nudge in between joined
    // a run that had already decided to stop: the trace waited for the next trace or page load.
    const stuck: number[] = [];
    for (let offset = 0; offset < 40; offset++) {
      const c = collector();
      const { queue, sender } = setup(c, { idlePollMs: 60_000 });
      await queue.append([traceOf(1)]);
      const first = sender.drain();
      for (let i = 0; i < offset; i++) await Promise.resolve();
      await queue.append([traceOf(2)]);
      sender.nudge();
      await first;
      for (let i = 0; i < 50; i++) await Promise.resolve();
      if (!c.accepted.has(traceOf(2).id)) stuck.push(offset);
      vi.clearAllTimers();
    }
    expect(stuck).toEqual([]);
  });

  it("a clock set back (an NTP fix) does not hold a retry for the size of the jump", async () => {
    let ahead = 24 * 3_600_000; // the clock is a day ahead
    const now = () => Date.now() + ahead;
    let down = true;
    const c = collector(() => ({ status: down ? 503 : 200 }));
    const queue = new MemoryQueue({ now });
    const sender = new Sender({ queue, transport: c.transport, now, retry: { baseMs: 1_000, maxMs: 60_000 }, random: () => 1 });
    await queue.append([traceOf(1)]);
    await sender.drain(); // 503: the sender and the queue entry both wait about a second
    down = false;
    ahead = 0; // and is corrected
    await vi.advanceTimersByTimeAsync(120_000); // well past any backoff (at most 60 s)
    sender.nudge();
    await vi.advanceTimersByTimeAsync(1_000);
    expect([...c.accepted.keys()]).toEqual([traceOf(1).id]);
  });

  it("a clock set back a second does not cancel a collector's one-hour Retry-After", async () => {
    let now = 1_000_000_000;
    const c = collector((_, n) => (n === 1 ? { status: 429, retryAfterMs: 3_600_000 } : { status: 200 }));
    const queue = new MemoryQueue({ now: () => now });
    const sender = new Sender({ queue, transport: c.transport, now: () => now });
    await queue.append([traceOf(1)]);
    await sender.drain(); // 429: wait an hour
    now -= 1_000;
    await queue.append([traceOf(2)]);
    sender.nudge();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(c.calls).toHaveLength(1);
  });

  it("an asctime Retry-After is GMT, whatever the machine's time zone", () => {
    const zone = process.env.TZ;
    try {
      process.env.TZ = "Europe/Berlin";
      expect(parseRetryAfter("Wed Oct 21 07:28:00 2015", Date.parse("2015-10-21T07:27:00Z"))).toBe(60_000);
      process.env.TZ = "America/Los_Angeles";
      expect(parseRetryAfter("Wed Oct 21 07:28:00 2015", Date.parse("2015-10-21T07:27:00Z"))).toBe(60_000);
    } finally {
      process.env.TZ = zone;
    }
  });

  it("a Retry-After that is neither seconds nor an HTTP date means ordinary backoff, not 'now'", () => {
    // V8's Date.parse reads "-5" or "abc 12" as dates in 2001: in the past, so "retry now".
    for (const garbage of ["-5", "abc 12", "Foo 1", "1,5", "soon 3"]) expect(parseRetryAfter(garbage, 1_000_000), garbage).toBeUndefined();
    expect(parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.parse("2015-10-21T07:27:00Z"))).toBe(60_000);
    expect(parseRetryAfter("Wednesday, 21-Oct-15 07:28:00 GMT", Date.parse("2015-10-21T07:27:00Z"))).toBe(60_000);
    expect(parseRetryAfter("Wed Oct 21 07:28:00 2015", Date.parse("2015-10-21T07:27:00Z"))).toBe(60_000);
    expect(parseRetryAfter("120", 0)).toBe(120_000);
  });

  it("backoff is full jitter under an exponential ceiling with a cap", () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffDelay(n, { baseMs: 1_000, maxMs: 8_000 }, () => 0.999_999))).toEqual([999, 1_999, 3_999, 7_999, 7_999]);
    expect(backoffDelay(3, { baseMs: 1_000 }, () => 0)).toBe(50); // floor: no hot loop
  });
});
