// Streamed OpenAI chunks folded back into the one object the non-streaming call would have
// returned, as MLflow's OpenAI output reducers do: a span's outputs read the same either way.

type Json = unknown;
interface ToolCallDelta {
  index?: number;
  id?: string;
  type?: string;
  function?: { name?: string; arguments?: string };
}
interface ChunkChoice {
  index?: number;
  delta?: { role?: string; content?: string | null; refusal?: string | null; tool_calls?: ToolCallDelta[] };
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

/** Chat completion chunks → a `chat.completion` object (content joined, tool calls merged, usage). */
export function aggregateChatChunks(chunks: ChatChunk[]): Record<string, Json> {
  // The first chunk that names the completion: Azure OpenAI sends a prompt_filter_results chunk
  // first, with an empty id and model.
  const first = chunks.find((c) => c?.id) ?? chunks[0] ?? {};
  const choices = new Map<number, { role: string; content: string; refusal: string; toolCalls: Map<number, { id: string; type: string; name: string; args: string }>; finish: string | null }>();
  let usage: Json = undefined;
  for (const chunk of chunks) {
    if (chunk?.usage) usage = chunk.usage;
    for (const c of chunk?.choices ?? []) {
      const i = c.index ?? 0;
      const acc = choices.get(i) ?? { role: "assistant", content: "", refusal: "", toolCalls: new Map(), finish: null };
      choices.set(i, acc);
      if (c.delta?.role) acc.role = c.delta.role;
      if (typeof c.delta?.content === "string") acc.content += c.delta.content;
      if (typeof c.delta?.refusal === "string") acc.refusal += c.delta.refusal;
      for (const t of c.delta?.tool_calls ?? []) {
        const ti = t.index ?? 0;
        const call = acc.toolCalls.get(ti) ?? { id: "", type: "function", name: "", args: "" };
        acc.toolCalls.set(ti, call);
        if (t.id) call.id = t.id;
        if (t.type) call.type = t.type;
        if (t.function?.name) call.name += t.function.name;
        if (t.function?.arguments) call.args += t.function.arguments;
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
      const message: Record<string, Json> = { role: acc.role, content: acc.toolCalls.size > 0 && acc.content === "" ? null : acc.content };
      if (acc.refusal) message.refusal = acc.refusal;
      if (acc.toolCalls.size > 0) {
        message.tool_calls = [...acc.toolCalls].sort(([a], [b]) => a - b).map(([, t]) => ({ id: t.id, type: t.type, function: { name: t.name, arguments: t.args } }));
      }
      return { index, message, finish_reason: acc.finish };
    }),
  };
  if (first.system_fingerprint) out.system_fingerprint = first.system_fingerprint;
  if (usage !== undefined) out.usage = usage;
  return out;
}

/**
 * Responses API stream events → the response object: the `response.completed` (or `.incomplete` /
 * `.failed`) event already carries it whole; a stream cut short keeps the text received so far.
 */
export function aggregateResponseEvents(events: unknown[]): Json {
  let text = "";
  let final: Json = undefined;
  for (const e of events) {
    const event = e as { type?: unknown; delta?: unknown; response?: Json } | null;
    if (event?.type === "response.output_text.delta" && typeof event.delta === "string") text += event.delta;
    if (typeof event?.type === "string" && FINAL_EVENTS.has(event.type) && event.response !== undefined) final = event.response;
  }
  if (final !== undefined) return final;
  return { object: "response", status: "incomplete", output: [{ type: "message", role: "assistant", content: [{ type: "output_text", text }] }] };
}
const FINAL_EVENTS = new Set(["response.completed", "response.incomplete", "response.failed"]);

/** MLflow's `mlflow.chat.tokenUsage` value. */
export interface TokenUsage {
  input_tokens: number;
  output_tokens: number;
  total_tokens: number;
  cache_read_input_tokens?: number;
}

const count = (v: unknown): number | undefined => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/**
 * Token usage in MLflow's shape from an OpenAI usage object: chat (`prompt_tokens`/`completion_tokens`),
 * Responses and embeddings (`input_tokens`/`output_tokens`, embeddings have no output). Cached prompt
 * tokens become `cache_read_input_tokens`, as MLflow's Python autologging records them.
 */
export function tokenUsage(usage: unknown): TokenUsage | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const u = usage as Record<string, unknown>;
  const input = count(u.prompt_tokens) ?? count(u.input_tokens);
  if (input === undefined) return undefined;
  const output = count(u.completion_tokens) ?? count(u.output_tokens) ?? 0;
  const out: TokenUsage = { input_tokens: input, output_tokens: output, total_tokens: count(u.total_tokens) ?? input + output };
  const details = (u.prompt_tokens_details ?? u.input_tokens_details) as { cached_tokens?: unknown } | null | undefined;
  const cached = count(details?.cached_tokens);
  if (cached) out.cache_read_input_tokens = cached;
  return out;
}
