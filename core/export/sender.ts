import { reportSdkError, warnOnce } from "../debug.js";
import { backoffDelay, verdictOf, type BackoffOptions } from "./backoff.js";
import { WakeTimer } from "./wake-timer.js";
import { KeepaliveBudget } from "./keepalive-budget.js";
import { encodeIngestBatch, INGEST_ENVELOPE_BYTES } from "./ingest-format.js";
import { utf8Length } from "../serialize/safe-json.js";
import { DEFAULT_QUEUE_LIMITS, rebased, uploadAllowanceMs, type Lease, type QueuedTrace, type TraceQueue } from "./queue.js";
import type { Transport, TransportResult } from "./transport.js";

// Drains a TraceQueue through a Transport. Batches are cut by bytes so each fits the keepalive
// budget (keepalive-budget.ts): a keepalive request survives the page closing, so every batch that
// fits is sent with it; a single larger trace goes alone without it, while the page stays. While
// the page stays, batches take half the budget, leaving the app the rest.

export interface SenderOptions {
  queue: TraceQueue;
  transport: Transport;
  /** Keepalive bytes allowed in flight at once (default 60 000, under the 64 KiB budget). */
  keepaliveBudgetBytes?: number;
  /** Keepalive requests allowed in flight at once (default 8: Chrome refuses the 9th). */
  keepaliveMaxRequests?: number;
  retry?: BackoffOptions;
  /** While this says false, nothing is sent and failures are not counted (default: always online). */
  isOnline?: () => boolean;
  /** While this says false (another tab is the origin's sender), no timer wakes this sender (default: always). */
  isActive?: () => boolean;
  /** How often to look again while entries are queued but none is due (default 5 s). */
  idlePollMs?: number;
  /** Called with trace ids the collector accepted. */
  onDelivered?: (ids: readonly string[]) => void;
  /**
   * Marks shared by the origin's senders (browser: localStorage): `sendUnqueued` marks what it
   * sends from memory (a page going away, its lock soon another tab's), `markOnTheWire` what its
   * keepalive requests carry, for a lease's time; an answer clears them, and a sender leaves marked
   * traces alone meanwhile.
   */
  sendingMarks?: SendingMarks;
  now?: () => number;
  random?: () => number;
}

export interface SendingMarks {
  markSending(ids: readonly string[], until: number): void;
  sendingUntil(id: string, now: number): number | undefined;
  unmarkSending(ids: readonly string[]): void;
}

/**
 * How long a trace sent by a page going away is marked as on its way, its upload's time aside: a
 * lease's time. A guess: the page's own timeout does not run once it is frozen or gone, and its
 * keepalive request lasts as long as the collector takes to answer.
 */
const MARK_MS = DEFAULT_QUEUE_LIMITS.leaseMs;

/** Until when a request of `bytes` sent now is marked as on its way (see MARK_MS). */
const markUntil = (now: number, bytes: number): number => now + MARK_MS + uploadAllowanceMs(bytes);

export interface SenderStats {
  /** Traces the collector accepted. */
  sent: number;
  /** Traces dropped because the collector refused them for good (4xx other than 408/429). */
  rejected: number;
  /** Requests that failed and will be retried. */
  failures: number;
  /** Requests made, and how many of them with keepalive. */
  requests: number;
  keepaliveRequests: number;
}

/**
 * While the page stays, the share of the keepalive budget a batch in flight may take: the rest is
 * the app's (its analytics beacons, its own keepalive fetches), which the browser would refuse if
 * traces held all of it. A page going away (flushOnUnload, sendUnqueued) uses the whole budget.
 */
const FOREGROUND_SHARE = 0.5;

/** The longest a trace the collector keeps failing on (while taking the others) waits between tries. */
const SET_ASIDE_MAX_MS = 3_600_000;

/**
 * A 500 (or 501, 505…) the collector answered: possibly about one trace in the batch. Not 502–504
 * (a gateway: the collector is unreachable), nor one with Retry-After (a pause for everything).
 */
const traceFault = (r: TransportResult): boolean => r.status >= 500 && ![502, 503, 504].includes(r.status) && r.retryAfterMs === undefined;

/**
 * A refusal that may be about one trace of the batch: 400/413/422 (a bad or huge trace), or a 403
 * that is not the collector's own (its refusals are `{ error, path, hint }` JSON; another 403 is a
 * proxy's firewall, which can match one trace's prompt).
 */
function oneTraceMayCause(r: TransportResult): boolean {
  if ([400, 413, 422].includes(r.status)) return true;
  if (r.status !== 403) return false;
  try {
    const body = JSON.parse(r.detail ?? "") as { error?: unknown; hint?: unknown };
    return !(typeof body.error === "string" && typeof body.hint === "string");
  } catch {
    return true;
  }
}

export class Sender {
  private readonly queue: TraceQueue;
  private readonly transport: Transport;
  private readonly budget: KeepaliveBudget;
  private readonly options: SenderOptions;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly counts: SenderStats = { sent: 0, rejected: 0, failures: 0, requests: 0, keepaliveRequests: 0 };
  private consecutiveFailures = 0;
  /** A split batch failed whole (deliverApart): the collector is down, not one trace; reset by a delivery. */
  private downForAll = false;
  private blockedUntil = 0;
  /** When the current block was set: a clock now earlier than that went back, and the block counts from now. */
  private blockedAt = 0;
  /** The current block comes from the collector's Retry-After, which coming back online must not shorten. */
  private retryAfterBlock = false;
  private readonly wake: WakeTimer;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Ids in requests whose answer is pending, with when their mark would run out (markOnTheWire). */
  private readonly onTheWire = new Map<string, { until: number; keepalive: boolean }>();
  /** Ids markOnTheWire marked, whose marks their answer clears. */
  private readonly markedOnHide = new Set<string>();
  /** Ids sent by `sendUnqueued` whose answer is pending: the drain must not send them concurrently. */
  private readonly direct = new Set<string>();
  /** Traces stored for this sender that no request has carried yet, oldest first (see remember). */
  private readonly fresh = new Map<string, QueuedTrace>();
  private freshBytes = 0;

  constructor(options: SenderOptions) {
    this.options = options;
    this.queue = options.queue;
    this.transport = options.transport;
    this.budget = new KeepaliveBudget(options.keepaliveBudgetBytes, options.keepaliveMaxRequests);
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.wake = new WakeTimer(() => this.nudge(), this.now);
  }

  stats(): SenderStats {
    return { ...this.counts };
  }

  /** Something was queued or the network came back: send soon, unless waiting out a backoff. */
  nudge(): void {
    if (this.stopped) return;
    if (this.blocked()) this.wake.wakeAt(this.blockedUntil);
    else void this.drain();
  }

  /** The network came back: forget the backoff (the failures were the outage) and send. */
  resume(): void {
    this.consecutiveFailures = 0;
    if (this.blockedUntil > 0 && !this.retryAfterBlock) this.blockedUntil = 0;
    this.nudge();
  }

  /**
   * Sends every due entry, batch after batch, until the queue has nothing due, a request fails
   * (a retry is scheduled) or the network is offline. Concurrent calls share one run.
   */
  drain(): Promise<void> {
    this.again = true;
    this.running ??= this.loop();
    return this.running;
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        try {
          while (this.again && !this.stopped) {
            this.again = false;
            while (!this.stopped && this.online() && !this.blocked()) {
              const room = this.budget.room(FOREGROUND_SHARE);
              const lease = await this.leaseBatch(room);
              if (!lease) break;
              const outcome = await this.deliver(lease, FOREGROUND_SHARE);
              if (outcome !== "ok") break;
            }
          }
        } catch (error) {
          // A storage fault (quota, a closed database): entries stay queued; look again later.
          reportSdkError("sender", error);
          // Not the collector's Retry-After (unless one still holds): a closing page may still send.
          if (!this.blocked()) this.retryAfterBlock = false;
          this.block(backoffDelay(++this.consecutiveFailures, this.options.retry, this.random));
        }
        await this.scheduleWake();
        // A nudge while the wake-up was planned joined this run: honour it rather than drop it.
        if (!this.again || this.stopped) return;
      }
    } finally {
      // Forgotten in the same step as the check above (not a microtask later, as a .finally() on
      // the run would be), so a nudge that comes after it starts a new run instead of joining this one.
      this.running = undefined;
    }
  }

  /**
   * Page is going away (hidden, pagehide): start as many keepalive batches as the budget allows
   * without waiting for answers, oldest first. What does not fit stays queued for the next load.
   */
  async flushOnUnload(): Promise<void> {
    if (this.stopped || !this.online() || (this.retryAfterBlock && this.blocked())) return;
    const inFlight: Promise<unknown>[] = [];
    try {
      await this.unloadBatches(inFlight);
    } catch (error) {
      reportSdkError("sender.flushOnUnload", error);
    }
    await Promise.allSettled(inFlight);
    await this.scheduleWake();
  }

  private async unloadBatches(inFlight: Promise<unknown>[]): Promise<void> {
    // Larger than what is left: a plain fetch would not survive unload. Next time; held leased
    // until the loop ends, so the smaller traces behind it still go now.
    const tooLarge: Lease[] = [];
    try {
      for (;;) {
        const room = this.budget.room();
        if (room <= INGEST_ENVELOPE_BYTES) break;
        const lease = await this.leaseBatch(room);
        if (!lease) break;
        if (this.fitsKeepalive(lease.items)) inFlight.push(this.deliver(lease, 1));
        else tooLarge.push(lease);
      }
    } finally {
      for (const lease of tooLarge) await this.queue.nack(lease, this.now());
    }
  }

  /**
   * Sends traces whose queue write may not have finished yet (the page is closing right now), with
   * keepalive, synchronously up to the budget. `stored` resolves once they are in the queue: an
   * accepted batch is then acked there. Returns the ids that went out.
   */
  sendUnqueued(items: readonly QueuedTrace[], stored: Promise<void>): string[] {
    const sentIds: string[] = [];
    // The collector asked for a pause (Retry-After): they stay stored for the next page instead.
    if (this.stopped || (this.retryAfterBlock && this.blocked())) return sentIds;
    let batch: QueuedTrace[] = [];
    let bytes = INGEST_ENVELOPE_BYTES;
    const fire = () => {
      if (!batch.length) return;
      const sending = batch;
      const ids = sending.map((i) => i.id);
      for (const id of ids) this.direct.add(id);
      sentIds.push(...ids);
      this.options.sendingMarks?.markSending(ids, markUntil(this.now(), bytes));
      void this.request(sending, 1).then(async (result) => {
        try {
          if (verdictOf(result.status) === "ok") {
            await stored;
            await this.queue.ack({ token: "direct", items: sending, expiresAt: 0 });
            this.counts.sent += sending.length;
            this.options.onDelivered?.(sending.map((i) => i.id));
          }
        } catch (error) {
          reportSdkError("sender.sendUnqueued", error);
        } finally {
          for (const id of ids) this.direct.delete(id);
          this.options.sendingMarks?.unmarkSending(ids);
        }
      });
      batch = [];
      bytes = INGEST_ENVELOPE_BYTES;
    };
    for (const item of items) {
      if (this.direct.has(item.id)) continue;
      if (bytes + item.bytes > this.budget.room()) fire();
      if (INGEST_ENVELOPE_BYTES + item.bytes > this.budget.room()) continue; // cannot go out with keepalive
      batch.push(item);
      bytes += item.bytes;
    }
    fire();
    return sentIds;
  }

  /**
   * Keeps traces just stored for this sender in memory until a request carries them, within the
   * keepalive budget (the oldest go first): a page going into the back/forward cache, where no
   * queue lease may run, sends them with `sendUnqueued`.
   */
  remember(items: readonly QueuedTrace[]): void {
    const max = this.budget.maxBytes;
    for (const item of items) {
      // Already on the wire from sendUnqueued (its write finished after the send started): not fresh.
      if (item.bytes > max || this.fresh.has(item.id) || this.direct.has(item.id)) continue;
      this.fresh.set(item.id, item);
      this.freshBytes += item.bytes;
    }
    for (const id of this.fresh.keys()) {
      if (this.freshBytes <= max) break;
      this.forget(id);
    }
  }

  /** Forgets every remembered trace (this tab was not the sender for a while: another may have sent them). */
  forgetRemembered(): void {
    this.fresh.clear();
    this.freshBytes = 0;
  }

  /** The traces `remember` keeps, oldest first. */
  remembered(): QueuedTrace[] {
    return [...this.fresh.values()];
  }

  /** Drops `id` from the remembered traces, if there. */
  private forget(id: string): void {
    this.freshBytes -= this.fresh.get(id)?.bytes ?? 0;
    this.fresh.delete(id);
  }

  /** Stops sending and cancels timers; entries stay queued. */
  stop(): void {
    this.stopped = true;
    this.wake.cancel();
  }

  /** Whether a backoff or the collector's Retry-After holds sending now. */
  private blocked(): boolean {
    return this.now() < this.until();
  }

  /** blockedUntil, counted from now if the clock went back past the moment it was set (an NTP fix). */
  private until(): number {
    const now = this.now();
    if (now < this.blockedAt) {
      this.blockedUntil = rebased(this.blockedUntil, this.blockedAt, now);
      this.blockedAt = now;
    }
    return this.blockedUntil;
  }

  private online(): boolean {
    return this.options.isOnline?.() ?? true;
  }

  /** Whether the batch body of `items` fits what is left of the budget: its bodies' own length, not their entries' `bytes`. */
  private fitsKeepalive(items: readonly QueuedTrace[]): boolean {
    return INGEST_ENVELOPE_BYTES + items.reduce((sum, i) => sum + utf8Length(i.body) + 1, 0) <= this.budget.room();
  }

  /** Leases a batch whose body fits `room` (one oversized trace may come alone); skips direct sends. */
  private async leaseBatch(room: number): Promise<Lease | undefined> {
    const lease = await this.queue.lease(Math.max(1, room - INGEST_ENVELOPE_BYTES));
    if (!lease) return undefined;
    // Already on the wire through sendUnqueued, this tab's or a page's that went (marked): hidden
    // until that answer (or the lease, or the mark) is in.
    const now = this.now();
    const busyUntil = (id: string) => (this.direct.has(id) ? lease.expiresAt : this.options.sendingMarks?.sendingUntil(id, now));
    const busy = lease.items.filter((i) => busyUntil(i.id) !== undefined);
    if (!busy.length) return lease;
    await this.queue.nack({ ...lease, items: busy }, Math.max(...busy.map((i) => busyUntil(i.id) ?? now)), false);
    const rest = lease.items.filter((i) => !busy.includes(i));
    return rest.length ? { ...lease, items: rest } : this.leaseBatch(room);
  }

  /**
   * Sends one leased batch and settles it in the queue, with keepalive if it fits `share` of the
   * budget (see request). `apart`: a batch that failed with a 500 again may be split (see
   * deliverApart); false for the rest of a batch already split.
   */
  private async deliver(lease: Lease, share: number, apart = true): Promise<"ok" | "retry"> {
    // A split found the collector failing everything: until it takes something, the oldest trace
    // (the one that may be at fault) stays out of the batch, so that the others go as soon as the
    // collector is back, and it is split off again after them.
    if (apart && this.downForAll && lease.items.length > 1 && lease.items[0]!.attempts >= 2) {
      const [first, ...rest] = lease.items as [QueuedTrace, ...QueuedTrace[]];
      const outcome = await this.deliver({ ...lease, items: rest }, share, false);
      await this.queue.nack({ ...lease, items: [first] }, outcome === "ok" ? this.now() : this.blockedUntil);
      return outcome;
    }
    const result = await this.request(lease.items, share);
    const verdict = verdictOf(result.status);
    if (verdict === "ok") {
      await this.queue.ack(lease);
      this.delivered(lease.items);
      return "ok";
    }
    if (verdict === "retry") {
      if (apart && !this.downForAll && lease.items.length > 1 && traceFault(result) && lease.items.some((i) => i.attempts >= 2)) return this.deliverApart(lease, result, share);
      await this.queue.nack(lease, this.failed(result));
      return "retry";
    }
    // 400/413/422 may be one bad or huge trace, and a 403 not from the collector itself a proxy's
    // firewall matching one prompt: it must not take its batch-mates down with it, so each is
    // retried alone. Other 4xx (401, 404, the collector's own 403) refuse the request whatever it holds.
    if (lease.items.length === 1 || !oneTraceMayCause(result)) {
      await this.reject(lease, result);
      return "ok";
    }
    for (let i = 0; i < lease.items.length; i++) {
      const one = { ...lease, items: [lease.items[i] as QueuedTrace] };
      if ((await this.deliver(one, share)) === "retry") {
        await this.queue.nack({ ...lease, items: lease.items.slice(i + 1) }, this.blockedUntil);
        return "retry";
      }
    }
    return "ok";
  }

  /**
   * A batch whose traces failed before got a 500 again: it may hold one trace the collector (or a
   * proxy before it) always fails on, which, oldest first, would be in every batch and hold every
   * other trace behind it for ever. The oldest goes alone, then the rest together. When the oldest
   * fails alone and the rest is accepted, it was that trace: it waits on a backoff of its own
   * (growing to an hour), and the others go on. When both fail, the collector is down: as any failure.
   */
  private async deliverApart(lease: Lease, batchResult: TransportResult, share: number): Promise<"ok" | "retry"> {
    const [first, ...rest] = lease.items as [QueuedTrace, ...QueuedTrace[]];
    const one = { ...lease, items: [first] };
    const others = { ...lease, items: rest };
    const result = await this.request(one.items, share);
    const verdict = verdictOf(result.status);
    if (verdict === "ok") {
      await this.queue.ack(one);
      this.delivered(one.items);
    } else if (verdict === "reject") {
      await this.reject(one, result);
    } else if (!traceFault(result)) {
      await this.queue.nack(lease, this.failed(result)); // no answer, or a pause asked for: the collector's state
      return "retry";
    }
    const outcome = await this.deliver(others, share, verdict !== "retry");
    if (verdict === "retry") {
      // Both failed: the collector fails everything. No more splitting until it accepts something.
      this.downForAll = outcome !== "ok";
      if (outcome === "ok") {
        await this.queue.nack(one, this.now() + backoffDelay(first.attempts + 1, { baseMs: this.options.retry?.baseMs, maxMs: SET_ASIDE_MAX_MS }, this.random));
        warnOnce("trace-fault", `the collector answered HTTP ${batchResult.status} to trace ${first.id} each time, while accepting the others: it is retried on its own, less and less often, and holds no other trace back.`);
      } else {
        await this.queue.nack(one, this.blockedUntil);
      }
    }
    return outcome;
  }

  /**
   * Sends `items`, with keepalive if the body fits `share` of the budget. Measured on the body
   * itself, not the entries' `bytes` (a row another version wrote may understate its body): the
   * browser refuses a keepalive body over the budget, and that refusal looks like a network failure.
   */
  private async request(items: readonly QueuedTrace[], share: number): Promise<TransportResult> {
    const body = encodeIngestBatch(items.map((i) => i.body));
    const bytes = utf8Length(body);
    const keepalive = bytes <= this.budget.room(share);
    this.counts.requests++;
    if (this.fresh.size) for (const { id } of items) this.forget(id);
    const ids = items.map((i) => i.id);
    const until = markUntil(this.now(), bytes);
    for (const id of ids) this.onTheWire.set(id, { until, keepalive });
    if (keepalive) {
      this.counts.keepaliveRequests++;
      this.budget.reserve(bytes);
    }
    try {
      return await this.transport(body, { keepalive, bytes });
    } catch {
      return { status: 0 }; // a transport must not throw; one that does is a network failure
    } finally {
      if (keepalive) this.budget.release(bytes);
      for (const id of ids) this.onTheWire.delete(id);
      const marked = ids.filter((id) => this.markedOnHide.delete(id));
      if (marked.length) this.options.sendingMarks?.unmarkSending(marked);
    }
  }

  /**
   * The page is hidden or going away: marks the traces its requests still carry (see
   * sendingMarks), so that the next sender does not send them at the same time. A page that goes
   * (or is discarded while hidden) counts as a dead tab, whose leases are taken back after 2 s,
   * while its keepalive requests outlive it, and in the back/forward cache its plain ones carry
   * on too (`plain`). Their answer clears the marks. Traces sendUnqueued sends have its own marks.
   */
  markOnTheWire(plain: boolean): void {
    const marks = this.options.sendingMarks;
    if (!marks) return;
    for (const [id, { until, keepalive }] of this.onTheWire) {
      if ((!keepalive && !plain) || this.direct.has(id) || this.markedOnHide.has(id)) continue;
      marks.markSending([id], until);
      this.markedOnHide.add(id);
    }
  }

  private delivered(items: readonly QueuedTrace[]): void {
    this.consecutiveFailures = 0;
    this.downForAll = false;
    this.counts.sent += items.length;
    this.options.onDelivered?.(items.map((i) => i.id));
  }

  /** Records a failure and returns when to try again. */
  private failed(result: TransportResult): number {
    if (result.status === 0 && !this.online()) return this.now(); // offline is not the collector's fault
    this.counts.failures++;
    this.consecutiveFailures++;
    // Retry-After is the least wait: "0" from a collector that keeps failing must not undo the backoff.
    const backoff = backoffDelay(this.consecutiveFailures, this.options.retry, this.random);
    const delay = result.retryAfterMs === undefined ? backoff : Math.max(result.retryAfterMs, backoff);
    // A pause the collector asked for (which a closing page honours too), only when its wait is the one kept.
    this.retryAfterBlock = result.retryAfterMs !== undefined && result.retryAfterMs >= backoff;
    return this.block(delay);
  }

  /** Holds sending for `delay` ms (or longer, if already held) and returns until when. */
  private block(delay: number): number {
    this.blockedUntil = Math.max(this.until(), this.now() + delay);
    this.blockedAt = this.now();
    return this.blockedUntil;
  }

  private async reject(lease: Lease, result: TransportResult): Promise<void> {
    await this.queue.ack(lease);
    this.counts.rejected += lease.items.length;
    const what = lease.items.length === 1 ? `trace ${lease.items[0]?.id}` : `a batch of ${lease.items.length} traces`;
    warnOnce(
      `rejected-${result.status}`,
      `the collector refused ${what} with HTTP ${result.status}, so it was dropped (counted in stats().rejected) ` +
        `instead of blocking the queue.${result.detail ? ` Collector said: ${result.detail}` : ""} ` +
        "401/403: check ingestKey and the collector's allowed origins; 413: the trace is larger than the collector accepts.",
    );
  }

  /** Wakes up for the next retry, or polls while entries are queued but not due (other tabs' leases, backoff). */
  private async scheduleWake(): Promise<void> {
    if (this.stopped || !this.online() || this.options.isActive?.() === false) return;
    if (this.blocked()) return this.wake.wakeAt(this.blockedUntil);
    let queued = 0;
    try {
      queued = (await this.queue.stats()).queued;
    } catch (error) {
      reportSdkError("queue.stats", error);
    }
    if (queued > 0) this.wake.wakeAt(this.now() + (this.options.idlePollMs ?? 5_000));
  }
}
