import { openDB, type DBSchema, type IDBPDatabase, type IDBPTransaction } from "idb";
import {
  clockWentBack,
  isQueuedTrace,
  newLeaseToken,
  queuedItem,
  uploadAllowanceMs,
  type Lease,
  type QueueEntry,
  type QueueLimits,
  type QueuedTrace,
  type QueueStats,
  type TraceQueue,
} from "../core/export/queue.js";
import { warnQueueFull, warnTraceTooLarge } from "../core/export/memory-queue.js";
import { reportSdkError, warnOnce } from "../core/debug.js";
import { utf8Length } from "../core/serialize/safe-json.js";

// TraceQueue on IndexedDB: traces survive reloads, crashes and closed tabs, and every tab of the
// origin shares one queue. Leases are rows' fields written in a readwrite transaction, and
// IndexedDB runs readwrite transactions on one store one at a time across tabs, so two tabs never
// lease the same trace. A lease ends with ack/nack, at expiry, or 2 s after its tab died.

interface Row extends QueueEntry {
  seq?: number;
  leaseOwner?: string;
  /** A snapshot of a trace still open in the tab with this id: sent only once that tab is gone. */
  snapshotOf?: string;
}

interface Schema extends DBSchema {
  traces: { key: number; value: Row; indexes: { id: string; bytes: number } };
}

export interface IdbQueueOptions extends QueueLimits {
  /** Database name (default "mlflow-edge"); one queue per name and origin. */
  dbName?: string;
  /** This tab's id, recorded on its leases. */
  owner?: string;
  /** Tabs still alive (Web Locks); a dead tab's leases are reclaimed without waiting for expiry. */
  liveOwners?: () => Promise<ReadonlySet<string> | undefined>;
  /** Give up opening after this long (default 3 s): a blocked open must not hold traces hostage. */
  openTimeoutMs?: number;
  now?: () => number;
}

/** A keepalive request from a tab that just closed may still be on its way: give it this long. */
const DEAD_OWNER_GRACE_MS = 2_000;
const STORE = "traces";
/**
 * The database versions this release reads: 1, and 2, which is 1 made whole where the store was
 * missing (an empty version 1 is what `indexedDB.open(name)` with no version leaves, from a
 * debugging snippet or an extension, when it comes first). The version is opened as it is, never
 * raised for a schema that has not changed: a tab of an earlier release could not open it (it took
 * the VersionError for a full disk and kept the origin's sending), nor could a rolled-back page. A
 * version above these is a newer release's schema: this tab steps aside, as for a VersionError.
 */
const KNOWN_VERSION = 2;

export class IdbQueue implements TraceQueue {
  private dropped = 0;
  private readonly maxTraces: number;
  private readonly maxBytes: number;
  private readonly leaseMs: number;
  private readonly now: () => number;

  /** Set when another page upgraded or deleted the database: the next operation opens it again. */
  private lost = false;
  private reopening: Promise<void> | undefined;
  private closed = false;
  private constructor(
    private db: IDBPDatabase<Schema>,
    private readonly options: IdbQueueOptions,
  ) {
    this.watch(db);
    this.maxTraces = options.maxTraces ?? 1000;
    this.maxBytes = options.maxBytes ?? 5_000_000;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /** Opens (creating if needed) the queue; rejects when IndexedDB is missing, blocked or refuses. */
  static async open(options: IdbQueueOptions = {}): Promise<IdbQueue> {
    return new IdbQueue(await connectDb(options), options);
  }

  // Another page wants to upgrade the database (a newer version of the site) or delete it (a
  // logout wiping storage), or the browser closed it: step aside instead of blocking that, and open
  // it again at the next operation. A VersionError then means a newer version owns it.
  private watch(db: IDBPDatabase<Schema>): void {
    const lose = () => {
      db.close();
      if (this.db === db) this.lost = true;
    };
    db.addEventListener("versionchange", lose);
    db.addEventListener("close", lose);
  }

  private async transaction<M extends IDBTransactionMode>(mode: M, options?: IDBTransactionOptions): Promise<IDBPTransaction<Schema, ["traces"], M>> {
    if (this.closed) throw new DOMException("the IndexedDB trace queue was closed", "InvalidStateError");
    if (this.lost) await (this.reopening ??= this.reopen());
    try {
      return watched(this.db.transaction(STORE, mode, options));
    } catch (error) {
      // Closed with no event (WebKit closes a background page's connections so; Chromium between
      // a forced close and its event): the database is fine, this connection is not. Open it again, once.
      if (!(error instanceof DOMException && error.name === "InvalidStateError")) throw error;
      this.lost = true;
      await (this.reopening ??= this.reopen());
      return watched(this.db.transaction(STORE, mode, options));
    }
  }

  private async reopen(): Promise<void> {
    try {
      this.db.close(); // (already closed, unless a transaction was aborted on it)
      const db = await connectDb(this.options);
      this.db = db;
      this.lost = false;
      this.watch(db);
    } finally {
      this.reopening = undefined;
    }
  }

  /**
   * Runs `op`, and once more on a connection opened again if the browser aborted its transaction:
   * it does so when it closes the connection (clearing site data while a write runs), before this
   * page is told. Counts change only once a transaction has committed, so a retry counts nothing twice.
   */
  private async again<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (error) {
      if (!(error instanceof DOMException && (error.name === "AbortError" || error.name === "UnknownError"))) throw error;
      this.lost = true;
      return op();
    }
  }

  append(items: readonly QueuedTrace[]): Promise<void> {
    return this.again(() => this.write(items, undefined));
  }

  /**
   * Stores copies of traces still open in this tab, as they would end now (see snapshotOpenTraces):
   * held back while this tab lives, sent once it is gone without finishing them (a hidden page
   * discarded or crashed). The finished trace replaces its snapshot; `dropSnapshot` removes one.
   */
  async putSnapshots(items: readonly QueuedTrace[]): Promise<void> {
    const owner = this.options.owner;
    if (items.length && owner !== undefined) return this.again(() => this.write(items, owner));
  }

  /** The trace that had a snapshot will not be stored (sampled out, dropped by redact): neither is its snapshot. */
  dropSnapshot(id: string): Promise<void> {
    return this.again(async () => {
      const tx = await this.transaction("readwrite");
      const key = await tx.store.index("id").getKey(id);
      if (key !== undefined && (await tx.store.get(key))?.snapshotOf === this.options.owner) await tx.store.delete(key);
      await tx.done;
    });
  }

  private async write(items: readonly QueuedTrace[], snapshotOf: string | undefined): Promise<void> {
    let dropped = 0; // by the caps
    let refused = 0; // too large, or unreadable
    // "strict": resolve only once the write reached disk, since the trace may live nowhere else.
    const tx = await this.transaction("readwrite", { durability: snapshotOf ? "relaxed" : "strict" });
    const byId = tx.store.index("id");
    for (const item of items) {
      const key = await byId.getKey(item.id);
      if (key !== undefined) {
        // Idempotent by id, except that a snapshot gives way to a newer snapshot or the trace itself.
        if ((await tx.store.get(key))?.snapshotOf === undefined) continue;
        await tx.store.delete(key);
      }
      if (item.bytes > this.maxBytes) {
        refused++;
        warnTraceTooLarge(item.bytes, this.maxBytes);
        continue;
      }
      await tx.store.add({ id: item.id, body: item.body, bytes: item.bytes, attempts: item.attempts, notBefore: item.notBefore, snapshotOf });
    }
    let count = await tx.store.count();
    let bytes = await sizes(tx);
    for (let c = await tx.store.openCursor(); c && (count > this.maxTraces || bytes > this.maxBytes); c = await c.continue()) {
      bytes -= Number.isFinite(c.value.bytes) ? c.value.bytes : 0; // as sizes() counted it
      count--;
      // A row that would never be sent goes as such, not as a trace the caps pushed out.
      if (isSound(c.value)) dropped++;
      else refused += unreadable();
      await c.delete();
    }
    await tx.done;
    this.dropped += dropped + refused;
    if (dropped > 0) warnQueueFull(this.maxTraces, this.maxBytes);
  }

  async lease(maxBytes: number): Promise<Lease | undefined> {
    let alive: ReadonlySet<string> | undefined;
    try {
      alive = await this.options.liveOwners?.();
    } catch (error) {
      reportSdkError("leader.liveOwners", error);
    }
    return this.again(async () => {
      const now = this.now();
      const token = newLeaseToken();
      const taken: Row[] = [];
      let total = 0;
      let refused = 0;
      const tx = await this.transaction("readwrite");
      for (let c = await tx.store.openCursor(); c; c = await c.continue()) {
        const row: unknown = c.value;
        if (isQueuedTrace(row) && clockWentBack(row, now)) await c.update(row);
        if (isQueuedTrace(row) && (row.notBefore > now || isLeasedByOther(row, now, alive) || isHeldSnapshot(row, alive))) continue;
        if (!isSound(row)) {
          refused += unreadable();
          await c.delete();
          continue;
        }
        // A size written by something else may understate the body (an 80 KB trace said to be 100
        // bytes would go in every batch, with keepalive): batches and caps go by the body's own.
        const bytes = utf8Length(row.body) + 1;
        if (row.bytes !== bytes) await c.update({ ...row, bytes });
        row.bytes = bytes;
        if (taken.length > 0 && total + row.bytes > maxBytes) break;
        taken.push(row);
        total += row.bytes;
        if (total >= maxBytes) break;
      }
      // Long enough for the whole batch to upload on a slow link, as the transport's timeout is.
      const expiresAt = now + this.leaseMs + uploadAllowanceMs(total);
      for (const row of taken) await tx.store.put({ ...row, leaseToken: token, leaseOwner: this.options.owner, leasedAt: now, leaseUntil: expiresAt });
      await tx.done;
      this.dropped += refused;
      if (taken.length === 0) return undefined;
      return { token, items: taken.map(queuedItem), expiresAt };
    });
  }

  ack(lease: Lease): Promise<void> {
    return this.again(async () => {
      const tx = await this.transaction("readwrite");
      for (const { id, body } of lease.items) {
        const key = await tx.store.index("id").getKey(id);
        if (key === undefined) continue;
        // What was sent is acknowledged, even if re-leased since; a row replaced since (a snapshot
        // by its finished trace, its tab back from the back/forward cache) was not sent: it stays.
        const row = await tx.store.get(key);
        if (row && (row.leaseToken === lease.token || row.body === body)) await tx.store.delete(key);
      }
      await tx.done;
    });
  }

  nack(lease: Lease, retryAt: number, failed = true): Promise<void> {
    return this.again(async () => {
      const tx = await this.transaction("readwrite");
      for (const { id } of lease.items) {
        const row = await tx.store.index("id").get(id);
        if (!row || row.leaseToken !== lease.token) continue; // expired and re-leased meanwhile
        await tx.store.put({ ...row, leaseToken: undefined, leaseOwner: undefined, leasedAt: undefined, leaseUntil: undefined, attempts: row.attempts + (failed ? 1 : 0), notBefore: retryAt, nackedAt: this.now() });
      }
      await tx.done;
    });
  }

  stats(): Promise<QueueStats> {
    return this.again(async () => {
      const tx = await this.transaction("readonly");
      const queued = await tx.store.count();
      const queuedBytes = await sizes(tx);
      await tx.done;
      return { queued, queuedBytes, dropped: this.dropped };
    });
  }

  close(): void {
    this.closed = true; // closed by its owner: not opened again behind its back
    this.db.close();
  }
}

async function connectDb(options: IdbQueueOptions): Promise<IDBPDatabase<Schema>> {
  let gaveUp = false;
  const name = options.dbName ?? "mlflow-edge";
  const open = async (): Promise<IDBPDatabase<Schema>> => {
    const db = await openDB<Schema>(name, undefined, { upgrade: makeSchema }); // a new database: version 1, made
    const version = db.version;
    if (version <= KNOWN_VERSION && hasSchema(db)) return db;
    db.close();
    if (version > KNOWN_VERSION) throw new DOMException(`the database is at version ${version}, a newer release's`, "VersionError");
    if (version === KNOWN_VERSION) throw new DOMException("the database has no trace store", "NotFoundError");
    return openDB<Schema>(name, KNOWN_VERSION, { upgrade: makeSchema });
  };
  // An open the browser aborts was made while it deleted the database (clearing site data): tried
  // again until the timeout, it opens the database, empty, once that is done.
  const opening = (async () => {
    for (let wait = 20; ; wait *= 2) {
      try {
        return await open();
      } catch (error) {
        if (gaveUp || !(error instanceof DOMException && error.name === "AbortError")) throw error;
        await new Promise((resolve) => setTimeout(resolve, wait));
        if (gaveUp) throw error; // no open after the caller went to memory
      }
    }
  })();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("IndexedDB did not open in time (blocked by another tab?)")), options.openTimeoutMs ?? 3_000);
  });
  try {
    return await Promise.race([opening, timeout]);
  } catch (error) {
    gaveUp = true;
    void opening.then((late) => late.close(), () => undefined); // opened after we gave up: nobody uses it
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A transaction whose failure its user sees where it awaits a request; idb also rejects its `done`,
 * which an operation that stopped at the failed request never awaits: the page would see an
 * unhandled rejection (error monitors report them) for every transaction the browser aborts.
 */
function watched<T extends { done: Promise<void> }>(tx: T): T {
  tx.done.catch(() => undefined);
  return tx;
}

/** Makes what is missing of the store and its indexes (all of it, in a new database). */
function makeSchema(db: IDBPDatabase<Schema>, _from: number, _to: number | null, tx: IDBPTransaction<Schema, "traces"[], "versionchange">): void {
  watched(tx); // an upgrade the browser aborts (site data cleared as it opens) fails the open, which is retried
  const store = db.objectStoreNames.contains(STORE) ? tx.objectStore(STORE) : db.createObjectStore(STORE, { keyPath: "seq", autoIncrement: true });
  if (!store.indexNames.contains("id")) store.createIndex("id", "id", { unique: true });
  if (!store.indexNames.contains("bytes")) store.createIndex("bytes", "bytes");
}

function hasSchema(db: IDBPDatabase<Schema>): boolean {
  if (!db.objectStoreNames.contains(STORE)) return false;
  const { indexNames } = watched(db.transaction(STORE)).store;
  return indexNames.contains("id") && indexNames.contains("bytes");
}

/**
 * The sum of the rows' sizes, read from the index. Numbers only: a size another writer stored as
 * text ("3") is a key too, and adding it would join texts (a total that looks huge empties the queue).
 */
async function sizes(tx: IDBPTransaction<Schema, ["traces"], IDBTransactionMode>): Promise<number> {
  let bytes = 0;
  for (let c = await tx.store.index("bytes").openKeyCursor(IDBKeyRange.bound(-Infinity, Infinity, true, true)); c; c = await c.continue()) bytes += c.key;
  return bytes;
}

/** A row written by something else (an older version, a tampering extension) is never sent: one dropped. */
function unreadable(): number {
  warnOnce("idb-bad-row", "dropped an unreadable entry from the IndexedDB trace queue.");
  return 1;
}

function isLeasedByOther(row: Row, now: number, alive: ReadonlySet<string> | undefined): boolean {
  if (row.leaseToken === undefined || (row.leaseUntil ?? 0) <= now) return false;
  const ownerDead = alive !== undefined && row.leaseOwner !== undefined && !alive.has(row.leaseOwner);
  return !(ownerDead && (row.leasedAt ?? 0) + DEAD_OWNER_GRACE_MS <= now);
}

/** A snapshot waits while its tab lives (or while that cannot be known). */
function isHeldSnapshot(row: Row, alive: ReadonlySet<string> | undefined): boolean {
  return row.snapshotOf !== undefined && (alive === undefined || alive.has(row.snapshotOf));
}

/** A row is sent only if it is a queue entry whose body is a JSON object: one bad row must not spoil a batch. */
function isSound(row: unknown): row is Row {
  if (!isQueuedTrace(row) || row.bytes <= 0 || !row.body.startsWith("{")) return false;
  try {
    const parsed: unknown = JSON.parse(row.body);
    return typeof parsed === "object" && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}
