import { failIn, validateTracerOptions } from "../core/config.js";
import { INGEST_PATH } from "../core/export/ingest-format.js";
import { validateSample } from "../core/export/queue-exporter.js";
import type { BrowserInitOptions } from "./init.js";

// initBrowser's options are checked before anything starts (a Web Lock, IndexedDB, listeners): a
// mistake is a TypeError naming the option, never a sender retrying in a loop against a URL it
// cannot reach or a header value fetch refuses.

const fail = (field: string, expected: string, got: unknown): never => failIn(field, expected, got, "initBrowser");
const positiveInteger = (v: unknown) => Number.isInteger(v) && (v as number) > 0;

/** Checks every option and names the first bad one; returns the ingest URL. */
export function checkBrowserOptions(options: BrowserInitOptions): string {
  if (typeof options !== "object" || options === null) fail("options", "an object", options);
  validateTracerOptions(options, "initBrowser");
  const { collectorUrl, ingestKey, context, propagateTo, sample, redact, maxQueuedTraces, maxQueuedBytes, retry, storage, queueName } = options;
  const url = httpUrl(collectorUrl);
  if (!url) return fail("collectorUrl", 'the collector\'s http(s) URL, e.g. "https://collector.example.com"', collectorUrl);
  if (url.pathname === "/") url.pathname = INGEST_PATH;
  // fetch refuses header values with control characters or non-ASCII: every send would fail.
  if (ingestKey !== undefined && !(typeof ingestKey === "string" && /^[\x21-\x7e]+$/.test(ingestKey))) {
    fail("ingestKey", "a non-empty string of visible ASCII characters", ingestKey);
  }
  if (context !== undefined && context !== "auto" && context !== "zone" && context !== "stack" && typeof (context as { with?: unknown })?.with !== "function") {
    fail("context", '"auto", "zone", "stack" or a ContextManager', context);
  }
  // A string without a scheme would resolve against the page and match its own origin instead.
  if (propagateTo !== undefined && !(Array.isArray(propagateTo) && propagateTo.every((m) => m instanceof RegExp || (/^https?:\/\//i.test(String(m)) && httpUrl(m))))) {
    fail("propagateTo", 'an array of origins ("https://api.example.com") or RegExps', propagateTo);
  }
  validateSample(sample, "initBrowser");
  if (redact !== undefined && redact !== false && typeof redact !== "function") fail("redact", "a function (trace) => trace | null, or false", redact);
  if (maxQueuedTraces !== undefined && !positiveInteger(maxQueuedTraces)) fail("maxQueuedTraces", "an integer > 0", maxQueuedTraces);
  if (maxQueuedBytes !== undefined && !positiveInteger(maxQueuedBytes)) fail("maxQueuedBytes", "an integer > 0", maxQueuedBytes);
  if (retry !== undefined) {
    // NaN or 0 would retry a failing collector in a tight loop.
    const ms = (v: unknown) => v === undefined || (typeof v === "number" && v >= 1 && v < Infinity);
    if (typeof retry !== "object" || retry === null || !ms(retry.baseMs) || !ms(retry.maxMs)) fail("retry", "{ baseMs?, maxMs? } in milliseconds, each >= 1", retry);
  }
  if (storage !== undefined && storage !== "indexeddb" && storage !== "memory") fail("storage", '"indexeddb" or "memory"', storage);
  if (queueName !== undefined && (typeof queueName !== "string" || queueName === "")) fail("queueName", "a non-empty string", queueName);
  return url.href;
}

/** `value` as an http(s) URL, resolved against the page; undefined if it is not one. */
function httpUrl(value: unknown): URL | undefined {
  if (typeof value !== "string" || value === "") return undefined;
  try {
    const url = new URL(value, (globalThis as { location?: { href: string } }).location?.href);
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}
