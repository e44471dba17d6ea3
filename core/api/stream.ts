import { errorText, isDev, reportSdkError, warnOnce } from "../debug.js";
import { CHUNK_EVENT_PREFIX, CHUNK_VALUE_KEY, OMITTED_CHUNKS, type SpanType } from "../model/constants.js";
import { msToNs, nowMs } from "../model/clock.js";
import type { LiveSpan } from "../model/live-span.js";
import { isRemoteParent, type RemoteParent } from "../model/remote-parent.js";
import { pyJsonDumpsAscii } from "../serialize/py-json.js";
import { isNodeStream } from "../serialize/platform.js";
import { DEFAULT_MAX_VALUE_BYTES, toJsonSafe, utf8Length } from "../serialize/safe-json.js";
import { lockedProperty, type Tracer } from "../tracer.js";
import { fail } from "./settle.js";

// Stream spans, after Python's mlflow.trace on generators: the span starts when iteration starts,
// is active only while the producer runs, keeps every chunk as an `mlflow.chunk.item.<i>` event,
// and ends when the iterator is exhausted (outputs = chunks, or outputReducer(chunks)), when the
// consumer stops early (`return()`, e.g. `break`), or when the producer throws (ERROR). A
// ReadableStream result is read the same way through a new stream (see traceReadableStream).
// Unlike Python, what a span keeps of a long stream is bounded (a file's body streamed through a
// traced function would otherwise be held twice over until it ends, past a Worker's memory):
// chunk events up to EVENT_BUDGET times maxValueBytes of JSON (and EVENT_COST each), the chunks
// its outputs are made of up to maxValueBytes (what the outputs are cut to anyway); the rest is
// counted.

/** Chunk events a stream span keeps: their JSON, and EVENT_COST each, up to this many times the tracer's maxValueBytes. */
const EVENT_BUDGET = 16;
/** What one event costs beyond its JSON (its object, name and time): a stream of tiny chunks is bounded too. */
const EVENT_COST = 128;

export type OutputReducer = (chunks: never[]) => unknown;

export interface StreamPlan {
  tracer: Tracer;
  /** `null`: a root, whatever is active when it is iterated. */
  parent: LiveSpan | RemoteParent | null | undefined;
  name: string;
  spanType?: SpanType;
  attributes?: Record<string, unknown>;
  inputs?: Record<string, unknown>;
  outputReducer?: OutputReducer;
}

export type StreamKind = "sync" | "async" | "readable";

// The part of Web streams core touches (core compiles without DOM or Workers types).
interface WebStreamReader {
  read(): Promise<{ done: boolean; value?: unknown }>;
  cancel(reason?: unknown): Promise<void>;
}
export interface WebStream {
  readonly locked: boolean;
  getReader(): WebStreamReader;
}
interface WebStreamController {
  enqueue(chunk: unknown): void;
  close(): void;
  error(reason: unknown): void;
}
type WebStreamSource = { pull(controller: WebStreamController): Promise<void>; cancel(reason: unknown): Promise<void> };
const WebStreams = () => (globalThis as { ReadableStream?: new (source: WebStreamSource, strategy: { highWaterMark: number }) => WebStream }).ReadableStream;

/**
 * Which stream a value is: a generator, an async generator, a ReadableStream or any other async
 * iterable but a list page. A value that cannot be inspected (a revoked Proxy, throwing getters)
 * is none: it passes through as a value.
 */
export function streamKind(value: unknown): StreamKind | undefined {
  try {
    return kindOf(value);
  } catch {
    return undefined;
  }
}

/**
 * An async generator, native or lowered by a build (Zone.js mode): esbuild's and TypeScript's
 * helpers make a plain object whose own properties are `next`, `throw` and `return`; Babel's an
 * object whose class has those (and `_invoke`). Either is its own async iterable. Read through
 * those methods as well as `for await`, it is wrapped whole; anything with more to it (a class
 * with methods of its own, an SDK stream) is traced in place instead.
 */
function isAsyncGenerator(value: object): boolean {
  if (Object.prototype.toString.call(value) === "[object AsyncGenerator]") return true;
  const v = value as Record<PropertyKey, unknown>;
  if (typeof v.next !== "function" || typeof v.throw !== "function" || typeof v.return !== "function") return false;
  for (let o: object | null = value; o && o !== Object.prototype && o !== ASYNC_ITERATOR; o = Object.getPrototypeOf(o) as object | null) {
    for (const k of Object.getOwnPropertyNames(o)) if (!GENERATOR_KEYS.has(k)) return false;
  }
  return typeof v[Symbol.asyncIterator] === "function" && (v[Symbol.asyncIterator] as () => unknown).call(v) === v;
}
const GENERATOR_KEYS = new Set(["next", "throw", "return", "constructor", "_invoke"]);

function kindOf(value: unknown): StreamKind | undefined {
  if (value === null || typeof value !== "object") return undefined;
  const tag = Object.prototype.toString.call(value);
  if (tag === "[object Generator]") return "sync";
  if (tag === "[object AsyncGenerator]") return "async";
  // Checked before async iterables: some ReadableStreams are iterable, but platform APIs (new
  // Response(stream), pipeTo) reject a proxy of one. A locked stream has a reader already: untouched.
  const RS = WebStreams();
  if (RS && value instanceof RS) return value.locked ? undefined : "readable";
  const v = value as AsyncIterable<unknown> & { getNextPage?: unknown; hasNextPage?: unknown };
  if (typeof v[Symbol.asyncIterator] !== "function") return undefined;
  // A page of a list API (an SDK's `models.list()`): a value, usually read through `.data`.
  if (typeof v.getNextPage === "function" && typeof v.hasNextPage === "function") return undefined;
  // A Node stream is mostly read through pipe() or "data" events, which the iterator never sees:
  // a value, as in Python (its span ends at return, instead of waiting for reads that never come).
  return isNodeStream(v) ? undefined : "async";
}

/** The kind of stream a function returns, known from the function itself (generator functions). */
export function generatorFunctionKind(fn: Function): StreamKind | undefined {
  const tag = Object.prototype.toString.call(fn);
  return tag === "[object GeneratorFunction]" ? "sync" : tag === "[object AsyncGeneratorFunction]" ? "async" : undefined;
}

/**
 * Outputs made of the chunks kept, ending in how many were not, as a value cut to maxValueBytes
 * ends. The chunks kept leave the marker room; a list the outputs' own capture cuts further (it
 * counts some values larger than their JSON) has that cut's marker merged into this one, so the
 * count is the whole of what is missing.
 */
function withOmitted(outputs: unknown, omitted: number, max: number): unknown {
  if (typeof outputs !== "string" && !Array.isArray(outputs)) return outputs;
  let kept = toJsonSafe(outputs, Math.max(outputRoom(omitted, max, typeof outputs === "string"), 16));
  if (Array.isArray(outputs) && Array.isArray(kept) && kept.length < outputs.length) {
    const cut = /^\.\.\.\[truncated (\d+) items\]$/.exec(String(kept.at(-1)));
    if (cut && kept.length - 1 + Number(cut[1]) === outputs.length) {
      omitted += Number(cut[1]);
      kept = kept.slice(0, -1);
    }
  }
  const marker = `...[truncated ${omitted} chunks]`;
  return typeof kept === "string" ? kept + marker : Array.isArray(kept) ? [...kept, marker] : kept;
}

/**
 * Room for the chunks kept in outputs that end in the marker of `omitted` chunks (as a list item,
 * its larger form); a list's with a margin, as the capture counts some values larger than their JSON.
 */
const outputRoom = (omitted: number, max: number, text: boolean) => max - 25 - String(omitted).length - (text ? 0 : 32);

export class StreamRecorder {
  private span: LiveSpan | undefined;
  private chunks: unknown[] = [];
  /** Chunks seen, JSON bytes of those kept as events and as outputs, and how many events left out. */
  private seen = 0;
  private eventBytes = 0;
  private outputBytes = 0;
  private omittedEvents = 0;
  private done = false;
  private release: (() => void) | undefined;
  /** When the stream last did something (started, or gave a chunk). */
  private lastAt = 0;
  /** A span started at the call has been compared with the span reading it first (`checkReader`). */
  private readerChecked = false;
  /** Set while a returned iterable waits for its first read (`watchIdle`), or a ReadableStream for its next (`waitForNextRead`). */
  private unread: ReturnType<typeof setTimeout> | undefined;
  /** When a ReadableStream that gave a chunk counts as dropped unless its reader asks for the next (`waitForNextRead`). */
  private readBy: number | undefined;
  /** Takes the abort listener off an SDK stream's signal (`oneRead`). */
  detach: (() => void) | undefined;
  /** Outputs when no outputReducer is given (a ReadableStream of text: the whole text). */
  fallback: OutputReducer | undefined;

  private readonly reducer: OutputReducer | undefined;
  /** A function that returned the stream set its span's outputs itself: kept, as a function's are. */
  private readonly ownOutputs: boolean;

  /** Either a plan (the span starts on first iteration) or a span already running (a Promise resolved to a stream). */
  constructor(
    private plan: StreamPlan | undefined,
    running?: { span: LiveSpan; outputReducer?: OutputReducer },
  ) {
    this.span = running?.span;
    this.ownOutputs = running?.span.outputs != null;
    if (running) this.lastAt = nowMs();
    this.reducer = plan ? plan.outputReducer : running?.outputReducer;
    const parent = plan?.parent;
    if (!running && parent && !isRemoteParent(parent)) this.release = parent._record.hold(true);
  }

  get started(): boolean {
    return this.span !== undefined;
  }

  start(): void {
    this.stopWatching();
    if (this.span && !this.plan && !this.readerChecked) this.checkReader(this.span);
    if (this.span || this.done || !this.plan) return;
    try {
      // The plan is the span's options (its parent: none where it was created, so the span
      // iterating it, as in Python).
      this.span = this.plan.tracer.startSpan(this.plan);
    } catch (error) {
      reportSdkError("stream.start", error);
    }
    this.lastAt = nowMs();
    this.release?.();
    this.release = undefined; // (it holds the parent's trace)
  }

  /**
   * A stream whose span started at the call (a function returning one; an async generator a build
   * lowered, so a plain function to trace()), read first inside a span of another trace, stays in
   * the trace it was called in, where a native generator's span, started at its first read, would
   * nest under the reader. Said once, in development, unless the caller chose that trace for it.
   */
  private checkReader(span: LiveSpan): void {
    this.readerChecked = true;
    if (!isDev()) return;
    const reader = span._record.tracer.contextManager.active();
    if (!reader || reader.traceId === span.traceId || span._record.placedRoot === span) return;
    warnOnce(
      "stream-read-elsewhere",
      `the stream of "${span.name}" is read inside ${isRemoteParent(reader) ? "a remote span" : `span "${reader.name}"`} of another trace, so it stays ` +
        "in the trace it was called in: its span started at the call (a function returning a stream, or an async generator a build lowered). " +
        "Call it inside the span that reads it.",
    );
  }

  run<T>(fn: () => T): T {
    const span = this.span;
    if (!span || this.done) return fn();
    // While the generator's own next() runs: if the stack overflows in it (a runaway recursion of
    // traced generators), nothing here can end the span, and the first frame that can does (failThrown).
    span._unsettled = true;
    const out = span.run(fn);
    span._unsettled = false;
    return out;
  }

  /** Chunks the outputs do not hold (none with an outputReducer, which is given every chunk). */
  private get omittedOutputs(): number {
    return this.reducer ? 0 : this.seen - this.chunks.length;
  }

  /** Whether a chunk is kept at all (for an outputReducer, as an event, or in the outputs): else it is only counted. */
  get keeping(): boolean {
    return this.omittedOutputs === 0 || !this.eventsFull();
  }

  private eventsFull(): boolean {
    return this.eventBytes > (this.span?._record.tracer.maxValueBytes ?? DEFAULT_MAX_VALUE_BYTES) * EVENT_BUDGET;
  }

  /** A chunk the stream gave that nothing keeps (`keeping` is false): counted only. */
  skip(): void {
    if (!this.span || this.done) return;
    this.seen++;
    this.omittedEvents++;
    this.lastAt = nowMs();
  }

  chunk(value: unknown): void {
    const span = this.span;
    if (!span || this.done) return;
    if (!this.keeping) return this.skip();
    try {
      const index = this.seen++;
      const max = span._record.tracer.maxValueBytes;
      this.lastAt = nowMs();
      // An outputReducer is given every chunk, as written. Else the outputs keep the chunks that
      // fit in maxValueBytes, with room left to say how many did not, from the first that did not on.
      if (this.reducer) this.chunks.push(value);
      const forOutputs = !this.reducer && this.chunks.length === index; // none left out before this one
      const eventValue = this.eventsFull() ? undefined : toJsonSafe(value); // Python: json.dumps(chunk), each capped as any value
      const json = eventValue === undefined ? undefined : pyJsonDumpsAscii(eventValue);
      if (forOutputs) {
        const safe = eventValue !== undefined && max === DEFAULT_MAX_VALUE_BYTES ? eventValue : toJsonSafe(value, max);
        const cost = this.outputCost(safe);
        if (this.chunks.length === 0 || this.outputBytes + cost <= max) {
          this.chunks.push(safe);
          this.outputBytes += cost;
        }
      }
      if (json === undefined) this.omittedEvents++;
      else {
        this.eventBytes += json.length + EVENT_COST;
        span.addEvent({ name: CHUNK_EVENT_PREFIX + index, timestamp: this.lastAt, attributes: { [CHUNK_VALUE_KEY]: json } });
      }
    } catch (error) {
      reportSdkError("stream.chunk", error);
    }
  }

  /**
   * What a chunk adds to the outputs' JSON, in UTF-8 bytes: as a list item, its JSON and a
   * separator (and the list's brackets, counted with the first); as part of a ReadableStream's
   * text (`fallback`), a string's JSON without its quotes.
   */
  private outputCost(safe: unknown): number {
    const json = utf8Length(JSON.stringify(safe));
    return this.fallback && typeof safe === "string" ? json - 2 + (this.chunks.length === 0 ? 2 : 0) : json + (this.chunks.length === 0 ? 2 : 1);
  }

  /** The chunks not kept as events, on the span however it ends. */
  private countOmitted(span: LiveSpan): void {
    if (this.omittedEvents > 0 && !span.isEnded) span.setAttribute(OMITTED_CHUNKS, this.omittedEvents);
  }

  /** Ends the span OK; outputs are outputReducer(chunks), else `fallback(chunks)`, else the chunks. */
  finish(endAt?: number): void {
    if (this.done) return;
    this.cancel(); // (a started span let go of its parent's hold as it started)
    const span = this.span;
    if (!span) return;
    try {
      const reducer = this.ownOutputs ? undefined : (this.reducer ?? this.fallback);
      const omitted = this.omittedOutputs > 0 && !this.ownOutputs; // (never with an outputReducer)
      const max = span._record.tracer.maxValueBytes;
      // The marker takes room: the last chunks kept give it theirs.
      const text = this.fallback !== undefined && this.chunks.every((c) => typeof c === "string");
      while (omitted && this.chunks.length > 1 && this.outputBytes > outputRoom(this.omittedOutputs, max, text)) {
        this.outputBytes -= this.outputCost(this.chunks.pop());
      }
      let outputs: unknown = this.chunks;
      if (reducer) {
        try {
          outputs = reducer(this.chunks as never[]);
        } catch (error) {
          warnOnce("output-reducer", `outputReducer of "${span.name}" threw (${errorText(error)}); the raw chunks were kept as outputs.`);
        }
      }
      if (omitted) outputs = withOmitted(outputs, this.omittedOutputs, max);
      this.countOmitted(span);
      if (outputs != null && !this.ownOutputs) span.setOutputs(outputs); // as Python's span.end(outputs=None): none set
      span.end(endAt === undefined ? undefined : { endTimeNs: msToNs(endAt) });
    } catch (error) {
      reportSdkError("stream.finish", error);
    }
    this.letGo();
  }

  /**
   * The span ended: what it recorded is its trace's now. A stream object the app keeps (its hook
   * holds this recorder) must not keep the span, its chunk events or the call's inputs alive.
   */
  private letGo(): void {
    this.span = undefined;
    this.plan = undefined;
    this.chunks = [];
  }

  fail(error: unknown): void {
    if (this.done) return;
    this.cancel();
    // As Python's _end_stream_span: the exception as an event, and a bare ERROR status.
    if (!this.span) return;
    this.countOmitted(this.span);
    fail(this.span, error, true);
    this.letGo();
  }

  /**
   * The consumer dropped the stream unfinished, without `return()` or cancel (it was garbage
   * collected): like `break`, but ended when the stream last did something, with a `cancelled`
   * event. Never iterated: as `cancel()`, so the parent trace stops waiting for it.
   */
  abandon(reason = "stream dropped unfinished"): void {
    if (this.done) return;
    if (!this.span) return this.cancel();
    this.span.addEvent({ name: "cancelled", timestamp: this.lastAt, attributes: { reason } });
    this.finish(this.lastAt);
  }

  /**
   * For an iterable result no finalizer can watch until it is read (an SDK's stream object: its
   * iterators are separate objects): if nobody starts reading it within `openSpanTimeoutMs`, it is
   * abandoned, so a result used only for its other fields cannot hold its trace forever. Once read,
   * its iterator is watched like a generator (`whenDropped`). `openSpanTimeoutMs: 0` or `Infinity` turns this off.
   */
  watchIdle(): void {
    const ms = this.span?._record.tracer.openSpanTimeoutMs;
    if (!ms || ms === Infinity || this.done) return;
    this.unread = setTimeout(() => this.abandon(`stream not read within ${ms} ms`), ms);
    (this.unread as { unref?: () => void }).unref?.(); // never keeps a Node process alive
  }

  /**
   * For a ReadableStream being read: after each chunk, its reader has `openSpanTimeoutMs` to ask
   * for the next one (`asked`), else the span ends as dropped, at its last chunk. A caller of a
   * Durable Object's RPC method that cancels the stream it got leaves the source's side unread and
   * unaware (workerd does not pass the cancel on), and a Worker does not collect it (no
   * FinalizationRegistry without `enable_weak_ref`): its trace would wait for ever. A read waiting
   * on the source, however slow, is never cut.
   */
  waitForNextRead(): void {
    const ms = this.span?._record.tracer.openSpanTimeoutMs;
    if (!ms || ms === Infinity || this.done) return;
    this.readBy = nowMs() + ms;
    // One timer at a time, not one per chunk: when it fires it looks again (see the timer).
    if (this.unread === undefined) this.waitForRead(ms, ms);
  }

  /** The reader asked for the next chunk (see waitForNextRead). */
  asked(): void {
    this.readBy = undefined;
  }

  private waitForRead(inMs: number, ms: number): void {
    this.unread = setTimeout(() => {
      this.unread = undefined;
      if (this.readBy === undefined || this.done) return; // reading on (the next chunk sets a timer again)
      const left = this.readBy - nowMs();
      if (left > 0) this.waitForRead(left, ms);
      else this.abandon(`stream not read for ${ms} ms`);
    }, inMs);
    (this.unread as { unref?: () => void }).unref?.();
  }

  /** Whether this stream's span is an ancestor of `inner`'s: a traced call under it returned `inner`'s stream. */
  encloses(inner: StreamRecorder): boolean {
    const outer = this.span;
    const span = inner.span;
    if (!outer || !span || outer._record !== span._record) return false;
    const parents = new Map(span._record.slots.map((slot) => [slot.spanId, slot.parentId]));
    for (let id = span.parentId; id; id = parents.get(id) ?? null) if (id === outer.spanId) return true;
    return false;
  }

  private stopWatching(): void {
    if (this.unread !== undefined) clearTimeout(this.unread);
    this.unread = undefined;
    this.detach?.();
    this.detach = undefined;
  }

  /** Aborted before anyone read it (an SDK stream's controller): the span ends now, without outputs. */
  endUnread(): void {
    if (this.done) return;
    this.cancel();
    this.span?.end();
    this.letGo();
  }

  /** Records nothing more, and lets go of the parent trace (the consumer gave up before iterating: no span). */
  cancel(): void {
    this.done = true;
    this.stopWatching();
    this.release?.();
    this.release = undefined;
  }
}

// The built-in prototypes generators inherit from: a traced generator keeps the iterator helpers
// (`.map()`, `.toArray()`) and `using` (`Symbol.dispose`) where the engine has them. Async
// generators lowered by a build (Zone.js mode) have none: plain objects then.
const protoOf = (o: object | null): object | null => (o ? (Object.getPrototypeOf(o) as object | null) : null);
const ITERATOR = protoOf(protoOf(function* () {}.prototype)) ?? Object.prototype;
const ASYNC_ITERATOR = protoOf(protoOf(async function* () {}.prototype)) ?? Object.prototype;

/**
 * Wraps an iterator, sync or `async`, so that iterating it records a stream span; dropped
 * unfinished, its span ends (`whenDropped`). The caller gets the iterator's own answers (the same
 * result objects and promises, so the same values, errors and timing): what they settle to is
 * recorded beside them. A generator's wrapper inherits from the generator itself (`instanceof`
 * its function, the iterator helpers, `Symbol.dispose`); another iterator's from the built-in
 * iterator prototype. It has `throw` only if the iterator does (`yield*` and Node's
 * `Readable.from` close an iterator without one through `return`).
 */
function traceIterator(it: Iterator<unknown> | AsyncIterator<unknown>, rec: StreamRecorder, async: boolean): object {
  type Result = IteratorResult<unknown>;
  const i = it as Iterator<unknown>;
  // Read once, as `for…of` and `for await` read it from the iterator they are given.
  const next = i.next;
  const settle = (r: Result): void => {
    if (r === null || typeof r !== "object") rec.fail(new TypeError(`Iterator result ${String(r)} is not an object`));
    else if (r.done) rec.finish();
    else rec.chunk(r.value);
  };
  // An async answer is recorded when it settles, beside the caller's own reading of it. `wrapper`
  // is held meanwhile: a consumer keeping only the promise of a pending next() must not see the
  // wrapper collected and its span ended as dropped before that promise settles.
  const beside = (r: unknown, then: (r: Result) => void): void => {
    void Promise.resolve(r as Result).then(
      (value) => {
        held(wrapper);
        try {
          then(value);
        } catch (error) {
          rec.fail(error); // a result whose `done` or `value` getter threw: so does the caller's read
        }
      },
      (error: unknown) => rec.fail(error),
    );
  };
  const call = (fn: () => Result | Promise<Result>, then: (r: Result) => void = settle): Result | Promise<Result> => {
    let r: Result | Promise<Result>;
    try {
      r = rec.run(fn);
    } catch (error) {
      rec.fail(error);
      throw error;
    }
    if (async) beside(r, then);
    else then(r as Result);
    return r;
  };
  const methods: Record<PropertyKey, unknown> = {
    next(...args: [] | [undefined]) {
      rec.start();
      return call(() => next.apply(i, args));
    },
    return(value?: unknown) {
      if (!rec.started) rec.cancel();
      if (!i.return) {
        rec.finish();
        const done = { done: true, value };
        return async ? Promise.resolve(done) : done;
      }
      // Ended at its answer, with what the generator yielded in a `finally` if it did (`break` reads no more).
      return call(() => i.return!(value), (r) => (settle(r), rec.finish()));
    },
    [async ? Symbol.asyncIterator : Symbol.iterator]() {
      return this;
    },
    [Symbol.toStringTag]: async ? "AsyncGenerator" : "Generator",
  };
  if (typeof i.throw === "function") {
    methods.throw = (error?: unknown) => {
      // Thrown in before it started, a generator ends without running its body: no span, as in Python.
      if (!rec.started) rec.cancel();
      return call(() => i.throw!(error));
    };
  }
  const tag = Object.prototype.toString.call(it);
  const proto = tag === "[object Generator]" || tag === "[object AsyncGenerator]" ? protoOf(it) : async ? ASYNC_ITERATOR : ITERATOR;
  // Not enumerable, as a generator's own methods are not (console.log, Object.keys, spread show none).
  const descriptors: PropertyDescriptorMap = {};
  for (const key of Reflect.ownKeys(methods)) descriptors[key] = { value: methods[key], writable: true, configurable: true };
  const wrapper: object = whenDropped(Object.create(proto, descriptors) as object, rec);
  return wrapper;
}

/** Keeps its argument reachable from the closure that calls it (see traceIterator). */
const held = (_: object): void => {};

/** Objects hooked in place: their reader before any hook, and the recorder of the latest hook. */
const streamHooks = new WeakMap<object, { original: () => AsyncIterator<unknown>; rec: StreamRecorder }>();
/** Proxies made by `traceAsyncIterable`: the object behind each, its traced reader and recorder. */
const proxies = new WeakMap<object, { target: object; read: () => AsyncIterator<unknown>; rec: StreamRecorder }>();

/** A traced read of `it` for `rec`: the unread timer stops, and a read dropped unfinished ends the span. */
const tracedRead = (it: AsyncIterator<unknown>, rec: StreamRecorder): AsyncIterator<unknown> => {
  rec.start();
  return traceIterator(it, rec, true) as AsyncIterator<unknown>;
};

/** The part of an SDK stream (OpenAI's, Anthropic's) that says it was aborted before anyone read it. */
interface AbortableStream {
  controller?: {
    signal?: {
      addEventListener?(type: "abort", listener: () => void, options?: { once?: boolean }): void;
      removeEventListener?(type: "abort", listener: () => void): void;
    };
  };
}

/** A Stainless-generated SDK stream (OpenAI's, Anthropic's): it reads through its own `iterator` field, and has `tee()`. */
const isSdkStream = (s: Record<PropertyKey, unknown>): boolean =>
  Object.hasOwn(s, "iterator") && typeof s.iterator === "function" && typeof s.tee === "function";

/**
 * The one traced read of `stream` for `rec`: `claim()` is true once. An SDK stream aborted (its
 * `controller`) before that ends the span without outputs: nothing can read it any more. The
 * listener goes when the read is claimed or the span ends, and holds `rec`, not the stream.
 */
function oneRead(rec: StreamRecorder, stream: object): () => boolean {
  const signal = isSdkStream(stream as Record<PropertyKey, unknown>) ? (stream as AbortableStream).controller?.signal : undefined;
  let used = false;
  const claim = (): boolean => {
    if (used) return false;
    used = true;
    rec.detach?.();
    return true;
  };
  const onAbort = (): void => void (claim() && rec.endUnread());
  signal?.addEventListener?.("abort", onAbort, { once: true });
  if (signal) rec.detach = () => signal.removeEventListener?.("abort", onAbort);
  return claim;
}

/**
 * Makes reading `iterable` record into `rec`, in place: the caller keeps the object itself, with
 * its methods and private fields, and the object's own methods that read it through
 * `Symbol.asyncIterator` (`toReadableStream()`) are traced too. A Stainless-generated SDK stream
 * (OpenAI's, Anthropic's: one with `tee()`) reads through its own `iterator` field, which `tee()`
 * calls directly: that field is hooked as well, sharing the one traced read (`oneRead`). A second
 * read is the object's own business (an SDK refuses it as a consumed stream). The traced iterator
 * is watched like a generator: dropped unfinished, its span ends. `false` if the object takes no
 * property (frozen), or is already hooked and `over` is not set (a hook on the hook, recording
 * into both).
 */
export function hookAsyncIterable(iterable: object, rec: StreamRecorder, over = false): boolean {
  const earlier = streamHooks.get(iterable);
  if (earlier && !over) return false;
  const s = iterable as Record<PropertyKey, unknown>;
  const original = s[Symbol.asyncIterator] as () => AsyncIterator<unknown>;
  let claim: (() => boolean) | undefined;
  const hook = (key: PropertyKey) => {
    const read = s[key] as () => AsyncIterator<unknown>;
    const value = () => (claim?.() ? tracedRead(read.call(iterable), rec) : read.call(iterable));
    return Reflect.defineProperty(iterable, key, { value, configurable: true, writable: true });
  };
  try {
    if (!hook(Symbol.asyncIterator)) return false;
    if (isSdkStream(s)) hook("iterator");
  } catch {
    return false; // a proxy that refuses
  }
  claim = oneRead(rec, iterable);
  streamHooks.set(iterable, { original: earlier?.original ?? original, rec });
  return true;
}

/**
 * An async iterable that is not a generator (an SDK's stream object): the same object, whose
 * reading is traced (`hookAsyncIterable`). Returned again by a traced call enclosing the one that
 * traced it, it records into both spans: hooked again in place (so `tee()` and
 * `toReadableStream()` do too), or, a proxy, wrapped in a new one. One that an unrelated call
 * traced (a cached iterable shared by concurrent requests) comes back as a proxy whose
 * `for await` reads through the original reader, its other methods bound to the object and its
 * properties written on it; one whose own reader cannot change as an object inheriting from it. (The object's own methods that read `this`, such as
 * `toArray()`, still read through the first call's hook.)
 */
export function traceAsyncIterable<T extends object>(iterable: T, rec: StreamRecorder): T {
  rec.watchIdle();
  const proxied = proxies.get(iterable);
  const earlier = proxied ?? streamHooks.get(iterable);
  const nested = earlier !== undefined && rec.encloses(earlier.rec);
  if (!proxied && (!earlier || nested) && hookAsyncIterable(iterable, rec, true)) return iterable;
  const target = proxied?.target ?? iterable;
  const original = streamHooks.get(target)?.original ?? (target as AsyncIterable<unknown>)[Symbol.asyncIterator];
  const claim = oneRead(rec, target);
  const source = (): AsyncIterator<unknown> => (proxied && nested ? proxied.read() : original.call(target));
  const read = (): AsyncIterator<unknown> => (claim() ? tracedRead(source(), rec) : source());
  // A proxy may not report another reader than an own one that cannot change: inherit instead. (A
  // frozen object whose reader is its class's is proxied: its own fields read as they are.)
  const out: object = lockedProperty(target, Symbol.asyncIterator)
    ? Object.create(target, { [Symbol.asyncIterator]: { value: read } })
    : new Proxy(target, {
        get(t, prop) {
          if (prop === Symbol.asyncIterator) return read;
          const value: unknown = Reflect.get(t, prop, t);
          if (typeof value !== "function" || prop === "constructor") return value;
          return lockedProperty(t, prop) ? value : (value as Function).bind(t);
        },
        // Written on the object itself, as its methods are called on it: a setter reaches its private fields.
        set: (t, prop, value) => Reflect.set(t, prop, value, t),
      });
  proxies.set(out, { target, read, rec });
  return out as T;
}

export interface RelayHooks {
  /** The relay was asked for data (before the source has answered). */
  pulled?(): void;
  chunk(value: unknown): void;
  done(): void;
  failed(error: unknown): void;
  cancelled(reason: unknown): void;
}

/**
 * A new ReadableStream that reads `source` only when it is read itself and tells `hooks` what
 * passes through. A new stream rather than a proxy: platform APIs (new Response(stream),
 * pipeThrough) take only real streams. `source` is locked only from the first read or cancel of
 * the relay: until then the code that made it may still cancel it (a timeout), as untraced.
 */
export function relayStream(source: WebStream, hooks: RelayHooks): WebStream {
  let locked: WebStreamReader | undefined;
  const reader = () => (locked ??= source.getReader());
  return new (WebStreams()!)(
    {
      async pull(controller) {
        hooks.pulled?.();
        let next: { done: boolean; value?: unknown };
        try {
          next = await reader().read();
        } catch (error) {
          hooks.failed(error);
          controller.error(error);
          return;
        }
        if (next.done) {
          hooks.done();
          controller.close();
        } else {
          hooks.chunk(next.value);
          controller.enqueue(next.value);
        }
      },
      async cancel(reason) {
        hooks.cancelled(reason);
        await reader().cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/**
 * A ReadableStream result, relayed. Byte chunks are recorded as their UTF-8 text, so an SSE body
 * reads as what the model sent; when every chunk the outputs keep is text they are the whole text.
 * A chunk that is not UTF-8 is recorded as `{ bytes }`. Cancelling ends the span like `break`.
 */
export function traceReadableStream(source: WebStream, rec: StreamRecorder): WebStream {
  let decoder: TextDecoder | undefined;
  // (bytes of a character the stream ended in the middle of are not text: left out)
  rec.fallback = (chunks: unknown[]) => (chunks.every((c) => typeof c === "string") ? chunks.join("") : chunks);
  const end = () => rec.finish();
  const hooks: RelayHooks = {
    pulled: () => rec.asked(),
    chunk(chunk) {
      rec.waitForNextRead();
      if (!rec.keeping) return rec.skip(); // (not decoded: past the bound, nothing of it is kept)
      let value = chunk;
      if (chunk instanceof Uint8Array) {
        try {
          value = (decoder ??= new TextDecoder("utf-8", { fatal: true, ignoreBOM: false })).decode(chunk, { stream: true });
        } catch {
          decoder = undefined; // a fatal decoder is left mid-sequence after a failure: start afresh
          value = { bytes: chunk.byteLength };
        }
      }
      rec.chunk(value);
    },
    done: end,
    failed: (error) => rec.fail(error),
    cancelled: end,
  };
  // Dropped when the relay's pull can no longer be called, not when the stream object is: workerd
  // keeps reading a stream handed to `new Response()` after dropping the object itself.
  return relayStream(source, whenDropped(hooks, rec));
}

/** Wraps `value` (a stream per `streamKind`) so that its iteration is recorded by `rec`. */
export function wrapStream<T>(value: T, kind: StreamKind, rec: StreamRecorder): T {
  if (kind === "sync") return traceIterator(value as Iterator<unknown>, rec, false) as T;
  if (kind === "readable") return traceReadableStream(value as WebStream, rec) as T;
  return (isAsyncGenerator(value as object)
    ? traceIterator(value as AsyncIterator<unknown>, rec, true)
    : traceAsyncIterable(value as object, rec)) as T;
}

let streamsDropped: FinalizationRegistry<StreamRecorder> | null | undefined;

/**
 * Ends `rec` (abandon) once `stream` is garbage collected: nobody can read it any more. Only for
 * objects that are their own iterator (a generator) or that whatever reads holds (a relay's
 * hooks): an iterable whose iterators are separate objects may be collected while one is still read.
 */
export function whenDropped<S extends object>(stream: S, rec: StreamRecorder): S {
  streamsDropped ??= typeof FinalizationRegistry === "function" ? new FinalizationRegistry((r) => r.abandon()) : null;
  streamsDropped?.register(stream, rec);
  return stream;
}
