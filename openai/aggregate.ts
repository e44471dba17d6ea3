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
interface AudioDelta {
  id?: string;
  data?: string;
  transcript?: string;
  expires_at?: number;
}
interface ChunkChoice {
  index?: number;
  delta?: {
    role?: string;
    /** Audio output (`modalities: ["audio"]`): data and transcript arrive in pieces. */
    audio?: AudioDelta | null;
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

/**
 * Copies the fields of `from` not in `skip` onto `to`, a later value over an earlier one, as the
 * client's accumulator does (Object.assign) with fields it has no rule for: a message's
 * `annotations`, a choice's `content_filter_results`, a chunk's `service_tier`. Not `__proto__`,
 * which a server's JSON may hold as a key and assignment would take as the object's prototype.
 */
function copyOthers(to: Record<string, Json>, from: unknown, skip: ReadonlySet<string>, joinText = false): void {
  if (typeof from !== "object" || from === null) return;
  for (const [key, value] of Object.entries(from)) {
    if (skip.has(key) || key === "__proto__") continue;
    // A delta's text streams in pieces (`reasoning_content` of DeepSeek's and vLLM's servers): joined, as content is.
    const before = to[key];
    to[key] = joinText && typeof value === "string" && typeof before === "string" ? before + value : value;
  }
}
const CHUNK_FIELDS = new Set(["id", "object", "created", "model", "system_fingerprint", "choices", "usage"]);
const CHOICE_FIELDS = new Set(["index", "delta", "logprobs", "finish_reason"]);
const DELTA_FIELDS = new Set(["role", "content", "refusal", "tool_calls", "function_call", "audio"]);

interface ChoiceFold {
  role: string;
  audio?: AudioDelta;
  /** Fields of the choice, and of its deltas (the message's), that have no rule of their own. */
  choiceOthers: Record<string, Json>;
  messageOthers: Record<string, Json>;
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
 * in every delta), the legacy `function_call`, logprobs, audio (data and transcript joined), usage;
 * any other field of a chunk, a choice or a delta (`service_tier`, `annotations`) as its latest value,
 * but a delta's text joined (`reasoning_content`).
 */
export function aggregateChatChunks(chunks: ChatChunk[]): Record<string, Json> {
  // The first chunk that names the completion: Azure OpenAI sends a prompt_filter_results chunk
  // first, with an empty id and model.
  const first = chunks.find((c) => c?.id) ?? chunks[0] ?? {};
  const choices = new Map<number, ChoiceFold>();
  let usage: Json = undefined;
  const others: Record<string, Json> = {};
  for (const chunk of chunks) {
    if (chunk?.usage) usage = chunk.usage;
    copyOthers(others, chunk, CHUNK_FIELDS);
    for (const c of chunk?.choices ?? []) {
      const i = c.index ?? 0;
      const acc: ChoiceFold = choices.get(i) ?? { role: "assistant", content: null, refusal: "", toolCalls: new Map(), finish: null, choiceOthers: {}, messageOthers: {} };
      choices.set(i, acc);
      const delta = c.delta;
      copyOthers(acc.choiceOthers, c, CHOICE_FIELDS);
      copyOthers(acc.messageOthers, delta, DELTA_FIELDS, true);
      if (delta?.role) acc.role = delta.role;
      const audio = delta?.audio;
      if (typeof audio === "object" && audio !== null) {
        const a = (acc.audio ??= {});
        if (audio.id != null) a.id = audio.id;
        if (typeof audio.data === "string") a.data = (a.data ?? "") + audio.data;
        if (typeof audio.transcript === "string") a.transcript = (a.transcript ?? "") + audio.transcript;
        if (audio.expires_at != null) a.expires_at = audio.expires_at;
      }
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
      const message: Record<string, Json> = { ...acc.messageOthers, role: acc.role, content: acc.content || null };
      if (acc.audio) message.audio = acc.audio;
      if (acc.refusal) message.refusal = acc.refusal;
      if (acc.functionCall) message.function_call = acc.functionCall;
      if (acc.toolCalls.size > 0) {
        message.tool_calls = [...acc.toolCalls].sort(([a], [b]) => a - b).map(([, t]) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.args } }));
      }
      const choice: Record<string, Json> = { ...acc.choiceOthers, index, message, finish_reason: acc.finish };
      if (acc.logprobs) choice.logprobs = acc.logprobs;
      return choice;
    }),
  };
  if (first.system_fingerprint) out.system_fingerprint = first.system_fingerprint;
  for (const [key, value] of Object.entries(others)) if (!(key in out)) out[key] = value;
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
/**
 * Legacy completions chunks (`text_completion`, `client.completions.create`) as MLflow's Python
 * reducer folds them: the first choice's text joined; with the usage of the last chunk that has one
 * and the model that answered, which the span records beside.
 */
export function aggregateTextCompletionChunks(chunks: unknown[]): { text: string; usage: Json; model: Json } {
  let text = "";
  let usage: Json = undefined;
  let model: Json = undefined;
  for (const chunk of chunks as { choices?: { index?: number; text?: unknown }[]; usage?: Json; model?: Json }[]) {
    if (chunk?.usage) usage = chunk.usage;
    model ??= chunk?.model || undefined;
    const first = Array.isArray(chunk?.choices) ? chunk.choices.find((c) => (c?.index ?? 0) === 0) : undefined;
    if (typeof first?.text === "string") text += first.text;
  }
  return { text, usage, model };
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
