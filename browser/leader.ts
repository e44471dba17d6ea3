import { newLeaseToken } from "../core/export/queue.js";

// One sender per origin. Every tab may append to the shared IndexedDB queue, but only the tab
// holding the Web Lock sends in the background, so N tabs do not make N times the requests.
// Safety does not rest on this: queue leases already keep two tabs from sending one trace at once.
// Each tab also holds a lock named after itself for its whole life, so the others can tell from
// `navigator.locks.query()` which tabs are still alive and reclaim a dead tab's leases at once.
// A holder can keep the lock without sending: a frozen or busy page, or (Chromium 156) a page put
// in the back/forward cache whose release never reached the browser, which then grants the lock to
// nobody. A waiting tab whose news the sender does not answer takes the lock over (`steal`); a
// sender that loses it this way goes back in line.
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
  /** The sender does not answer: takes its lock from whoever holds it, and becomes the sender. */
  takeOver(): void;
}

export function electLeader(name: string, onLead: () => void): Leadership {
  const tabId = newLeaseToken();
  const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
  if (!locks) {
    // No Web Locks (old browsers, some embedded webviews): every tab sends; leases keep it safe.
    queueMicrotask(onLead);
    const none = () => undefined;
    return { tabId, isLeader: true, tracksTabs: false, liveTabs: async () => undefined, stepDown: none, release: none, suspend: none, resume: none, takeOver: none };
  }
  let releaseTab = () => {};
  let releaseSender = () => {};
  let tabRequest = new AbortController();
  let senderRequest = new AbortController();
  const tabPrefix = `${name}:tab:`;
  let isLeader = false;
  let steppedDown = false;
  let suspended = false;
  // A pending request fails when the document goes away or the request is aborted (suspend); a
  // granted one when another tab takes the lock over.
  const requestTab = () => {
    tabRequest = new AbortController();
    const { signal } = tabRequest;
    locks.request(tabPrefix + tabId, { signal }, () => (signal.aborted ? undefined : new Promise<void>((resolve) => (releaseTab = resolve)))).catch(() => undefined);
  };
  const requestSender = (steal: boolean) => {
    const request = (senderRequest = new AbortController());
    let granted = false;
    // `steal` cannot be aborted; its grant after a suspend or a step-down is handed on at once.
    locks
      .request(`${name}:sender`, steal ? { steal } : { signal: request.signal }, () => {
        if (request.signal.aborted || steppedDown) return;
        granted = true;
        isLeader = true;
        onLead();
        return new Promise<void>((resolve) => (releaseSender = resolve));
      })
      .catch(() => {
        if (!granted || request.signal.aborted || steppedDown) return;
        isLeader = false; // taken over by a tab that found this one silent: back in line
        requestSender(false);
      });
  };
  const acquire = () => {
    requestTab();
    if (!steppedDown) requestSender(false);
  };
  acquire();
  const leave = () => {
    isLeader = false;
    senderRequest.abort();
    releaseSender();
  };
  const stepDown = () => {
    steppedDown = true;
    leave();
  };
  const letGo = () => {
    leave();
    tabRequest.abort();
    releaseTab();
  };
  return {
    tabId,
    tracksTabs: true,
    get isLeader() {
      return isLeader;
    },
    async liveTabs() {
      const snapshot = await locks.query();
      const names = [...(snapshot.held ?? []), ...(snapshot.pending ?? [])].map((l) => l.name ?? "");
      // This tab is alive even while its own lock is being taken again (just back from the cache).
      return new Set([tabId, ...names.filter((n) => n.startsWith(tabPrefix)).map((n) => n.slice(tabPrefix.length))]);
    },
    stepDown,
    release() {
      steppedDown = true;
      letGo();
    },
    suspend() {
      suspended = true;
      letGo();
    },
    resume() {
      if (!suspended) return;
      suspended = false;
      acquire();
    },
    takeOver() {
      if (isLeader || steppedDown || suspended) return;
      senderRequest.abort(); // leaves its place in line
      requestSender(true);
    },
  };
}
