import { checkKnownKeys, fail, timerMs, validateTracerOptions } from "../core/config.js";
import { isOriginList, ORIGIN_LIST } from "./propagate.js";
import { INGEST_PATH } from "../core/export/ingest-format.js";
import { validateSample } from "../core/export/queue-exporter.js";
import type { BrowserInitOptions } from "./init.js";

// initBrowser's options are checked before anything starts (a Web Lock, IndexedDB, listeners): a
// mistake is a TypeError naming the option, never a sender retrying in a loop against a URL it
// cannot reach or a header value fetch refuses.

const bad = (field: string, expected: string, got: unknown): never => fail(field, expected, got, "initBrowser");
const positiveInteger = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
// NaN or 0 would retry a failing collector in a tight loop; so would more than a timer takes (2^31 - 1 ms), which fires at once.
const timerOption = (v: unknown) => v === undefined || timerMs(v, 1);

// Each optional option: when given, the test it must pass and what it must be.
const CHECKS: [keyof BrowserInitOptions, (v: never) => boolean, string][] = [
  // fetch refuses header values with control characters or non-ASCII: every send would fail.
  ["ingestKey", (v: unknown) => typeof v === "string" && /^[\x21-\x7e]+$/.test(v), "a non-empty string of visible ASCII characters"],
  ["context", (v: { with?: unknown; active?: unknown }) => ["auto", "zone", "stack"].includes(v as string) || (typeof v?.with === "function" && typeof v.active === "function"), '"auto", "zone", "stack" or a ContextManager (active/with)'],
  // A string without a scheme would resolve against the page and match its own origin instead.
  // A user:password@ would allowlist the host after the "@"; a "*" matches no origin at all.
  ["propagateTo", isOriginList, ORIGIN_LIST],
  ["redact", (v: unknown) => v === false || typeof v === "function", "a function (trace) => trace | null, or false"],
  ["maxQueuedTraces", positiveInteger, "an integer > 0"],
  ["maxQueuedBytes", positiveInteger, "an integer > 0"],
  // (A misspelt key, { base: 500 }, would leave the defaults in place without a word.)
  ["retry", (v: { baseMs?: unknown; maxMs?: unknown } | null) => typeof v === "object" && v !== null && !Array.isArray(v) && Object.keys(v).every((k) => k === "baseMs" || k === "maxMs") && timerOption(v.baseMs) && timerOption(v.maxMs), "{ baseMs?, maxMs? } in milliseconds, each from 1 to 2147483647"],
  ["storage", (v: unknown) => v === "indexeddb" || v === "memory", '"indexeddb" or "memory"'],
  // Web Locks refuse names that start with "-": the tab would never become the sender.
  ["queueName", (v: unknown) => typeof v === "string" && v !== "" && !v.startsWith("-"), 'a non-empty string not starting with "-"'],
];

const KEYS = [
  "collectorUrl", "ingestKey", "context", "propagateTo", "sample", "redact", "maxQueuedTraces", "maxQueuedBytes", "retry", "storage", "queueName",
  "experimentId", "dedupeSpanNames", "maxValueBytes", "openSpanTimeoutMs", "silent",
] as const satisfies readonly (keyof BrowserInitOptions)[];
// Every option is listed (a new one left out would be refused as unknown).
const allListed: [Exclude<keyof BrowserInitOptions, (typeof KEYS)[number]>] extends [never] ? true : never = true;

/** Checks every option and names the first bad one; returns the ingest URL. */
export function checkBrowserOptions(options: BrowserInitOptions): string {
  if (typeof options !== "object" || options === null) bad("options", "an object", options);
  validateTracerOptions(options, "initBrowser");
  checkKnownKeys(options, KEYS, "initBrowser");
  // "collector.example.com" would resolve against the page: a path of the site itself, whose
  // answers would be taken for the collector's. Absolute, or a path starting with "/".
  const raw: unknown = options.collectorUrl; // read once: a getter answers what it likes each time
  const url = typeof raw === "string" && /^\s*(?:https?:\/\/|\/)/i.test(raw) ? httpUrl(raw) : undefined;
  if (!url) return bad("collectorUrl", 'the collector\'s http(s) URL, e.g. "https://collector.example.com"', raw);
  // fetch refuses a URL with credentials: every send would fail as a network error, for ever.
  if (url.username || url.password) return bad("collectorUrl", "a URL without user:password@ (the ingest key goes in ingestKey)", "a URL with credentials");
  if (url.pathname === "/") url.pathname = INGEST_PATH;
  for (const [field, ok, expected] of CHECKS) {
    const value = options[field];
    if (value !== undefined && !ok(value as never)) bad(field, expected, value);
  }
  validateSample(options.sample, "initBrowser");
  return url.href;
}

/** `value` (starting with a scheme or "/") as an http(s) URL, resolved against the page; undefined if it is not one. */
function httpUrl(value: string): URL | undefined {
  try {
    // (Off a browser, in server-side rendering, a path has no page to resolve against: initBrowser sets nothing up there.)
    const url = new URL(value, (globalThis as { location?: { href: string } }).location?.href ?? "http://localhost/");
    return url.protocol === "http:" || url.protocol === "https:" ? url : undefined;
  } catch {
    return undefined;
  }
}
