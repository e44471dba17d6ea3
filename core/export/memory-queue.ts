import { warnOnce } from "../debug.js";
import {
  clockWentBack,
  DEFAULT_QUEUE_LIMITS,
  newLeaseToken,
  queuedItem,
  uploadAllowanceMs,
  type Lease,
  type QueueEntry,
  type QueueLimits,
  type QueuedTrace,
  type QueueStats,
  type TraceQueue,
} from "./queue.js";

export interface MemoryQueueOptions extends QueueLimits {
  /** Clock (epoch ms); injectable for tests. */
  now?: () => number;
}

/**
 * A TraceQueue in memory: for tests, and the fallback when IndexedDB is unavailable (private mode,
 * blocked storage). Nothing survives a reload, which is why the browser warns when it falls back.
 */
export class MemoryQueue implements TraceQueue {
  private readonly entries = new Map<string, QueueEntry>(); // insertion order = oldest first
  private readonly maxTraces: number;
  private readonly maxBytes: number;
  private readonly leaseMs: number;
  private readonly now: () => number;
  private bytes = 0;
  private dropped = 0;

  constructor(options: MemoryQueueOptions = {}) {
    this.maxTraces = options.maxTraces ?? DEFAULT_QUEUE_LIMITS.maxTraces;
    this.maxBytes = options.maxBytes ?? DEFAULT_QUEUE_LIMITS.maxBytes;
    this.leaseMs = options.leaseMs ?? DEFAULT_QUEUE_LIMITS.leaseMs;
    this.now = options.now ?? Date.now;
  }

  async append(items: readonly QueuedTrace[]): Promise<void> {
    let dropped = 0;
    for (const item of items) {
      if (this.entries.has(item.id)) continue;
      if (item.bytes > this.maxBytes) {
        this.dropped++; // could never fit: keep the older, smaller ones instead
        warnTraceTooLarge(item.bytes, this.maxBytes);
        continue;
      }
      this.entries.set(item.id, queuedItem(item));
      this.bytes += item.bytes;
    }
    for (const [id, entry] of this.entries) {
      if (this.entries.size <= this.maxTraces && this.bytes <= this.maxBytes) break;
      this.remove(id, entry);
      dropped++;
    }
    if (dropped > 0) this.countDropped(dropped);
  }

  async lease(maxBytes: number): Promise<Lease | undefined> {
    const now = this.now();
    const token = newLeaseToken();
    const taken: QueueEntry[] = [];
    let total = 0;
    for (const entry of this.entries.values()) {
      clockWentBack(entry, now);
      if (entry.notBefore > now || (entry.leaseToken !== undefined && (entry.leaseUntil ?? 0) > now)) continue;
      if (taken.length > 0 && total + entry.bytes > maxBytes) break;
      taken.push(entry);
      total += entry.bytes;
      if (total >= maxBytes) break;
    }
    if (taken.length === 0) return undefined;
    const expiresAt = now + this.leaseMs + uploadAllowanceMs(total);
    for (const entry of taken) Object.assign(entry, { leaseToken: token, leaseUntil: expiresAt, leasedAt: now });
    return { token, items: taken.map(queuedItem), expiresAt };
  }

  async ack(lease: Lease): Promise<void> {
    for (const { id } of lease.items) {
      const entry = this.entries.get(id);
      if (entry) this.remove(id, entry);
    }
  }

  async nack(lease: Lease, retryAt: number, failed = true): Promise<void> {
    for (const { id } of lease.items) {
      const entry = this.entries.get(id);
      if (!entry || entry.leaseToken !== lease.token) continue; // re-leased by someone else meanwhile
      Object.assign(entry, { leaseToken: undefined, leaseUntil: undefined, leasedAt: undefined, attempts: entry.attempts + (failed ? 1 : 0), notBefore: retryAt, nackedAt: this.now() });
    }
  }

  async stats(): Promise<QueueStats> {
    return { queued: this.entries.size, queuedBytes: this.bytes, dropped: this.dropped };
  }

  private remove(id: string, entry: QueueEntry): void {
    this.entries.delete(id);
    this.bytes -= entry.bytes;
  }

  private countDropped(n: number): void {
    this.dropped += n;
    warnQueueFull(this.maxTraces, this.maxBytes);
  }
}

/** The warning for one trace larger than the whole byte cap: it, not the oldest, was dropped. */
export function warnTraceTooLarge(bytes: number, maxBytes: number): void {
  warnOnce("queue-trace-too-large", `a trace of ${bytes} bytes is larger than the queue's byte cap (${maxBytes}), so it was dropped (counted in stats().dropped); raise maxQueuedBytes.`);
}

/** The one warning every queue gives when its caps drop traces. */
export function warnQueueFull(maxTraces: number, maxBytes: number): void {
  warnOnce(
    "queue-full",
    `the trace queue is full (cap: ${maxTraces} traces, ${maxBytes} bytes), so the oldest traces were dropped ` +
      "(counted in stats().dropped). The collector may be unreachable; raise maxQueuedTraces / maxQueuedBytes or sample traces.",
  );
}
