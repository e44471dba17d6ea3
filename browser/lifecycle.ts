// When to flush. A page is most often closed, or frozen on mobile, after it was hidden, so
// `visibilitychange` → hidden is the last reliable moment (OpenTelemetry's BatchSpanProcessor and
// Sentry flush there too); `pagehide` covers Safari and bfcache navigations. `online` ends a wait.

export interface LifecycleHandlers {
  /** The page may be going away: send what can go with keepalive, now. `unloading`: it is going for good (not into the back/forward cache). */
  onHide(unloading: boolean): void;
  /** The page is visible again. */
  onShow(): void;
  /** The network is back. */
  onOnline(): void;
}

/** Installs the listeners; returns a function that removes them. */
export function installLifecycle(handlers: LifecycleHandlers): () => void {
  const onOnline = () => handlers.onOnline();
  addEventListener("online", onOnline);
  // A Web Worker (where in-browser models run) has no document, so no visibility or pagehide: it
  // ends with its page, and what it finished waits in IndexedDB for the origin's next sender.
  if (typeof document === "undefined") return () => removeEventListener("online", onOnline);
  const onVisibility = () => {
    if (document.visibilityState === "hidden") handlers.onHide(false);
    else handlers.onShow();
  };
  // A page put in the back/forward cache (persisted) may come back and carry on.
  const onPageHide = (event: PageTransitionEvent) => handlers.onHide(!event.persisted);
  document.addEventListener("visibilitychange", onVisibility);
  addEventListener("pagehide", onPageHide);
  return () => {
    document.removeEventListener("visibilitychange", onVisibility);
    removeEventListener("pagehide", onPageHide);
    removeEventListener("online", onOnline);
  };
}
