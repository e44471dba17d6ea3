import { fail } from "../core/api/settle.js";
import { startSpan } from "../core/api/span-scope.js";
import { reportSdkError } from "../core/debug.js";
import { SpanAttributeKey, SpanType } from "../core/model/constants.js";
import type { LiveSpan } from "../core/model/live-span.js";
import { lockedProperty } from "../core/tracer.js";
import { observePromise } from "./promise.js";
import { recordResult, traceStream, type StreamApi } from "./stream.js";

// tracedOpenAI(client): the official `openai` client with chat completions, responses,
// embeddings and legacy completions traced as MLflow's OpenAI integrations record them: one span
// per call, named after the resource ("Completions", "Responses", "Embeddings", as MLflow's TS SDK
// names them), typed CHAT_MODEL, EMBEDDING or LLM, the request params as inputs, the response as outputs, token usage in
// `mlflow.chat.tokenUsage`, `mlflow.message.format` "openai" so MLflow's UI renders the chat.
// Nothing is imported from `openai` at run time: the user brings the client.

/** Options of {@link tracedOpenAI}. */
export interface TracedOpenAIOptions {
  /** Extra attributes on every span (e.g. `{ "mlflow.llm.provider": "azure" }` for a compatible provider). */
  attributes?: Record<string, string | number | boolean>;
}

type Method = (this: unknown, ...args: unknown[]) => unknown;

interface Target {
  path: readonly string[];
  name: string;
  spanType: string;
  stream?: StreamApi;
}

const TARGETS: readonly Target[] = [
  { path: ["chat", "completions"], name: "Completions", spanType: SpanType.CHAT_MODEL, stream: "chat" },
  { path: ["responses"], name: "Responses", spanType: SpanType.CHAT_MODEL, stream: "responses" },
  { path: ["embeddings"], name: "Embeddings", spanType: SpanType.EMBEDDING },
  // The legacy completions API (`gpt-3.5-turbo-instruct`): LLM, as MLflow's autolog types it.
  { path: ["completions"], name: "Completions", spanType: SpanType.LLM, stream: "completions" },
];

const samePath = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((p, i) => p === b[i]);
const isPrefix = (prefix: readonly string[], of: readonly string[]) => prefix.length < of.length && prefix.every((p, i) => p === of[i]);

function recordCall(span: LiveSpan, value: unknown, stream: StreamApi | undefined): void {
  if (stream && typeof value === "object" && value !== null && Symbol.asyncIterator in value) {
    traceStream(value, span, stream); // ends the span when reading ends
    return;
  }
  span.setOutputs(value);
  recordResult(span, value);
  span.end();
}

/** Responses API tools with no function definition of their own, which MLflow names by their type. */
const BUILT_IN_TOOLS = new Set(["file_search", "computer_use_preview", "web_search_preview", "local_shell", "mcp", "code_interpreter", "image_generation"]);

/**
 * The request's tools in MLflow's chat-tool form (`mlflow.chat.tools`, which MLflow's UI lists):
 * a Chat Completions tool as it is, a Responses function tool with its definition moved under
 * `function`, a built-in tool named by its type. As in MLflow, a tool of a type it does not know,
 * or a function without a name, leaves the attribute unset.
 */
function chatTools(tools: unknown): object[] | undefined {
  if (!Array.isArray(tools)) return undefined;
  const out: object[] = [];
  for (const tool of tools as unknown[]) {
    if (typeof tool !== "object" || tool === null) return undefined;
    const { type = "function", ...rest } = tool as Record<string, unknown>;
    if (type === "function") {
      const fn = "function" in rest ? rest.function : rest;
      // MLflow validates a definition (a name at least); one it refuses leaves the attribute unset.
      if (typeof (fn as { name?: unknown } | null)?.name !== "string") return undefined;
      out.push({ type, function: fn });
    } else if (typeof type === "string" && BUILT_IN_TOOLS.has(type)) {
      out.push({ type: "function", function: { name: type } });
    } else {
      return undefined;
    }
  }
  return out.length ? out : undefined;
}

/**
 * Span attributes from the request, as MLflow's OpenAI autolog records them: every parameter but
 * the conversation itself (`messages`, `input`), the model and the chat tools.
 * A parameter named like one of MLflow's own attributes (`mlflow.*`) is not copied over them.
 */
function requestAttributes(params: unknown): Record<string, unknown> {
  const p = (typeof params === "object" && params !== null ? params : {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(p)) {
    if (key !== "messages" && key !== "input" && !key.startsWith("mlflow.") && p[key] !== undefined) out[key] = p[key];
  }
  if (typeof p.model === "string" && p.model) out[SpanAttributeKey.MODEL] = p.model;
  const tools = chatTools(p.tools);
  if (tools) out[SpanAttributeKey.CHAT_TOOLS] = tools;
  return out;
}

function tracedMethod(original: Method, target: Target, options: TracedOpenAIOptions): Method {
  return function create(this: unknown, ...args: unknown[]) {
    let span: LiveSpan | undefined;
    const params = args[0];
    try {
      span = startSpan({
        name: target.name,
        spanType: target.spanType,
        inputs: params as Record<string, unknown>,
        attributes: {
          ...requestAttributes(params),
          [SpanAttributeKey.MESSAGE_FORMAT]: "openai",
          [SpanAttributeKey.MODEL_PROVIDER]: "openai",
          ...options.attributes,
        },
      });
    } catch (error) {
      reportSdkError("tracedOpenAI", error);
    }
    if (!span) return original.apply(this, args);
    const s = span;
    const stream = (params as { stream?: unknown } | null)?.stream === true ? target.stream : undefined;
    let result: unknown;
    try {
      // The request runs inside the span, so a traceparent on its fetch (mlflow-edge/browser) names
      // this LLM span and the server's part of the trace nests under it.
      result = s.run(() => original.apply(this, args));
    } catch (error) {
      fail(s, error);
      throw error;
    }
    const settle = (value: unknown) => {
      try {
        recordCall(s, value, stream);
      } catch (error) {
        reportSdkError("tracedOpenAI", error);
      }
    };
    if (typeof result === "object" && result !== null && typeof (result as PromiseLike<unknown>).then === "function") {
      return observePromise(result, s, stream, settle);
    }
    settle(result);
    return result;
  };
}

/**
 * The same client, with `chat.completions.create`, `responses.create`, `embeddings.create` and
 * the legacy `completions.create` traced; every other property and method is the client's own, untouched.
 * @example
 * const client = tracedOpenAI(new OpenAI());
 * const stream = await client.chat.completions.create({ model, messages, stream: true });
 */
export function tracedOpenAI<T extends object>(client: T, options: TracedOpenAIOptions = {}): T {
  // A client traced already (to add attributes per request, say): traced once, with both sets of
  // attributes, rather than a second span around the first (which, streamed, stayed empty).
  const earlier = tracedClients.get(client);
  if (earlier) return tracedOpenAI(earlier.raw as T, { ...earlier.options, ...options, attributes: { ...earlier.options.attributes, ...options.attributes } });
  // One proxy per object and one wrapper per method, so `client.chat === client.chat` holds.
  const proxies = new WeakMap<object, object>();
  const wrap = (obj: object, path: readonly string[]): object => {
    const known = proxies.get(obj);
    if (known) return known;
    const methods = new Map<Function, Method>(); // per object: a shared prototype method binds to each its own
    const t = obj; // the real object: every trap works on it, whatever the proxy's target
    const proxy = new Proxy(standIn(obj), {
      // Setters run on the real object: a subclass's may use private (#) fields.
      set: (_, prop, value) => Reflect.set(t, prop, value, t),
      get(target, prop, receiver) {
        // A getter runs on the traced client (one returning `this.chat.completions`, or a function
        // calling it, reaches the traced method), or, if it reads a private field, again on the real
        // one (what it does before reading that field then runs twice).
        let value: unknown;
        try {
          value = Reflect.get(t, prop, receiver);
        } catch (error) {
          if (!(error instanceof TypeError && /private/i.test(error.message))) throw error;
          value = Reflect.get(t, prop, t);
        }
        if (typeof prop !== "string" || lockedProperty(target, prop)) return value;
        const next = [...path, prop];
        const hit = TARGETS.find((x) => samePath(x.path, path));
        if (hit && prop === "create" && typeof value === "function") {
          let traced = methods.get(value);
          if (!traced) methods.set(value, (traced = tracedMethod((value as Method).bind(t), hit, options)));
          return traced;
        }
        if (typeof value === "object" && value !== null && TARGETS.some((x) => isPrefix(next, x.path) || samePath(next, x.path))) {
          return wrap(value, next);
        }
        if (path.length === 0 && prop === "withOptions" && typeof value === "function") {
          // A copy of the client with other options (a timeout, headers): traced like this one.
          let copy = methods.get(value);
          if (!copy) methods.set(value, (copy = (...args: unknown[]) => tracedOpenAI((value as Method).apply(t, args) as object, options)));
          return copy;
        }
        if (typeof value === "function" && prop !== "constructor") {
          // Called on the real object: the client keeps state in private (#) fields a proxy lacks.
          let bound = methods.get(value);
          if (!bound) methods.set(value, (bound = (value as Method).bind(t)));
          return bound;
        }
        return value;
      },
    });
    proxies.set(obj, proxy);
    return proxy;
  };
  const traced = wrap(client, []);
  tracedClients.set(traced, { raw: client, options });
  return traced as T;
}

/**
 * What the proxy of `obj` stands on. A proxy must return a read-only, non-configurable property
 * (every property of a frozen client) as it is, and TypeErrors on any other value: such an object
 * is proxied through an empty object inheriting from it, which reports the real one's keys and
 * prototype. Any other object is its own target, so the proxy is the client in every respect.
 */
function standIn(obj: object): object {
  if (!Reflect.ownKeys(obj).some((key) => lockedProperty(obj, key))) return obj;
  const shadow = Object.create(obj) as object;
  return new Proxy(shadow, {
    getPrototypeOf: () => Reflect.getPrototypeOf(obj),
    // Frozen, the stand-in would contradict what it reports of the real object, and every read
    // after would throw: freezing it fails (a TypeError) and the client stays usable.
    preventExtensions: () => false,
    ownKeys: () => Reflect.ownKeys(obj),
    getOwnPropertyDescriptor(_, key) {
      const d = Reflect.getOwnPropertyDescriptor(obj, key);
      return d && { ...d, configurable: true }; // the stand-in has none of its own to contradict
    },
  });
}

/** Each traced client's own client and options. */
const tracedClients = new WeakMap<object, { raw: object; options: TracedOpenAIOptions }>();
