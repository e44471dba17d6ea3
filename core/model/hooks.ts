import { errorText, warnOnce } from "../debug.js";
import type { LiveSpan } from "./live-span.js";

// MLflow TS SDK's span hooks: functions called with every live span as it starts, and as it ends
// (still writable then: an end hook may add attributes, e.g. token usage an integration found).
// Global to the realm, like MLflow's, so they survive init() being called again, and are shared by
// every copy of mlflow-edge in it (as the tracer is: a copy's init() must not drop another's hooks).

export type SpanHook = (span: LiveSpan) => void;

type RealmHooks = { start: Set<SpanHook>; end: Set<SpanHook> };
const HOOKS = Symbol.for("mlflow-edge.hooks");
const realm = globalThis as Record<symbol, RealmHooks | undefined>;
/** The realm's hooks; another build's object of another shape is replaced (its hooks could not be run anyway). */
function sharedHooks(): RealmHooks {
  const found = realm[HOOKS];
  if (found?.start instanceof Set && found.end instanceof Set) return found;
  const fresh: RealmHooks = { start: new Set(), end: new Set() };
  try {
    realm[HOOKS] = fresh;
  } catch {
    // a slot that cannot be written: this copy keeps its own (loading must never fail for it)
  }
  return fresh;
}
const realmHooks = sharedHooks();
export const startHooks = realmHooks.start;
export const endHooks = realmHooks.end;

/** Runs each hook; one that throws is reported once and does not stop the others or the span. */
export function runHooks(hooks: ReadonlySet<SpanHook>, span: LiveSpan, when: "start" | "end"): void {
  for (const hook of hooks) {
    try {
      hook(span);
    } catch (error) {
      warnOnce(`span-hook-${when}`, `a span ${when} hook threw (${errorText(error)}); the span goes on without it.`);
    }
  }
}

/** Calls `hook` with every span as it starts (after its inputs and attributes are set). */
export function registerOnSpanStartHook(hook: SpanHook): void {
  startHooks.add(hook);
}
/** Calls `hook` with every span as it ends, before it is frozen: it may still set attributes. */
export function registerOnSpanEndHook(hook: SpanHook): void {
  endHooks.add(hook);
}
export function unregisterOnSpanStartHook(hook: SpanHook): void {
  startHooks.delete(hook);
}
export function unregisterOnSpanEndHook(hook: SpanHook): void {
  endHooks.delete(hook);
}
export function clearOnSpanStartHooks(): void {
  startHooks.clear();
}
export function clearOnSpanEndHooks(): void {
  endHooks.clear();
}
