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
  const first = chunks[0] ?? {};
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

/** Token usage in MLflow's `mlflow.chat.tokenUsage` shape, from an OpenAI usage object. */
export function tokenUsage(usage: unknown): { input_tokens: number; output_tokens: number; total_tokens: number } | undefined {
  if (typeof usage !== "object" || usage === null) return undefined;
  const u = usage as Record<string, unknown>;
  const input = Number(u.prompt_tokens ?? u.input_tokens);
  const output = Number(u.completion_tokens ?? u.output_tokens ?? 0);
  if (!Number.isFinite(input)) return undefined;
  const total = Number(u.total_tokens ?? input + output);
  return { input_tokens: input, output_tokens: output, total_tokens: Number.isFinite(total) ? total : input + output };
}
