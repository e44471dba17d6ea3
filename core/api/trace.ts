import { reportSdkError, warnOnce } from "../debug.js";
import { DEFAULT_SPAN_NAME, type SpanType } from "../model/constants.js";
import type { LiveSpan } from "../model/live-span.js";
import { getTracer, isPromiseLike } from "../tracer.js";
import { mapArgs, readParams } from "./args.js";
import { failThrown, settleAfter, succeed } from "./settle.js";
import { isNativeAsync, underZone, warnNativeAsyncUnderZone } from "./zone-check.js";
import { generatorFunctionKind, StreamRecorder, streamKind, wrapStream, type OutputReducer } from "./stream.js";

export interface TraceOptions {
  /** Span name; defaults to the function's (or method's) name. */
  name?: string;
  spanType?: SpanType;
  attributes?: Record<string, unknown>;
  /** For generators and streams: turns the list of chunks into the span's outputs. */
  // The chunks are whatever the stream yields; `never[]` lets any typed reducer be passed.
  outputReducer?: (chunks: never[]) => unknown;
  /**
   * `null`: every call starts its own trace, whatever span is active (a user action that is its
   * own flow; this also tells the lost-context check it is meant). Default: the active span.
   */
  parent?: null;
}

// No `this` here: a function expression passed in would take it as its own (TypeScript 5 does),
// and the wrapper could then be called with no `this` at all. One declaring `this` still fits.
type AnyFunction = (...args: never[]) => unknown;

/** `@trace()` on a class method: standard (TC39) decorators, and legacy `experimentalDecorators`. */
export interface TraceDecorator {
  <This, Args extends unknown[], Return>(
    value: (this: This, ...args: Args) => Return,
    context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
  ): (this: This, ...args: Args) => Return;
  (target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor;
}

const isDecoratorContext = (v: unknown): v is DecoratorContext =>
  typeof v === "object" && v !== null && "kind" in v && typeof (v as { addInitializer?: unknown }).addInitializer === "function";

/**
 * Traces a function: every call records a span with the function's name, its arguments (mapped to
 * parameter names) as inputs, its return value as outputs, and any exception. Works for sync,
 * async, generator and async-generator functions and for functions returning async iterables or
 * ReadableStreams.
 * The returned function keeps `name`, `length` and `this`.
 * @example
 * const getWeather = mlflow.trace(async (city: string) => `Sunny in ${city}`, { name: "get-weather" });
 * class Agent { @mlflow.trace({ spanType: mlflow.SpanType.LLM }) generate(prompt: string) { ... } }
 */
export function trace<This, Args extends unknown[], Return>(
  value: (this: This, ...args: Args) => Return,
  context: ClassMethodDecoratorContext<This, (this: This, ...args: Args) => Return>,
): (this: This, ...args: Args) => Return;
export function trace<F extends AnyFunction>(fn: F, options?: TraceOptions): F;
export function trace(target: object, propertyKey: string | symbol, descriptor: PropertyDescriptor): PropertyDescriptor;
export function trace(options?: TraceOptions): TraceDecorator;
export function trace(first?: unknown, second?: unknown, third?: PropertyDescriptor): unknown {
  // Bare `@trace` under experimentalDecorators: (prototype, or the class for a static method, key, descriptor).
  if ((typeof second === "string" || typeof second === "symbol") && typeof third === "object" && third !== null) return legacy({}, second, third);
  if (typeof first === "function") {
    if (isDecoratorContext(second)) return decorate({}, first, second); // bare `@trace`
    return wrap(first, (second as TraceOptions | undefined) ?? {}, undefined);
  }
  const options = (first as TraceOptions | undefined) ?? {};
  return ((value: unknown, context: unknown, descriptor?: PropertyDescriptor) =>
    isDecoratorContext(context) ? decorate(options, value, context) : legacy(options, context, descriptor)) as TraceDecorator;
}

/** A legacy (`experimentalDecorators`) method decorator's work: the descriptor with its method traced. */
function legacy(options: TraceOptions, key: unknown, descriptor: PropertyDescriptor | undefined): PropertyDescriptor | undefined {
  if (descriptor && typeof descriptor.value === "function") descriptor.value = wrap(descriptor.value as Function, options, String(key));
  else warnOnce("decorator-kind", `@trace() applies to class methods; it was put on ${descriptor?.get || descriptor?.set ? "an accessor" : "a property"} ("${String(key)}") and did nothing.`);
  return descriptor;
}

function decorate(options: TraceOptions, value: unknown, context: DecoratorContext): unknown {
  if (context.kind !== "method" || typeof value !== "function") {
    warnOnce("decorator-kind", `@trace() applies to class methods; it was put on a ${context.kind} and did nothing.`);
    return value;
  }
  return wrap(value, options, String(context.name));
}

/** Functions trace() made: a wrapper that traces methods (instrumentDurableObject) leaves these to their own span. */
const tracedFunctions = new WeakSet<Function>();
export const isTraced = (fn: unknown): boolean => typeof fn === "function" && tracedFunctions.has(fn);

function wrap(fn: Function, options: TraceOptions, methodName: string | undefined): Function {
  const params = readParams(fn);
  // A bind() result is named "bound f": the span is named as the function is (Python's is "f").
  const ownName = typeof fn.name === "string" ? fn.name.replace(/^(?:bound )+/, "") : "";
  const name = options.name || methodName || ownName || DEFAULT_SPAN_NAME;
  const functionName = ownName || methodName;
  const generatorKind = generatorFunctionKind(fn);
  const reducer = options.outputReducer as OutputReducer | undefined;
  const nativeAsync = isNativeAsync(fn);

  const traced = function (this: unknown, ...args: unknown[]): unknown {
    let span: LiveSpan;
    if (nativeAsync && underZone()) warnNativeAsyncUnderZone(name);
    if (generatorKind) {
      if (new.target) throw new TypeError(`${ownName || "anonymous"} is not a constructor`); // as a generator function's `new` is
      return traceGenerator(this, args);
    }
    // Called with `new` (a constructor function, a class): constructed as it would be untraced.
    const call = new.target ? () => Reflect.construct(fn, args, new.target === traced ? fn : new.target) : () => fn.apply(this, args);
    try {
      span = getTracer().startSpan({ name, spanType: options.spanType, attributes: options.attributes, inputs: mapArgs(params, args), functionName, parent: options.parent });
    } catch (error) {
      reportSdkError("trace", error);
      return call();
    }
    let result: unknown;
    span._unsettled = true; // until the result is handed on (see failThrown)
    try {
      result = span.run(call);
    } catch (error) {
      failThrown(span, error);
      throw error;
    }
    try {
      // What `new` built is the result as it is, thenable or iterable as it may be; a constructor
      // returning something else (an "async constructor"'s promise) is followed like a call's result.
      let handed: unknown;
      if (new.target && typeof result === "object" && result !== null && result instanceof new.target) {
        succeed(span, result, true);
        handed = result;
      } else handed = isPromiseLike(result) ? settleAfter(result, span, (value) => settle(span, value, reducer)) : settle(span, result, reducer);
      span._unsettled = false;
      return handed;
    } catch (error) {
      // The stack ran out here (a runaway async recursion: the callee returned, then following its
      // promise overflowed): end the span rather than leave it open, and throw as untraced would.
      failThrown(span, error);
      throw error;
    }
  };

  // Creating a generator runs none of its body (but its parameters' defaults): the span waits for
  // the first next(). (No mlflow.spanFunctionName here: Python's _wrap_generator does not set it either.)
  const traceGenerator = (self: unknown, args: unknown[]): unknown => {
    let rec: StreamRecorder | undefined;
    try {
      const tracer = getTracer();
      rec = new StreamRecorder({
        tracer,
        parent: options.parent === null ? null : tracer.resolveParent(undefined),
        name,
        spanType: options.spanType,
        attributes: options.attributes,
        inputs: mapArgs(params, args),
        outputReducer: reducer,
      });
    } catch (error) {
      reportSdkError("trace", error);
    }
    let it: unknown;
    try {
      it = fn.apply(self, args); // runs once: a default that throws is the caller's error, thrown as is
    } catch (error) {
      rec?.cancel();
      throw error;
    }
    return rec ? wrapStream(it, generatorKind!, rec) : it;
  };

  try {
    // Everything the function carries (its name and length, symbols and non-enumerable properties
    // too) and reflect-metadata's (NestJS routes, Angular): a framework reads them from the method it finds.
    for (const key of Reflect.ownKeys(fn)) {
      if (key !== "prototype" && key !== "arguments" && key !== "caller") {
        Object.defineProperty(traced, key, Object.getOwnPropertyDescriptor(fn, key)!);
      }
    }
    // `instanceof traced` and what `new traced()` builds follow the function's own prototype (a
    // generator function's: the generators it makes inherit from it).
    if (typeof (fn as { prototype?: unknown }).prototype === "object") traced.prototype = (fn as { prototype: object }).prototype;
    const meta = Reflect as unknown as { getOwnMetadataKeys?(o: object): unknown[]; getOwnMetadata(k: unknown, o: object): unknown; defineMetadata(k: unknown, v: unknown, o: object): void };
    for (const key of meta.getOwnMetadataKeys?.(fn) ?? []) meta.defineMetadata(key, meta.getOwnMetadata(key, fn), traced);
  } catch (error) {
    reportSdkError("trace.copyProperties", error);
  }
  tracedFunctions.add(traced);
  return traced;
}

/** A returned stream keeps its span open until iterated to the end; anything else ends it now. */
function settle(span: LiveSpan, value: unknown, reducer: OutputReducer | undefined): unknown {
  const kind = streamKind(value);
  if (kind) {
    try {
      return wrapStream(value, kind, new StreamRecorder(undefined, { span, outputReducer: reducer }));
    } catch (error) {
      reportSdkError("trace.stream", error);
    }
  }
  succeed(span, value, true);
  return value;
}
