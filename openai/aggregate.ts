// Streamed OpenAI chunks folded back into the one object the non-streaming call would have
// returned, as MLflow's OpenAI output reducers do: a span's outputs read the same either way.

import type { TokenUsage } from "../core/model/types.js";

type Json = unknown;
interface ToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}
interface ChunkChoice {
  index?: number;
  delta?: {
    role?: string;
    /** A string, or (some OpenAI-compatible servers) a list of `{ type: "text", text }` parts. */
    content?: unknown;
    refusal?: string | null;
    tool_calls?: ToolCallDelta[];
    /** The legacy `functions` API's call. */
    function_call?: { name?: string; arguments?: string };
  };
  logprobs?: { content?: unknown[] | null; refusal?: unknown[] | null } | null;
  finish_reason?: string | null;
}
interface ChatChunk {
  id?: string;
  created?: number;
  model?: string;
  system_fingerprint?: string;
  choices?: ChunkChoice[];
  usage?: Json;
}

/** A delta's text: a string, or the text parts of a list of content parts. */
function deltaText(content: unknown): string | undefined {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return undefined;
  const parts = content.filter((p): p is { text: string } => (p as { type?: unknown })?.type === "text" && typeof (p as { text?: unknown }).text === "string");
  return parts.length ? parts.map((p) => p.text).join("") : undefined;
}

/**
 * Where a tool-call delta without `index` goes (some OpenAI-compatible servers send each call whole,
 * without one): the call with its id, else a new call; without an id, the last call.
 */
function slotWithoutIndex(calls: Map<number, { id: string }>, id: string | undefined): number {
  const last = calls.size ? Math.max(...calls.keys()) : -1;
  if (!id) return Math.max(last, 0);
  for (const [index, call] of calls) if (call.id === id) return index;
  return last >= 0 && calls.get(last)!.id === "" ? last : last + 1;
}

interface ChoiceFold {
  role: string;
  content: string | null;
  refusal: string;
  toolCalls: Map<number, { id: string; type: string; name: string; args: string }>;
  functionCall?: { name: string; arguments: string };
  logprobs?: { content: unknown[] | null; refusal: unknown[] | null };
  finish: string | null;
}

/**
 * Chat completion chunks → a `chat.completion` object, as the client's own accumulator builds it:
 * content joined, tool calls merged by index (a name is set, not appended: some servers repeat it
 * in every delta), the legacy `function_call`, logprobs, usage.
 */
export function aggregateChatChunks(chunks: ChatChunk[]): Record<string, Json> {
  // The first chunk that names the completion: Azure OpenAI sends a prompt_filter_results chunk
  // first, with an empty id and model.
  const first = chunks.find((c) => c?.id) ?? chunks[0] ?? {};
  const choices = new Map<number, ChoiceFold>();
  let usage: Json = undefined;
  for (const chunk of chunks) {
    if (chunk?.usage) usage = chunk.usage;
    for (const c of chunk?.choices ?? []) {
      const i = c.index ?? 0;
      const acc: ChoiceFold = choices.get(i) ?? { role: "assistant", content: null, refusal: "", toolCalls: new Map(), finish: null };
      choices.set(i, acc);
      const delta = c.delta;
      if (delta?.role) acc.role = delta.role;
      const text = deltaText(delta?.content);
      if (text !== undefined) acc.content = (acc.content ?? "") + text;
      if (typeof delta?.refusal === "string") acc.refusal += delta.refusal;
      for (const t of delta?.tool_calls ?? []) {
        const ti = t.index ?? slotWithoutIndex(acc.toolCalls, t.id);
        const call = acc.toolCalls.get(ti) ?? { id: "", type: "function", name: "", args: "" };
        acc.toolCalls.set(ti, call);
        if (t.id) call.id = t.id;
        if (t.type) call.type = t.type;
        if (t.function?.name) call.name = t.function.name;
        if (t.function?.arguments) call.args += t.function.arguments;
      }
      if (delta?.function_call) {
        acc.functionCall ??= { name: "", arguments: "" };
        if (delta.function_call.name) acc.functionCall.name = delta.function_call.name;
        if (delta.function_call.arguments) acc.functionCall.arguments += delta.function_call.arguments;
      }
      if (c.logprobs) {
        acc.logprobs ??= { content: null, refusal: null };
        if (Array.isArray(c.logprobs.content)) acc.logprobs.content = [...(acc.logprobs.content ?? []), ...c.logprobs.content];
        if (Array.isArray(c.logprobs.refusal)) acc.logprobs.refusal = [...(acc.logprobs.refusal ?? []), ...c.logprobs.refusal];
      }
      if (c.finish_reason) acc.finish = c.finish_reason;
    }
  }
  const out: Record<string, Json> = {
    id: first.id,
    object: "chat.completion",
    created: first.created,
    model: first.model,
    choices: [...choices].sort(([a], [b]) => a - b).map(([index, acc]) => {
      // Content null when no text came, only "" included, as the client's accumulator and MLflow's
      // Python reducer give it.
      const message: Record<string, Json> = { role: acc.role, content: acc.content || null };
      if (acc.refusal) message.refusal = acc.refusal;
      if (acc.functionCall) message.function_call = acc.functionCall;
      if (acc.toolCalls.size > 0) {
        message.tool_calls = [...acc.toolCalls].sort(([a], [b]) => a - b).map(([, t]) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.args } }));
      }
      const choice: Record<string, Json> = { index, message, finish_reason: acc.finish };
      if (acc.logprobs) choice.logprobs = acc.logprobs;
      return choice;
    }),
  };
  if (first.system_fingerprint) out.system_fingerprint = first.system_fingerprint;
  if (usage !== undefined) out.usage = usage;
  return out;
}

/**
 * Responses API stream events → the response object: the `response.completed` (or `.incomplete` /
 * `.failed`) event already carries it whole. A stream cut short keeps what it received: the output
 * items finished so far (a function call, a message), then the text of the one under way.
 */
export function aggregateResponseEvents(events: unknown[]): Json {
  let final: Json = undefined;
  let started: { id?: unknown; model?: unknown } | undefined;
  const done: { index: number; item: Json }[] = [];
  const partial = new Map<number, string>();
  for (const e of events) {
    const event = e as { type?: unknown; delta?: unknown; response?: Json; item?: Json; output_index?: unknown } | null;
    const at = typeof event?.output_index === "number" ? event.output_index : 0;
    if (event?.type === "response.created" && event.response && typeof event.response === "object") started = event.response as typeof started;
    if (event?.type === "response.output_text.delta" && typeof event.delta === "string") partial.set(at, (partial.get(at) ?? "") + event.delta);
    if (event?.type === "response.output_item.done" && event.item !== undefined) {
      done.push({ index: at, item: event.item });
      partial.delete(at);
    }
    if (typeof event?.type === "string" && FINAL_EVENTS.has(event.type) && event.response !== undefined) final = event.response;
  }
  if (final !== undefined) return final;
  const output = [
    ...done,
    ...[...partial].map(([index, text]) => ({ index, item: { type: "message", role: "assistant", content: [{ type: "output_text", text }] } })),
  ].sort((a, b) => a.index - b.index);
  const out: Record<string, Json> = { object: "response", status: "incomplete", output: output.map((o) => o.item) };
  if (output.length === 0) out.output = [{ type: "message", role: "assistant", content: [{ type: "output_text", text: "" }] }];
  if (started?.id !== undefined) out.id = started.id;
  if (started?.model !== undefined) out.model = started.model;
  return out;
}
const FINAL_EVENTS = new Set(["response.completed", "response.incomplete", "response.failed"]);


const tokenCount = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * Token usage in MLflow's shape from an OpenAI usage object: chat (`prompt_tokens`/`completion_tokens`),
 * Responses and embeddings (`input_tokens`/`output_tokens`, embeddings have no output). Cached prompt
 * tokens become `cache_read_input_tokens`, as MLflow's Python autologging records them.
 */
export function tokenUsage(usage: unknown): TokenUsage | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const u = usage as Record<string, unknown>;
  const input = tokenCount(u.prompt_tokens) ?? tokenCount(u.input_tokens);
  if (input === undefined) return undefined;
  const output = tokenCount(u.completion_tokens) ?? tokenCount(u.output_tokens) ?? 0;
  const out: TokenUsage = { input_tokens: input, output_tokens: output, total_tokens: tokenCount(u.total_tokens) ?? input + output };
  // As MLflow's OpenAI integration reads them: a cache count is kept whenever the server gives one,
  // 0 included (OpenAI always sends `cached_tokens`).
  const details = (u.prompt_tokens_details ?? u.input_tokens_details) as { cached_tokens?: unknown } | null | undefined;
  const cached = tokenCount(details?.cached_tokens) ?? tokenCount(u.cache_read_input_tokens);
  if (cached !== undefined) out.cache_read_input_tokens = cached;
  const created = tokenCount(u.cache_creation_input_tokens);
  if (created !== undefined) out.cache_creation_input_tokens = created;
  return out;
}
