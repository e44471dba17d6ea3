// Requests the collector answers itself (ingest, reads, health) are not the app's work: traced by
// an instrument()ed Worker or mlflowTracing() on the app that mounts the collector, each would be a
// trace in MLflow of its own, one per batch of traces a page sends.

const collectorRequests = new WeakSet<Request>();

/** Marks `request` as the collector's own: a request span around it is not exported. */
export function markCollectorRequest(request: Request): void {
  collectorRequests.add(request);
}

/** Whether the collector answered `request` (marked while it was being handled). */
export function isCollectorRequest(request: Request): boolean {
  return collectorRequests.has(request);
}
