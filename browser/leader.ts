import { newLeaseToken } from "../core/export/queue.js";

// One sender per origin. Every tab may append to the shared IndexedDB queue, but only the tab
// holding the Web Lock sends in the background, so N tabs do not make N times the requests.
// Safety does not rest on this: queue leases already keep two tabs from sending one trace at once.
// Each tab also holds a lock named after itself for its whole life, so the others can tell from
// `navigator.locks.query()` which tabs are still alive and reclaim a dead tab's leases at once.

export interface Leadership {
  /** Random id of this tab, recorded on its leases. */
  readonly tabId: string;
  /** True while this tab is the origin's sender (always true without Web Locks). */
  readonly isLeader: boolean;
  /** Whether other tabs can tell this one is gone (Web Locks): what snapshots of its open traces wait on. */
  readonly tracksTabs: boolean;
  /** Ids of tabs alive now; `undefined` when that cannot be known (then leases just expire). */
  liveTabs(): Promise<ReadonlySet<string> | undefined>;
  /** Gives up the sender's lock for good (this tab keeps its traces in memory now); another tab takes over. */
  stepDown(): void;
  /** Gives up the locks (shutdown); another tab takes over. */
  release(): void;
  /**
   * The page is going into the back/forward cache: lets go of its locks, which Chrome would
   * otherwise answer by evicting the page as soon as another page of the origin asks for them.
   */
  suspend(): void;
  /** The page came back from the back/forward cache: takes its locks again. */
  resume(): void;
}

export function electLeader(name: string, onLead: () => void): Leadership {
  const tabId = newLeaseToken();
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  if (!locks) {
    // No Web Locks (old browsers, some embedded webviews): every tab sends; leases keep it safe.
    queueMicrotask(onLead);
    const none = () => undefined;
    return { tabId, isLeader: true, tracksTabs: false, liveTabs: async () => undefined, stepDown: none, release: none, suspend: none, resume: none };
  }
  let releaseTab = () => {};
  let releaseSender = () => {};
  let pending = new AbortController();
  const tabPrefix = `${name}:tab:`;
  const state = { isLeader: false, steppedDown: false, suspended: false };
  // A lock request fails only when the document goes away or the request is aborted (suspend).
  const hold = (lockName: string, held: Promise<void>, signal: AbortSignal, onGranted?: () => void) =>
    locks.request(lockName, { signal }, () => (signal.aborted ? undefined : (onGranted?.(), held))).catch(() => undefined);
  const acquire = () => {
    pending = new AbortController();
    void hold(tabPrefix + tabId, new Promise<void>((resolve) => (releaseTab = resolve)), pending.signal);
    if (state.steppedDown) return;
    void hold(`${name}:sender`, new Promise<void>((resolve) => (releaseSender = resolve)), pending.signal, () => {
      if (state.steppedDown) return; // granted after stepping down: handed on at once
      state.isLeader = true;
      onLead();
    });
  };
  acquire();
  const stepDown = () => {
    state.steppedDown = true;
    state.isLeader = false;
    releaseSender();
  };
  const letGo = () => {
    state.isLeader = false;
    pending.abort();
    releaseSender();
    releaseTab();
  };
  return {
    tabId,
    tracksTabs: true,
    get isLeader() {
      return state.isLeader;
    },
    async liveTabs() {
      const snapshot = await locks.query();
      const names = [...(snapshot.held ?? []), ...(snapshot.pending ?? [])].map((l) => l.name ?? "");
      // This tab is alive even while its own lock is being taken again (just back from the cache).
      return new Set([tabId, ...names.filter((n) => n.startsWith(tabPrefix)).map((n) => n.slice(tabPrefix.length))]);
    },
    stepDown,
    release() {
      state.steppedDown = true;
      letGo();
    },
    suspend() {
      state.suspended = true;
      letGo();
    },
    resume() {
      if (!state.suspended) return;
      state.suspended = false;
      acquire();
    },
  };
}
