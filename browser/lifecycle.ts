// When to flush. A page is most often closed, or frozen on mobile, after it was hidden, so
// `visibilitychange` → hidden is the last reliable moment (OpenTelemetry's BatchSpanProcessor and
// Sentry flush there too); `pagehide` covers Safari and bfcache navigations. `online` ends a wait.

/** How a page is being hidden: another tab or app in front, into the back/forward cache, or for good. */
export type Hide = "hidden" | "cached" | "unloading";

export interface LifecycleHandlers {
  /** The page may be going away: send what can go with keepalive, now. */
  onHide(how: Hide): void;
  /** The page is visible again. */
  onShow(): void;
  /** The page came back from the back/forward cache. */
  onRestore(): void;
  /** The network is back. */
  onOnline(): void;
}

/** Installs the listeners; returns a function that removes them. */
export function installLifecycle(handlers: LifecycleHandlers): () => void {
  const onOnline = () => handlers.onOnline();
  addEventListener("online", onOnline);
  // A Web Worker (where in-browser models run) has no document, so no visibility or pagehide: it
  // ends with its page, and what it finished waits in IndexedDB for the origin's next sender.
  // (Read through globalThis: a bare `document` here would make esbuild rename every app parameter
  // named `document` in the bundle, and input keys come from parameter names.)
  const page = globalThis.document;
  if (page === undefined) return () => removeEventListener("online", onOnline);
  // A page put in the back/forward cache (pagehide, persisted) may come back and carry on; its
  // visibilitychange comes after that pagehide, and is a hide into the cache too.
  let cached = false;
  const onVisibility = () => {
    if (page.visibilityState === "hidden") handlers.onHide(cached ? "cached" : "hidden");
    else handlers.onShow();
  };
  const onPageHide = (event: PageTransitionEvent) => {
    cached = event.persisted;
    handlers.onHide(cached ? "cached" : "unloading");
  };
  const onPageShow = (event: PageTransitionEvent) => {
    cached = false;
    if (event.persisted) handlers.onRestore();
  };
  page.addEventListener("visibilitychange", onVisibility);
  addEventListener("pagehide", onPageHide);
  addEventListener("pageshow", onPageShow);
  return () => {
    page.removeEventListener("visibilitychange", onVisibility);
    removeEventListener("pagehide", onPageHide);
    removeEventListener("pageshow", onPageShow);
    removeEventListener("online", onOnline);
  };
}
