import type { LiveSpan } from "../model/live-span.js";
import type { RemoteParent } from "../model/remote-parent.js";

/** What is active: a span, or a span of another process to start children under (withTracingContextFromHeaders). */
export type ActiveContext = LiveSpan | RemoteParent;

/**
 * Where the active span lives. One implementation per runtime: a synchronous stack (everywhere),
 * AsyncLocalStorage (Node, Workers with `nodejs_als`/`nodejs_compat`), Zone.js (browsers).
 * An explicit `parent` option always beats `active()`.
 */
export interface ContextManager {
  /** Short name shown in diagnostics: "stack", "async-local-storage", "zone". */
  readonly name: string;
  /** True when the active span survives `await`; false means the lost-context check is needed. */
  readonly propagatesAcrossAwait: boolean;
  /**
   * Optional, for a manager that carries the span through the work it schedules but not across
   * every `await` (Zone.js): true when the code running now was scheduled that way, so a span
   * starting here with no active parent is a new flow, not a child that lost its parent.
   */
  carriedHere?(): boolean;
  active(): ActiveContext | undefined;
  with<T>(span: ActiveContext | undefined, fn: () => T): T;
  bind<A extends unknown[], R>(span: ActiveContext | undefined, fn: (...args: A) => R): (...args: A) => R;
}
