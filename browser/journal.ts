import { queuedTrace, type QueuedTrace } from "../core/export/queue.js";

// Finished traces a page had not yet written to IndexedDB when it was hidden or closed. A queue
// write is a transaction of several round trips, and a closing page is gone before they are done
// (or before it even starts, behind another tab's transaction); if the keepalive copy fails too
// (offline, the collector down), the trace would be lost. localStorage is written at once, so the
// page copies them there as it goes, and the next page of the origin moves them into the queue,
// which takes each trace id once. A page that lives on forgets its copies once its writes are done.

/** What the journal may hold, all tabs' copies together (UTF-16 characters): localStorage holds about 5 MB per origin, and it is the app's too. */
const MAX_CHARS = 1_000_000;

export interface Journal {
  /** Copies traces whose queue write is still under way (synchronous). */
  save(items: readonly QueuedTrace[]): void;
  /** Removes the copies of these traces: they are in the queue. */
  forget(ids: readonly string[]): void;
  /** The traces copied by pages of this queue (closed ones, or other tabs still writing). */
  read(): QueuedTrace[];
  /**
   * Marks traces a page sent from memory as it went (synchronous): on their way until `until`, so
   * that the origin's next sender (it may get the lock at once) does not send them at the same time.
   */
  markSending(ids: readonly string[], until: number): void;
  /** Until when a page said it is sending `id`, if that is still to come. */
  sendingUntil(id: string, now: number): number | undefined;
  /** Clears the marks of traces whose send from memory was answered. */
  unmarkSending(ids: readonly string[]): void;
}

/** The longest a mark may run (a lease's time and a large upload's at 128 kbit/s); more is not a mark this code set. */
const MAX_MARK_MS = 3_600_000;

/** The journal of queue `name`; undefined where there is no localStorage (a Web Worker, site data blocked). */
export function openJournal(name: string): Journal | undefined {
  let storage: Storage;
  try {
    storage = globalThis.localStorage;
    if (!storage) return undefined;
  } catch {
    return undefined; // reading localStorage throws when the site's data is blocked
  }
  const prefix = `${name}:unstored:`;
  const sending = `${name}:sending:`;
  const quietly = (step: () => void) => {
    try {
      step();
    } catch {
      // full or blocked: without the mark, the next sender may send the trace as well (it is
      // delivered once all the same: the collector keeps one copy)
    }
  };
  function sendingUntil(id: string, now: number): number | undefined {
    let mark: string | null = null;
    quietly(() => (mark = storage.getItem(sending + id)));
    if (mark === null) return undefined;
    // "until setAt": a mark set later than now was set under a clock since set back (an NTP fix).
    const [until = Number.NaN, setAt = Number.NaN] = (mark as string).split(" ").map(Number);
    if (until > now && setAt <= now && until - setAt <= MAX_MARK_MS) return until;
    // Run out, set under a clock since set back, or not a mark at all (another script's value).
    quietly(() => storage.removeItem(sending + id));
    return undefined;
  }
  // Keys of this queue's entries of a kind: a ":" after the prefix is another queue's ("app" and "app:unstored").
  const keysOf = (start: string) => Array.from({ length: storage.length }, (_, i) => storage.key(i)).filter((k): k is string => !!k?.startsWith(start) && !k.includes(":", start.length));
  const keys = () => keysOf(prefix);
  return {
    save(items) {
      let room = MAX_CHARS;
      try {
        for (const key of keys()) room -= storage.getItem(key)?.length ?? 0;
      } catch {
        return;
      }
      for (const { id, body } of items) {
        if (body.length > room || storage.getItem(prefix + id) !== null) continue;
        try {
          storage.setItem(prefix + id, body);
          room -= body.length;
        } catch {
          return; // full: what is left has only its keepalive copy
        }
      }
    },
    forget(ids) {
      for (const id of ids) {
        try {
          storage.removeItem(prefix + id);
        } catch {
          // nothing to do: a copy left behind is taken once more, and the queue keeps the id once
        }
      }
    },
    markSending(ids, until) {
      const setAt = Date.now();
      for (const id of ids) quietly(() => storage.setItem(sending + id, `${until} ${setAt}`));
    },
    sendingUntil,
    unmarkSending(ids) {
      for (const id of ids) quietly(() => storage.removeItem(sending + id));
    },
    read() {
      const items: QueuedTrace[] = [];
      try {
        for (const key of keys()) {
          const id = key.slice(prefix.length);
          const body = storage.getItem(key);
          if (body !== null && isTraceOf(body, id)) items.push(queuedTrace(id, body));
          else storage.removeItem(key); // not a trace of that id (another script's entry, damaged): never sent
        }
        // Marks left by pages whose trace went another way (dropped by the caps, say) go once run out.
        const now = Date.now();
        for (const key of keysOf(sending)) sendingUntil(key.slice(sending.length), now);
      } catch {
        // unreadable now: the copies stay for the next page
      }
      return items;
    },
  };
}

function isTraceOf(body: string, id: string): boolean {
  try {
    const trace = JSON.parse(body) as { info?: { traceId?: unknown } } | null;
    return trace?.info?.traceId === id;
  } catch {
    return false;
  }
}
