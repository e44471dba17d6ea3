import { DurableObject } from "cloudflare:workers";
import { isTraced, trace } from "../core/api/trace.js";
import { fail } from "../core/config.js";
import { reportSdkError } from "../core/debug.js";
import { parseTraceparent, type RemoteParent } from "../core/model/remote-parent.js";
import { getTracer } from "../core/tracer.js";
import type { ExportTracker } from "./export-tracker.js";
import { ensureTracing, validateWorkerOptions, type WorkerTracingOptions } from "./instrument.js";
import { pathOf, traceInvocation, traceRequest } from "./request-span.js";

// instrumentDurableObject(Class): a subclass whose constructor sets tracing up from the env (so a
// Durable Object that is the isolate's first code still exports its spans) and whose handlers and
// RPC methods are root spans.
//
// No waitUntil is given to the spans: a Durable Object's `ctx.waitUntil` does not extend its life
// (it is there for compatibility with a Worker's ctx), and none is needed: unlike a Worker
// invocation, the object is not cut off when its request ends; it stays in memory at least 70 s
// after its last request while it waits on outbound I/O (the export's request) or timers, well past
// exportDeadlineMs. Holding the export through it would only add a "trace lost" warning at that
// deadline for an export that is in fact still running.

/** Called by JavaScript itself (JSON.stringify, string conversion), never over RPC: a span each would be noise. */
const CONVERSIONS = new Set<PropertyKey>(["toJSON", "toString", "toLocaleString", "valueOf"]);

type AnyClass = new (...args: never[]) => object;
type EnvOf<C> = C extends new (ctx: never, env: infer E, ...rest: never[]) => object ? E : unknown;
type Method = (this: object, ...args: unknown[]) => unknown;

const WHERE = "instrumentDurableObject";

/** The functions this module put on a class or an object: a class wrapped twice is traced once. */
const ours = new WeakSet<Function>();
/** What identifies a handler's invocation on an object (for traceInvocation): one per object and handler. */
const invocationKeys = new WeakMap<object, Record<string, object>>();
const invocationKey = (self: object, key: string): object => {
  let keys = invocationKeys.get(self);
  if (!keys) invocationKeys.set(self, (keys = {}));
  return (keys[key] ??= {});
};

/** What each handler other than fetch records as its span's inputs. */
const INVOCATION_INPUTS: Record<string, (args: unknown[]) => Record<string, unknown>> = {
  alarm: ([info]) => {
    const given = (info ?? {}) as Record<string, unknown>;
    return Object.fromEntries(["retryCount", "isRetry", "scheduledTime"].filter((k) => given[k] !== undefined).map((k) => [k, given[k]]));
  },
  // A chat agent's message is the user's prompt, what its trace is read for: recorded as a traced
  // function's argument is (and redacted as any input is). A binary one only by its size.
  webSocketMessage: ([, message]) =>
    typeof message === "string" ? { message, length: message.length } : { bytes: (message as ArrayBuffer | undefined)?.byteLength ?? 0 },
  webSocketClose: ([, code, reason, wasClean]) => ({ code, reason, wasClean }),
  webSocketError: ([, error]) => ({ error: error instanceof Error ? `${error.name}: ${error.message}` : String(error) }),
};
/** The handlers traced, as methods of the class or fields of the object. */
const TRACED_HANDLERS = ["fetch", ...Object.keys(INVOCATION_INPUTS)];
/** Those and what else the runtime calls itself; every other method the class defines is an RPC method. */
const HANDLERS = new Set<PropertyKey>(["constructor", "connect", ...TRACED_HANDLERS]);

export interface DurableObjectTracingOptions<Env> extends WorkerTracingOptions<Env> {
  /**
   * The RPC methods to trace, by name; default: every method the class itself defines (one
   * returning a large stream is safe: its span keeps a bounded part of it, see core/api/stream.ts).
   */
  methods?: readonly string[];
}

function notAClass(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "function") return "a function that is not a class (an arrow, async or bound function, or a method)";
  if (typeof value === "object") return "an object (pass the class itself, not an instance)";
  return typeof value;
}

/** A class (or an ES5 constructor function): what `class X extends value {}` accepts and the runtime can construct. */
function isClass(value: unknown): value is AnyClass {
  if (typeof value !== "function" || typeof (value as { prototype?: unknown }).prototype !== "object") return false;
  try {
    return /^(?:class\b|function\b(?!\s*\*))/.test(Function.prototype.toString.call(value));
  } catch {
    return false;
  }
}

/**
 * Wraps a Durable Object class: returns a subclass whose `fetch`, `alarm`, the Hibernation API's
 * `webSocketMessage`/`webSocketClose`/`webSocketError` and RPC methods (for a class extending
 * `DurableObject`) each record a root span, and whose constructor sets tracing up from its env.
 * Takes the options of `instrument()`. Export it under the name wrangler's `class_name` binds.
 * @example
 * export const Counter = instrumentDurableObject(class Counter extends DurableObject { ... });
 * // or: export class Counter extends instrumentDurableObject(CounterBase) {}
 */
export function instrumentDurableObject<C extends AnyClass>(Class: C, options: DurableObjectTracingOptions<EnvOf<C>> = {}): C {
  if (!isClass(Class)) {
    throw new TypeError(`mlflow-edge ${WHERE}(): the argument must be a Durable Object class (instrumentDurableObject(class Counter extends DurableObject { … })); got ${notAClass(Class)}.`);
  }
  if (typeof options !== "object" || options === null) fail("options", "an object", options, WHERE);
  const { methods, ...tracing } = options;
  validateWorkerOptions(tracing, WHERE);
  if (methods !== undefined && !(Array.isArray(methods) && methods.every((m) => typeof m === "string"))) {
    if (Array.isArray(methods)) throw new TypeError(`mlflow-edge ${WHERE}(): "methods" must be an array of method names (strings); got an array with a non-string.`);
    fail("methods", "an array of method names (strings)", methods, WHERE);
  }
  const className = typeof Class.name === "string" && Class.name !== "" ? Class.name : "DurableObject";
  const envs = new WeakMap<object, unknown>();

  /** The isolate's tracker, set up from this object's env; undefined (reported) if that fails. */
  const trackerOf = (self: object): ExportTracker | undefined => {
    try {
      const env = envs.has(self) ? envs.get(self) : (self as { env?: unknown }).env;
      return ensureTracing(env as EnvOf<C>, tracing, WHERE).tracker;
    } catch (error) {
      reportSdkError(WHERE, error);
      return undefined;
    }
  };

  // Each handler's wrapper, made from the user's function: for the class's methods, and for
  // handlers written as fields (`fetch = (request) => this.app.fetch(request)`), on each object.
  const wrapFetch = (fn: Method): Method => function (this: object, request: unknown) {
    const tracker = trackerOf(this);
    if (!tracker || !(request instanceof Request)) return fn.call(this, request);
    return traceRequest(request, undefined, tracker, undefined, () => fn.call(this, request) as Response | Promise<Response>, {
      ...tracing,
      spanName: tracing.spanName ?? ((r: Request) => `${className} ${r.method} ${pathOf(r)}`),
    });
  };
  const wrapInvocation = (key: string, fn: Method): Method => function (this: object, ...args: unknown[]) {
    const tracker = trackerOf(this);
    if (!tracker) return fn.apply(this, args);
    let inputs: Record<string, unknown>;
    try {
      inputs = INVOCATION_INPUTS[key]!(args);
    } catch (error) {
      reportSdkError(WHERE, error);
      inputs = {};
    }
    // Keyed by object and handler: inside this object's own invocation of the same handler, still
    // running (a handler bound in the constructor and wrapped again, an override calling
    // super.alarm() in a class wrapped twice), one span. (A timer it left calls it anew: a span.)
    return traceInvocation(`${className}.${key}`, inputs, tracker, undefined, (span, joined) => {
      // The socket failed: the span says so (once), whatever the handler does about it.
      if (span && !joined && key === "webSocketError") {
        try {
          span._recordException(args[1], true);
        } catch (error) {
          reportSdkError(WHERE, error);
        }
      }
      return fn.apply(this, args);
    }, tracing.exportDeadlineMs, invocationKey(this, key));
  };
  /** The wrapper of handler `key`, or undefined for a function that is one already (a class wrapped twice). */
  const handlerWrapper = (key: string, fn: unknown): Method | undefined => {
    if (typeof fn !== "function" || ours.has(fn)) return undefined;
    const wrapped = key === "fetch" ? wrapFetch(fn as Method) : wrapInvocation(key, fn as Method);
    ours.add(wrapped);
    return wrapped;
  };

  const Base = Class as unknown as new (...args: unknown[]) => object;
  const Traced = class extends Base {
    constructor(...args: unknown[]) {
      super(...args);
      envs.set(this, args[1]);
      trackerOf(this);
      for (const key of TRACED_HANDLERS) {
        try {
          const descriptor = Reflect.getOwnPropertyDescriptor(this, key);
          const wrapped = descriptor?.writable ? handlerWrapper(key, descriptor.value) : undefined;
          if (wrapped) Object.defineProperty(this, key, { ...descriptor, value: wrapped });
        } catch (error) {
          reportSdkError(WHERE, error);
        }
      }
    }
  };
  try {
    // The user's name for `Counter.name` (and what reads it), not the wrapper's.
    Object.defineProperty(Traced, "name", { value: Class.name, configurable: true });
  } catch (error) {
    reportSdkError(WHERE, error);
  }
  const proto = Traced.prototype as unknown as Record<PropertyKey, unknown>;
  const define = (key: PropertyKey, value: Method, original: PropertyDescriptor) =>
    Object.defineProperty(proto, key, { value, writable: true, enumerable: original.enumerable ?? false, configurable: true });

  // Only the handlers the class has: the runtime looks for them (setAlarm() fails for a class
  // without alarm()), so none is added.
  for (const key of TRACED_HANDLERS) {
    for (let p: object | null = Class.prototype; p && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
      const descriptor = Reflect.getOwnPropertyDescriptor(p, key);
      if (!descriptor) continue;
      const wrapped = handlerWrapper(key, descriptor.value);
      if (wrapped) define(key, wrapped, descriptor);
      break;
    }
  }

  // RPC: a class extending DurableObject serves each public method on its prototype chain to
  // `stub.method(…)`. Those the class itself defines are traced, not inherited ones: a framework's
  // base class (the Agents SDK's) has dozens, called internally all the time (sql, setState…), and
  // wrapping them would trace its internals and put a wrapper under code that is not the app's.
  // A method traced already (`@trace()`) keeps its own span. An older class (no DurableObject
  // base) has no RPC: its methods are its own.
  const rpc = Class.prototype instanceof DurableObject;
  const p = Class.prototype as object;
  // (Those a first wrapping traced already count as the class's: named in `methods`, not wrapped again.)
  const found = rpc
    ? Reflect.ownKeys(p).flatMap((key): [string, PropertyDescriptor][] => {
        const descriptor = Reflect.getOwnPropertyDescriptor(p, key);
        // (accessors and data stay as they are)
        return typeof key === "string" && !HANDLERS.has(key) && !CONVERSIONS.has(key) && typeof descriptor?.value === "function" ? [[key, descriptor]] : [];
      })
    : [];
  const own = found.map(([key]) => key);
  // A name that is not one of those would be left untraced without a word (a typo, an inherited method).
  const unknown = methods?.find((m) => !own.includes(m));
  if (unknown !== undefined) {
    throw new TypeError(
      `mlflow-edge ${WHERE}(): "methods" names "${unknown}", which is not an RPC method ${className} defines itself` +
        ` (${rpc ? `its methods: ${own.join(", ") || "none"}` : "it does not extend DurableObject, so it has no RPC"}; handlers are always traced).`,
    );
  }
  for (const [key, descriptor] of found) {
    const fn = descriptor.value as Method;
    if ((methods && !methods.includes(key)) || ours.has(fn)) continue;
    let traced: Method;
    try {
      // A method traced already: only made to set tracing up first.
      traced = isTraced(fn) ? fn : trace(fn, { name: `${className}.${key}` });
    } catch (error) {
      reportSdkError(WHERE, error);
      continue;
    }
    const method = function (this: object, ...args: unknown[]) {
      trackerOf(this);
      // The caller's trace, when it passed getTracingContextHeadersForHttpRequest() as the last
      // argument (RPC carries no headers): the method's span joins it, as fetch's does.
      // (Not with continueTrace: false, which has every call start a trace of its own, as fetch.)
      const parent = tracing.continueTrace === false ? undefined : callerContext(args[args.length - 1]);
      return parent ? getTracer().contextManager.with(parent, () => traced.apply(this, args)) : traced.apply(this, args);
    };
    Object.defineProperties(method, { name: { value: key }, length: { value: traced.length } });
    ours.add(method);
    define(key, method, descriptor);
  }
  return Traced as unknown as C;
}

/** The remote parent a `{ traceparent }` argument names (exactly that shape, a valid header); else undefined. */
function callerContext(arg: unknown): RemoteParent | undefined {
  try {
    if (typeof arg !== "object" || arg === null || Object.getPrototypeOf(arg) !== Object.prototype) return undefined;
    const keys = Object.keys(arg);
    return keys.length === 1 && keys[0] === "traceparent" ? parseTraceparent((arg as { traceparent: unknown }).traceparent as string) : undefined;
  } catch {
    return undefined; // an argument that cannot be read: as none
  }
}

