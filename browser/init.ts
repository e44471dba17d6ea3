import { configure, type TracerOptions } from "../core/config.js";
import { errorText, isDev, reportSdkError, warnOnce } from "../core/debug.js";
import type { BackoffOptions } from "../core/export/backoff.js";
import { MemoryQueue } from "../core/export/memory-queue.js";
import { QueueExporter, type QueueExporterOptions } from "../core/export/queue-exporter.js";
import type { Lease, QueuedTrace, QueueStats, TraceQueue } from "../core/export/queue.js";
import { Sender } from "../core/export/sender.js";
import { getTracer } from "../core/tracer.js";
import { createBrowserContextManager, type BrowserContextMode } from "./context.js";
import { openJournal } from "./journal.js";
import { electLeader } from "./leader.js";
import { installLifecycle } from "./lifecycle.js";
import { checkBrowserOptions } from "./options.js";
import { instrumentFetch, type OriginMatcher } from "./propagate.js";
import { IdbQueue } from "./queue-idb.js";
import { createFetchTransport } from "./transport-fetch.js";

export interface BrowserInitOptions extends Pick<TracerOptions, "experimentId" | "dedupeSpanNames" | "maxValueBytes" | "openSpanTimeoutMs" | "silent"> {
  /** The collector: its origin (`https://collector.example.com`, `/v1/ingest` is added) or the full ingest URL. */
  collectorUrl: string;
  /** Public per-site key sent as `x-mlflow-edge-key`. */
  ingestKey?: string;
  /** How the active span is carried: "auto" (Zone.js when loaded, else a stack), "zone", "stack" or a ContextManager. */
  context?: BrowserContextMode;
  /** Origins whose fetches get a W3C `traceparent` (your Worker), e.g. `["https://api.example.com"]`. */
  propagateTo?: readonly OriginMatcher[];
  sample?: QueueExporterOptions["sample"];
  redact?: QueueExporterOptions["redact"];
  /** Queue caps; beyond them the oldest traces are dropped (default 1000 traces, 5 MB). */
  maxQueuedTraces?: number;
  maxQueuedBytes?: number;
  retry?: BackoffOptions;
  /** "indexeddb" (default; falls back to memory with a warning when unavailable) or "memory". */
  storage?: "indexeddb" | "memory";
  /** IndexedDB database name and Web Lock prefix (default "mlflow-edge"): one queue per name and origin. */
  queueName?: string;
}

export interface DeliveryStats extends QueueStats {
  /** Traces the collector accepted from this tab's sender. */
  sent: number;
  /** Traces the collector refused for good (4xx). */
  rejected: number;
  /** Traces left out by sampling or the redact hook. */
  sampledOut: number;
  /** Traces lost before they were stored: a hook that threw or returned no trace, a value that could not be serialized. */
  failed: number;
  requests: number;
  keepaliveRequests: number;
  /** Where the queue lives: "memory" after a fallback; "none" outside a browser, where nothing was set up. */
  storage: "indexeddb" | "memory" | "none";
  /** Whether this tab is the origin's sender. */
  leader: boolean;
}

export interface BrowserTracing {
  /** Stores every finished trace and sends what is due; resolves when done or when the collector fails. */
  flush(): Promise<void>;
  /** Flushes, then stops storing and sending and removes listeners; queued traces stay for the next page. */
  shutdown(): Promise<void>;
  stats(): Promise<DeliveryStats>;
}

/**
 * Sets up tracing in a browser page in one call: the context manager, a durable IndexedDB queue
 * shared by the origin's tabs, delivery to the collector, flush on hide, traceparent on fetch.
 * @example
 * const tracing = initBrowser({ collectorUrl: "https://collector.example.com", propagateTo: ["https://api.example.com"] });
 */
export function initBrowser(options: BrowserInitOptions): BrowserTracing {
  const url = checkBrowserOptions(options);
  // Server-side rendering runs the page's modules on a server (Node, or a Worker for an app on
  // Cloudflare): set up there, the call would fail on browser globals, or take over a Worker's own
  // tracing (instrument()) and send its spans through a memory queue meant for a tab. Nothing is
  // set up there; the same call sets tracing up once the module runs in the browser.
  if (!inBrowser()) {
    // (In development only: a production server renders such modules all the time, as it should.)
    if (isDev()) warnOnce(
      "init-browser-server",
      "initBrowser() ran outside a browser (server-side rendering?): it sets nothing up there and leaves the server's own tracing as it is; " +
        "the same call sets tracing up in the browser.",
    );
    return OFF_BROWSER;
  }
  // Before anything starts: "zone" without zone.js throws here, not after a lock and a database are held.
  const contextManager = createBrowserContextManager(options.context ?? "auto");
  // Called again (hot module reload, a second bundle): one setup per page, the first. A second
  // would add listeners, a lock and a queue beside it; replacing the first would stop its
  // exporter under traces still open. Its handle is returned, so shutdown() on either stops tracing.
  const destination = JSON.stringify([url, options.ingestKey ?? null, options.queueName ?? "mlflow-edge", options.storage ?? "indexeddb"]);
  const currentSetup = pageSetup();
  if (currentSetup) {
    // Another destination (two apps on one page) would silently go to the first one's.
    if (destination !== currentSetup.destination) {
      throw new TypeError(
        "mlflow-edge initBrowser(): tracing is already set up on this page for another collector, key, queue or storage; " +
          "one setup per page (its handle's shutdown() ends it, after which initBrowser() may be called again).",
      );
    }
    warnOnce(
      "init-browser-again",
      "initBrowser() was called again on this page (a hot module reload, React StrictMode running an effect twice, a second bundle): " +
        "the first setup is kept and returned, with its options. To set up again with new options, shutdown() the first " +
        "(in an effect: return () => tracing.shutdown()).",
    );
    return currentSetup.handle;
  }
  const name = options.queueName ?? "mlflow-edge";
  const limits = { maxTraces: options.maxQueuedTraces, maxBytes: options.maxQueuedBytes };
  let storage: DeliveryStats["storage"] = "memory";
  const leadership = electLeader(name, () => {
    // What it remembered as the sender before (its lock taken over since) may be another's to send
    // (not with a queue of its own in memory, which only this tab sends).
    if (storage === "indexeddb") sender.forgetRemembered();
    heard(); // a tab waiting on an answer from the sender before it is the sender now
    sender.nudge();
    channel?.postMessage(SENDING); // and so are the other tabs waiting on one
  });
  // Copies of traces still being written when the page goes (journal.ts); none for a memory queue,
  // which the app may have chosen so that nothing is kept on disk.
  let journal = options.storage === "memory" ? undefined : openJournal(name);
  // Traces must not be lost because the disk refuses them: kept in memory, they still go out.
  const toMemory = (why: string, error: unknown) => {
    storage = "memory";
    journal = undefined;
    // A database this tab cannot use at all (none, or a newer version of the site's): it sends only
    // its own traces, and the origin's shared queue needs another sender. A full disk still lets
    // this tab send (and so delete) what is stored there: the tab stays the sender if it was.
    if (why !== REFUSED_WRITE) leadership.stepDown();
    warnOnce(
      "idb-fallback",
      `IndexedDB ${why} (${errorText(error, true)}), so traces are kept in memory only: ` +
        "a reload or a closed tab loses those not yet delivered. Private browsing, blocked site storage and a full disk cause this.",
    );
    return new MemoryQueue(limits);
  };
  if (options.storage === "memory") leadership.stepDown(); // it sends only its own traces, not the origin's queue
  const ready: Promise<TraceQueue> =
    options.storage === "memory"
      ? Promise.resolve(new MemoryQueue(limits))
      : IdbQueue.open({ ...limits, dbName: name, owner: leadership.tabId, liveOwners: () => leadership.liveTabs() })
          .then((q) => ((storage = "indexeddb"), q))
          .catch((error: unknown) => toMemory("is unavailable", error));
  // After the switch this tab sends its own traces, leader or not: active() says so from then on.
  const queue = new FallbackQueue(ready, toMemory, () => leadership.isLeader);
  // Only the origin's leader sends in the background; with a per-tab memory queue every tab must.
  const active = () => storage === "memory" || leadership.isLeader;
  const sender = new Sender({
    queue,
    transport: createFetchTransport({ url, ingestKey: options.ingestKey }),
    retry: options.retry,
    isOnline: () => navigator.onLine !== false,
    isActive: active,
    // Through the journal as it is now (none once the queue fell back to memory).
    sendingMarks: {
      markSending: (ids, until) => journal?.markSending(ids, until),
      sendingUntil: (id, now) => journal?.sendingUntil(id, now),
      unmarkSending: (ids) => journal?.unmarkSending(ids),
    },
  });
  // Tabs that do not send tell the sender they stored something, and the sender answers. A tab that
  // gets no answer within SENDER_SILENT_MS takes the sender's lock over (see leader.ts). The
  // channel is closed while the page is in the back/forward cache: a message arriving there makes
  // Chrome evict the page.
  let silence: ReturnType<typeof setTimeout> | undefined;
  const heard = () => {
    clearTimeout(silence);
    silence = undefined;
  };
  const openChannel = () => {
    const c = typeof BroadcastChannel === "function" ? new BroadcastChannel(name) : undefined;
    c?.addEventListener("message", (event) => {
      if (event.data === SENDING) return heard();
      if (active()) sender.nudge();
      if (leadership.isLeader) c.postMessage(SENDING);
    });
    return c;
  };
  let channel = openChannel();
  /** Tells the sender there is something to send; takes its lock over if it does not answer. */
  const askSender = () => {
    if (!channel) return;
    channel.postMessage(STORED);
    silence ??= setTimeout(() => ((silence = undefined), leadership.takeOver()), SENDER_SILENT_MS);
  };
  // A page that opens (or comes back from the back/forward cache) while traces wait asks the
  // sender too: it may be the first news in a while.
  const look = () =>
    void ready
      .then(async (q) => {
        if (active()) return sender.nudge();
        // Granted the lock while reading, this page is the sender itself: no one to ask.
        if ((await q.stats()).queued > 0 && !active()) askSender();
      })
      .catch((error: unknown) => reportSdkError("queue.stats", error));
  look();
  // What closed pages of the origin left in the journal goes into the queue, then out as usual.
  void ready
    .then(async (q) => {
      const items = q instanceof IdbQueue ? (journal?.read() ?? []) : [];
      if (!items.length) return;
      await q.append(items);
      journal?.forget(items.map((i) => i.id));
      if (active()) sender.nudge();
      else askSender();
    })
    .catch((error: unknown) => reportSdkError("journal", error));
  /** Trace ids this tab stored snapshots of, until the finished trace replaces or drops them. */
  const snapshotted = new Set<string>();
  const exporter = new QueueExporter({
    queue,
    sample: options.sample,
    redact: options.redact,
    onDropped: (id) => snapshotted.delete(id) && void queue.dropSnapshot(id),
    onStored: (ids, items) => {
      for (const id of ids) snapshotted.delete(id); // its snapshot was replaced in the same write
      if (!active()) return askSender();
      sender.remember(items);
      sender.nudge();
    },
    drain: () => sender.drain(),
  });
  configure({
    exporter,
    contextManager,
    experimentId: options.experimentId,
    dedupeSpanNames: options.dedupeSpanNames,
    maxValueBytes: options.maxValueBytes,
    openSpanTimeoutMs: options.openSpanTimeoutMs,
    silent: options.silent,
  });
  // Snapshots of open traces, stored when the page is hidden (see onHide); `seen` lets a trace
  // that has not changed since its last snapshot be skipped before it is copied or written.
  let refresh: ReturnType<typeof setInterval> | undefined;
  const seen = new Map<string, string>();
  const storeSnapshots = () => {
    const snapshots = exporter.prepareSnapshots(getTracer().snapshotOpenTraces(DISCARDED, seen));
    for (const { id } of snapshots) snapshotted.add(id);
    if (snapshots.length) void queue.putSnapshots(snapshots);
  };
  const stopRefresh = () => {
    clearInterval(refresh);
    refresh = undefined;
    seen.clear();
  };
  const restoreFetch = options.propagateTo ? instrumentFetch(options.propagateTo, typeof options.sample === "number" ? options.sample : undefined) : undefined;
  const removeListeners = installLifecycle({
    onHide(how) {
      const wasSender = active(); // before a move into the cache lets go of the lock
      // Going, or perhaps discarded while hidden: its lock and leases would count as gone, and the
      // next sender must not send what this page's requests still carry (in the cache, its plain
      // ones too).
      sender.markOnTheWire(how === "cached");
      // A trace still open when the page goes for good (an answer still streaming) is lost unless
      // it is ended now: its open spans end with a "cancelled" event and it is sent with the rest.
      if (how === "unloading") {
        stopRefresh();
        getTracer().cancelOpenTraces("page closed");
      }
      // A hidden page may be discarded (mobile, memory saver) or crash with no further event: its
      // open traces are stored as they would end now, sent only if this tab goes without ending them.
      // While it stays hidden they are stored again as they change (an answer still streaming, a
      // trace started in the background), a few seconds apart.
      else if (how === "hidden" && leadership.tracksTabs) {
        storeSnapshots();
        refresh ??= setInterval(storeSnapshots, SNAPSHOT_REFRESH_MS);
      }
      // Into the back/forward cache: no queue transaction (one still open when the page is frozen
      // gets it evicted at the next write of another page), so no snapshot and no lease, and no
      // lock or channel that another page of the origin could touch (Chrome evicts a cached page
      // for that too). Open traces carry on if the page comes back.
      else if (how === "cached") {
        stopRefresh();
        leadership.suspend();
        heard();
        channel?.close();
        channel = undefined;
      }
      // Traces still being written go out straight from memory; stored ones by lease, any tab.
      // Into the cache no lease may run (it is a queue transaction): the traces this tab stored as
      // the sender and has not sent yet go from memory too (another tab's sender has its own).
      const { items, stored } = exporter.unsettled();
      if (items.length && journal) {
        const copied = journal;
        copied.save(items);
        void stored.then(() => copied.forget(items.map((i) => i.id)), () => undefined);
      }
      const cached = how === "cached";
      sender.sendUnqueued(cached && wasSender ? [...items, ...sender.remembered()] : items, stored);
      if (!cached) void sender.flushOnUnload();
    },
    onShow: stopRefresh,
    onRestore() {
      leadership.resume();
      channel ??= openChannel();
      look();
    },
    onOnline: () => active() && sender.resume(),
  });

  const flush = () => exporter.flush();
  let down: Promise<void> | undefined;
  const handle: BrowserTracing = {
    flush,
    shutdown: () => (down ??= stop()),
    async stats() {
      const q = await queue.stats();
      const s = sender.stats();
      const e = exporter.stats();
      return { ...q, sent: s.sent, rejected: s.rejected, sampledOut: e.sampledOut, failed: e.failed, requests: s.requests, keepaliveRequests: s.keepaliveRequests, storage, leader: leadership.isLeader };
    },
  };
  setPageSetup({ handle, destination });
  return handle;

  async function stop(): Promise<void> {
    if (pageSetup()?.handle === handle) setPageSetup(undefined);
    await flush();
    exporter.stop();
    // The snapshots of traces still open would be sent once this tab is gone, but those traces
    // finish after shutdown, and what finishes after shutdown is dropped.
    stopRefresh();
    await Promise.all([...snapshotted].map((id) => queue.dropSnapshot(id)));
    snapshotted.clear();
    sender.stop();
    heard();
    removeListeners();
    restoreFetch?.();
    channel?.close();
    channel = undefined;
    leadership.release();
  }
}

/**
 * A page or a Web Worker of one (where in-browser models run); not Node, nor a Cloudflare Worker
 * (its global is no WorkerGlobalScope today, and it says who it is in navigator.userAgent).
 */
const inBrowser = (): boolean => {
  if (globalThis.document !== undefined) return true;
  const workerScope = (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope;
  const agent = (globalThis as { navigator?: { userAgent?: unknown } }).navigator?.userAgent;
  return typeof workerScope === "function" && globalThis instanceof workerScope && agent !== "Cloudflare-Workers";
};

/** initBrowser() off a browser: nothing set up, nothing recorded by it. */
const OFF_BROWSER: BrowserTracing = {
  flush: async () => undefined,
  shutdown: async () => undefined,
  stats: async () => ({ queued: 0, queuedBytes: 0, dropped: 0, sent: 0, rejected: 0, sampledOut: 0, failed: 0, requests: 0, keepaliveRequests: 0, storage: "none", leader: false }),
};

// The page's setup until it is shut down (a second initBrowser() returns it), kept on globalThis
// as the tracer is: two bundles with their own copy of mlflow-edge share it.
type PageSetup = { handle: BrowserTracing; destination: string };
const SETUP = Symbol.for("mlflow-edge.browser-setup");
const pageSetup = (): PageSetup | undefined => (globalThis as { [SETUP]?: PageSetup })[SETUP];
const setPageSetup = (setup: PageSetup | undefined): void => void ((globalThis as { [SETUP]?: PageSetup })[SETUP] = setup);

const DISCARDED = "page discarded while hidden";
const REFUSED_WRITE = "refused a write";
const SNAPSHOT_REFRESH_MS = 3_000;
const STORED = "stored";
const SENDING = "sending";
/** How long a tab waits for the sender to answer its news before taking the sender's lock over. */
const SENDER_SILENT_MS = 5_000;

/** An IndexedDB failure that every later operation would repeat: a newer version of the site owns the database. */
const lostDatabase = (error: unknown) =>
  error instanceof DOMException && error.name === "VersionError" ? "was upgraded by a newer version of the site in another tab" : undefined;

/**
 * A TraceQueue usable at once, while IndexedDB opens (tracing starts before that finishes), that
 * moves to memory for the rest of the page's life if IndexedDB refuses a write (quota) or is lost
 * to a newer version: the trace being written goes to memory instead of being lost. After a refused
 * write, what IndexedDB already holds is still leased from it (by the origin's sender) once memory
 * has nothing due: sending it only deletes, which frees the disk, and a disk that stays full would
 * otherwise leave that backlog unsent on every page. After a lost database it stays there for the
 * tabs of the newer version.
 */
class FallbackQueue implements TraceQueue {
  private current: Promise<TraceQueue>;
  /** The IndexedDB queue after the switch: leases taken from it before are still settled there. */
  private abandoned: TraceQueue | undefined;
  /** Whether the abandoned queue is still sent from (a refused write, not a lost database). */
  private drainAbandoned = false;

  constructor(
    ready: Promise<TraceQueue>,
    private readonly fallback: (why: string, error: unknown) => TraceQueue,
    /** Whether this tab is the origin's sender, which alone sends the shared backlog. */
    private readonly isSender: () => boolean,
  ) {
    this.current = ready;
  }

  // A database this version cannot open again (a newer version of the site took it over in another
  // tab) fails every later operation: from then on memory, as after a refused write. A write that
  // fails otherwise is the disk refusing it (quota): this tab may still send what is stored.
  append(items: readonly QueuedTrace[]) { return this.switching((q) => q.append(items), (e) => lostDatabase(e) ?? REFUSED_WRITE); }
  async lease(maxBytes: number) {
    const lease = await this.switching((q) => q.lease(maxBytes), lostDatabase);
    if (lease || !this.drainAbandoned || !this.isSender()) return lease;
    return this.abandoned?.lease(maxBytes).catch((error: unknown) => void reportSdkError("queue.lease", error));
  }
  async stats() {
    const stats = await this.switching((q) => q.stats(), lostDatabase);
    // (Only the sender sends it: another tab counting it would poll for it for ever.)
    if (!this.drainAbandoned || !this.abandoned || !this.isSender()) return stats;
    // The backlog still stored counts as queued: it is still to be sent.
    const stored = await this.abandoned.stats().catch(() => undefined);
    return stored ? { ...stats, queued: stats.queued + stored.queued, queuedBytes: stats.queuedBytes + stored.queuedBytes } : stats;
  }

  /** Runs `op`, and again in memory if it failed in a way `why` names (undefined: not a reason to switch). */
  private async switching<T>(op: (q: TraceQueue) => Promise<T>, why: (error: unknown) => string | undefined): Promise<T> {
    const used = this.current;
    const q = await used;
    try {
      return await op(q);
    } catch (error) {
      if (this.current === used) {
        const reason = why(error);
        if (reason === undefined || this.abandoned || q instanceof MemoryQueue) throw error; // nowhere else to go
        this.abandoned = q;
        this.drainAbandoned = reason === REFUSED_WRITE;
        this.current = Promise.resolve(this.fallback(reason, error));
      }
      return op(await this.current);
    }
  }
  // Each queue ignores ids (and lease tokens) it does not hold, so settling in both is exact. A
  // failing delete in the abandoned queue only means the collector sees that trace again.
  async ack(lease: Lease) {
    await this.abandoned?.ack(lease).catch(() => undefined);
    return (await this.current).ack(lease);
  }
  async nack(lease: Lease, retryAt: number, failed?: boolean) {
    await this.abandoned?.nack(lease, retryAt, failed).catch(() => undefined);
    return (await this.current).nack(lease, retryAt, failed);
  }
  // Snapshots only make sense in IndexedDB: a memory queue dies with the tab they stand in for.
  putSnapshots(items: readonly QueuedTrace[]) { return this.inIdb("queue.putSnapshots", this.current, (q) => q.putSnapshots(items)); }
  // One stored before the switch to memory is still in the abandoned IndexedDB queue: dropped there
  // too, or the next tab would send a cut-down copy of a trace finished (or sampled out) since.
  async dropSnapshot(id: string) {
    await this.inIdb("queue.dropSnapshot", this.abandoned, (q) => q.dropSnapshot(id));
    await this.inIdb("queue.dropSnapshot", this.current, (q) => q.dropSnapshot(id));
  }
  private async inIdb(what: string, q: TraceQueue | Promise<TraceQueue> | undefined, op: (q: IdbQueue) => Promise<void>) {
    const queue = await q;
    if (queue instanceof IdbQueue) await op(queue).catch((error: unknown) => reportSdkError(what, error));
  }
}
