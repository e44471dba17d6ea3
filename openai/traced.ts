import { fail } from "../core/api/settle.js";
import { startSpan } from "../core/api/span-scope.js";
import { StreamRecorder, traceAsyncIterator } from "../core/api/stream.js";
import { reportSdkError } from "../core/debug.js";
import { SpanAttributeKey, SpanType } from "../core/model/constants.js";
import type { LiveSpan } from "../core/model/live-span.js";
import { aggregateChatChunks, tokenUsage } from "./aggregate.js";

// tracedOpenAI(client): the official `openai` client with chat completions, responses and
// embeddings traced as MLflow's OpenAI autologging records them (span types CHAT_MODEL and
// EMBEDDING, the request as inputs, the response as outputs, token usage). The client's own
// promise is returned untouched (so `.withResponse()` and `.asResponse()` keep working): tracing
// observes it from the side. A stream keeps every chunk as a span event, its span ends when
// iteration ends, breaks or throws, and its outputs are the chunks folded into one completion.

type Create = (this: unknown, ...args: unknown[]) => unknown;

interface Target {
  path: readonly string[];
  name: string;
  spanType: string;
}

const TARGETS: readonly Target[] = [
  { path: ["chat", "completions"], name: "Completions", spanType: SpanType.CHAT_MODEL },
  { path: ["responses"], name: "Responses", spanType: SpanType.CHAT_MODEL },
  { path: ["embeddings"], name: "Embeddings", spanType: SpanType.EMBEDDING },
];

const isAsyncIterable = (v: unknown): v is AsyncIterable<unknown> =>
  typeof v === "object" && v !== null && typeof (v as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function";

function recordResult(span: LiveSpan, result: unknown, streamed: boolean): void {
  if (streamed && isAsyncIterable(result)) {
    // Patch this stream instance only: its iteration is recorded; everything else is untouched.
    const stream = result as AsyncIterable<unknown> & Record<PropertyKey, unknown>;
    const iterate = stream[Symbol.asyncIterator] as () => AsyncIterator<unknown>;
    const rec = new StreamRecorder(undefined, {
      span,
      outputReducer: (chunks: never[]) => {
        const out = aggregateChatChunksOrList(chunks);
        const usage = tokenUsage((out as { usage?: unknown } | null)?.usage);
        if (usage) span.setAttribute(SpanAttributeKey.CHAT_USAGE, usage);
        return out;
      },
    });
    let used = false;
    Object.defineProperty(stream, Symbol.asyncIterator, {
      configurable: true,
      value: () => {
        if (used) return iterate.call(stream); // a second iteration is not traced twice
        used = true;
        return traceAsyncIterator(iterate.call(stream), rec);
      },
    });
    return;
  }
  span.setOutputs(result);
  const usage = tokenUsage((result as { usage?: unknown } | null)?.usage);
  if (usage) span.setAttribute(SpanAttributeKey.CHAT_USAGE, usage);
  span.end();
}

/** Chat chunks fold into a completion; other streams (Responses events) stay a list. */
function aggregateChatChunksOrList(chunks: unknown[]): unknown {
  const chat = chunks.length > 0 && chunks.every((c) => (c as { object?: unknown })?.object === "chat.completion.chunk");
  if (!chat) return chunks;
  return aggregateChatChunks(chunks as never[]);
}

function tracedCreate(original: Create, target: Target): Create {
  return function create(this: unknown, ...args: unknown[]) {
    let span: LiveSpan | undefined;
    try {
      const params = (args[0] ?? {}) as Record<string, unknown>;
      span = startSpan({
        name: target.name,
        spanType: target.spanType,
        inputs: params,
        attributes: { [SpanAttributeKey.MESSAGE_FORMAT]: "openai", ...(typeof params.model === "string" ? { model: params.model } : {}) },
      });
    } catch (error) {
      reportSdkError("tracedOpenAI", error);
    }
    // The request runs inside the span, so a traceparent on its fetch (mlflow-edge/browser) names
    // this LLM span and the server's part of the trace nests under it.
    const result = span ? span.run(() => original.apply(this, args)) : original.apply(this, args);
    if (!span) return result;
    const streamed = (args[0] as { stream?: unknown } | undefined)?.stream === true;
    const s = span;
    if (result && typeof (result as PromiseLike<unknown>).then === "function") {
      // Observed from the side; the caller gets the client's own APIPromise.
      (result as PromiseLike<unknown>).then(
        (value) => {
          try {
            recordResult(s, value, streamed);
          } catch (error) {
            reportSdkError("tracedOpenAI", error);
          }
        },
        (error: unknown) => fail(s, error),
      );
    } else {
      recordResult(s, result, streamed);
    }
    return result;
  };
}

/** A client whose traced methods record spans; every other property is the original's. */
export function tracedOpenAI<T extends object>(client: T): T {
  const wrap = (obj: object, path: readonly string[]): object =>
    new Proxy(obj, {
      get(target, prop, receiver) {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (typeof prop !== "string") return value;
        const next = [...path, prop];
        const hit = TARGETS.find((t) => t.path.length === path.length && t.path.every((p, i) => p === path[i]));
        if (hit && prop === "create" && typeof value === "function") return tracedCreate((value as Create).bind(target), hit);
        if (TARGETS.some((t) => t.path.length > path.length && t.path.slice(0, next.length).every((p, i) => p === next[i])) && typeof value === "object" && value !== null) {
          return wrap(value, next);
        }
        return value;
      },
    });
  return wrap(client, []) as T;
}
