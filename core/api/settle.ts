import { reportSdkError } from "../debug.js";
import { STATUS_ERROR } from "../model/constants.js";
import { isLiveSpan, type LiveSpan } from "../model/live-span.js";

// How a span closes over its callback's outcome. These run on the user's return path, so a fault
// in them is reported and swallowed: the user's value or exception always passes through untouched.

/**
 * Sets `value` as the span's outputs unless its code set outputs itself (MLflow's rule for both
 * trace() and withSpan, kept by a Worker's request span too: outputs set to null count as not set,
 * as Python's `is None` test).
 */
export function outputsUnlessSet(span: LiveSpan, value: unknown): void {
  if (span.outputs === undefined || span.outputs === null) span.setOutputs(value);
}

/** Ends `span` with `value` as outputs unless the callback set its own; `always`: even an `undefined` value (trace()). */
export function succeed(span: LiveSpan, value: unknown, always: boolean): void {
  try {
    if (span.isEnded) return; // the callback ended it itself: nothing to add, nothing to warn about
    if (always || value !== undefined) outputsUnlessSet(span, value);
  } catch (error) {
    reportSdkError("span.succeed", error);
  }
  try {
    span.end(); // also when the outputs could not be read: an open span would hold its trace for ever
  } catch (error) {
    reportSdkError("span.succeed", error);
  }
}

/**
 * Records `error` (ERROR status + `exception` event) and ends `span`; the caller rethrows.
 * `bareStatus`: the status without the exception's text, as Python ends a stream that threw.
 */
export function fail(span: LiveSpan, error: unknown, bareStatus = false): void {
  try {
    if (span.isEnded) return; // the callback ended it itself, then threw: the span is as it left it
    span._recordException(error, true); // a thrown string is of type "string" (recordException("text") makes an Exception)
    if (bareStatus) span.setStatus(STATUS_ERROR);
    span.end();
  } catch (sdkError) {
    reportSdkError("span.fail", sdkError);
  }
}

/**
 * `fail` for a callback that threw, or whose result could not be followed. When the stack
 * overflowed (a runaway recursion of traced calls), the frames nearest the overflow had no stack
 * left to end their spans: the first frame that can ends them too, with the same error, so the
 * trace does not wait for them: only spans whose traced call never handed its result on
 * (`_unsettled`). Work still running beside the overflow (a Promise.all's other calls, a stream
 * being read, a span started by hand) ends on its own.
 */
export function failThrown(span: LiveSpan, error: unknown): void {
  fail(span, error);
  try {
    // (In the try: so close to an overflow, even compiling the RegExp may find no stack left.)
    if (!(error instanceof RangeError) || !/call stack/i.test(error.message)) return;
    const slots = span._record.slots;
    const below = new Set([span.spanId]);
    for (let i = span._slot + 1; i < slots.length; i++) {
      const s = slots[i]!;
      if (s.parentId === null || !below.has(s.parentId)) continue;
      below.add(s.spanId);
      if (isLiveSpan(s) && !s.isEnded && s._unsettled) fail(s, error);
    }
  } catch (sdkError) {
    reportSdkError("span.fail", sdkError);
  }
}

/**
 * The promise a traced call hands back for the one its function returned, settled after the span.
 * It keeps every outcome: ignored, a rejection is unhandled, as the function's own would be
 * untraced (JavaScript cannot tell whether that one had a handler elsewhere).
 */
export function settleAfter<T>(result: PromiseLike<unknown>, span: LiveSpan, onValue: (value: unknown) => T): Promise<T> {
  return Promise.resolve(result).then(onValue, (error: unknown) => {
    failThrown(span, error); // a runaway async recursion rejects with the overflow: the frames that could not follow theirs end here
    throw error;
  });
}
