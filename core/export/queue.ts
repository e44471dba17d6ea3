// The store/queue seam (DESIGN.md "Seams"): finished traces wait here between the exporter and the
// next hop. Unlike Sentry's offline store, which removes an envelope before sending it, nothing is
// deleted before the next hop acknowledged it: a sender leases a batch, and only `ack` deletes.
// Implementations: MemoryQueue (core), IdbQueue (browser), the Durable Object SQLite queue (worker).
// All of them run queue-contract.ts.
import { newSpanId } from "../model/ids.js";
import { utf8Length } from "../serialize/safe-json.js";

/** One finished trace as stored: its JSON text and delivery bookkeeping. */
export interface QueuedTrace {
  /** The trace id (`tr-…`): the queue holds at most one entry per id. */
  id: string;
  /** The trace as JSON text, exactly as it goes on the wire. */
  body: string;
  /** What the entry adds to a batch body: UTF-8 length of `body` plus one separator byte. */
  bytes: number;
  /** Failed deliveries so far. */
  attempts: number;
  /** Epoch ms before which the entry is not leased (backoff); 0 = now. */
  notBefore: number;
}

/**
 * A wait set at `since` to last until `until`, seen at `now`, a time before `since`: the clock went
 * back (an NTP fix). The wait then counts from now, as long as it was meant to be, neither the size
 * of the jump longer (a clock that was a day ahead) nor cancelled (a step back of a second).
 */
export function rebased(until: number, since: number, now: number): number {
  return now + Math.max(0, until - since);
}

/**
 * A queued trace as both queues keep it: its retry (`notBefore`, set at `nackedAt`) and its lease
 * (until `leaseUntil`, taken at `leasedAt`).
 */
export interface QueueEntry extends QueuedTrace {
  leaseToken?: string;
  leaseUntil?: number;
  leasedAt?: number;
  nackedAt?: number;
}

/** What a lease hands out of an entry: the trace alone, without the queue's own fields. */
export const queuedItem = (e: QueuedTrace): QueuedTrace => ({ id: e.id, body: e.body, bytes: e.bytes, attempts: e.attempts, notBefore: e.notBefore });

/** Moves an entry's waits set before the clock went back (an NTP fix) to count from now; true if it changed. */
export function clockWentBack(e: QueueEntry, now: number): boolean {
  let changed = false;
  if (e.nackedAt !== undefined && e.nackedAt > now) {
    e.notBefore = rebased(e.notBefore, e.nackedAt, now);
    e.nackedAt = now;
    changed = true;
  }
  if (e.leasedAt !== undefined && e.leasedAt > now && e.leaseUntil !== undefined) {
    e.leaseUntil = rebased(e.leaseUntil, e.leasedAt, now);
    e.leasedAt = now;
    changed = true;
  }
  return changed;
}

/**
 * The extra time a request of `bytes` may take on a slow uplink (128 kbit/s), beyond the usual
 * timeout: a large trace sent from a phone on a poor connection must not be aborted, and its
 * lease expire, before its upload can finish, or it is retried for ever and never delivered.
 */
export function uploadAllowanceMs(bytes: number): number {
  return Math.ceil(bytes / 16);
}

/** Entries handed to one sender. Other leasers do not see them until ack, nack or `expiresAt`. */
export interface Lease {
  /** Identifies this lease: `nack` only touches entries still held under it. */
  token: string;
  /** Oldest first. */
  items: readonly QueuedTrace[];
  /** Epoch ms when the entries become visible to other leasers again (the holder may have died). */
  expiresAt: number;
}

export interface QueueStats {
  /** Entries stored, leased or not. */
  queued: number;
  /** Sum of their `bytes`. */
  queuedBytes: number;
  /** Entries dropped by the caps since this queue object was made. */
  dropped: number;
}

export interface TraceQueue {
  /**
   * Stores `items`; durable (as far as the store goes) before the promise resolves. Idempotent by
   * trace id: an id already queued is left as it is. When the caps are exceeded, the oldest entries
   * are dropped, counted in `stats().dropped` and reported once with a warning.
   */
  append(items: readonly QueuedTrace[]): Promise<void>;
  /**
   * Leases the oldest entries that are due (`notBefore <= now`) and not leased by anyone else,
   * up to `maxBytes` of their `bytes`. The oldest due entry is returned even when it alone is larger,
   * so an oversized trace is never stuck behind the limit. `undefined` when nothing is due.
   */
  lease(maxBytes: number): Promise<Lease | undefined>;
  /** The next hop accepted these entries: deletes them (by trace id, whoever holds them now). */
  ack(lease: Lease): Promise<void>;
  /**
   * Delivery failed: releases the entries still held under this lease, due again at `retryAt`, and
   * counts the attempt; `failed` false only sets them aside (another copy is on its way) uncounted.
   */
  nack(lease: Lease, retryAt: number, failed?: boolean): Promise<void>;
  stats(): Promise<QueueStats>;
}

/** Caps shared by every queue implementation. */
export interface QueueLimits {
  /** Most entries kept; the oldest go first (default 1000). */
  maxTraces?: number;
  /** Most `bytes` kept; the oldest go first (default 5 MB). */
  maxBytes?: number;
  /** How long a lease hides its entries from other leasers (default 30 s). */
  leaseMs?: number;
}

export const DEFAULT_QUEUE_LIMITS = { maxTraces: 1000, maxBytes: 5_000_000, leaseMs: 30_000 } as const;

/** A fresh queue entry for a trace's JSON text (`bytes`: its UTF-8 size, when already known). */
export function queuedTrace(id: string, body: string, bytes = utf8Length(body)): QueuedTrace {
  return { id, body, bytes: bytes + 1, attempts: 0, notBefore: 0 };
}

/** A random lease token, 16 hex characters as a span id is (not a secret: it only tells leases apart). */
export const newLeaseToken = (): string => newSpanId();

/** Shape check for an entry read back from storage, which may hold anything. */
export function isQueuedTrace(value: unknown): value is QueuedTrace {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.id === "string" && v.id !== "" && typeof v.body === "string" && typeof v.bytes === "number" && Number.isFinite(v.bytes) &&
    typeof v.attempts === "number" && typeof v.notBefore === "number"
  );
}
