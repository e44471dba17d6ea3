import { hookAsyncIterable, StreamRecorder } from "../core/api/stream.js";
import { SpanAttributeKey, SpanStatusCode } from "../core/model/constants.js";
import type { LiveSpan } from "../core/model/live-span.js";
import { aggregateChatChunks, aggregateResponseEvents, aggregateTextCompletionChunks, tokenUsage } from "./aggregate.js";

// Streamed calls: the span stays open while the caller reads, every chunk becomes an
// `mlflow.chunk.item.<i>` event, and the span's outputs are the chunks folded into the one object
// the non-streaming call would have returned (as MLflow's OpenAI output reducers do).

export type StreamApi = "chat" | "responses" | "completions";

/**
 * What MLflow's OpenAI integration reads off a result: its token usage, and the model that
 * answered, which wins over the requested one (an Azure deployment name, an alias).
 */
export function recordResult(span: LiveSpan, result: unknown): void {
  const { usage, model } = (typeof result === "object" && result !== null ? result : {}) as { usage?: unknown; model?: unknown };
  const tokens = tokenUsage(usage);
  if (tokens) span.setAttribute(SpanAttributeKey.CHAT_USAGE, tokens);
  if (typeof model === "string" && model) span.setAttribute(SpanAttributeKey.MODEL, model);
}

/** A recorder for `span` whose reducer aggregates the chunks and records token usage. */
export function streamRecorder(span: LiveSpan, api: StreamApi): StreamRecorder {
  return new StreamRecorder(undefined, {
    span,
    outputReducer: (chunks: never[]) => {
      const list = chunks as unknown[];
      let out: unknown;
      if (api === "completions") {
        const { text, usage, model } = aggregateTextCompletionChunks(list);
        recordResult(span, { usage, model });
        out = text;
      } else {
        out = api === "chat" ? aggregateChatChunks(list as never[]) : aggregateResponseEvents(list);
        recordResult(span, out);
      }
      const failed = (out as { status?: unknown; error?: { message?: unknown } | null } | null);
      // A Responses stream reports a failed generation as an event, not as a thrown error: a
      // `response.failed`, or an `error` event with no response after it.
      if (api === "responses" && failed?.status === "failed") {
        span.setStatus({ statusCode: SpanStatusCode.ERROR, description: String(failed.error?.message ?? "response failed") });
      }
      const error = inStreamError(list, api);
      if (error !== undefined) span.setStatus({ statusCode: SpanStatusCode.ERROR, description: error });
      return out;
    },
  });
}

/**
 * The message of an error the server sent inside the stream, unless a response came after it: a
 * Responses `error` event, or a chat chunk `{ error }` (which the client throws on when iterated,
 * but a body read raw through `asResponse()` only carries).
 */
function inStreamError(chunks: unknown[], api: StreamApi): string | undefined {
  for (let i = chunks.length - 1; i >= 0; i--) {
    const chunk = chunks[i] as { type?: unknown; message?: unknown; error?: unknown } | null;
    if (api === "responses" && typeof chunk?.type === "string" && chunk.type.startsWith("response.")) return undefined;
    if (api === "responses" && chunk?.type === "error") return String(chunk.message ?? "error event");
    // Any truthy `error`, as the client throws on any.
    if (api !== "responses" && chunk?.error) {
      const { error } = chunk;
      return typeof error === "string" ? error : String((error as { message?: unknown }).message ?? "error in stream");
    }
  }
  return undefined;
}

/**
 * Makes reading `stream` record into `span`, in place, so the caller keeps the client's own
 * `Stream` object with all its methods (`hookAsyncIterable`; aborted before anyone read it, the
 * span ends without outputs).
 */
export function traceStream(stream: object, span: LiveSpan, api: StreamApi): void {
  const rec = streamRecorder(span, api);
  if (!hookAsyncIterable(stream, rec)) {
    rec.endUnread(); // a frozen object cannot be traced in place: end now rather than never
    return;
  }
  rec.watchIdle(); // created and never read: ended after openSpanTimeoutMs
}

/** The SSE `data:` payloads of a whole body, as the client would parse them (for `asResponse()`). */
export function parseSse(body: string): unknown[] {
  const out: unknown[] = [];
  for (const event of body.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith("data:"))
      .map((line) => line.slice(5).replace(/^ /, ""))
      .join("\n");
    if (data === "" || data.startsWith("[DONE]")) continue;
    try {
      out.push(JSON.parse(data));
    } catch {
      // not JSON: the client would fail on it too; the trace keeps what it could read
    }
  }
  return out;
}
