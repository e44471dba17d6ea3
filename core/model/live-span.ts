import { errorText, reportSdkError, shownValue, warnOnce } from "../debug.js";
import { pyJsonDumps } from "../serialize/py-json.js";
import { setKey, toJsonSafe, unserializable } from "../serialize/safe-json.js";
import { eventTimeMs, msToNs, nowMs, userTimeMs } from "./clock.js";
import { endHooks, runHooks } from "./hooks.js";
import {
  ATTR_FUNCTION_NAME,
  ATTR_INPUTS,
  ATTR_OUTPUTS,
  ATTR_REQUEST_ID,
  ATTR_SPAN_TYPE,
  STATUS_ERROR,
  STATUS_OK,
  STATUS_UNSET,
  type SpanStatusCode,
  type SpanType,
} from "./constants.js";
import type { TraceRecord } from "./trace-record.js";
import type { EventAttributeValue, Json, SpanData, SpanEvent, SpanStatus } from "./types.js";

type StatusName = SpanStatusCode | "OK" | "ERROR" | "UNSET";
/** `"OK"`, `"ERROR"`, `"UNSET"`, a `SpanStatusCode`, or a full status (`{ statusCode, description? }`, the code in either form). */
export type SpanStatusInput = StatusName | { statusCode: StatusName; description?: string };

export interface EndSpanOptions {
  outputs?: unknown;
  attributes?: Record<string, unknown>;
  status?: SpanStatusInput;
  /** End time in epoch nanoseconds (MLflow's `endTimeNs`); defaults to now. */
  endTimeNs?: number | bigint;
}

export interface SpanEventInput {
  name: string;
  attributes?: Record<string, unknown>;
  /** Epoch milliseconds, or a bigint of epoch nanoseconds (MLflow's TS SDK); defaults to now. */
  timestamp?: number | bigint;
}

/** The status a span ends with: OK unless it is ERROR (MLflow's rule). */
export const endedStatus = (status: SpanStatus): SpanStatus =>
  status.statusCode === STATUS_ERROR ? status : { statusCode: STATUS_OK, description: status.description };

// Each code under its name ("OK") and itself ("STATUS_CODE_OK"). Without a prototype:
// setStatus("toString") is no status.
const STATUS_BY_NAME: Record<string, SpanStatusCode | undefined> = Object.create(null);
for (const code of [STATUS_OK, STATUS_ERROR, STATUS_UNSET] as const) STATUS_BY_NAME[code] = STATUS_BY_NAME[code.replace("STATUS_CODE_", "")] = code;

/** `"<Type>: <message>"`, the status description Python's MLflow writes for an exception. */
export function describeException(error: unknown): { type: string; message: string; stacktrace: string } {
  try {
    if (error instanceof Error) {
      const ctor = (error as { constructor?: { name?: string } }).constructor?.name;
      const type = typeof error.name === "string" && error.name && error.name !== "Error" ? error.name : typeof ctor === "string" && ctor ? ctor : "Error";
      return { type, message: String(error.message), stacktrace: stackOf(error) };
    }
    const type = error === null ? "null" : typeof error === "object" ? ((error as object).constructor?.name ?? "Object") : typeof error;
    const message = typeof error === "string" ? error : error === undefined ? "undefined" : pyJsonDumps(toJsonSafe(error, 4096));
    return { type, message, stacktrace: "" };
  } catch {
    return { type: "Error", message: "unprintable exception", stacktrace: "" };
  }
}

/**
 * The error's stack, then its `cause` and an AggregateError's `errors`, each under a heading, as
 * Python's traceback shows an exception's chain. Bounded: 5 levels, 10 errors each, 50 parts and
 * 16k characters in all; a part that cannot be read (a throwing getter or proxy) is left out.
 */
function stackOf(error: Error): string {
  let out = stackText(error);
  const seen = new Set<unknown>([error]);
  let parts = 1;
  const add = (label: string, value: unknown, depth: number): void => {
    if (out.length >= STACK_MAX || parts >= 50 || seen.has(value)) return;
    seen.add(value);
    parts++;
    const text =
      value instanceof Error ? stackText(value)
      : typeof value === "string" ? value : pyJsonDumps(toJsonSafe(value, 1024));
    out += `\n${label}${text}`.slice(0, STACK_MAX - out.length);
    if (value instanceof Error && depth < 5) walk(value, depth + 1);
  };
  // Each part read on its own: one that throws (a getter, a proxy) leaves out only itself.
  const tryAdd = (label: string, read: () => unknown, depth: number): void => {
    try {
      const value = read();
      if (value !== undefined) add(label, value, depth);
    } catch {
      // unreadable: left out
    }
  };
  const walk = (e: Error, depth: number): void => {
    tryAdd("Caused by: ", () => (e as { cause?: unknown }).cause, depth);
    let errors: unknown;
    try {
      errors = (e as { errors?: unknown }).errors;
    } catch {
      errors = undefined;
    }
    if (Array.isArray(errors)) errors.slice(0, 10).forEach((_, i) => tryAdd(`errors[${i}]: `, () => (errors as unknown[])[i], depth));
  };
  walk(error, 1);
  return out;
}

const STACK_MAX = 16_384;

const stackText = (error: Error): string => (typeof error.stack === "string" ? error.stack : `${error.name}: ${error.message}`);

const homogeneous = (items: unknown[]): boolean =>
  items.every((item) => typeof item === "string") ||
  items.every((item) => typeof item === "number" && Number.isFinite(item)) ||
  items.every((item) => typeof item === "boolean");

/**
 * The own entries of `record`, read without throwing: a value whose getter throws is recorded as
 * unserializable, the others still go; a revoked Proxy has none.
 */
function entriesOf(record: object): [string, unknown][] {
  let keys: string[];
  try {
    keys = Object.keys(record);
  } catch {
    return [];
  }
  return keys.map((key) => {
    try {
      return [key, (record as Record<string, unknown>)[key]];
    } catch (error) {
      return [key, unserializable(error)];
    }
  });
}

function eventAttributes(attributes: Record<string, unknown> | undefined): Record<string, EventAttributeValue> {
  const out: Record<string, EventAttributeValue> = {};
  if (!attributes) return out;
  for (const [key, value] of entriesOf(attributes)) {
    if (value === undefined) continue;
    const t = typeof value;
    let v: EventAttributeValue;
    try {
      if (t === "number") v = Number.isFinite(value) ? (value as number) : String(value); // JSON has no NaN
      // A BigInt a number holds exactly is that number, as in attributes (a Python int stays an int).
      else if (t === "bigint" && Number.isSafeInteger(Number(value))) v = Number(value);
      else if (t === "string" || t === "boolean") v = value as string | boolean;
      // Arrays of one primitive type stay typed, as OpenTelemetry (and Python's SDK) keeps them.
      else if (Array.isArray(value)) {
        const copy = [...value]; // a hole becomes undefined, which every() would skip
        v = homogeneous(copy) ? (copy as string[] | number[] | boolean[]) : pyJsonDumps(toJsonSafe(value));
      } else v = pyJsonDumps(toJsonSafe(value)); // objects go as JSON text, as OpenTelemetry requires
    } catch (error) {
      v = unserializable(error); // a revoked Proxy, an iterator that throws
    }
    setKey(out, key, v);
  }
  return out;
}

/**
 * Whether `value` is a live span, also one of another copy of mlflow-edge in the realm (two
 * copies share one tracer, so a trace can hold both copies' spans).
 */
export function isLiveSpan(value: unknown): value is LiveSpan {
  if (value instanceof LiveSpan) return true;
  const v = value as Partial<LiveSpan> | null;
  return typeof v === "object" && v !== null && typeof v._toData === "function" && Array.isArray(v._record?.slots);
}

/**
 * A span that is still recording. Its setters capture values immediately (JSON-safe copies), so
 * later mutation of the caller's objects does not change what was recorded.
 */
export class LiveSpan {
  /** MLflow trace id, `tr-<32 hex>`. */
  readonly traceId: string;
  /** 16 lowercase hex characters. */
  readonly spanId: string;
  /** The parent's span id, or `null` for the root span of a trace. */
  readonly parentId: string | null;
  /** @internal The trace this span belongs to. */
  readonly _record: TraceRecord;
  /** @internal Position in the trace's start order. */
  readonly _slot: number;

  private _name: string;
  private _spanType: SpanType;
  private readonly _startTime: number;
  private _endTime: number | null = null;
  private _ending = false;
  /**
   * @internal The traced call (trace(), withSpan) this span stands for has not handed its result on
   * yet: if the stack overflows, nothing else will end it (see failThrown).
   */
  _unsettled = false;
  private _status: SpanStatus = { statusCode: STATUS_UNSET, description: "" };
  private _inputs: Json | undefined;
  private _outputs: Json | undefined;
  private _attributes: Record<string, Json> = {};
  private readonly _events: SpanEvent[] = [];
  private _functionName: string | undefined;

  /** @internal Spans are created by startSpan/withSpan/trace, never with `new`. */
  constructor(record: TraceRecord, spanId: string, parentId: string | null, name: string, spanType: SpanType, startTime: number) {
    this._record = record;
    this.traceId = record.info.traceId;
    this.spanId = spanId;
    this.parentId = parentId;
    this._name = name;
    this._spanType = spanType;
    this._startTime = startTime;
    this._slot = record.register(this);
  }

  get name(): string {
    return this._name;
  }
  get spanType(): SpanType {
    return this._spanType;
  }
  /** Epoch milliseconds. */
  get startTime(): number {
    return this._startTime;
  }
  /** Epoch milliseconds, or `null` while the span is open. */
  get endTime(): number | null {
    return this._endTime;
  }
  get status(): SpanStatus {
    return { ...this._status };
  }
  get inputs(): Json | undefined {
    return this._inputs;
  }
  get outputs(): Json | undefined {
    return this._outputs;
  }
  get events(): SpanEvent[] {
    return this._events.slice();
  }
  /** @internal How many events the span has (without copying them). */
  get _eventCount(): number {
    return this._events.length;
  }
  get isEnded(): boolean {
    return this._endTime !== null;
  }
  /** One attribute, reserved `mlflow.*` keys included (`getAttribute(SpanAttributeKey.INPUTS)`), or `undefined`. */
  getAttribute(key: string): Json | undefined {
    return this.attributes[key];
  }
  /** All attributes, MLflow's reserved `mlflow.*` keys included (as MLflow's span exposes them). */
  get attributes(): Record<string, Json> {
    const attrs: Record<string, Json> = {
      [ATTR_REQUEST_ID]: this.traceId,
      [ATTR_SPAN_TYPE]: this._spanType,
    };
    if (this._functionName !== undefined) attrs[ATTR_FUNCTION_NAME] = this._functionName;
    if (this._inputs !== undefined) attrs[ATTR_INPUTS] = this._inputs;
    if (this._outputs !== undefined) attrs[ATTR_OUTPUTS] = this._outputs;
    return { ...attrs, ...this._attributes }; // spread, not assign: a "__proto__" key stays data
  }

  private writable(what: string): boolean {
    if (this._endTime === null) return true;
    warnOnce(`ended-span:${what}`, `${what}() was called on span "${this._name}" after it ended; the call was ignored.`);
    return false;
  }

  private capture(value: unknown): Json {
    return toJsonSafe(value, this._record.tracer.maxValueBytes);
  }

  setInputs(inputs: unknown): this {
    if (this.writable("setInputs")) this._inputs = this.capture(inputs);
    return this;
  }

  setOutputs(outputs: unknown): this {
    if (this.writable("setOutputs")) this._outputs = this.capture(outputs);
    return this;
  }

  setSpanType(spanType: SpanType): this {
    if (this.writable("setSpanType")) this._spanType = typeof spanType === "string" ? spanType : errorText(spanType); // never throws (a null-prototype object)
    return this;
  }

  /** @internal Python's `mlflow.spanFunctionName`, set by trace(). */
  _setFunctionName(name: string): void {
    this._functionName = name;
  }

  /** @internal Renames after the fact (duplicate-name suffixes). */
  _rename(name: string): void {
    this._name = name;
  }

  setAttribute(key: string, value: unknown): this {
    if (!this.writable("setAttribute")) return this;
    if (typeof key !== "string") {
      warnOnce("attribute-key", `attribute keys must be strings; got ${typeof key}, skipped.`);
      return this;
    }
    if (key === ATTR_INPUTS) return this.setInputs(value);
    if (key === ATTR_OUTPUTS) return this.setOutputs(value);
    if (key === ATTR_SPAN_TYPE) return this.setSpanType(value as SpanType);
    if (value === undefined) delete this._attributes[key];
    else setKey(this._attributes, key, this.capture(value));
    return this;
  }

  setAttributes(attributes: Record<string, unknown>): this {
    if (attributes && typeof attributes === "object") {
      for (const [key, value] of entriesOf(attributes)) this.setAttribute(key, value);
    }
    return this;
  }

  /** Adds an event: `addEvent({ name, attributes?, timestamp? })` or `addEvent(name, attributes?)`. */
  addEvent(event: SpanEventInput | string, attributes?: Record<string, unknown>): this {
    if (!this.writable("addEvent")) return this;
    try {
      const input: SpanEventInput = typeof event === "string" ? { name: event, attributes } : event;
      this._events.push({
        name: String(input.name),
        timestamp: (typeof input.timestamp === "number" || typeof input.timestamp === "bigint" ? eventTimeMs(input.timestamp) : undefined) ?? nowMs(),
        attributes: eventAttributes(input.attributes),
      });
    } catch (error) {
      reportSdkError("span.addEvent", error); // an event that cannot be read (a Symbol name, a revoked Proxy)
    }
    return this;
  }

  /** Records an `exception` event and sets ERROR status with `"<Type>: <message>"` (unless the status is OK: final), as MLflow does. */
  recordException(error: unknown): this {
    return this._recordException(error, true, true);
  }

  /**
   * @internal `recordException`, leaving the status as it is when `setError` is false (an error the
   * app answered with a 4xx). `given`: the user passed it, and a string is a message, an
   * `Exception` as MLflow's Python SDK wraps one (a thrown string stays of type "string").
   */
  _recordException(error: unknown, setError: boolean, given = false): this {
    if (!this.writable("recordException")) return this;
    const { type, message, stacktrace } = given && typeof error === "string" ? { type: "Exception", message: error, stacktrace: "" } : describeException(error);
    this.addEvent({
      name: "exception",
      attributes: { "exception.type": type, "exception.message": message, "exception.stacktrace": stacktrace },
    });
    // An OK status is final (OpenTelemetry's rule, so MLflow's Python SDK): the event is still kept.
    if (setError && this._status.statusCode !== STATUS_OK) this._status = { statusCode: STATUS_ERROR, description: `${type}: ${message}` };
    return this;
  }

  /**
   * Accepts `"OK"`/`"ERROR"`/`"UNSET"`, a `SpanStatusCode`, or `{ statusCode, description }`. As in
   * OpenTelemetry, UNSET is ignored, OK is final and a description is kept for ERROR only.
   */
  setStatus(status: SpanStatusInput, description?: string): this {
    if (!this.writable("setStatus")) return this;
    try {
      const code = typeof status === "string" ? STATUS_BY_NAME[status] : STATUS_BY_NAME[String(status?.statusCode ?? "")];
      if (code === undefined) {
        warnOnce("bad-status", `setStatus() got ${shownValue(status)}; expected "OK", "ERROR", "UNSET" or a SpanStatusCode.`);
        return this;
      }
      // As OpenTelemetry (so MLflow's Python SDK): UNSET changes nothing (an ERROR stays one), OK is
      // final (a later ERROR changes nothing), and only an ERROR keeps a description.
      if (code === STATUS_UNSET || this._status.statusCode === STATUS_OK) return this;
      const desc = code === STATUS_ERROR ? (typeof status === "object" ? status.description : description) : "";
      this._status = { statusCode: code, description: typeof desc === "string" ? desc : "" };
    } catch (error) {
      reportSdkError("span.setStatus", error); // a status that cannot be read (a revoked Proxy, a throwing getter)
    }
    return this;
  }

  /** Runs `fn` with this span as the active span (explicit context for code that lost it). */
  run<T>(fn: () => T): T {
    return this._record.tracer.contextManager.with(this, fn);
  }

  /** Ends the span. Status becomes OK unless it is ERROR (MLflow's rule). Ending twice is a no-op. */
  end(options: EndSpanOptions = {}): void {
    if (this._endTime !== null || this._ending) return; // (an end hook calling end() again)
    this._ending = true;
    try {
      // null is no outputs, as in MLflow's SDKs (`setOutputs(null)` records it).
      if (options.outputs != null) this.setOutputs(options.outputs);
      if (options.attributes) this.setAttributes(options.attributes);
      if (options.status !== undefined) this.setStatus(options.status);
      this._status = endedStatus(this._status);
      if (endHooks.size) runHooks(endHooks, this, "end");
      let end = (options.endTimeNs !== undefined ? userTimeMs(options.endTimeNs, "endTimeNs") : undefined) ?? nowMs();
      if (end < this.startTime) {
        // (Under a microsecond: a nanosecond round trip's rounding, not the user's mistake. A span
        // outliving its exported trace may end after the clock was re-anchored: nothing to say.)
        if (this.startTime - end > 1e-3 && !this._record.finished) warnOnce("end-before-start", `span "${this.name}" was ended at a time before its start; its end was set to its start.`);
        end = this.startTime;
      }
      this._endTime = end;
    } catch (error) {
      reportSdkError("span.end", error);
      this._endTime ??= nowMs();
    }
    this._record.onSpanEnd(this);
  }

  /** @internal The finished, plain form of this span. */
  _toData(endTime: number | null = this._endTime): SpanData {
    return {
      traceId: this.traceId,
      spanId: this.spanId,
      parentId: this.parentId,
      name: this._name,
      spanType: this._spanType,
      startTime: this._startTime,
      endTime,
      status: { ...this._status },
      inputs: this._inputs,
      outputs: this._outputs,
      attributes: this.attributes,
      events: this._events.slice(),
    };
  }

  /** Start time in epoch nanoseconds. */
  get startTimeNs(): bigint {
    return msToNs(this._startTime);
  }
}
