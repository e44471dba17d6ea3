import { reportSdkError } from "../debug.js";
import { userTimeMs } from "../model/clock.js";
import type { SpanType } from "../model/constants.js";
import type { LiveSpan } from "../model/live-span.js";
import type { RemoteParent } from "../model/remote-parent.js";
import { getTracer, isPromiseLike, Tracer } from "../tracer.js";
import { failThrown, settleAfter, succeed } from "./settle.js";
import { isNativeAsync, underZone, warnNativeAsyncUnderZone } from "./zone-check.js";

export interface SpanOptions {
  /** Defaults to "span". */
  name?: string;
  spanType?: SpanType;
  inputs?: unknown;
  attributes?: Record<string, unknown>;
  /**
   * Explicit parent: always wins over the active span and works with every context manager.
   * `null` starts a new trace on purpose (no parent, and no lost-context warning). A
   * `RemoteParent` (from `parseTraceparent`) continues a trace started in another process.
   */
  parent?: LiveSpan | RemoteParent | null;
  /** Start time in epoch nanoseconds (MLflow's `startTimeNs`); defaults to now. */
  startTimeNs?: number | bigint;
}

let detachedTracer: Tracer | undefined;

/** A span that records into nowhere: what the API hands out if the SDK itself failed. */
function detachedSpan(name: string | undefined): LiveSpan {
  if (!detachedTracer) {
    detachedTracer = new Tracer();
    detachedTracer.countsOpen = false;
  }
  const span = detachedTracer.startSpan({ name, parent: null });
  detachedTracer.forget(span._record); // never exported: nothing but the app should keep it
  return span;
}

function openScoped(options: SpanOptions): LiveSpan {
  return getTracer().startSpan({
    name: options.name,
    spanType: options.spanType,
    inputs: options.inputs,
    attributes: options.attributes,
    parent: options.parent,
    startTimeMs: options.startTimeNs !== undefined ? userTimeMs(options.startTimeNs, "startTimeNs") : undefined,
  });
}

/**
 * Starts a span that the caller ends with `span.end({ outputs?, attributes?, status? })`. It does
 * not become the active span (as in MLflow); pass it as `parent`, or use `span.run(fn)`.
 * @example
 * const span = mlflow.startSpan({ name: "retrieve", spanType: mlflow.SpanType.RETRIEVER, inputs: { q } });
 * span.end({ outputs: docs });
 */
export function startSpan(options: SpanOptions): LiveSpan {
  try {
    return openScoped(options ?? {});
  } catch (error) {
    reportSdkError("startSpan", error);
    return detachedSpan(options?.name);
  }
}

/**
 * Runs `callback` inside a new active span and ends it with the callback's outcome: its return
 * value becomes the outputs unless the callback set them; a throw or rejection is recorded.
 * @example
 * const z = await mlflow.withSpan(async (span) => { span.setInputs({ x, y }); return x + y; }, { name: "add" });
 */
export function withSpan<T>(callback: (span: LiveSpan) => Promise<T>, options?: SpanOptions): Promise<T>;
export function withSpan<T>(callback: (span: LiveSpan) => T, options?: SpanOptions): T;
export function withSpan<T>(callback: (span: LiveSpan) => T, options: SpanOptions = {}): T | Promise<unknown> {
  let span: LiveSpan;
  try {
    span = openScoped(options ?? {});
  } catch (error) {
    reportSdkError("withSpan", error);
    return callback(detachedSpan(options?.name));
  }
  if (underZone() && isNativeAsync(callback)) warnNativeAsyncUnderZone(span.name);
  let result: T;
  span._unsettled = true; // until the result is handed on (see failThrown)
  try {
    result = span.run(() => callback(span));
  } catch (error) {
    failThrown(span, error);
    throw error;
  }
  try {
    if (isPromiseLike(result)) {
      const followed = settleAfter(result, span, (value) => {
        succeed(span, value, false);
        return value;
      });
      span._unsettled = false;
      return followed;
    }
  } catch (error) {
    failThrown(span, error); // the stack ran out following the promise (as in trace())
    throw error;
  }
  span._unsettled = false;
  succeed(span, result, false);
  return result;
}
