// When to flush. A page is most often closed, or frozen on mobile, after it was hidden, so
// `visibilitychange` → hidden is the last reliable moment (OpenTelemetry's BatchSpanProcessor and
// Sentry flush there too); `pagehide` covers Safari and bfcache navigations. `online` ends a wait.

export interface LifecycleHandlers {
  /** The page may be going away: send what can go with keepalive, now. `unloading`: it is going for good (not into the back/forward cache). */
  onHide(unloading: boolean): void;
  /** The network is back. */
  onOnline(): void;
}

/** Installs the listeners; returns a function that removes them. */
export function installLifecycle(handlers: LifecycleHandlers): () => void {
  const onVisibility = () => {
    if (document.visibilityState === "hidden") handlers.onHide(false);
  };
  // A page put in the back/forward cache (persisted) may come back and carry on.
  const onPageHide = (event: PageTransitionEvent) => handlers.onHide(!event.persisted);
  const onOnline = () => handlers.onOnline();
  document.addEventListener("visibilitychange", onVisibility);
  addEventListener("pagehide", onPageHide);
  addEventListener("online", onOnline);
  return () => {
    document.removeEventListener("visibilitychange", onVisibility);
    removeEventListener("pagehide", onPageHide);
    removeEventListener("online", onOnline);
  };
}
