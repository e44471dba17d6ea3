/**
 * mlflow-edge/browser: the browser runtime. Context (Zone.js, explicit, stack), W3C traceparent on
 * fetch, and durable delivery to the collector.
 * @module
 */
export { ZoneContextManager } from "./context-zone.js";
export type { ZoneLike, ZoneStatic } from "./context-zone.js";
export { createBrowserContextManager } from "./context.js";
export type { BrowserContextMode } from "./context.js";
export { instrumentFetch, getNativeFetch } from "./propagate.js";
/** Also exported by the core entry; kept here for code that imports it from the browser entry. */
export { traceparentOf } from "../core/model/remote-parent.js";
export type { OriginMatcher } from "./propagate.js";

/** Durable delivery: IndexedDB queue → keepalive fetch → collector, one sender per origin. */
export { initBrowser } from "./init.js";
export type { BrowserInitOptions, BrowserTracing, DeliveryStats } from "./init.js";
export { IdbQueue } from "./queue-idb.js";
export type { IdbQueueOptions } from "./queue-idb.js";
export { createFetchTransport } from "./transport-fetch.js";
export type { FetchTransportOptions } from "./transport-fetch.js";
