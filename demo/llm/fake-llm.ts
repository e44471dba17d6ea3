import { chunksOf, embed, reply, textOf, tokens, type ChatMessage, type Tool } from "./answers.js";

// An OpenAI-compatible endpoint the demo Worker serves itself (`/llm/v1/...`): chat completions
// (JSON or SSE streaming, tool calls, usage), responses and embeddings. Fetch-style, Web APIs only,
// so a Worker mounts it and Node tests call it directly. A message containing "fail" gets a 500,
// "rate limit" a 429, "slow" a slower stream.

export interface FakeLlmOptions {
  /** Delay between streamed chunks (ms, default 30). */
  chunkDelayMs?: number;
}

const CREATED = 1_767_225_600; // fixed: answers are deterministic
const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
const error = (status: number, message: string, type: string, code: string | null = null) => json(status, { error: { message, type, param: null, code } });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function idFor(text: string): string {
  let h = 0;
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) >>> 0;
  return h.toString(36);
}

export async function fakeLlm(request: Request, options: FakeLlmOptions = {}): Promise<Response> {
  const path = new URL(request.url).pathname.replace(/^.*\/v1\//, "/v1/");
  if (request.method !== "POST") return error(405, `${request.method} is not supported; POST to ${path}`, "invalid_request_error");
  let body: Record<string, unknown>;
  try {
    body = (await request.json()) as Record<string, unknown>;
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("not an object");
  } catch {
    return error(400, "We could not parse the JSON body of your request.", "invalid_request_error");
  }
  if (typeof body.model !== "string" || body.model === "") return error(400, "you must provide a model parameter", "invalid_request_error", "missing_model");
  if (path === "/v1/chat/completions") return chat(body, options);
  if (path === "/v1/responses") return responses(body);
  if (path === "/v1/embeddings") return embeddings(body);
  return error(404, `Unknown path ${path}`, "invalid_request_error", "unknown_url");
}

function failure(text: string): Response | undefined {
  const lower = text.toLowerCase();
  if (/\bfail/.test(lower)) return error(500, "The demo model failed on purpose (the message asked it to).", "server_error");
  if (/rate limit/.test(lower)) return error(429, "Rate limit reached for demo-mini (on purpose).", "rate_limit_error", "rate_limit_exceeded");
  return undefined;
}

async function chat(body: Record<string, unknown>, options: FakeLlmOptions): Promise<Response> {
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0 || messages.some((m) => typeof m?.role !== "string")) {
    return error(400, "messages must be a non-empty array of {role, content}", "invalid_request_error");
  }
  const msgs = messages as ChatMessage[];
  const lastUser = textOf([...msgs].reverse().find((m) => m.role === "user")?.content ?? "");
  const refused = failure(lastUser);
  if (refused && msgs[msgs.length - 1]?.role === "user") return refused;
  const model = body.model as string;
  const r = reply(msgs, Array.isArray(body.tools) ? (body.tools as Tool[]) : undefined);
  const id = `chatcmpl-${idFor(JSON.stringify(msgs))}`;
  const promptTokens = tokens(JSON.stringify(msgs));
  const toolCall = r.kind === "tool" ? { id: `call_${idFor(r.name + JSON.stringify(r.args))}`, type: "function", function: { name: r.name, arguments: JSON.stringify(r.args) } } : undefined;
  const text = r.kind === "text" ? r.text : "";
  const completionTokens = tokens(text || JSON.stringify(toolCall));
  const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
  const finish = toolCall ? "tool_calls" : "stop";
  if (body.stream !== true) {
    return json(200, {
      id,
      object: "chat.completion",
      created: CREATED,
      model,
      choices: [{ index: 0, message: { role: "assistant", content: toolCall ? null : text, ...(toolCall ? { tool_calls: [toolCall] } : {}), refusal: null }, finish_reason: finish, logprobs: null }],
      usage,
    });
  }
  const delay = (options.chunkDelayMs ?? 30) * (/\bslow\b/i.test(lastUser) ? 10 : 1);
  const includeUsage = (body.stream_options as { include_usage?: unknown } | undefined)?.include_usage === true;
  const chunk = (delta: Record<string, unknown>, finishReason: string | null, extra: Record<string, unknown> = {}) =>
    `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: CREATED, model, choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }], ...extra })}\n\n`;
  const parts: string[] = [chunk({ role: "assistant", content: "" }, null)];
  if (toolCall) {
    parts.push(chunk({ tool_calls: [{ index: 0, id: toolCall.id, type: "function", function: { name: toolCall.function.name, arguments: "" } }] }, null));
    for (const piece of chunksOf(toolCall.function.arguments)) parts.push(chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] }, null));
  } else {
    for (const piece of chunksOf(text)) parts.push(chunk({ content: piece }, null));
  }
  parts.push(chunk({}, finish));
  if (includeUsage) parts.push(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: CREATED, model, choices: [], usage })}\n\n`);
  parts.push("data: [DONE]\n\n");
  const encoder = new TextEncoder();
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (i > 0) await sleep(delay);
      if (i < parts.length) controller.enqueue(encoder.encode(parts[i++]));
      else controller.close();
    },
  });
  return new Response(stream, { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
}

function responses(body: Record<string, unknown>): Response {
  const input = body.input;
  const messages: ChatMessage[] =
    typeof input === "string" ? [{ role: "user", content: input }] : Array.isArray(input) ? (input as ChatMessage[]) : [];
  if (messages.length === 0) return error(400, "input must be a string or an array of messages", "invalid_request_error");
  if (typeof body.instructions === "string") messages.unshift({ role: "system", content: body.instructions });
  const refused = failure(textOf(messages[messages.length - 1]?.content ?? ""));
  if (refused) return refused;
  const r = reply(messages, undefined);
  const text = r.kind === "text" ? r.text : "";
  const id = idFor(JSON.stringify(messages));
  const inputTokens = tokens(JSON.stringify(messages));
  return json(200, {
    id: `resp_${id}`,
    object: "response",
    created_at: CREATED,
    status: "completed",
    model: body.model,
    output: [{ type: "message", id: `msg_${id}`, status: "completed", role: "assistant", content: [{ type: "output_text", text, annotations: [] }] }],
    usage: { input_tokens: inputTokens, output_tokens: tokens(text), total_tokens: inputTokens + tokens(text) },
  });
}

function embeddings(body: Record<string, unknown>): Response {
  const input = typeof body.input === "string" ? [body.input] : body.input;
  if (!Array.isArray(input) || input.length === 0 || input.some((x) => typeof x !== "string")) {
    return error(400, "input must be a string or a non-empty array of strings", "invalid_request_error");
  }
  const texts = input as string[];
  const total = texts.reduce((n, t) => n + tokens(t), 0);
  return json(200, {
    object: "list",
    data: texts.map((t, index) => ({ object: "embedding", index, embedding: body.encoding_format === "base64" ? base64Floats(embed(t)) : embed(t) })),
    model: body.model,
    usage: { prompt_tokens: total, total_tokens: total },
  });
}

/** The official client asks for base64 (little-endian float32), as OpenAI's API offers. */
function base64Floats(values: number[]): string {
  const bytes = new Uint8Array(new Float32Array(values).buffer);
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}
